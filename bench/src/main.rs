//! `percore-bench`: the five scenarios on the built-in generator's data,
//! through three engines that share the operator code — `v1` (one engine
//! behind a global lock), `v2` (per-partition engines behind their own
//! locks, a shared channel) and `percore` (thread-per-core, no locks) — at
//! each core count, plus timely-dataflow as the peer, and an end-to-end row
//! (CSV file → engine → JSON lines file). Runs are repeated in interleaved
//! rounds (every measurement once per round) and ratios between
//! measurements are taken round by round. Reports a Markdown table on
//! stdout and, with `--json`, every figure. Benchmarks report; they never
//! fail.

/// mimalloc: per-thread heaps that keep freed memory for reuse, instead of
/// glibc arenas that hand batch-sized buffers back to the kernel and fault
/// them in again on the next batch (15% of a tumbling run's time in perf).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod budget;
mod e2e;
mod engines;
mod measure;
mod report;
mod rounds;
mod scenarios;

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Parser;
use percore_operators::sql;
use percore_runtime::Executors;

use engines::percore::Variant;
use measure::{median_min_max, Run};
use report::{print_table, to_json};
use rounds::{run_rounds, Job, Probes, Spec};

#[derive(Parser)]
#[command(name = "percore-bench", about = "Benchmarks of the percore scenarios")]
struct Args {
    /// Rows per run.
    #[arg(long, default_value_t = 5_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    rows: u64,
    /// Runs per measurement (median, min and max are reported).
    #[arg(long, default_value_t = 3, value_parser = at_least_one)]
    runs: usize,
    /// Core counts, e.g. `1,2` (default: 1 up to every available CPU).
    #[arg(long, value_delimiter = ',')]
    cores: Vec<usize>,
    /// Engines: v1, v2, timely, percore, independent (N one-core percore
    /// runs at once, each on the rows one of percore's N cores reads,
    /// sharing nothing: the machine's own scaling) (default:
    /// all five), and
    /// percore_rows_by_reference (percore with `rows_by_reference`: rows
    /// bound for another core's ROWS window or EMIT CHANGES sent as a row
    /// list of their batch instead of gathered; only when named),
    /// percore_wide_rows (percore with `narrow_rows` off: rows gathered for
    /// another core cross as they are, not narrowed; only when named).
    #[arg(long, value_delimiter = ',')]
    engines: Vec<String>,
    /// Scenarios: select, rows_window, group_by, tumbling, emit_changes (default: all).
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<String>,
    /// Leave out the end-to-end CSV → JSON lines row.
    #[arg(long)]
    no_e2e: bool,
    /// Write every figure as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// A short run (under a minute) for smoke tests.
    #[arg(long)]
    quick: bool,
    /// Latency mode: pace the sources at this many records/s (over all
    /// cores) instead of running flat out, and report the latency there (of
    /// the run with the median p99 when --runs is more than one).
    #[arg(long, value_parser = parse_rate)]
    rate: Option<f64>,
    /// After the throughput runs, run each engine again paced at 10%, 50% and
    /// 90% of the peak it just reached (about 2 s each, --runs times; the run
    /// with the median p99 is reported), to show latency and adaptive
    /// batching under load.
    #[arg(long)]
    latency_sweep: bool,
    /// Internal: run one measurement (the first of --scenarios, --engines
    /// and --cores) in this process and print it as JSON. Every run of the
    /// benchmark is such a child process, so its peak RSS is its own.
    #[arg(long, hide = true)]
    child_run: bool,
    /// Internal, with --child-run: pin the run's one core to the k-th
    /// available CPU (unpinned when there are not that many).
    #[arg(long, hide = true)]
    pin_cpu: Option<usize>,
    /// Internal, with --child-run and the percore engine on one core: read
    /// only stripe K of N of the generated rows (`K/N`: rows K, K + N,
    /// K + 2N, ..., as percore's core K of N makes them).
    #[arg(long, hide = true, value_parser = parse_stripe)]
    stripe: Option<(usize, usize)>,
}

