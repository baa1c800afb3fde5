//! `percore-bench --quick` runs every scenario on every engine and writes the
//! JSON report in its documented shape (figures are not judged here:
//! benchmarks report, they never fail).

use std::process::Command;

/// Runs `percore-bench --quick` with `args` and `--json`; it must succeed.
/// Returns the table it printed and the JSON it wrote.
fn quick(args: &[&str]) -> (String, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let o = Command::new(env!("CARGO_BIN_EXE_percore-bench"))
        .arg("--quick")
        .args(args)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = String::from_utf8(o.stdout).unwrap();
    let v = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    (table, v)
}

#[test]
fn quick_run_reports_every_scenario_engine_and_core_count() {
    let (table, v) = quick(&["--cores", "1,2"]);
    assert!(table.contains("| scenario | engine | cores |"), "{table}");
    let cpus = v["machine"]["cpus_available"].as_u64().unwrap();
    assert!(cpus >= 1);
    // Nothing was paced: the host's pauses were not watched.
    assert!(v["host_pauses"].is_null(), "{}", v["host_pauses"]);
    // The core-to-core round trip, timed before each round, where there
    // are two CPUs to time it between (and said above the table).
    let trip = &v["core_round_trip_ns"];
    if cpus >= 2 {
        let (lo, med, hi) = (
            trip["min"].as_f64().unwrap(),
            trip["median"].as_f64().unwrap(),
            trip["max"].as_f64().unwrap(),
        );
        assert!(0.0 < lo && lo <= med && med <= hi, "{trip}");
        assert!(trip["samples"].as_u64().unwrap() >= 1, "{trip}");
        assert!(table.contains("A cache line from the first CPU"), "{table}");
    }
    let results = v["results"].as_array().unwrap();
    for scenario in [
        "select",
        "rows_window",
        "group_by",
        "tumbling",
        "emit_changes",
    ] {
        let row = |engine: &str, cores: u64| {
            results
                .iter()
                .find(|r| r["scenario"] == scenario && r["engine"] == engine && r["cores"] == cores)
                .unwrap_or_else(|| panic!("no {scenario}/{engine}/{cores}"))
        };
        for engine in [
            "v1",
            "v2",
            "timely",
            "percore",
            "independent",
            "percore_csv_to_jsonl",
        ] {
            for cores in [1, 2] {
                let r = row(engine, cores);
                for key in ["throughput_median", "throughput_min", "throughput_max"] {
                    assert!(r[key].as_f64().unwrap() > 0.0, "{scenario}/{engine}: {key}");
                }
                for key in ["p50", "p99", "p999", "max"] {
                    assert!(r["latency_us"][key].is_u64(), "{scenario}/{engine}: {key}");
                }
                let over = r["latency_us"]["over_1ms_share"].as_f64();
                assert!(
                    over.is_some_and(|x| (0.0..=1.0).contains(&x)),
                    "{scenario}/{engine}: {over:?}"
                );
                assert!(r["records"].as_u64().unwrap() > 0);
                // Every run reads a CPU clock: some CPU went into each record.
                let cpu = r["cpu_ns_per_record"].as_f64();
                assert!(cpu.is_some_and(|c| c > 0.0), "{scenario}/{engine}: {cpu:?}");
                // percore's runs say what share of their cores' time other
                // threads had their CPUs; the baselines have no cores.
                let preempted = r["preempted_share"].as_f64();
                match engine {
                    "percore" | "independent" | "percore_csv_to_jsonl" => assert!(
                        preempted.is_some_and(|x| (0.0..=1.0).contains(&x)),
                        "{scenario}/{engine}: {preempted:?}"
                    ),
                    _ => assert_eq!(preempted, None, "{scenario}/{engine}"),
                }
                if engine == "percore" {
                    for base in ["v1", "v2", "timely", "independent"] {
                        let x = r["vs_baselines"][base].as_f64();
                        assert!(x.is_some_and(|x| x > 0.0), "{scenario}/{cores}: vs {base}");
                    }
                }
                assert!(r["output_rows"].is_u64());
                // percore's flat-out rows at several cores carry the
                // exchange's budget, from the CPU a record of percore's one
                // core, of `independent` and of their own; no other row.
                let budget = &r["scaling_budget"];
                if engine == "percore" && cores == 2 {
                    let f = |k: &str| {
                        budget[k]
                            .as_f64()
                            .unwrap_or_else(|| panic!("{scenario}: {k}"))
                    };
                    let one = row("percore", 1)["cpu_ns_per_record"].as_f64().unwrap();
                    let ind = row("independent", 2)["cpu_ns_per_record"].as_f64().unwrap();
                    let own = r["cpu_ns_per_record"].as_f64().unwrap();
                    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
                    assert!(close(f("allowed_cpu_ns_per_record"), one / 0.9), "{budget}");
                    assert!(close(f("independent_cpu_ns_per_record"), ind), "{budget}");
                    assert!(close(f("cpu_ns_per_record"), own), "{budget}");
                    assert!(close(f("left_ns"), one / 0.9 - ind), "{budget}");
                    assert!(close(f("spent_ns"), own - ind), "{budget}");
                } else {
                    assert!(budget.is_null(), "{scenario}/{engine}/{cores}: {budget}");
                }
            }
        }
        assert!(table.contains("The exchange's budget"), "{table}");
        // The independent runs share the input between them (stripe k of
        // N each, as percore's cores read it).
        let records = |engine: &str| row(engine, 2)["records"].as_u64().unwrap();
        assert_eq!(records("independent"), records("percore"), "{scenario}");
        // percore's answer does not depend on the core count.
        let out = |engine: &str, cores: u64| row(engine, cores)["output_rows"].as_u64().unwrap();
        assert_eq!(out("percore", 1), out("percore", 2), "{scenario}");
        // The baselines' watermarks are the least of their feeders' (timely:
        // its frontier): they drop no row as late and do percore's work.
        for engine in ["v1", "v2", "timely"] {
            for cores in [1, 2] {
                let at = format!("{scenario}/{engine}/{cores}");
                assert_eq!(row(engine, cores)["late_rows"], 0, "{at}");
                assert_eq!(out(engine, cores), out("percore", 1), "{at}");
            }
        }
        assert_eq!(
            out("percore", 1),
            out("percore_csv_to_jsonl", 2),
            "{scenario}"
        );
    }
}

