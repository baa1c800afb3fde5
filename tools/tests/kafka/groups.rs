//! Consumer groups and partitions: two processes in one group, a process
//! killed mid-run, and a topic already keyed by the query key.

use super::*;

#[test]
fn two_processes_in_one_group_split_the_partitions_and_give_one_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (topic, csv) = load(dir.path(), "market_data", 40_000, "symbol");
    for scenario in ["s2_group_by_final", "s3a_tumbling"] {
        let (_, expected) = file_answer(scenario, "market_data", &csv);
        let group = unique("pair");
        let src = source("market_data", &topic, &group, 4000);
        let mut children = Vec::new();
        for p in ["a", "b"] {
            let stats = dir.path().join(format!("{scenario}-{p}.json"));
            let args = [
                "run",
                "--scenario",
                scenario,
                "--source",
                &src,
                "--stop-at-end",
                "--cores",
                "1",
                "--format",
                "csv",
                "--stats",
                stats.to_str().unwrap(),
            ];
            let out = dir.path().join(format!("{scenario}-{p}.csv"));
            children.push((spawn(&args, &out), out, stats));
        }
        let mut got = Vec::new();
        let mut read = Vec::new();
        for (child, out, stats) in children {
            wait_ok(child, scenario);
            let mut l = lines(&std::fs::read(&out).unwrap());
            l.remove(0);
            got.extend(l);
            read.push(records_in(&stats));
        }
        assert!(
            read.iter().all(|r| *r > 0),
            "{scenario}: both processes got partitions: {read:?}"
        );
        assert_eq!(read.iter().sum::<u64>(), 40_000, "{scenario}: {read:?}");
        assert_same_rows(got, expected, &format!("{scenario} on two processes"));
    }
}

#[test]
fn a_killed_process_loses_no_row() {
    let dir = tempfile::tempdir().unwrap();
    let rows = 400_000;
    let (topic, csv) = load(dir.path(), "orders", rows, "order_id");
    let (header, expected) = file_answer("s0_select", "orders", &csv);
    let group = unique("kill");
    let src = source("orders", &topic, &group, 2000);
    let args = [
        "run",
        "--scenario",
        "s0_select",
        "--source",
        &src,
        "--stop-at-end",
        "--cores",
        "1",
        "--batch-size",
        "64",
        "--format",
        "csv",
    ];
    let a1_out = dir.path().join("a1.csv");
    let b_out = dir.path().join("b.csv");
    let mut a1 = spawn(&args, &a1_out);
    let b = spawn(&args, &b_out);
    // Kill A once it has written some rows (and before it is done).
    let started = Instant::now();
    while std::fs::metadata(&a1_out).map_or(0, |m| m.len()) < 4096 {
        assert!(
            a1.try_wait().unwrap().is_none(),
            "A finished before it could be killed; make the input larger"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "A wrote nothing"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    a1.kill().unwrap();
    a1.wait().unwrap();
    // A again, at once: its old partitions move on when the dead member's
    // session ends, and are read from what the group committed.
    let a2_out = dir.path().join("a2.csv");
    let a2_stats = dir.path().join("a2.json");
    let mut a2_args = args.to_vec();
    a2_args.extend(["--stats", a2_stats.to_str().unwrap()]);
    let a2 = spawn(&a2_args, &a2_out);
    wait_ok(b, "B");
    wait_ok(a2, "A restarted");
    assert!(
        records_in(&a2_stats) > 0,
        "the restarted process took over the killed one's partitions"
    );
    let mut got = counts(
        [&a1_out, &b_out, &a2_out]
            .iter()
            .flat_map(|p| {
                let text = std::fs::read(p).unwrap();
                // A killed process may leave half a line: only whole ones count.
                let whole = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
                lines(&text[..whole])
            })
            .filter(|l| *l != header),
    );
    let mut missing = 0;
    for row in &expected {
        match got.get_mut(row) {
            Some(n) if *n > 0 => *n -= 1,
            _ => missing += 1,
        }
    }
    assert_eq!(missing, 0, "rows lost across the killed process");
}

#[test]
fn a_topic_keyed_by_the_query_key_skips_the_exchange_and_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let (topic, csv) = load(dir.path(), "market_data", 20_000, "symbol");
    for scenario in ["s1_rows_window", "s2_group_by_final", "s3b_emit_changes"] {
        let src = format!(
            "{}&key=symbol",
            source("market_data", &topic, &unique("k"), 300)
        );
        let plan = percore(&["explain", "--scenario", scenario, "--source", &src]);
        assert!(
            String::from_utf8_lossy(&plan.stdout).contains("no exchange"),
            "{scenario}: keyed by symbol, a key of the query"
        );
        let what = format!("{scenario} keyed by symbol");
        assert_two_cores_give_the_file_answer(scenario, &src, &csv, &what);
    }
    // A key the topic is not keyed by is caught, not trusted.
    let src = format!(
        "{}&key=trader_id",
        source("market_data", &topic, &unique("k"), 300)
    );
    let out = Command::new(BIN)
        .args(["run", "--scenario", "s2_group_by_final", "--source", &src])
        .args(["--stop-at-end", "--cores", "2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the topic is not keyed by `trader_id`"),
        "{err}"
    );
}
