//! Measurements taken in rounds: each run a child process of this binary
//! (or, for `independent`, several at once), every measurement once per
//! round, so a slow phase of the machine falls on all of them alike.

use std::io::IsTerminal;

use anyhow::{bail, Context, Result};

use crate::measure::{self, Pauses, Run};
use crate::{scenarios, Row, CEILING};

/// What to measure: one scenario on one engine at one core count.
pub(crate) struct Spec<'a> {
    pub(crate) s: &'static scenarios::Scenario,
    pub(crate) engine: &'a str,
    pub(crate) cores: usize,
}

/// One measurement being taken: its spec, rows per run, and the runs so far.
pub(crate) struct Job<'a> {
    pub(crate) spec: &'a Spec<'a>,
    rows: u64,
    pub(crate) row: Row,
}

impl<'a> Job<'a> {
    pub(crate) fn new(spec: &'a Spec<'a>, rows: u64, rate: Option<f64>, load: Option<f64>) -> Self {
        Job {
            spec,
            rows,
            row: Row {
                scenario: spec.s.name,
                engine: spec.engine.to_string(),
                cores: spec.cores,
                rate,
                load,
                runs: Vec::new(),
            },
        }
    }

    /// How the measurement reads on stderr.
    fn label(&self) -> String {
        let r = &self.row;
        format!(
            "{} {} {} cores{}",
            r.scenario,
            r.engine,
            r.cores,
            r.rate
                .map_or(String::new(), |x| format!(" at {:.2}M rec/s", x / 1e6))
        )
    }
}

/// What the machine itself did while the runs ran: the core-to-core round
/// trip before each round, and the host's pauses before each round of
/// paced runs.
#[derive(Debug, Default)]
pub(crate) struct Probes {
    pub(crate) trips: Vec<f64>,
    pub(crate) pauses: Option<Pauses>,
}

/// How long the host's pauses are watched before a round of paced runs.
const PAUSE_WATCH: std::time::Duration = std::time::Duration::from_secs(1);

/// `runs` rounds, each running every job once (a child process each), in
/// order: interleaved, so the machine's phases fall on all of them alike.
/// Each run is reported on stderr as it ends when stderr is a terminal;
/// each measurement's median, once its rounds are done, always.
pub(crate) fn run_rounds(jobs: &mut [Job<'_>], runs: usize, probes: &mut Probes) -> Result<()> {
    let progress = runs > 1 && std::io::stderr().is_terminal();
    // Paced runs are judged by their tails: how often the host pauses a
    // core is watched before each of their rounds, on as many CPUs as
    // the most cores a job runs on.
    let paced_cpus = jobs
        .iter()
        .filter(|j| j.row.rate.is_some())
        .map(|j| j.row.cores)
        .max();
    for round in 1..=runs {
        // What exchanging data between two cores costs in this round (it
        // moves with the host's placement of the vCPUs).
        probes.trips.extend(measure::round_trip_ns(TRIPS));
        if let Some(cpus) = paced_cpus {
            if let Some(p) = measure::host_pauses(cpus, PAUSE_WATCH) {
                probes.pauses.get_or_insert_with(Pauses::default).add(&p);
            }
        }
        for job in jobs.iter_mut() {
            let run = job.spec.child(job.rows, job.row.rate)?;
            if progress {
                eprintln!(
                    "percore-bench: round {round}/{runs}: {}: {:.2}M rec/s, p99 {} µs",
                    job.label(),
                    run.rate() / 1e6,
                    run.latency.p99
                );
            }
            job.row.runs.push(run);
        }
    }
    for job in jobs.iter() {
        eprintln!(
            "percore-bench: {}: {:.2}M rec/s, p99 {} µs",
            job.label(),
            job.row.rates().0 / 1e6,
            job.row.median_run().latency.p99
        );
    }
    Ok(())
}

impl Spec<'_> {
    fn child(&self, rows: u64, rate: Option<f64>) -> Result<Run> {
        if self.engine == CEILING {
            return self.independent(rows);
        }
        let mut cmd = std::process::Command::new(std::env::current_exe()?);
        cmd.args([
            "--child-run",
            "--scenarios",
            self.s.name,
            "--engines",
            self.engine,
        ])
        .args([
            "--cores",
            &self.cores.to_string(),
            "--rows",
            &rows.to_string(),
        ]);
        if let Some(r) = rate {
            cmd.args(["--rate", &r.to_string()]);
        }
        self.finished(cmd.output().context("starting a benchmark run")?)
    }

    /// The run a child printed, or its failure (with its stderr).
    fn finished(&self, out: std::process::Output) -> Result<Run> {
        if !out.status.success() {
            bail!(
                "{} {} on {} cores failed: {}",
                self.s.name,
                self.engine,
                self.cores,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        Ok(Run::from_json(&v))
    }

    /// Whether the latency sweep paces this measurement: the ceiling is a
    /// throughput and has no latency to sweep.
    pub(crate) fn swept(&self) -> bool {
        self.engine != CEILING
    }

    /// The [`CEILING`] measurement: `self.cores` one-core percore children
    /// started together, child k pinned to CPU k with stripe k of `rows`,
    /// taken as one run ([`Run::together`]).
    fn independent(&self, rows: u64) -> Result<Run> {
        let n = self.cores;
        let children = (0..n)
            .map(|k| {
                std::process::Command::new(std::env::current_exe()?)
                    .args(["--child-run", "--scenarios", self.s.name])
                    .args(["--engines", "percore", "--cores", "1"])
                    .args(["--rows", &rows.to_string()])
                    .args(["--stripe", &format!("{k}/{n}")])
                    .args(["--pin-cpu", &k.to_string()])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .context("starting a benchmark run")
            })
            .collect::<Result<Vec<_>>>()?;
        let runs = children
            .into_iter()
            .map(|c| self.finished(c.wait_with_output()?))
            .collect::<Result<Vec<_>>>()?;
        Ok(Run::together(runs))
    }
}

/// Cache-line round trips timed before each round.
const TRIPS: u64 = 20_000;
