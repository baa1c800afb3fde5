//! Runs that succeed: the generator by default, every scenario, statistics,
//! `gen`, EXPLAIN and the output formats, and Ctrl-C.

use super::*;

#[test]
fn default_run_uses_the_generator_and_writes_json_lines() {
    let o = percore(&["run", "--rows", "150000"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rows = json_lines(&stdout(&o));
    assert!(!rows.is_empty());
    let first = rows[0].as_object().unwrap();
    let keys: Vec<&str> = first.keys().map(String::as_str).collect();
    for k in [
        "window_start",
        "window_end",
        "trader_id",
        "symbol",
        "trade_count",
        "avg_price",
        "total_quantity",
        "total_value",
    ] {
        assert!(keys.contains(&k), "missing {k} in {keys:?}");
    }
    // DECIMAL as a string with exactly its scale; TIMESTAMP as ISO-8601 with ms.
    let avg = first["avg_price"].as_str().unwrap();
    assert_eq!(avg.split('.').nth(1).unwrap().len(), 6, "{avg}");
    let total = first["total_value"].as_str().unwrap();
    assert_eq!(total.split('.').nth(1).unwrap().len(), 4, "{total}");
    let ws = first["window_start"].as_str().unwrap();
    assert!(ws.ends_with(":00.000Z") && ws.len() == 24, "{ws}");
    // Every input row is counted in exactly one window.
    let count: i64 = rows
        .iter()
        .map(|r| r["trade_count"].as_i64().unwrap())
        .sum();
    assert_eq!(count, 150_000);
}

#[test]
fn every_scenario_runs_on_a_csv_file_and_on_the_generator() {
    let list = percore(&["run", "--list-scenarios"]);
    let names: Vec<String> = stdout(&list).lines().map(str::to_string).collect();
    assert_eq!(names.len(), 8);
    for name in &names {
        let o = percore(&["run", "--scenario", name, "--rows", "20000"]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
        assert!(!stdout(&o).is_empty(), "{name}");
        let stream = if name.starts_with("s0") {
            "orders"
        } else {
            "market_data"
        };
        let binding = format!("{stream}={}", golden(&format!("{stream}.csv")));
        let o = percore(&["run", "--scenario", name, "--source", &binding]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
        assert!(!json_lines(&stdout(&o)).is_empty(), "{name}");
    }
}

#[test]
fn stats_file_has_counts_and_latency() {
    let dir = tempfile::tempdir().unwrap();
    let stats = dir.path().join("s.json");
    let o = percore(&[
        "run",
        "--scenario",
        "s0_select",
        "--rows",
        "50000",
        "--stats",
        stats.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s = read_stats(&stats);
    assert_eq!(s["records_in"], 50_000);
    let out = json_lines(&stdout(&o)).len() as u64;
    assert_eq!(s["records_out"].as_u64(), Some(out));
    assert_eq!(s["late_rows_dropped"], 0);
    // Two cores, whose shares of the generator's rows add up. (The cores
    // claim the generator's blocks as they go, so a core started late on
    // a busy machine can find all 50,000 rows taken: no share is asked of
    // either.)
    let cores = s["cores"].as_array().unwrap();
    assert_eq!(cores.len(), 2);
    let total: u64 = cores
        .iter()
        .map(|c| c["records_in"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 50_000);
    let out_total: u64 = cores
        .iter()
        .map(|c| c["records_out"].as_u64().unwrap())
        .sum();
    assert_eq!(out_total, out);
    for p in ["p50", "p99", "p999", "max"] {
        assert!(
            s["latency_us"][p].as_u64().is_some_and(|v| v >= 1),
            "{p}: {s}"
        );
    }
    // Every output row was timed; those over 1 ms are some of them.
    let l = &s["latency_us"];
    assert_eq!(l["count"].as_u64(), Some(out), "{s}");
    assert!(l["over_1ms"].as_u64().unwrap() <= out, "{s}");
    assert!(s["elapsed_seconds"].as_f64().unwrap() > 0.0);
}

#[test]
fn gen_is_deterministic_and_round_trips_through_run() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.csv");
    let b = dir.path().join("b.csv");
    for p in [&a, &b] {
        let o = percore(&[
            "gen",
            "market_data",
            "--rows",
            "5000",
            "--seed",
            "9",
            "--output",
            p.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    let text = std::fs::read_to_string(&a).unwrap();
    assert_eq!(text, std::fs::read_to_string(&b).unwrap());
    assert!(text.starts_with("symbol,trader_id,price,quantity,timestamp,trade_time\n"));
    assert_eq!(text.lines().count(), 5001);

    // The generated file and the generator give the same answer.
    let binding = format!("market_data={}", a.display());
    let from_file = percore(&[
        "run",
        "--scenario",
        "s2_group_by_final",
        "--source",
        &binding,
    ]);
    let from_gen = percore(&[
        "run",
        "--scenario",
        "s2_group_by_final",
        "--rows",
        "5000",
        "--seed",
        "9",
    ]);
    assert_eq!(from_file.status.code(), Some(0));
    let mut x: Vec<String> = stdout(&from_file).lines().map(str::to_string).collect();
    let mut y: Vec<String> = stdout(&from_gen).lines().map(str::to_string).collect();
    x.sort();
    y.sort();
    assert_eq!(x, y);
    let counted: i64 = json_lines(&stdout(&from_file))
        .iter()
        .map(|r| r["trade_count"].as_i64().unwrap())
        .sum();
    assert_eq!(counted, 5000);

    let o = percore(&["gen", "orders", "--rows", "3", "--format", "jsonl"]);
    assert_eq!(json_lines(&stdout(&o)).len(), 3);
}

#[test]
fn explain_and_output_formats() {
    let o = percore(&["explain", "--scenario", "s3a_tumbling_std"]);
    assert_eq!(o.status.code(), Some(0));
    let plan = stdout(&o);
    assert!(
        plan.contains("tumbling=60000ms") && plan.contains("emit=Final"),
        "{plan}"
    );

    let o = percore(&[
        "run",
        "--scenario",
        "s0_select",
        "--rows",
        "10",
        "--format",
        "csv",
    ]);
    let text = stdout(&o);
    assert!(
        text.starts_with("order_id,customer_id,order_date,total_amount\n"),
        "{text}"
    );
    let o = percore(&[
        "run",
        "--scenario",
        "s0_select",
        "--rows",
        "10",
        "--format",
        "table",
    ]);
    assert!(stdout(&o).contains("| order_id"), "{}", stdout(&o));

    // On several cores each core formats its own rows; the header comes once.
    let sorted = |cores: &str| {
        let o = percore(&[
            "run",
            "--scenario",
            "s0_select",
            "--rows",
            "5000",
            "--format",
            "csv",
            "--cores",
            cores,
        ]);
        let text = stdout(&o);
        assert_eq!(text.matches("order_id,customer_id").count(), 1);
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines.sort();
        lines
    };
    assert_eq!(sorted("1"), sorted("2"));
}

#[test]
fn ctrl_c_drains_flushes_and_exits_130_and_a_second_exits_at_once() {
    use std::process::Stdio;
    for cores in ["1", "2"] {
        let child = Command::new(env!("CARGO_BIN_EXE_percore"))
            .args([
                "run",
                "--scenario",
                "s2_group_by_final",
                "--rows",
                "100000000000",
                "--cores",
                cores,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(700));
        signal(child.id(), "-INT");
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
        assert!(stderr(&o).contains("interrupted"), "{}", stderr(&o));
        // EMIT FINAL groups were flushed: every (trader, symbol) pair once.
        assert_eq!(json_lines(&stdout(&o)).len(), 5000, "cores {cores}");
    }
    // A second Ctrl-C does not wait for the drain.
    let child = Command::new(env!("CARGO_BIN_EXE_percore"))
        .args([
            "run",
            "--scenario",
            "s2_group_by_final",
            "--rows",
            "100000000000",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    signal(child.id(), "-INT");
    signal(child.id(), "-INT");
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130));
}
