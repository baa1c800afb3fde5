//! The thread-per-core run: one pinned glommio executor per core, each owning
//! its share of the input and of the keyed state, exchanging batches through
//! the shuffle mesh.
//!
//! Contract:
//! - every core reads its own input share, applies WHERE, and routes each row
//!   to the core owning its key (PARTITION BY / GROUP BY keys hashed alike on
//!   every core); queries without keys need no exchange, nor does input
//!   already split by key (`local_keys`: each core owns what it reads). A
//!   query that holds no rows for the watermark reads an input's balanced
//!   shares where it has them ([`PartitionedSource::balanced`]: the
//!   generator's cores claim blocks, so a faster core reads more);
//! - rows go to an operator that holds them until the watermark (ROWS
//!   windows, EMIT CHANGES) and are copied once, when released: a core's
//!   own rows as a row list of the batch they came in, the others gathered
//!   by the sender (or, with `rows_by_reference`, as row lists too); to any
//!   other operator, gathered into one batch per destination by the
//!   exchange;
//! - after the batches it covers, each core sends every peer its watermark
//!   (max event time read − lateness); a keyed operator's watermark is the
//!   minimum over its senders, and end of input is a final watermark;
//! - on several cores, where ties in event time decide the output order
//!   (ROWS windows, EMIT CHANGES by event time), rows carry a global
//!   sequence number (hidden column after the source's), so ties resolve as
//!   on one core, which releases them in the order it read them: the answer
//!   is the same on any number of cores (for input out of order within the
//!   lateness bound). A batch of consecutive input rows (the generator's
//!   blocks, a file's chunks) carries only its range of numbers, on a
//!   column of no values; others a number per row;
//! - an error or panic on any core aborts the mesh; every core stops and the
//!   run fails with the first error, naming its core.

use std::panic::AssertUnwindSafe;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use futures_lite::FutureExt;
use percore_operators::Plan;
use percore_shuffle::{Endpoint, Mesh, Message, Owners, Pool};

use crate::metrics::{CoreStats, Latency, RunStats};
use crate::pool::{Executors, Job};
use crate::sink::FileOutput;
use crate::source::PartitionedSource;
use crate::{Failed, RunError};

mod config;
mod progress;
mod worker;

pub use config::{available_cpus, CoreSink, ParallelConfig, ALIGN_ROWS};
use progress::{Counter, Progress};
use worker::Worker;

/// Rows the exchange gathers for one destination before sending them.
const EXCHANGE_ROWS: usize = 4096;

/// Longest a row waits in the exchange's builders.
const EXCHANGE_WAIT: Duration = Duration::from_millis(1);

/// Turns result batches into output bytes on the core that produced them, so
/// the output thread only writes (formatting is spread over the cores).
pub type Encoder = Arc<dyn Fn(&RecordBatch, &mut Vec<u8>) + Send + Sync>;

/// A result as the output thread receives it.
pub enum Output<'a> {
    Batch(&'a RecordBatch),
    /// `rows` result rows already encoded by their core.
    Encoded {
        bytes: &'a [u8],
        rows: usize,
    },
    /// Nothing arrived for a moment after output did: a buffering sink
    /// should push out what it holds (results of a long-running query must
    /// not wait in a buffer for more).
    Idle,
}

enum Payload {
    Rows(RecordBatch),
    /// Rows (ascending) of a batch, routed by reference: the receiver holds
    /// them in the batch they came in and copies them once, on release.
    Selected(RecordBatch, Vec<u32>),
    Bytes(Vec<u8>, usize),
    /// Vectors of an exchanged batch, going back to the core that made them.
    Recycled(Pool),
}

type Batch = (Payload, Instant);

struct CoreReport {
    stats: CoreStats,
    late: u64,
    malformed: u64,
    latency: Latency,
}

/// Runs `plan` on `cfg.cores` cores; output batches reach `sink` on the
/// calling thread, in no particular order across cores.
pub fn run_parallel(
    plan: &Plan,
    input: Arc<dyn PartitionedSource>,
    cfg: &ParallelConfig,
    sink: &mut dyn FnMut(&RecordBatch) -> std::io::Result<()>,
) -> Result<RunStats, Box<Failed>> {
    run_parallel_with(plan, input, cfg, None, &mut |o| match o {
        Output::Batch(b) => sink(b),
        Output::Encoded { .. } => unreachable!("no encoder"),
        Output::Idle => Ok(()),
    })
}

