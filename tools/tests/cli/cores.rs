//! Several cores: the same rows as one core, a file split among them, and
//! every core writing to one output file.

use super::*;

#[test]
fn n_cores_give_the_same_rows_as_one_core_on_every_scenario() {
    let list = percore(&["run", "--list-scenarios"]);
    for name in stdout(&list).lines() {
        let mut answers = Vec::new();
        for cores in ["1", "2", "3"] {
            let dir = tempfile::tempdir().unwrap();
            let stats = dir.path().join("s.json");
            let o = percore(&[
                "run",
                "--scenario",
                name,
                "--rows",
                "30000",
                "--cores",
                cores,
                "--batch-size",
                "1000",
                "--stats",
                stats.to_str().unwrap(),
            ]);
            assert_eq!(
                o.status.code(),
                Some(0),
                "{name} on {cores}: {}",
                stderr(&o)
            );
            // Every row read once. Where rows wait for the watermark the
            // cores take the generator's blocks in turn, so every core read
            // its share and spent CPU time on it; elsewhere they claim the
            // next block as they go, and one core may read this small input
            // alone before another has started.
            let s = read_stats(&stats);
            let per_core = s["cores"].as_array().unwrap();
            assert_eq!(per_core.len().to_string(), cores);
            let read: u64 = per_core
                .iter()
                .map(|c| c["records_in"].as_u64().unwrap())
                .sum();
            assert_eq!(read, 30000, "{name} on {cores}");
            let in_turn = name.starts_with("s1_") || name == "s3b_emit_changes";
            for c in per_core.iter().filter(|_| in_turn) {
                assert!(
                    c["records_in"].as_u64().unwrap() >= 30000 / 4,
                    "{name}: {c}"
                );
                assert!(c["cpu_seconds"].as_f64().unwrap() > 0.0, "{name}: {c}");
            }
            let elapsed = s["elapsed_seconds"].as_f64().unwrap();
            for c in per_core {
                // Time parked, of it held back by the read-ahead bound:
                // neither longer than the run; nor the time other threads
                // had the core's CPU.
                let idle = c["idle_seconds"].as_f64().unwrap();
                let held_back = c["held_back_seconds"].as_f64().unwrap();
                let blocked = c["blocked_seconds"].as_f64().unwrap();
                let preempted = c["preempted_seconds"].as_f64().unwrap();
                assert!(
                    0.0 <= held_back
                        && held_back <= idle
                        && idle + blocked <= elapsed
                        && (0.0..=elapsed).contains(&preempted),
                    "{name} on {cores}: {c} in {elapsed} s"
                );
            }
            for c in per_core {
                // Rows wait for the watermark where the output is in
                // event-time order, and nowhere in a plain SELECT.
                let held = c["peak_held_rows"].as_u64().unwrap();
                if name.starts_with("s1_") || name == "s3b_emit_changes" {
                    assert!(held > 0, "{name} on {cores}: {c}");
                } else if name == "s0_select" {
                    assert_eq!(held, 0, "{name} on {cores}: {c}");
                }
            }
            let mut lines: Vec<String> = stdout(&o).lines().map(str::to_string).collect();
            lines.sort();
            assert!(!lines.is_empty());
            answers.push(lines);
        }
        assert!(
            answers.iter().all(|a| *a == answers[0]),
            "{name}: cores disagree"
        );
    }
}

/// Rows of a file tied in event time (fifty a millisecond) keep the order
/// they have in the file on any number of cores: a ROWS window's averages
/// and EMIT CHANGES' running counts and sums depend on it, so the sorted
/// output lines are the same on one, two and three cores.
#[test]
fn a_file_read_by_several_cores_breaks_event_time_ties_as_one_core() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("symbol,trader_id,price,quantity,timestamp,trade_time\n");
    for i in 0..4000u64 {
        let at = format!(
            "2024-01-15T10:00:{:02}.{:03}Z",
            i / 50 / 1000,
            i / 50 % 1000
        );
        text.push_str(&format!(
            "S{},{},{}.{:02},{},{at},{at}\n",
            i % 3,
            i % 2,
            100 + i * 7919 % 97,
            i % 100,
            1 + i % 5,
        ));
    }
    let csv = write(dir.path(), "ties.csv", &text);
    let binding = format!("market_data={csv}");
    for scenario in ["s1_rows_window", "s3b_emit_changes"] {
        let mut outs = Vec::new();
        for cores in ["1", "2", "3"] {
            let o = percore(&[
                "run",
                "--scenario",
                scenario,
                "--source",
                &binding,
                "--cores",
                cores,
                "--batch-size",
                "64",
            ]);
            assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
            let mut rows: Vec<String> = stdout(&o).lines().map(str::to_string).collect();
            rows.sort();
            outs.push(rows);
        }
        assert_eq!(outs[0].len(), 4000, "{scenario}");
        assert!(outs[0] == outs[1], "{scenario}: two cores differ from one");
        assert!(
            outs[0] == outs[2],
            "{scenario}: three cores differ from one"
        );
    }
}

