use super::super::testing::run;

const DDL: &str =
    "CREATE STREAM t (k VARCHAR, ts BIGINT) WITH (lateness = '5ms', event_time = 'ts');";

#[test]
fn windows_are_half_open_fire_by_watermark_and_flush_at_end() {
    // 10-ms windows; ts 10 belongs to [10, 20); ts 4 arrives once the watermark
    // is 21 - 5 = 16 >= 10, so [0, 10) has closed: late.
    let csv = "k,ts\na,0\na,9\na,10\nb,19\na,21\na,4\nb,25\n";
    let q =
        "SELECT k, COUNT(*) AS n FROM t GROUP BY k WINDOW TUMBLING (ts, INTERVAL '10' MILLISECOND)";
    let (rows, late) = run(&format!("{DDL} {q}"), csv, 1);
    assert_eq!(late, 1);
    let t = |ms: i64| crate::value::format_timestamp(ms);
    assert_eq!(
        rows,
        vec![
            format!("{}|{}|a|2", t(0), t(10)),
            format!("{}|{}|a|1", t(10), t(20)),
            format!("{}|{}|b|1", t(10), t(20)),
            format!("{}|{}|a|1", t(20), t(30)),
            format!("{}|{}|b|1", t(20), t(30)),
        ]
    );
}

/// A row whose window ends exactly at the watermark an earlier row of
/// its own batch set is late (the batch-at-once check must not keep it).
#[test]
fn a_row_of_a_window_ending_at_the_watermark_is_late_within_its_batch() {
    let q =
        "SELECT k, COUNT(*) AS n FROM t GROUP BY k WINDOW TUMBLING (ts, INTERVAL '10' MILLISECOND)";
    // ts 15 sets the watermark to 15 - 5 = 10, closing [0, 10): ts 3 is late.
    let (rows, late) = run(&format!("{DDL} {q}"), "k,ts\na,15\na,3\n", 2);
    assert_eq!(late, 1);
    let t = |ms: i64| crate::value::format_timestamp(ms);
    assert_eq!(rows, vec![format!("{}|{}|a|1", t(10), t(20))]);
}

#[test]
fn changes_cover_only_the_rows_own_group_and_window() {
    let csv = "k,ts\na,1\nb,2\na,3\na,12\n";
    let q = "SELECT k, COUNT(*) AS n FROM t GROUP BY k WINDOW TUMBLING (ts, INTERVAL '10' MILLISECOND) EMIT CHANGES";
    let (rows, _) = run(&format!("{DDL} {q}"), csv, 2);
    let n: Vec<&str> = rows.iter().map(|r| r.rsplit('|').next().unwrap()).collect();
    assert_eq!(n, vec!["1", "1", "2", "1"]);
}