/// Like [`run_parallel`]; with an `encoder`, each core encodes its results
/// and `sink` receives [`Output::Encoded`] bytes.
pub fn run_parallel_with(
    plan: &Plan,
    input: Arc<dyn PartitionedSource>,
    cfg: &ParallelConfig,
    encoder: Option<Encoder>,
    sink: &mut dyn FnMut(Output<'_>) -> std::io::Result<()>,
) -> Result<RunStats, Box<Failed>> {
    let started = Instant::now();
    match Executors::start(cfg.cores, cfg.cpus.as_deref(), cfg.io_memory) {
        Ok(executors) => run_on(&executors, plan, input, cfg, encoder, sink),
        Err(error) => Err(Box::new(Failed {
            error,
            stats: RunStats {
                elapsed_secs: started.elapsed().as_secs_f64(),
                ..RunStats::default()
            },
        })),
    }
}

/// Like [`run_parallel_with`], on executors already started (one run at a
/// time per pool); `cfg`'s core layout is the pool's, not `cfg.cores`.
pub fn run_on(
    executors: &Executors,
    plan: &Plan,
    input: Arc<dyn PartitionedSource>,
    cfg: &ParallelConfig,
    encoder: Option<Encoder>,
    sink: &mut dyn FnMut(Output<'_>) -> std::io::Result<()>,
) -> Result<RunStats, Box<Failed>> {
    let started = Instant::now();
    let n = executors.len();
    // Shares that balance the work (a faster core reads more) where no
    // operator holds rows for the watermark. Where one does (ROWS, EMIT
    // CHANGES by event time), a core that reads ahead has its rows held
    // longer on the other: two-core EMIT CHANGES took 8.7% more CPU
    // (TUMBLING 15% less, GROUP BY and SELECT level or less).
    let input = match plan.orders_rows() {
        false => input.balanced().unwrap_or(input),
        true => input,
    };
    // Endpoint n is this thread, which only receives output.
    let mesh = Mesh::<Batch>::new(n + 1, cfg.ring_capacity.max(1));
    let main = mesh.endpoint(n);
    main.bind_thread();
    let counters: Arc<[Counter]> = (0..n).map(|_| Counter::default()).collect();
    // Which core owns each key, decided as the cores meet keys; one table for all.
    let owners = Arc::new(Owners::new(n.max(1)));
    let (done_tx, done_rx) = mpsc::channel::<(usize, Result<CoreReport, RunError>)>();
    let mut submitted = 0;
    let mut first_error: Option<RunError> = None;
    for core in 0..n {
        let ep = mesh.endpoint(core);
        let plan = plan.clone();
        let input = input.clone();
        let counters = counters.clone();
        let owners = owners.clone();
        let align_ms = cfg.align_ms;
        let align_rows = cfg.align_rows;
        let encoder = encoder.clone();
        let file_output = cfg.file_output.clone().filter(|_| encoder.is_some());
        let core_sink = cfg.core_sink.clone();
        let local_keys = cfg.local_keys;
        let rows_by_reference = cfg.rows_by_reference;
        let narrow_rows = cfg.narrow_rows;
        let done = done_tx.clone();
        let job: Job = Box::new(move || {
            Box::pin(async move {
                let setup = CoreSetup {
                    counter: &counters[core],
                    owners,
                    align_ms,
                    align_rows,
                    encoder,
                    file_output,
                    core_sink,
                    local_keys,
                    rows_by_reference,
                    narrow_rows,
                };
                let report = run_core(core, n, &plan, input.as_ref(), ep, setup).await;
                let _ = done.send((core, report));
            })
        });
        if !executors.submit(core, job) {
            first_error = Some(RunError::Core {
                core,
                message: "its executor has stopped".into(),
            });
            mesh.abort();
            break;
        }
        submitted += 1;
    }
    drop(done_tx);
    // Take output until every started core has said End.
    let mut ended = 0;
    let mut latency = Latency::new();
    let mut sink_error = None;
    let mut progress = Progress::new(n);
    // Output reached the sink since it was last told the run is idle.
    let mut written = false;
    while ended < submitted {
        if cfg.progress {
            progress.tick(&counters);
        }
        match main.try_recv_any() {
            Some((_, Message::Data((payload, ingest)))) => {
                if sink_error.is_none() {
                    let (out, rows) = match &payload {
                        Payload::Rows(b) => (Output::Batch(b), b.num_rows()),
                        Payload::Bytes(bytes, rows) => {
                            (Output::Encoded { bytes, rows: *rows }, *rows)
                        }
                        Payload::Recycled(_) | Payload::Selected(..) => {
                            unreachable!("only cores recycle and select")
                        }
                    };
                    written = true;
                    match sink(out) {
                        Ok(()) => latency.record(ingest, rows as u64),
                        Err(e) => {
                            sink_error = Some(e);
                            mesh.abort();
                        }
                    }
                }
            }
            Some((_, Message::End)) => ended += 1,
            Some((_, Message::Watermark(..))) => {}
            None => {
                if written && sink_error.is_none() {
                    written = false;
                    if let Err(e) = sink(Output::Idle) {
                        sink_error = Some(e);
                        mesh.abort();
                    }
                }
                // Woken by every message (and an abort); the timeout only
                // paces the progress report. This thread is not pinned: each
                // wake takes a pinned core from its work for a moment (with
                // a 5 ms timeout ~190 times a second; ~10 now).
                main.park(Duration::from_millis(100))
            }
        }
    }
    let mut stats = RunStats::default();
    let mut reports: Vec<Option<Result<CoreReport, RunError>>> = (0..n).map(|_| None).collect();
    for (core, report) in done_rx.iter() {
        reports[core] = Some(report);
    }
    for (core, report) in reports.into_iter().enumerate().take(submitted) {
        let report = report.unwrap_or_else(|| {
            Err(RunError::Core {
                core,
                message: "its executor thread panicked".into(),
            })
        });
        match report {
            Ok(r) => {
                stats.records_in += r.stats.records_in;
                stats.records_out += r.stats.records_out;
                stats.late_rows += r.late;
                stats.malformed_rows += r.malformed;
                latency.merge(&r.latency);
                stats.cores.push(r.stats);
            }
            Err(e) => {
                stats.cores.push(CoreStats {
                    core,
                    ..CoreStats::default()
                });
                // An abort is the echo of another core's error: keep the cause.
                if first_error.is_none() || matches!(first_error, Some(RunError::Aborted)) {
                    first_error = Some(e);
                }
            }
        }
    }
    stats.elapsed_secs = started.elapsed().as_secs_f64();
    stats.latency_us = latency.summary();
    if let Some(e) = sink_error {
        return Err(Box::new(Failed {
            error: RunError::Sink(e),
            stats,
        }));
    }
    match first_error {
        None => Ok(stats),
        Some(error) => Err(Box::new(Failed { error, stats })),
    }
}

/// What a core gets besides the plan and its endpoint.
struct CoreSetup<'a> {
    counter: &'a Counter,
    /// The run's key owners, shared by every core.
    owners: Arc<Owners>,
    align_ms: i64,
    align_rows: usize,
    encoder: Option<Encoder>,
    file_output: Option<FileOutput>,
    core_sink: Option<CoreSink>,
    local_keys: bool,
    rows_by_reference: bool,
    narrow_rows: bool,
}

/// One core's whole run; always ends by telling the output thread.
async fn run_core(
    core: usize,
    n: usize,
    plan: &Plan,
    input: &dyn PartitionedSource,
    ep: Endpoint<Batch>,
    setup: CoreSetup<'_>,
) -> Result<CoreReport, RunError> {
    ep.bind_thread();
    let cpu_start = crate::metrics::thread_cpu_secs();
    let wait_start = crate::metrics::thread_wait_secs();
    let result =
        AssertUnwindSafe(async { Worker::new(core, n, plan, &ep, setup).run(input).await })
            .catch_unwind()
            .await;
    let result = match result {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(RunError::Aborted)) => Err(RunError::Aborted),
        Ok(Err(e)) => {
            ep.mesh().abort();
            Err(match e {
                RunError::Engine(e) => RunError::Core {
                    core,
                    message: e.to_string(),
                },
                other => other,
            })
        }
        Err(panic) => {
            ep.mesh().abort();
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(RunError::Core {
                core,
                message: format!("panicked: {msg}"),
            })
        }
    };
    let result = result.map(|mut r| {
        r.stats.cpu_secs = crate::metrics::thread_cpu_secs() - cpu_start;
        if let (Some(from), Some(to)) = (wait_start, crate::metrics::thread_wait_secs()) {
            r.stats.preempted_secs = to - from;
        }
        r
    });
    send_end(&ep, n);
    result
}

/// Tells the output thread (endpoint `n`) this core is done. The output
/// thread always drains, so this completes.
fn send_end(ep: &Endpoint<Batch>, n: usize) {
    let mut end = Message::End;
    while let Err(m) = ep.try_send(n, end) {
        end = m;
        std::thread::yield_now();
    }
}