#[test]
fn a_file_is_split_among_cores_and_errors_name_the_row_and_line_in_the_whole_file() {
    let dir = tempfile::tempdir().unwrap();
    // 3000 rows; every core reads its own byte range.
    let mut text = String::from("order_id,customer_id,order_date,total_amount\n");
    let mut json = String::new();
    for i in 1..=3000 {
        text.push_str(&format!("{i},{},d,{}.25\n", i % 7, 100 + i));
        json.push_str(&format!(
            "{{\"order_id\":{i},\"customer_id\":{},\"order_date\":\"d\",\"total_amount\":{}.25}}\n",
            i % 7,
            100 + i
        ));
        if i % 1000 == 0 {
            json.push('\n'); // blank lines are skipped, but still lines
        }
    }
    let csv = write(dir.path(), "orders.csv", &text);
    let jsonl = write(dir.path(), "orders.jsonl", &json);
    for src in [&csv, &jsonl] {
        let binding = format!("orders={src}");
        let mut outs = Vec::new();
        let sums = "SELECT customer_id, COUNT(*) AS n, SUM(total_amount) AS s FROM orders \
                    WHERE total_amount > 1000 GROUP BY customer_id EMIT FINAL";
        for (query, cores) in [
            ("s0_select", "1"),
            ("s0_select", "2"),
            ("s0_select", "3"),
            (sums, "1"),
            (sums, "2"),
            (sums, "3"),
        ] {
            let stats = dir.path().join("s.json");
            let how = if query.starts_with("SELECT") {
                "--sql"
            } else {
                "--scenario"
            };
            let o = percore(&[
                "run",
                how,
                query,
                "--source",
                &binding,
                "--cores",
                cores,
                "--batch-size",
                "100",
                "--stats",
                stats.to_str().unwrap(),
            ]);
            assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
            // Every row read once, by the cores together: these queries hold
            // no rows for the watermark, so the cores claim the file's stripes
            // as they go and their shares differ from run to run (the
            // runtime's file tests read stripes in turn and claimed).
            let s = read_stats(&stats);
            assert_eq!(s["records_in"], 3000);
            let per_core: Vec<u64> = s["cores"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["records_in"].as_u64().unwrap())
                .collect();
            assert_eq!(per_core.len().to_string(), cores);
            assert_eq!(per_core.iter().sum::<u64>(), 3000, "{per_core:?}");
            let mut rows: Vec<String> = stdout(&o).lines().map(str::to_string).collect();
            rows.sort();
            outs.push(rows);
        }
        assert_eq!(outs[0].len(), 3000);
        assert_eq!(outs[0], outs[1]);
        assert_eq!(outs[0], outs[2]);
        assert_eq!(outs[3].len(), 7);
        assert_eq!(outs[3], outs[4]);
        assert_eq!(outs[3], outs[5]);
    }

    // A bad value late in the file: read by the last core, named by its place
    // in the whole file.
    let bad_csv = text.replace("2900,2,d,3000.25", "2900,2,d,oops");
    let bad_json = json.replace("\"total_amount\":3000.25", "\"total_amount\":\"oops\"");
    for (name, body, line) in [("bad.csv", bad_csv, 2901), ("bad.jsonl", bad_json, 2902)] {
        let path = write(dir.path(), name, &body);
        let binding = format!("orders={path}");
        let place = format!("row 2900 (line {line})");
        fails(
            &[
                "run",
                "--scenario",
                "s0_select",
                "--source",
                &binding,
                "--cores",
                "2",
            ],
            1,
            &[&place, "`total_amount`"],
        );
    }
}

#[test]
fn every_core_writes_its_results_to_the_output_file() {
    let dir = tempfile::tempdir().unwrap();
    for format in ["jsonl", "csv"] {
        let base = [
            "run",
            "--scenario",
            "s0_select",
            "--rows",
            "200000",
            "--batch-size",
            "500",
            "--format",
            format,
        ];
        let o = percore(&[&base[..], &["--cores", "1"]].concat());
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let want = stdout(&o);
        let mut want_lines: Vec<&str> = want.lines().collect();
        assert!(want_lines.len() > 90_000);
        let header = want_lines[0];
        want_lines.sort_unstable();
        for cores in ["1", "2", "3"] {
            let path = dir.path().join(format!("out-{cores}.{format}"));
            // Leftover content in the file must go.
            std::fs::write(&path, "stale ".repeat(1 << 20)).unwrap();
            let o = percore(
                &[
                    &base[..],
                    &["--cores", cores, "--output", path.to_str().unwrap()],
                ]
                .concat(),
            );
            assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
            assert!(stdout(&o).is_empty());
            let got = std::fs::read_to_string(&path).unwrap();
            let mut got_lines: Vec<&str> = got.lines().collect();
            if format == "csv" {
                // The header once, first.
                assert_eq!(got_lines[0], header);
                assert_eq!(got_lines.iter().filter(|l| **l == header).count(), 1);
            }
            got_lines.sort_unstable();
            assert_eq!(got_lines, want_lines, "{format} on {cores} cores");
        }
    }
}
