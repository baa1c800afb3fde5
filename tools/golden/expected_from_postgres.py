#!/usr/bin/env python3
"""Regenerates tests/golden/expected/*.jsonl by running the five scenarios on
PostgreSQL over the golden CSV inputs.

The expected answers come from a SQL database, not from percore: ROWS windows
and EMIT CHANGES are PostgreSQL window functions over (event time, file line),
AVG of a DECIMAL is the exact quotient rounded half away from zero at scale 6
(computed with integer division, so no intermediate rounding), TUMBLING windows
are date_bin() over the epoch.

Needs a local PostgreSQL (apt-get install postgresql; service postgresql start)
and psql. Run from the repository root:  python3 tools/golden/expected_from_postgres.py
"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOLDEN = os.path.join(ROOT, "tests", "golden")
DB = "percore_golden"


def psql(sql, db=DB):
    cmd = ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql]
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


SETUP = """
DROP TABLE IF EXISTS orders; DROP TABLE IF EXISTS market_data;
CREATE TABLE orders (seq bigserial, order_id bigint, customer_id bigint, order_date varchar, total_amount numeric(18,2));
CREATE TABLE market_data (seq bigserial, symbol varchar, trader_id bigint, price numeric(18,4), quantity bigint,
                          "timestamp" timestamptz, trade_time timestamptz);
CREATE OR REPLACE FUNCTION avg6(s numeric, c bigint) RETURNS numeric(38,6) LANGUAGE sql IMMUTABLE AS $$
  SELECT (sign(s) * div(abs(s) * 1000000 * 2 + c, 2 * c) * 0.000001)::numeric(38,6) $$; -- multiply: numeric division would round
CREATE OR REPLACE FUNCTION iso(t timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') $$;
SET TIME ZONE 'UTC';
"""

WIN = "date_bin(interval '1 minute', trade_time, timestamptz 'epoch')"

AGGS = lambda w: f"""'trade_count', count(*) {w}, 'avg_price', avg6(sum(price) {w}, count(price) {w})::text,
  'total_quantity', sum(quantity) {w}, 'total_value', (sum(price * quantity) {w})::text"""

QUERIES = {
    "s0_select": """SELECT json_build_object('order_id', order_id, 'customer_id', customer_id,
        'order_date', order_date, 'total_amount', total_amount::text)
        FROM orders WHERE total_amount > 100 ORDER BY seq""",
    "s1_rows_window": """SELECT json_build_object('symbol', symbol, 'price', price::text,
        'moving_avg', avg6(sum(price) OVER w, count(price) OVER w)::text,
        'min_price', (min(price) OVER w)::text, 'max_price', (max(price) OVER w)::text)
        FROM market_data WINDOW w AS (PARTITION BY symbol ORDER BY "timestamp", seq
                                      ROWS BETWEEN 99 PRECEDING AND CURRENT ROW)""",
    "s2_group_by": f"""SELECT json_build_object('trader_id', trader_id, 'symbol', symbol, {AGGS('OVER g')})
        FROM market_data WINDOW g AS (PARTITION BY trader_id, symbol ORDER BY "timestamp", seq
                                      ROWS UNBOUNDED PRECEDING)""",
    "s2_group_by_final": f"""SELECT json_build_object('trader_id', trader_id, 'symbol', symbol, {AGGS('')})
        FROM market_data GROUP BY trader_id, symbol""",
    "s3a_tumbling": f"""SELECT json_build_object('window_start', iso({WIN}),
        'window_end', iso({WIN} + interval '1 minute'), 'trader_id', trader_id, 'symbol', symbol, {AGGS('')})
        FROM market_data GROUP BY trader_id, symbol, {WIN}""",
    "s3b_emit_changes": f"""SELECT json_build_object('window_start', iso({WIN}),
        'window_end', iso({WIN} + interval '1 minute'), 'trader_id', trader_id, 'symbol', symbol, {AGGS('OVER g')})
        FROM market_data WINDOW g AS (PARTITION BY trader_id, symbol, {WIN} ORDER BY trade_time, seq
                                      ROWS UNBOUNDED PRECEDING)""",
}


def main():
    exists = psql(f"SELECT 1 FROM pg_database WHERE datname = '{DB}'", db="postgres").strip()
    if not exists:
        psql(f"CREATE DATABASE {DB}", db="postgres")
    psql(SETUP)
    for table, cols in [
        ("orders", "order_id, customer_id, order_date, total_amount"),
        ("market_data", 'symbol, trader_id, price, quantity, "timestamp", trade_time'),
    ]:
        with open(os.path.join(GOLDEN, f"{table}.csv")) as f:
            data = f.read()
        cmd = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", DB, "-c",
               f"\\copy {table} ({cols}) FROM STDIN WITH (FORMAT csv, HEADER true)"]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        subprocess.run(cmd, input=data, check=True, text=True)
    for name, q in QUERIES.items():
        lines = [json.dumps(json.loads(l), separators=(",", ":")) for l in psql(q).splitlines() if l]
        with open(os.path.join(GOLDEN, "expected", f"{name}.jsonl"), "w") as f:
            f.write("\n".join(lines) + "\n")
        print(f"{name}: {len(lines)} rows", file=sys.stderr)


if __name__ == "__main__":
    main()
