//! `percore run` and `percore explain`.

use std::io::IsTerminal;

use percore_operators::codec::OnError;
use percore_operators::{sql, Plan};
use percore_runtime::{run_parallel_with, FileOutput, ParallelConfig, RunError, RunStats};

use crate::input::{self, InputOptions};
use crate::output::{open_output, Sink};
use crate::{scenarios, Failure, OnErrorArg, QueryArgs, RunArgs};

/// The SQL to run: `--sql`, `--file`, `--scenario`, or the default scenario.
fn query_text(q: &QueryArgs) -> Result<String, Failure> {
    if let Some(s) = &q.sql {
        return Ok(s.clone());
    }
    if let Some(f) = &q.file {
        return std::fs::read_to_string(f)
            .map_err(|e| Failure::usage(format!("cannot read {}: {e}", f.display())));
    }
    let name = q.scenario.as_deref().unwrap_or(scenarios::DEFAULT);
    scenarios::find(name).map(str::to_string).ok_or_else(|| {
        let names: Vec<&str> = scenarios::SCENARIOS.iter().map(|(n, _)| *n).collect();
        Failure::usage(format!(
            "unknown scenario `{name}`; choose one of: {}",
            names.join(", ")
        ))
    })
}

fn plan_of(q: &QueryArgs) -> Result<Plan, Failure> {
    let mut script = sql::parse(&query_text(q)?)?;
    let bindings = input::parse_bindings(&q.sources)?;
    input::bind(&mut script, &bindings)?;
    let plan = script.plan()?;
    input::check_bound(&plan, &bindings)?;
    Ok(plan)
}

pub(crate) fn explain(q: QueryArgs) -> Result<(), Failure> {
    let plan = plan_of(&q)?;
    println!("{plan}");
    if let Some(k) = &plan.source.kafka {
        println!(
            "        (input: Kafka topic `{}` at {}, group `{}`)",
            k.topic, k.brokers, k.group_id
        );
        if crate::kafka::local_keys(&plan) {
            println!(
                "        (no exchange: the topic is keyed by `{}`, a key of the query; each core keeps its partitions' rows)",
                k.key.as_deref().unwrap_or_default()
            );
        }
    } else if plan.source.path.is_none() {
        println!("        (input: built-in generator)");
    }
    Ok(())
}

