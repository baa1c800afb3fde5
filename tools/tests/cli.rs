//! The `percore` command as a user runs it: exit codes, messages, output.

use std::path::Path;
use std::process::{Command, Output};

fn percore(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_percore"))
        .args(args)
        .output()
        .expect("percore runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn golden(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/golden")
        .join(name)
        .display()
        .to_string()
}

fn json_lines(s: &str) -> Vec<serde_json::Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

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
    // Two cores, each with its share of the generator's rows.
    let cores = s["cores"].as_array().unwrap();
    assert_eq!(cores.len(), 2);
    assert!(
        cores.iter().all(|c| c["records_in"].as_u64().unwrap() > 0),
        "{s}"
    );
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
    assert!(s["elapsed_seconds"].as_f64().unwrap() > 0.0);
}

#[test]
fn sql_errors_exit_2_with_line_and_column() {
    let o = percore(&[
        "run",
        "--sql",
        "SELECT symbol,\n  FROB(price) FROM market_data",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("line 2, column 3") && e.contains("FROB"), "{e}");

    let o = percore(&["run", "--sql", "SELECT nope FROM market_data"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown column `nope`") && stderr(&o).contains("line 1, column 8"),
        "{}",
        stderr(&o)
    );

    let o = percore(&["run", "--sql", "SELECT * FROM trades"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown stream `trades`"),
        "{}",
        stderr(&o)
    );

    let o = percore(&[
        "run",
        "--sql",
        "SELECT a FROM orders o JOIN market_data m ON o.order_id = m.trader_id",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("JOIN is not supported"),
        "{}",
        stderr(&o)
    );

    let o = percore(&[
        "run",
        "--sql",
        "SELECT symbol, COUNT(*) FROM market_data GROUP BY symbol WINDOW SLIDING(1m)",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("WINDOW SLIDING is not supported")
            && stderr(&o).contains("line 1, column 58"),
        "{}",
        stderr(&o)
    );

    let o = percore(&[
        "run",
        "--sql",
        "SELECT symbol, price FROM market_data GROUP BY symbol",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("`price` must appear in GROUP BY"),
        "{}",
        stderr(&o)
    );

    let o = percore(&["run", "--sql", "SELECT SELECT"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("line 1, column"), "{}", stderr(&o));
}

#[test]
fn usage_errors_exit_2() {
    let o = percore(&["run", "--cores", "0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--cores must be at least 1"),
        "{}",
        stderr(&o)
    );

    let o = percore(&[
        "run",
        "--scenario",
        "s0_select",
        "--source",
        "market_data=x.csv",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("reads stream `orders`"),
        "{}",
        stderr(&o)
    );

    let o = percore(&[
        "run",
        "--scenario",
        "s0_select",
        "--source",
        "orders=/no/such/file.csv",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cannot open /no/such/file.csv"),
        "{}",
        stderr(&o)
    );

    let o = percore(&["run", "--frobnicate"]);
    assert_eq!(o.status.code(), Some(2));

    let o = percore(&["gen", "customers"]);
    assert_eq!(o.status.code(), Some(2));
}

/// The JSON a run wrote with `--stats`.
fn read_stats(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
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
    let o = percore(&[
        "run",
        "--scenario",
        "s0_select",
        "--source",
        &binding,
        "--batch-size",
        "1",
        "--cores",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("orders.csv")
            && e.contains("row 2")
            && e.contains("line 3")
            && e.contains("`total_amount`"),
        "{e}"
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
    let o = percore(&["run", "--sql", &sql]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("`x + x`") && stderr(&o).contains("does not fit"),
        "{}",
        stderr(&o)
    );

    let sql = format!("CREATE STREAM big (x DECIMAL(38,0), y BIGINT) WITH (path = '{csv}'); SELECT x / y AS q FROM big");
    let o = percore(&["run", "--sql", &sql]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("`x / y`") && stderr(&o).contains("division by zero"),
        "{}",
        stderr(&o)
    );
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

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
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
            // Every core read rows and spent CPU time on them.
            let s = read_stats(&stats);
            let per_core = s["cores"].as_array().unwrap();
            assert_eq!(per_core.len().to_string(), cores);
            for c in per_core {
                assert!(
                    c["records_in"].as_u64().unwrap() >= 30000 / 4,
                    "{name}: {c}"
                );
                assert!(c["cpu_seconds"].as_f64().unwrap() > 0.0, "{name}: {c}");
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
            let s = read_stats(&stats);
            assert_eq!(s["records_in"], 3000);
            let per_core: Vec<u64> = s["cores"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["records_in"].as_u64().unwrap())
                .collect();
            assert!(
                per_core.iter().all(|&r| r > 500),
                "every core reads a share: {per_core:?}"
            );
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
        let o = percore(&[
            "run",
            "--scenario",
            "s0_select",
            "--source",
            &binding,
            "--cores",
            "2",
        ]);
        assert_eq!(o.status.code(), Some(1));
        let e = stderr(&o);
        assert!(
            e.contains(&format!("row 2900 (line {line})")) && e.contains("`total_amount`"),
            "{e}"
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
