//! The engine against the naive reference evaluator on random inputs: every
//! operator and emit mode, both SQL spellings, random batch boundaries,
//! out-of-order timestamps, NULLs, late rows and decimals near their limits.

mod common;

use common::reference::{self as r};
use common::{run_engine, sorted_text, to_batches, trades, trades_ddl};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    }
}

fn rows_sql(n: usize, velostream: bool) -> String {
    let w = if velostream {
        format!("OVER (ROWS WINDOW BUFFER {n} ROWS PARTITION BY symbol ORDER BY ts)")
    } else {
        format!(
            "OVER (PARTITION BY symbol ORDER BY ts ROWS BETWEEN {} PRECEDING AND CURRENT ROW)",
            n - 1
        )
    };
    format!(
        "SELECT symbol, price, AVG(price) {w} AS a, MIN(price) {w} AS mn, MAX(price) {w} AS mx, \
         SUM(qty) {w} AS sq, COUNT(price) {w} AS cp, COUNT(*) {w} AS c, AVG(fprice) {w} AS af FROM trades"
    )
}

const GROUP_SELECT: &str =
    "SELECT symbol, trader, COUNT(*) AS c, SUM(price * qty) AS v, AVG(price) AS ap, \
     MIN(price) AS mn, MAX(qty) AS mx, AVG(qty) AS aq, SUM(fprice) AS sf FROM trades";

const TUMBLE_SELECT: &str =
    "SELECT symbol, COUNT(*) AS c, SUM(price * qty) AS v, AVG(price) AS ap, MAX(price) AS mx FROM trades";

proptest! {
    #![proptest_config(config())]

    #[test]
    fn filter_and_projection(ts in trades(120), bs in 1usize..40) {
        let sql = format!(
            "{}SELECT symbol, price * qty AS v, price + 1.5 AS p2, qty / 3 AS q3, fprice * 2 AS f2 \
             FROM trades WHERE price > 50.25",
            trades_ddl(0)
        );
        let (got, _) = run_engine(&sql, &to_batches(&ts, bs)).unwrap();
        // Stateless: same rows in the same order.
        prop_assert_eq!(got, r::select(&ts));
    }

    #[test]
    fn rows_window(ts in trades(150), bs in 1usize..40, n in 1usize..7, lateness in 0i64..700, velo in any::<bool>()) {
        let sql = format!("{}{}", trades_ddl(lateness), rows_sql(n, velo));
        let (got, late) = run_engine(&sql, &to_batches(&ts, bs)).unwrap();
        let (want, want_late) = r::rows_window(&ts, lateness, n);
        prop_assert_eq!(late, want_late);
        // Released in event-time order: the exact sequence per symbol matches.
        prop_assert_eq!(sorted_text(&got), sorted_text(&want));
        for sym in ["AAPL", "MSFT", "GOOG", "X"] {
            let pick = |rows: &[common::Row]| -> Vec<common::Row> {
                rows.iter().filter(|row| row[0] == percore::operators::Scalar::Varchar(sym.into())).cloned().collect()
            };
            prop_assert_eq!(pick(&got), pick(&want));
        }
    }

    #[test]
    fn group_by_emit_changes(ts in trades(150), bs in 1usize..40, lateness in 0i64..700) {
        let sql = format!("{}{GROUP_SELECT} GROUP BY symbol, trader", trades_ddl(lateness));
        let (got, late) = run_engine(&sql, &to_batches(&ts, bs)).unwrap();
        let (want, want_late) = r::group_changes(&ts, lateness);
        prop_assert_eq!(late, want_late);
        prop_assert_eq!(got, want);
    }

    #[test]
    fn group_by_emit_final_with_having(ts in trades(150), bs in 1usize..40, min in 0usize..3) {
        let sql = format!(
            "{}{GROUP_SELECT} GROUP BY symbol, trader HAVING COUNT(*) > {min} EMIT FINAL",
            trades_ddl(0)
        );
        let (got, late) = run_engine(&sql, &to_batches(&ts, bs)).unwrap();
        prop_assert_eq!(late, 0);
        prop_assert_eq!(sorted_text(&got), sorted_text(&r::group_final(&ts, min)));
    }

    #[test]
    fn tumbling_emit_final(ts in trades(150), bs in 1usize..40, secs in 1i64..4, lateness in 0i64..700, spelling in 0usize..3) {
        let group = match spelling {
            0 => format!("GROUP BY symbol WINDOW TUMBLING (ts, INTERVAL '{secs}' SECOND)"),
            1 => format!("GROUP BY symbol WINDOW TUMBLING({secs}s)"),
            _ => format!("GROUP BY symbol, TUMBLE(ts, INTERVAL '{secs}' SECOND)"),
        };
        let sql = format!("{}{TUMBLE_SELECT} {group}", trades_ddl(lateness));
        let (got, late) = run_engine(&sql, &to_batches(&ts, bs)).unwrap();
        let (want, want_late) = r::tumble_final(&ts, lateness, secs * 1000);
        prop_assert_eq!(late, want_late);
        prop_assert_eq!(sorted_text(&got), sorted_text(&want));
        // Windows are emitted in time order.
        let starts: Vec<_> = got.iter().map(|row| format!("{:?}", row[0])).collect();
        let ms: Vec<i64> = got.iter().map(|row| match row[0] { percore::operators::Scalar::Timestamp(t) => t, _ => unreachable!() }).collect();
        prop_assert!(ms.windows(2).all(|w| w[0] <= w[1]), "windows out of order: {:?}", starts);
    }

    #[test]
    fn tumbling_emit_changes(ts in trades(150), bs in 1usize..40, secs in 1i64..4, lateness in 0i64..700) {
        let sql = format!(
            "{}{TUMBLE_SELECT} GROUP BY symbol WINDOW TUMBLING (ts, INTERVAL '{secs}' SECOND) EMIT CHANGES",
            trades_ddl(lateness)
        );
        let (got, late) = run_engine(&sql, &to_batches(&ts, bs)).unwrap();
        let (want, want_late) = r::tumble_changes(&ts, lateness, secs * 1000);
        prop_assert_eq!(late, want_late);
        prop_assert_eq!(got, want);
    }
}