pub(crate) fn run(a: RunArgs) -> Result<(), Failure> {
    if a.list_scenarios {
        for (name, _) in scenarios::SCENARIOS {
            println!("{name}");
        }
        return Ok(());
    }
    let cpus = a
        .cpus
        .clone()
        .unwrap_or_else(percore_runtime::available_cpus);
    let cores = a.cores.unwrap_or(cpus.len().max(1));
    if cores == 0 {
        return Err(Failure::usage("--cores must be at least 1"));
    }
    if a.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        return Err(Failure::usage(
            "--rate must be a positive number of records per second",
        ));
    }
    if a.batch_size == 0 {
        return Err(Failure::usage("--batch-size must be at least 1"));
    }
    let plan = plan_of(&a.query)?;
    // The statistics are written when the run ends, which for a stream may
    // be hours from now: a path that cannot be written is refused first
    // (opened, not emptied), as `--output` is.
    if let Some(path) = &a.stats {
        percore_runtime::check_writable(path)
            .map_err(|e| Failure::usage(format!("cannot write {}: {e}", path.display())))?;
    }
    let opts = InputOptions {
        rows: a.rows,
        seed: a.seed,
        rate: a.rate,
        batch_size: a.batch_size,
        on_error: match a.on_error {
            OnErrorArg::Fail => OnError::Fail,
            OnErrorArg::Skip => OnError::Skip,
        },
    };
    let stop = crate::interrupt::install();
    let kafka_in = crate::kafka::input(&plan, &opts, cores, a.stop_at_end)?;
    if a.stop_at_end && kafka_in.is_none() {
        return Err(Failure::usage(
            "--stop-at-end applies to Kafka sources (files and the generator end by themselves)",
        ));
    }
    if kafka_in.is_some() && a.format == crate::OutFormat::Table {
        // Offsets are committed once rows are written; a table waits for all.
        return Err(Failure::usage(
            "a Kafka source streams rows: use --format jsonl or csv",
        ));
    }
    let input = std::sync::Arc::new(crate::interrupt::StoppableParts {
        inner: match &kafka_in {
            Some(k) => crate::kafka::parts(k),
            None => input::partitioned(&plan, &opts)?,
        },
        stop: stop.clone(),
    });
    let kafka_out = match a.output.as_deref().and_then(|p| p.to_str()) {
        Some(url) if crate::kafka::is_kafka(url) => {
            if a.format == crate::OutFormat::Table {
                return Err(Failure::usage(
                    "Kafka output takes --format jsonl or csv (one row per message)",
                ));
            }
            let url = crate::kafka::parse_url(url)?;
            Some(crate::kafka::output(&url, &plan.output, cores)?)
        }
        _ => None,
    };
    let file_path = a.output.as_deref().filter(|_| kafka_out.is_none());
    let mut sink = Sink::new(a.format, open_output(file_path)?, &plan.output);
    // To a file, every core writes its own results (after the header).
    let file_output = match file_path {
        Some(path) if sink.cores_can_write() => sink
            .write_preamble()
            .and_then(|()| std::fs::metadata(path))
            .map(|m| FileOutput {
                path: path.to_path_buf(),
                next: std::sync::Arc::new(std::sync::atomic::AtomicU64::new(m.len())),
            })
            .map_err(|e| Failure::runtime(format!("writing {}: {e}", path.display())))
            .map(Some)?,
        _ => None,
    };
    // To Kafka, every core produces its own rows, one message each.
    let core_sink = match (&kafka_out, sink.encoder()) {
        (Some(out), Some(encode)) => {
            let out = out.clone();
            let lines = a.format == crate::OutFormat::Jsonl;
            let f: percore_runtime::CoreSink = std::sync::Arc::new(move |core, b| {
                crate::kafka::send(&out, core, b, &*encode, lines)
            });
            Some(f)
        }
        _ => None,
    };
    let cfg = ParallelConfig {
        cpus: Some(cpus),
        progress: a.progress,
        ring_capacity: a.ring_capacity.max(1),
        align_rows: a.align_rows,
        file_output,
        core_sink,
        local_keys: crate::kafka::local_keys(&plan),
        ..ParallelConfig::new(cores)
    };
    let encoder = sink.encoder();
    let stopped = || stop.load(std::sync::atomic::Ordering::Relaxed);
    let (stats, error) = loop {
        if let Some(k) = &kafka_in {
            crate::kafka::begin_run(k);
        }
        let result = run_parallel_with(&plan, input.clone(), &cfg, encoder.clone(), &mut |o| {
            sink.write_output(o)
        });
        let stats = match result {
            Ok(s) => s,
            Err(f) => {
                // Partitions a stateful query read from moved: drop the state
                // and run again from the committed offsets.
                let revoked = kafka_in.as_ref().is_some_and(crate::kafka::take_revoked);
                if revoked && !stopped() {
                    eprintln!("percore: {}; running again", f.error);
                    continue;
                }
                break (f.stats, Some(f.error));
            }
        };
        let Some(k) = &kafka_in else {
            break (stats, None);
        };
        // Everything read is in the output: flush it, and only then commit.
        let flushed = match &kafka_out {
            Some(out) => crate::kafka::flush(out),
            None => sink
                .flush()
                .map_err(|e| Failure::runtime(format!("writing output: {e}"))),
        };
        flushed?;
        // A stopped run of a query with state flushed its open windows as
        // they were; its state is not kept, so nothing is committed and the
        // next run starts again from the last commit (repeating, never
        // splitting, what it emitted).
        if !(stopped() && plan.exchange_keys().is_some()) {
            crate::kafka::commit(k)?;
        }
        if !a.stop_at_end || stopped() || !crate::kafka::wait_for_group(k, &stop)? {
            break (stats, None);
        }
        eprintln!("percore: partitions with unread rows came to this process; running again");
    };
    let finished = match &kafka_out {
        Some(_) => Ok(()),
        None => sink.finish(),
    };
    if let Some(path) = &a.stats {
        write_stats(path, &stats)?;
    }
    report(&stats);
    match error {
        Some(RunError::Sink(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Some(RunError::Sink(e)) => Err(Failure::runtime(format!("writing output: {e}"))),
        Some(e) => Err(Failure::runtime(e.to_string())),
        None => {
            finished
                .or_else(crate::output::quiet_on_broken_pipe)
                .map_err(|e| Failure::runtime(format!("writing output: {e}")))?;
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(Failure {
                    code: 130,
                    message: "interrupted: sources stopped, every window flushed".into(),
                });
            }
            Ok(())
        }
    }
}

