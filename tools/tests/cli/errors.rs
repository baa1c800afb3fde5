//! What goes wrong, as the user sees it: exit codes and messages naming the
//! line and column, the row, or the expression.

use super::*;

#[test]
fn sql_errors_exit_2_with_line_and_column() {
    let sql = |q: &'static str| ["run", "--sql", q];
    let cases: [(&str, &[&str]); 7] = [
        (
            "SELECT symbol,\n  FROB(price) FROM market_data",
            &["line 2, column 3", "FROB"],
        ),
        (
            "SELECT nope FROM market_data",
            &["unknown column `nope`", "line 1, column 8"],
        ),
        ("SELECT * FROM trades", &["unknown stream `trades`"]),
        (
            "SELECT a FROM orders o JOIN market_data m ON o.order_id = m.trader_id",
            &["JOIN is not supported"],
        ),
        (
            "SELECT symbol, COUNT(*) FROM market_data GROUP BY symbol WINDOW SLIDING(1m)",
            &["WINDOW SLIDING is not supported", "line 1, column 58"],
        ),
        (
            "SELECT symbol, price FROM market_data GROUP BY symbol",
            &["`price` must appear in GROUP BY"],
        ),
        ("SELECT SELECT", &["line 1, column"]),
    ];
    for (q, needles) in cases {
        fails(&sql(q), 2, needles);
    }
}

#[test]
fn usage_errors_exit_2() {
    fails(&["run", "--cores", "0"], 2, &["--cores must be at least 1"]);
    let scenario = |source: &'static str| ["run", "--scenario", "s0_select", "--source", source];
    fails(
        &scenario("market_data=x.csv"),
        2,
        &["reads stream `orders`"],
    );
    fails(
        &scenario("orders=/no/such/file.csv"),
        2,
        &["cannot open /no/such/file.csv"],
    );
    fails(&["run", "--frobnicate"], 2, &[]);
    fails(&["gen", "customers"], 2, &[]);
}

#[test]
fn malformed_rows_stop_with_exit_1_after_earlier_output_or_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(
        dir.path(),
        "orders.csv",
        "order_id,customer_id,order_date,total_amount\n1,1,d,150.00\n2,2,d,abc\n3,3,d,170.00\n",
    );
    let binding = format!("orders={csv}");
    let args = [
        "run",
        "--scenario",
        "s0_select",
        "--source",
        &binding,
        "--batch-size",
        "1",
        "--cores",
        "1",
    ];
    let o = fails(
        &args,
        1,
        &["orders.csv", "row 2", "line 3", "`total_amount`"],
    );
    // The row before the bad one was written.
    let rows = json_lines(&stdout(&o));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["order_id"], 1);

    let stats = dir.path().join("s.json");
    let o = percore(&[
        "run",
        "--scenario",
        "s0_select",
        "--source",
        &binding,
        "--on-error",
        "skip",
        "--stats",
        stats.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(json_lines(&stdout(&o)).len(), 2);
    assert!(stderr(&o).contains("1 malformed rows skipped"));
    let s = read_stats(&stats);
    assert_eq!(s["malformed_rows"], 1);
}

#[test]
fn overflow_and_division_by_zero_exit_1_naming_the_expression() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(
        dir.path(),
        "big.csv",
        "x,y\n1,0\n90000000000000000000000000000000000000,1\n",
    );
    let sql = format!(
        "CREATE STREAM big (x DECIMAL(38,0), y BIGINT) WITH (path = '{csv}'); SELECT x + x AS twice FROM big"
    );
    fails(&["run", "--sql", &sql], 1, &["`x + x`", "does not fit"]);

    let sql = format!("CREATE STREAM big (x DECIMAL(38,0), y BIGINT) WITH (path = '{csv}'); SELECT x / y AS q FROM big");
    fails(&["run", "--sql", &sql], 1, &["`x / y`", "division by zero"]);
}

#[test]
fn late_rows_are_counted_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(
        dir.path(),
        "t.csv",
        "sym,ts\nA,2024-01-15T10:00:30Z\nA,2024-01-15T10:01:30Z\nA,2024-01-15T10:00:40Z\nA,2024-01-15T10:01:40Z\n",
    );
    let stats = dir.path().join("s.json");
    let sql = format!(
        "CREATE STREAM t (sym VARCHAR, ts TIMESTAMP) WITH (path = '{csv}', lateness = '10 seconds');
         SELECT sym, COUNT(*) AS n FROM t GROUP BY sym WINDOW TUMBLING (ts, INTERVAL '1' MINUTE)"
    );
    let o = percore(&[
        "run",
        "--sql",
        &sql,
        "--stats",
        stats.to_str().unwrap(),
        "--cores",
        "1",
        // The watermark moves between input batches: one row per batch makes
        // it move after every row.
        "--batch-size",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rows = json_lines(&stdout(&o));
    // 10:00:40 arrives after the watermark (10:01:20) closed [10:00, 10:01): dropped, not moved.
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["n"], 1);
    assert_eq!(rows[1]["n"], 2);
    assert!(stderr(&o).contains("1 late rows dropped"), "{}", stderr(&o));
    let s = read_stats(&stats);
    assert_eq!(s["late_rows_dropped"], 1);

    // On two cores a watermark is the minimum over cores, so whether that row
    // is late depends on when the idle core reports; it is never lost either way.
    let o = percore(&[
        "run",
        "--sql",
        &sql,
        "--stats",
        stats.to_str().unwrap(),
        "--cores",
        "2",
        "--batch-size",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rows = json_lines(&stdout(&o));
    let s = read_stats(&stats);
    let counted: i64 = rows.iter().map(|r| r["n"].as_i64().unwrap()).sum();
    assert_eq!(counted + s["late_rows_dropped"].as_i64().unwrap(), 4);
    assert_eq!(
        rows.last().unwrap()["n"],
        2,
        "the 10:01 window has both of its rows"
    );
}

#[test]
fn a_low_memlock_limit_is_a_clear_error_not_a_hang() {
    let cmd = format!(
        "ulimit -l 64 && exec {} run --scenario s0_select --rows 1000 --cores 2",
        env!("CARGO_BIN_EXE_percore")
    );
    let child = Command::new("sh")
        .args(["-c", &cmd])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("cannot start a glommio executor") && e.contains("ulimit -l"),
        "{e}"
    );
}

#[test]
fn a_stats_path_that_cannot_be_written_is_refused_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let stats = dir.path().join("missing").join("s.json");
    let o = fails(
        &[
            "run",
            "--scenario",
            "s0_select",
            "--rows",
            "50000",
            "--stats",
            stats.to_str().unwrap(),
        ],
        2,
        &["cannot write", "missing"],
    );
    // Refused before the run: no row was written.
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
}