/// A count of at least one.
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// A rate of records per second: a positive, finite number.
fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        Ok(_) => Err("must be a positive number of records per second".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// `K/N` with K < N.
fn parse_stripe(s: &str) -> Result<(usize, usize), String> {
    let (k, n) = s.split_once('/').ok_or("expected K/N")?;
    let (k, n): (usize, usize) = (
        k.parse().map_err(|e| format!("{e}"))?,
        n.parse().map_err(|e| format!("{e}"))?,
    );
    if k >= n {
        return Err(format!("stripe {k} of {n} does not exist"));
    }
    Ok((k, n))
}

const ENGINES: &[&str] = &["v1", "v2", "timely", "percore", CEILING];

/// N one-core percore runs at once, each on its own CPU with the rows
/// percore's core k of N reads (stripe k of N: blocks k, k + N, ... of a
/// batch of consecutive rows; on SELECT, GROUP BY and TUMBLING, whose
/// cores claim blocks as they go, what core k reads when the cores keep
/// the same pace), sharing nothing: what this machine gives N cores that
/// need not talk to each other, on the input each of percore's cores has,
/// measured in the same rounds as the engines. Each run's answer covers its stripe only
/// (no exchange). On a shared VM two vCPUs can slow each other (a sibling
/// thread of one physical core, a busy host); percore's scaling is then
/// read against this one's.
const CEILING: &str = "independent";

/// The figures of one (scenario, engine, cores, load) over its runs.
struct Row {
    scenario: &'static str,
    engine: String,
    cores: usize,
    /// Paced input: records/s, and the share of the peak it stands for.
    rate: Option<f64>,
    load: Option<f64>,
    runs: Vec<Run>,
}

impl Row {
    fn rates(&self) -> (f64, f64, f64) {
        median_min_max(&self.runs.iter().map(Run::rate).collect::<Vec<_>>())
    }

    /// The median of the runs' CPU nanoseconds per record (`None` unless
    /// every run has one).
    fn cpu_ns_per_record(&self) -> Option<f64> {
        self.median_of(Run::cpu_ns_per_record)
    }

    /// The median of the runs' idle shares (`None` unless every run has
    /// one: percore's engines).
    fn idle_share(&self) -> Option<f64> {
        self.median_of(|r| r.idle_share)
    }

    /// The median of the runs' preempted shares (`None` unless every run
    /// has one: percore's engines).
    fn preempted_share(&self) -> Option<f64> {
        self.median_of(|r| r.preempted_share)
    }

    /// The median of a figure of the runs (`None` unless every run has it).
    fn median_of(&self, figure: impl Fn(&Run) -> Option<f64>) -> Option<f64> {
        let v: Option<Vec<f64>> = self.runs.iter().map(figure).collect();
        v.filter(|v| !v.is_empty()).map(|v| median_min_max(&v).0)
    }

    /// The run whose latency and memory are reported: the one with the
    /// median rate, or for paced input (where every run keeps the same rate)
    /// the one with the median p99, so one stall of the machine in one run
    /// does not stand for the load.
    fn median_run(&self) -> &Run {
        let mut v: Vec<&Run> = self.runs.iter().collect();
        if self.rate.is_some() {
            v.sort_by_key(|r| r.latency.p99);
        } else {
            v.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
        }
        v[v.len() / 2]
    }
}

fn main() -> Result<()> {
    // Every engine's child runs without transparent huge pages: a fresh
    // 2 MiB page zeroed on first touch stalled runs after the machine sat
    // idle (see `percore_runtime::disable_transparent_huge_pages`).
    percore_runtime::disable_transparent_huge_pages();
    let a = Args::parse();
    if a.child_run {
        return child_run(&a);
    }
    let (rows, runs) = if a.quick {
        (300_000, 1)
    } else {
        (a.rows, a.runs)
    };
    let available = percore_runtime::available_cpus().len().max(1);
    let cores: Vec<usize> = if a.cores.is_empty() {
        (1..=available).collect()
    } else {
        a.cores.clone()
    };
    if cores.contains(&0) {
        bail!("--cores: every count must be at least 1");
    }
    let engines: Vec<String> = if a.engines.is_empty() {
        ENGINES.iter().map(|s| s.to_string()).collect()
    } else {
        a.engines.clone()
    };
    for e in &engines {
        if !ENGINES.contains(&e.as_str()) && percore_variant(e).is_none() {
            bail!(
                "unknown engine `{e}`; choose from {}, {BY_REFERENCE}, {WIDE_ROWS}",
                ENGINES.join(", ")
            );
        }
    }
    let scenarios: Vec<&scenarios::Scenario> = if a.scenarios.is_empty() {
        scenarios::SCENARIOS.iter().collect()
    } else {
        a.scenarios
            .iter()
            .map(|n| {
                scenarios::find(n).with_context(|| {
                    format!("unknown scenario `{n}`; choose from select, rows_window, group_by, tumbling, emit_changes")
                })
            })
            .collect::<Result<_>>()?
    };
    // The JSON file is written at the end, minutes from now: a path that
    // cannot be written is refused before the first run (opened, not
    // emptied).
    if let Some(path) = &a.json {
        percore_runtime::check_writable(path)
            .with_context(|| format!("--json {}: cannot write there", path.display()))?;
    }
    // Every measurement's runs are interleaved: round one runs each
    // measurement once, then round two, ... so a slow phase of a shared
    // machine falls on every engine and core count alike, and the ratios
    // between them (scaling, percore against a baseline) are taken round by
    // round (see `paired`).
    let mut specs: Vec<Spec> = Vec::new();
    // The machine's own figures, taken before each round (see `run_rounds`).
    let mut probes = Probes::default();
    for &n in &cores {
        for &s in &scenarios {
            for engine in &engines {
                specs.push(Spec {
                    s,
                    engine,
                    cores: n,
                });
            }
        }
    }
    let mut flat: Vec<Job> = specs
        .iter()
        .map(|spec| Job::new(spec, rows, a.rate, None))
        .collect();
    run_rounds(&mut flat, runs, &mut probes)?;
    let mut table: Vec<Row> = Vec::new();
    if a.latency_sweep {
        let mut paced: Vec<Job> = Vec::new();
        for job in flat.iter().filter(|j| j.spec.swept()) {
            let peak = job.row.rates().0;
            for load in [0.1, 0.5, 0.9] {
                let rate = peak * load;
                // About two seconds of input at that rate.
                let paced_rows = ((rate * 2.0) as u64).clamp(1, rows);
                paced.push(Job::new(job.spec, paced_rows, Some(rate), Some(load)));
            }
        }
        run_rounds(&mut paced, runs, &mut probes)?;
        let mut paced = paced.into_iter();
        for job in flat {
            let swept = job.spec.swept();
            table.push(job.row);
            if swept {
                table.extend(paced.by_ref().take(3).map(|j| j.row));
            }
        }
    } else {
        table.extend(flat.into_iter().map(|j| j.row));
    }
    if !a.no_e2e {
        let mut e2e: Vec<Spec> = Vec::new();
        for &n in &cores {
            for &s in &scenarios {
                e2e.push(Spec {
                    s,
                    engine: E2E,
                    cores: n,
                });
            }
        }
        let mut jobs: Vec<Job> = e2e
            .iter()
            .map(|spec| Job::new(spec, rows.min(2_000_000), None, None))
            .collect();
        run_rounds(&mut jobs, runs, &mut probes)?;
        table.extend(jobs.into_iter().map(|j| j.row));
    }
    print_table(&table, runs, &probes);
    if let Some(path) = &a.json {
        let json = to_json(&table, rows, runs, &probes);
        std::fs::write(path, serde_json::to_string_pretty(&json)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// The end-to-end engine: CSV file → percore → JSON-lines file.
const E2E: &str = "percore_csv_to_jsonl";
/// percore with rows held by the receiver sent by reference
/// (`ParallelConfig::rows_by_reference`); not run unless named.
const BY_REFERENCE: &str = "percore_rows_by_reference";
/// percore with rows gathered for another core crossing as they are
/// (`ParallelConfig::narrow_rows` off); not run unless named.
const WIDE_ROWS: &str = "percore_wide_rows";

/// The shape of percore's exchange an engine name runs, `None` for an
/// engine that is not percore's.
fn percore_variant(engine: &str) -> Option<Variant> {
    match engine {
        "percore" => Some(Variant::Default),
        BY_REFERENCE => Some(Variant::RowsByReference),
        WIDE_ROWS => Some(Variant::WideRows),
        _ => None,
    }
}

/// One measurement in this process, printed as JSON.
fn child_run(a: &Args) -> Result<()> {
    let name = a
        .scenarios
        .first()
        .context("--child-run needs --scenarios")?;
    let s = scenarios::find(name).context("unknown scenario")?;
    let engine = a
        .engines
        .first()
        .context("--child-run needs --engines")?
        .as_str();
    let n = *a.cores.first().context("--child-run needs --cores")?;
    let variant = percore_variant(engine);
    if a.stripe.is_some() && (n != 1 || variant.is_none()) {
        bail!("--stripe applies to a one-core run of the percore engine");
    }
    let plan = sql::compile(s.sql)?;
    // Started before the timing, as an embedding service would. Past the
    // CPUs there are, a run is unpinned (as percore's cores beyond them
    // are).
    let executors = match variant {
        Some(_) => {
            let all = percore_runtime::available_cpus();
            let cpus = match a.pin_cpu {
                Some(k) => all.get(k).map(|&c| vec![c]).unwrap_or_default(),
                None => all,
            };
            Some(Executors::start(n, Some(&cpus), 256 << 10).map_err(|e| anyhow::anyhow!("{e}"))?)
        }
        None => None,
    };
    let cpu_before = percore_runtime::process_cpu_secs();
    let mut run = match (engine, variant) {
        (_, Some(variant)) => {
            let executors = executors.as_ref().expect("started above for percore");
            engines::percore::run(executors, s, &plan, a.rows, a.rate, variant, a.stripe)?
        }
        ("v1", None) => engines::v1::run(s, &plan, a.rows, n, a.rate)?,
        ("v2", None) => engines::v2::run(s, &plan, a.rows, n, a.rate)?,
        ("timely", None) => engines::timely::run(s, a.rows, n, a.rate)?,
        (E2E, None) => e2e::run(s, a.rows, n)?,
        (e, None) => bail!("unknown engine `{e}`"),
    };
    run.cpu_secs = Some(percore_runtime::process_cpu_secs() - cpu_before);
    run.peak_rss = measure::peak_rss();
    println!("{}", run.to_json());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stripe_is_k_of_n() {
        assert_eq!(parse_stripe("1/2"), Ok((1, 2)));
        assert_eq!(parse_stripe("0/1"), Ok((0, 1)));
        assert!(parse_stripe("2/2").is_err());
        assert!(parse_stripe("1").is_err());
        assert!(parse_stripe("a/2").is_err());
    }

    #[test]
    fn runs_rows_and_rates_are_checked() {
        assert_eq!(at_least_one("3"), Ok(3));
        assert!(at_least_one("0").is_err());
        assert!(at_least_one("x").is_err());
        assert_eq!(parse_rate("1e6"), Ok(1e6));
        for bad in ["0", "-5", "nan", "inf", "fast"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
        for args in [
            &["b", "--rows", "0"][..],
            &["b", "--runs", "0"],
            &["b", "--rate", "0"],
            &["b", "--rate=-1"],
        ] {
            assert!(Args::try_parse_from(args).is_err(), "{args:?}");
        }
        assert!(Args::try_parse_from(["b", "--rows", "1", "--rate", "2.5e7"]).is_ok());
    }
}