/// The optional shapes of percore's exchange of held rows (by reference,
/// not narrowed) run when named and compute percore's rows.
#[test]
fn the_exchange_variants_compute_percores_rows() {
    let (_, v) = quick(&[
        "--cores",
        "2",
        "--engines",
        "percore,percore_rows_by_reference,percore_wide_rows",
        "--scenarios",
        "rows_window,emit_changes",
        "--no-e2e",
    ]);
    let results = v["results"].as_array().unwrap();
    for scenario in ["rows_window", "emit_changes"] {
        let out = |engine: &str| {
            let r = results
                .iter()
                .find(|r| r["scenario"] == scenario && r["engine"] == engine)
                .unwrap_or_else(|| panic!("no {scenario}/{engine}"));
            assert_eq!(r["late_rows"], 0, "{r}");
            r["output_rows"].as_u64().unwrap()
        };
        let percore = out("percore");
        assert!(percore > 0, "{scenario}");
        assert_eq!(out("percore_rows_by_reference"), percore, "{scenario}");
        assert_eq!(out("percore_wide_rows"), percore, "{scenario}");
    }
}

/// A paced run watches the host's pauses before its round (a second on
/// each CPU it uses) and says what it saw above the table.
#[test]
fn a_paced_run_reports_the_hosts_pauses() {
    let (table, v) = quick(&[
        "--cores",
        "1",
        "--engines",
        "percore",
        "--scenarios",
        "select",
        "--no-e2e",
        "--rate",
        "1000000",
    ]);
    assert!(table.contains("Host pauses"), "{table}");
    let p = &v["host_pauses"];
    let watched = p["cpu_secs"].as_f64().unwrap();
    assert!(watched >= 1.0, "{p}");
    assert!(p["over_1ms"].as_u64().unwrap() <= p["over_200us"].as_u64().unwrap());
    let lost = p["lost_share"].as_f64().unwrap();
    assert!((0.0..1.0).contains(&lost), "{p}");
    let r = &v["results"][0];
    assert_eq!(r["rate"].as_f64(), Some(1_000_000.0));
    assert!(r["latency_us"]["over_1ms_share"].as_f64().is_some(), "{r}");
}

/// A `--json` path that cannot be written is refused before the first run
/// (the report is written minutes later, at the end), and says which.
#[test]
fn an_unwritable_json_path_is_refused_before_any_run() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("missing").join("bench.json");
    let o = Command::new(env!("CARGO_BIN_EXE_percore-bench"))
        .args(["--quick", "--scenarios", "select", "--engines", "percore"])
        .arg("--json")
        .arg(&json)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--json") && err.contains("missing"), "{err}");
    // No run started: nothing measured, no table.
    assert!(!err.contains("rec/s"), "{err}");
    assert!(
        o.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}