/// Dropped rows are always reported; the summary only on a terminal.
fn report(s: &RunStats) {
    if s.late_rows > 0 {
        eprintln!(
            "percore: {} late rows dropped (behind the watermark)",
            s.late_rows
        );
    }
    if s.malformed_rows > 0 {
        eprintln!("percore: {} malformed rows skipped", s.malformed_rows);
    }
    if std::io::stderr().is_terminal() {
        let rate = s.records_in as f64 / s.elapsed_secs.max(1e-9);
        // On several cores, how much of their time they waited: with
        // nothing to do, or for room in a slower receiver's ring.
        let mut waits = match (s.idle_share(), s.blocked_share()) {
            (Some(i), Some(b)) if s.cores.len() > 1 => format!(
                ", cores idle {:.1}% and blocked {:.1}% of the time",
                i * 100.0,
                b * 100.0
            ),
            _ => String::new(),
        };
        // Time other threads took the cores' CPUs: every row due then waited.
        if let Some(p) = s.preempted_share().filter(|&p| p >= 0.001) {
            waits.push_str(&format!(", preempted {:.1}%", p * 100.0));
        }
        eprintln!(
            "percore: {} records in, {} out in {:.3} s ({:.0} rec/s{waits})",
            s.records_in, s.records_out, s.elapsed_secs, rate
        );
    }
}

fn write_stats(path: &std::path::Path, s: &RunStats) -> Result<(), Failure> {
    let json = serde_json::json!({
        "records_in": s.records_in,
        "records_out": s.records_out,
        "late_rows_dropped": s.late_rows,
        "malformed_rows": s.malformed_rows,
        "elapsed_seconds": s.elapsed_secs,
        "throughput_records_per_second": s.records_in as f64 / s.elapsed_secs.max(1e-9),
        "cores": s.cores.iter().map(|c| serde_json::json!({
            "core": c.core,
            "records_in": c.records_in,
            "records_out": c.records_out,
            "buffers_reused": c.buffers_reused,
            "cpu_seconds": c.cpu_secs,
            "peak_held_rows": c.peak_held_rows,
            "idle_seconds": c.idle_secs,
            "held_back_seconds": c.held_back_secs,
            "blocked_seconds": c.blocked_secs,
            "preempted_seconds": c.preempted_secs,
        })).collect::<Vec<_>>(),
        "latency_us": {
            "p50": s.latency_us.p50,
            "p99": s.latency_us.p99,
            "p999": s.latency_us.p999,
            "max": s.latency_us.max,
            "count": s.latency_us.count,
            "over_1ms": s.latency_us.over_1ms,
        },
    });
    let text = serde_json::to_string_pretty(&json).expect("stats serialise");
    std::fs::write(path, text + "\n")
        .map_err(|e| Failure::runtime(format!("cannot write {}: {e}", path.display())))
}
