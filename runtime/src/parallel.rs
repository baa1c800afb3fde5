//! The thread-per-core run: one pinned glommio executor per core, each owning
//! its share of the input and of the keyed state, exchanging batches through
//! the shuffle mesh.
//!
//! Contract:
//! - every core reads its own input share, applies WHERE, and routes each row
//!   to the core owning its key (PARTITION BY / GROUP BY keys hashed alike on
//!   every core); queries without keys need no exchange, nor does input
//!   already split by key (`local_keys`: each core owns what it reads);
//! - rows go to an operator that holds them until the watermark (ROWS
//!   windows, EMIT CHANGES) and are copied once, when released: a core's
//!   own rows as a row list of the batch they came in, the others gathered
//!   by the sender (or, with `rows_by_reference`, as row lists too); to any
//!   other operator, gathered into one batch per destination by the
//!   exchange;
//! - after the batches it covers, each core sends every peer its watermark
//!   (max event time read − lateness); a keyed operator's watermark is the
//!   minimum over its senders, and end of input is a final watermark;
//! - rows carry a global sequence number (hidden column after the source's),
//!   so event-time ties resolve as on one core: the answer is the same on any
//!   number of cores (for input out of order within the lateness bound);
//! - an error or panic on any core aborts the mesh; every core stops and the
//!   run fails with the first error, naming its core.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use arrow_array::{ArrayRef, Int64Array, RecordBatch};
use arrow_buffer::NullBuffer;
use futures_lite::FutureExt;
use percore_operators::expr::Expr;
use percore_operators::gather::take_batch;
use percore_operators::ops::{Closed, Filter, Operator, PartialAgg, Route};
use percore_operators::state::{hash_keys, hashes_vectorised, split_keys, time_range};
use percore_operators::{Pipeline, PipelineOptions, Plan, SqlType};
use percore_shuffle::{reclaim, Endpoint, Exchange, Mesh, Message, Owners, Pool, Sides};

use crate::batching::{AdaptiveBatch, MIN_BATCH_ROWS};
use crate::metrics::{CoreStats, Latency, RunStats};
use crate::pool::{Executors, Job};
use crate::sink::{CoreFile, FileOutput};
use crate::source::PartitionedSource;
use crate::{Failed, RunError};

/// How a parallel run is laid out.
#[derive(Clone)]
pub struct ParallelConfig {
    pub cores: usize,
    /// CPUs to pin cores to, in order; cores beyond the list run unpinned.
    /// `None`: the CPUs `core_affinity` finds.
    pub cpus: Option<Vec<usize>>,
    /// Messages per ring.
    pub ring_capacity: usize,
    /// Bytes of I/O memory glommio registers per executor (kept small so a
    /// low `ulimit -l` suffices).
    pub io_memory: usize,
    /// Print per-core throughput to stderr about once a second.
    pub progress: bool,
    /// Watermark alignment: a core stops reading its input while its own
    /// watermark is more than this far (event-time ms) ahead of the slowest
    /// core's, so state for windows far in the future cannot pile up.
    pub align_ms: i64,
    /// With an encoder: every core writes its encoded results to this file
    /// itself (through io_uring) instead of sending them to the caller.
    pub file_output: Option<FileOutput>,
    /// Every core hands its result batches to this function itself, on its
    /// own thread (nothing reaches the caller's sink): results never cross
    /// cores. Takes precedence over an encoder and `file_output`.
    pub core_sink: Option<CoreSink>,
    /// The input is already split by key: all rows with equal keys reach
    /// one core (a Kafka topic keyed by a key column, each core reading its
    /// own partitions), so every core keeps its rows and nothing is
    /// exchanged but watermarks. Wrong if the input is not split so.
    pub local_keys: bool,
    /// Where the operator holds rows until the watermark passes (ROWS
    /// windows, EMIT CHANGES), a core's own rows always stay in the batch
    /// they came in, as a list of rows, and are copied once, at release.
    /// Rows bound for another core travel the same way when this is set;
    /// otherwise (the default) the sender gathers them into a batch of
    /// their own. The two differ only in speed, which depends on what a
    /// core pays to write memory another core has read: by reference was
    /// faster on a host whose cores share a cache cheaply (an Intel
    /// Sapphire Rapids VM), gathering is on one where such a write costs
    /// several times a local one (an AMD EPYC VM): see bench/HISTORY.md,
    /// session 15.
    pub rows_by_reference: bool,
}

/// A sink every core calls with its own results: `(core, batch)`.
pub type CoreSink = Arc<dyn Fn(usize, &RecordBatch) -> std::io::Result<()> + Send + Sync>;

/// Rows the exchange gathers for one destination before sending them.
const EXCHANGE_ROWS: usize = 4096;

/// Longest a row waits in the exchange's builders.
const EXCHANGE_WAIT: Duration = Duration::from_millis(1);

impl std::fmt::Debug for ParallelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParallelConfig")
            .field("cores", &self.cores)
            .field("cpus", &self.cpus)
            .field("ring_capacity", &self.ring_capacity)
            .field("io_memory", &self.io_memory)
            .field("progress", &self.progress)
            .field("align_ms", &self.align_ms)
            .field("file_output", &self.file_output)
            .field("core_sink", &self.core_sink.as_ref().map(|_| "<fn>"))
            .field("local_keys", &self.local_keys)
            .field("rows_by_reference", &self.rows_by_reference)
            .finish()
    }
}

impl ParallelConfig {
    pub fn new(cores: usize) -> Self {
        ParallelConfig {
            cores,
            cpus: None,
            ring_capacity: 64,
            io_memory: 256 << 10,
            progress: false,
            align_ms: 60_000,
            file_output: None,
            core_sink: None,
            local_keys: false,
            rows_by_reference: false,
        }
    }
}

/// The CPUs this process may run on.
pub fn available_cpus() -> Vec<usize> {
    core_affinity::get_core_ids()
        .map(|ids| ids.into_iter().map(|c| c.id).collect())
        .unwrap_or_default()
}

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
        let encoder = encoder.clone();
        let file_output = cfg.file_output.clone().filter(|_| encoder.is_some());
        let core_sink = cfg.core_sink.clone();
        let local_keys = cfg.local_keys;
        let rows_by_reference = cfg.rows_by_reference;
        let done = done_tx.clone();
        let job: Job = Box::new(move || {
            Box::pin(async move {
                let setup = CoreSetup {
                    counter: &counters[core],
                    owners,
                    align_ms,
                    encoder,
                    file_output,
                    core_sink,
                    local_keys,
                    rows_by_reference,
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
                main.park(Duration::from_millis(5))
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
    encoder: Option<Encoder>,
    file_output: Option<FileOutput>,
    core_sink: Option<CoreSink>,
    local_keys: bool,
    rows_by_reference: bool,
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

struct Worker<'a> {
    core: usize,
    n: usize,
    plan: &'a Plan,
    ep: &'a Endpoint<Batch>,
    post: Pipeline,
    keys: Option<Vec<Expr>>,
    key_types: Vec<SqlType>,
    hashes: Vec<u64>,
    /// Which of two cores owns each key group, as this core has met them.
    sides: Sides,
    /// Rows bound for other cores, gathered per destination.
    exchange: Exchange,
    /// The pipeline holds rows until the watermark releases them, then
    /// copies them once: rows are routed as lists of the batch they came
    /// in, this core's own always, other cores' when `by_reference` (see
    /// [`ParallelConfig::rows_by_reference`]); else the sender gathers them.
    holds_rows: bool,
    by_reference: bool,
    parts: Vec<(usize, RecordBatch)>,
    /// Ingest time of the oldest row the exchange holds.
    pending_since: Option<Instant>,
    /// Pre-aggregation before the exchange (EMIT FINAL aggregates).
    partial: Option<PartialAgg>,
    /// Batch sizes for a source that reports its backlog.
    batching: Option<AdaptiveBatch>,
    /// Messages taken off the rings while this core waited to send.
    inbox: VecDeque<(usize, Message<Batch>)>,
    from_wm: Vec<i64>,
    /// Ingest time of the last batch each sender sent (what its end of input
    /// releases is timed from).
    last_ingest: Vec<Option<Instant>>,
    ended: usize,
    wm: i64,
    stats: CoreStats,
    latency: Latency,
    counter: &'a Counter,
    align_ms: i64,
    encoder: Option<Encoder>,
    file_output: Option<FileOutput>,
    core_sink: Option<CoreSink>,
    /// This core's writes to the shared output file, once opened.
    file: Option<CoreFile>,
    /// Every row read here is this core's own (see [`ParallelConfig::local_keys`]).
    local: bool,
}

impl<'a> Worker<'a> {
    fn new(
        core: usize,
        n: usize,
        plan: &'a Plan,
        ep: &'a Endpoint<Batch>,
        setup: CoreSetup<'a>,
    ) -> Self {
        let keys = plan.exchange_keys().map(<[Expr]>::to_vec);
        let local = n == 1 || setup.local_keys;
        // Rows that never leave this core are folded straight into the final
        // aggregate: pre-aggregating them would only add a merge.
        let partial = PartialAgg::for_plan(plan).filter(|_| !local);
        let post = Pipeline::with_options(
            plan,
            PipelineOptions {
                skip_filter: keys.is_some(),
                external_watermark: true,
                // Rows carry their sequence number only where ties in event
                // time decide the output order.
                seq_column: plan.orders_rows().then_some(plan.inputs.len()),
                partial_input: partial.is_some(),
                own_partials: partial.is_some(),
                input_read: true,
            },
        );
        let post_holds_rows = post.holds_rows();
        Worker {
            core,
            n,
            plan,
            ep,
            post,
            key_types: keys.iter().flatten().map(Expr::ty).collect(),
            keys,
            hashes: Vec::new(),
            sides: Sides::new(),
            exchange: Exchange::new(setup.owners, EXCHANGE_ROWS),
            holds_rows: post_holds_rows && !local,
            by_reference: setup.rows_by_reference,
            parts: Vec::new(),
            pending_since: None,
            partial,
            batching: None,
            inbox: VecDeque::new(),
            from_wm: vec![i64::MIN; n],
            last_ingest: vec![None; n],
            ended: 0,
            wm: i64::MIN,
            stats: CoreStats {
                core,
                ..CoreStats::default()
            },
            latency: Latency::new(),
            counter: setup.counter,
            align_ms: setup.align_ms,
            encoder: setup.encoder,
            file_output: setup.file_output,
            core_sink: setup.core_sink,
            file: None,
            local,
        }
    }

    fn send(&mut self, to: usize, msg: Message<Batch>) -> Result<(), RunError> {
        let inbox = &mut self.inbox;
        self.ep
            .send(to, msg, &mut |from, m| inbox.push_back((from, m)))
            .map_err(|_| RunError::Aborted)
    }

    /// Sends each row of `batch` to the core owning its key (`key_cols`
    /// evaluated on `batch`).
    fn route(
        &mut self,
        batch: &RecordBatch,
        key_cols: &[ArrayRef],
        ingest: Instant,
    ) -> Result<(), RunError> {
        if self.local {
            // This core owns every key it reads: no hashing, no gathering.
            return self.send(0, Message::Data((Payload::Rows(batch.clone()), ingest)));
        }
        let n = batch.num_rows();
        if self.holds_rows {
            // The lists travel with the batch: fresh ones for each batch.
            let mut lists = vec![Vec::new(); self.n];
            let owners = self.exchange.owners();
            if let [a, b] = &mut lists[..] {
                if hashes_vectorised() {
                    // Hashed, then split, each several rows a step.
                    hash_keys(key_cols, &self.key_types, n, &mut self.hashes);
                    owners.split_two(&self.hashes, &mut self.sides, a, b);
                } else {
                    // Hashed and split in one pass.
                    let second = owners.second_of_two();
                    split_keys(key_cols, &self.key_types, n, &mut self.hashes, second, a, b);
                }
            } else {
                hash_keys(key_cols, &self.key_types, n, &mut self.hashes);
                owners.split(&self.hashes, &mut lists);
            }
            for (d, rows) in lists.into_iter().enumerate() {
                if rows.is_empty() {
                    continue;
                }
                let payload = if d == self.core || self.by_reference {
                    Payload::Selected(batch.clone(), rows)
                } else {
                    Payload::Rows(take_batch(batch, &rows))
                };
                self.send(d, Message::Data((payload, ingest)))?;
            }
            return Ok(());
        }
        hash_keys(key_cols, &self.key_types, n, &mut self.hashes);
        self.pending_since.get_or_insert(ingest);
        let mut full = std::mem::take(&mut self.parts);
        self.exchange.push(batch, &self.hashes, &mut full);
        self.send_parts(full)
    }

    /// Sends everything the exchange's builders hold: before a watermark or
    /// End (which must follow the rows they cover), when idle, and when the
    /// oldest row held has waited [`EXCHANGE_WAIT`].
    fn flush_exchange(&mut self) -> Result<(), RunError> {
        let mut all = std::mem::take(&mut self.parts);
        self.exchange.flush(&mut all);
        self.send_parts(all)?;
        self.pending_since = None;
        Ok(())
    }

    fn send_parts(&mut self, mut parts: Vec<(usize, RecordBatch)>) -> Result<(), RunError> {
        // Latency is counted from the oldest row's ingest.
        let ingest = self.pending_since.unwrap_or_else(Instant::now);
        for (d, b) in parts.drain(..) {
            self.send(d, Message::Data((Payload::Rows(b), ingest)))?;
        }
        self.parts = parts;
        Ok(())
    }

    /// Sends the partials of every window through `w` (all of them: `None`)
    /// to the cores that own their keys, as [`Self::route`] would route
    /// their rows; with `w`, each core's pieces are followed by
    /// `Watermark(w)`, other cores first (their emission waits on this
    /// core's watermark, not on the pieces it keeps), this core last.
    fn send_partials(&mut self, w: Option<i64>, ingest: Instant) -> Result<(), RunError> {
        let n = self.n;
        let owners = self.exchange.owners();
        let route = Route {
            cores: n,
            owner: &|h| owners.owner(h),
        };
        let Some(mut p) = self.partial.take() else {
            if let Some(w) = w {
                for d in 0..n {
                    self.send(d, Message::Watermark(w, ingest))?;
                }
            }
            return Ok(());
        };
        let mut closed = match w {
            Some(w) => p.close_through(w, &route),
            None => p.close_all(&route),
        };
        let sent = self.send_closed(&p, &mut closed, w, ingest);
        p.recycle(closed);
        self.partial = Some(p);
        sent
    }

    /// [`Self::send_partials`]'s sends: each core's pieces of `closed`, then
    /// `Watermark(w)` (with `w`), this core last. This core's own share of
    /// windows closed by a watermark is adopted whole by its pipeline when
    /// it can (no pieces built or merged), after every other core's pieces.
    fn send_closed(
        &mut self,
        p: &PartialAgg,
        closed: &mut Closed,
        w: Option<i64>,
        ingest: Instant,
    ) -> Result<(), RunError> {
        for k in 1..=self.n {
            let d = (self.core + k) % self.n;
            if let (Some(w), true) = (w, d == self.core) {
                if self.post.adopt(w, closed, d)? {
                    self.send(d, Message::Watermark(w, ingest))?;
                    continue;
                }
            }
            for b in p.pieces(closed, d, self.exchange.pool_mut())? {
                self.send(d, Message::Data((Payload::Rows(b), ingest)))?;
            }
            if let Some(w) = w {
                self.send(d, Message::Watermark(w, ingest))?;
            }
        }
        Ok(())
    }

    /// End of this core's input: partials still held, then End to every core.
    fn end_input(&mut self) -> Result<(), RunError> {
        self.send_partials(None, Instant::now())?;
        self.flush_exchange()?;
        for d in 0..self.n {
            self.send(d, Message::End)?;
        }
        Ok(())
    }

    async fn emit(&mut self, out: Vec<RecordBatch>, ingest: Instant) -> Result<(), RunError> {
        for b in out {
            if b.num_rows() == 0 {
                continue;
            }
            self.stats.records_out += b.num_rows() as u64;
            // A result this core delivers itself is timed here; one sent to
            // the output thread is timed there, when the sink has it.
            if let Some(sink) = &self.core_sink {
                self.latency.record(ingest, b.num_rows() as u64);
                sink(self.core, &b).map_err(RunError::Sink)?;
                continue;
            }
            match (&self.encoder, &mut self.file) {
                (Some(enc), Some(f)) => {
                    self.latency.record(ingest, b.num_rows() as u64);
                    f.write(enc, &b).await?
                }
                (Some(enc), None) => {
                    let mut bytes = Vec::with_capacity(b.num_rows() * 64);
                    enc(&b, &mut bytes);
                    let payload = Payload::Bytes(bytes, b.num_rows());
                    self.send(self.n, Message::Data((payload, ingest)))?;
                }
                (None, _) => self.send(self.n, Message::Data((Payload::Rows(b), ingest)))?,
            }
        }
        Ok(())
    }

    /// Tells every core this core's input has reached watermark `w` (if it
    /// moves): partial aggregates of the windows it closes go out first.
    fn announce(&mut self, w: i64, sent: &mut i64, ingest: Instant) -> Result<(), RunError> {
        if w <= *sent {
            return Ok(());
        }
        *sent = w;
        self.flush_exchange()?;
        self.send_partials(Some(w), ingest)
    }

    /// Writes out what this core's file output holds.
    async fn flush_output(&mut self) -> Result<(), RunError> {
        match self.file.as_mut() {
            Some(f) => f.flush().await,
            None => Ok(()),
        }
    }

    /// Applies the watermark as soon as a message moves it, so a batch that
    /// followed a watermark on its ring is judged against that watermark.
    ///
    /// What a watermark releases is timed from `trigger`: the ingest of the
    /// batch that moved the watermark whose message moved this one (at the
    /// end of a sender's input, the last batch it sent).
    async fn advance(&mut self, trigger: Instant) -> Result<(), RunError> {
        let w = self.from_wm.iter().copied().min().unwrap_or(i64::MIN);
        if w > self.wm && w > i64::MIN && w < i64::MAX {
            self.wm = w;
            let out = self.post.on_watermark(w)?;
            self.emit(out, trigger).await?;
        }
        Ok(())
    }

    async fn run(mut self, input: &dyn PartitionedSource) -> Result<CoreReport, RunError> {
        if let Some(out) = &self.file_output {
            self.file = Some(CoreFile::open(out).await?);
        }
        let lateness = self.plan.source.lateness_ms;
        let time = self.plan.watermark_time().cloned();
        let ordered = self.plan.orders_rows();
        let mut filter = self.plan.filter.clone().map(Filter::new);
        let mut source = input.open(self.core, self.n)?;
        let mut seq = source.as_ref().map_or(0, |p| p.first_seq);
        let stride = source.as_ref().map_or(1, |p| p.seq_stride);
        let mut max_seen: Option<i64> = None;
        let mut sent_wm = i64::MIN;
        let mut malformed = 0;
        if source.is_none() && self.keys.is_some() {
            self.end_input()?;
        }
        loop {
            if self.ep.mesh().is_aborted() {
                return Err(RunError::Aborted);
            }
            let mut busy = false;
            // Watermark alignment: wait for the slowest core before reading on.
            let ahead = time.is_some()
                && self.keys.is_some()
                && sent_wm > self.wm.saturating_add(self.align_ms);
            if let Some(part) = source.as_mut().filter(|_| !ahead) {
                // I/O (a file's next chunk, a paced source's wait) is
                // awaited here, on this core; then the inbox gets its turn.
                let ready = match part.source.fill() {
                    Some(fill) => {
                        fill.await?;
                        busy = true;
                        false
                    }
                    None => true,
                };
                let next = match (ready, part.source.backlog()) {
                    (false, _) => None,
                    (true, None) => part.source.next_batch()?,
                    (true, Some(b)) => {
                        let ctl = self
                            .batching
                            .get_or_insert_with(|| AdaptiveBatch::new(MIN_BATCH_ROWS, b.max_batch));
                        let n = ctl.take(b.rows);
                        part.source.next_batch_limited(n)?
                    }
                };
                let exhausted = ready && next.is_none();
                match next {
                    Some(batch) => {
                        busy = true;
                        let ingest = Instant::now();
                        let rows = batch.num_rows();
                        // Columns the query never reads go no further.
                        let batch = self.plan.read(&batch);
                        self.stats.records_in += rows as u64;
                        self.counter
                            .records_in
                            .store(self.stats.records_in, Ordering::Relaxed);
                        let source = &part.source;
                        let batch = match source.row_positions() {
                            _ if !ordered => batch,
                            Some(pos) => with_seq(batch, Int64Array::from(pos.to_vec())),
                            None => {
                                // Consecutive rows from the source's first
                                // (the generator's blocks), else counted.
                                let (first, step) =
                                    source.first_row().map_or((seq, stride), |f| (f, 1));
                                with_seq(batch, numbered(first, step, rows))
                            }
                        };
                        seq += rows as i64 * stride;
                        match &self.keys {
                            None => {
                                let out = self.post.push(batch)?;
                                self.emit(out, ingest).await?;
                            }
                            Some(_) => {
                                if let Some(t) = &time {
                                    let (times, nulls) = t.eval(&batch)?;
                                    max_seen = max_seen.max(latest(&times, nulls.as_ref()));
                                }
                                // WHERE runs here, before the exchange.
                                let mut kept = Vec::with_capacity(1);
                                match filter.as_mut() {
                                    Some(f) => f.on_batch(batch, &mut kept)?,
                                    None => kept.push(batch),
                                }
                                // A batch WHERE emptied still moves the watermark.
                                if let Some(batch) = kept.pop() {
                                    match self.partial.as_mut() {
                                        Some(p) => {
                                            p.push(&batch)?;
                                            if p.is_full() {
                                                self.send_partials(None, ingest)?;
                                            }
                                        }
                                        None => {
                                            // A core that keeps its rows routes nothing: no key values needed.
                                            let key_cols: Vec<ArrayRef> = self
                                                .keys
                                                .iter()
                                                .flatten()
                                                .filter(|_| !self.local)
                                                .map(|k| k.eval(&batch))
                                                .collect::<Result<_, _>>()?;
                                            self.route(&batch, &key_cols, ingest)?;
                                        }
                                    }
                                }
                                // A source of several inputs (Kafka partitions)
                                // bounds event time by its slowest input.
                                let seen = part.source.event_time_bound().unwrap_or(max_seen);
                                if let Some(m) = seen {
                                    self.announce(
                                        m.saturating_sub(lateness),
                                        &mut sent_wm,
                                        ingest,
                                    )?;
                                }
                            }
                        }
                    }
                    None if !exhausted => {
                        // Waiting on the source: a source of several inputs
                        // may still move its bound (an input read to its
                        // end), and one that reads nothing at all (no Kafka
                        // partitions here) must not hold the others back.
                        if self.keys.is_some() && time.is_some() {
                            let w = if part.source.idle() {
                                self.from_wm
                                    .iter()
                                    .enumerate()
                                    .filter(|(d, w)| *d != self.core && **w < i64::MAX)
                                    .map(|(_, w)| *w)
                                    .max()
                            } else {
                                part.source
                                    .event_time_bound()
                                    .flatten()
                                    .map(|m| m.saturating_sub(lateness))
                            };
                            if let Some(w) = w {
                                self.announce(w, &mut sent_wm, Instant::now())?;
                            }
                        }
                    }
                    None => {
                        malformed = part.source.malformed_rows();
                        source = None;
                        if self.keys.is_some() {
                            self.end_input()?;
                        }
                    }
                }
            }
            while let Some((from, msg)) = self.inbox.pop_front().or_else(|| self.ep.try_recv_any())
            {
                busy = true;
                match msg {
                    Message::Data((Payload::Rows(b), ingest)) => {
                        self.last_ingest[from] = Some(ingest);
                        // A core that keeps its rows gathers nothing: its
                        // source's buffers go straight back to the allocator
                        // for the next batch (pooled for gathers that never
                        // come, they were held idle while every batch took
                        // fresh memory).
                        let mine = (!self.local).then(|| b.clone());
                        let out = self.post.push(b)?;
                        self.emit(out, ingest).await?;
                        // Buffers the pipeline let go of go back to their maker.
                        let pool = mine.map(reclaim).unwrap_or_default();
                        if !pool.is_empty() {
                            if from == self.core {
                                self.exchange.recycle(pool);
                            } else {
                                // A full ring: the vectors are simply freed.
                                let back = Message::Data((Payload::Recycled(pool), ingest));
                                let _ = self.ep.try_send(from, back);
                            }
                        }
                    }
                    Message::Data((Payload::Selected(b, rows), ingest)) => {
                        self.last_ingest[from] = Some(ingest);
                        let out = self.post.push_rows(b, rows)?;
                        self.emit(out, ingest).await?;
                    }
                    Message::Data((Payload::Recycled(pool), _)) => self.exchange.recycle(pool),
                    Message::Data((Payload::Bytes(..), _)) => {
                        unreachable!("cores exchange rows; only the output thread gets bytes")
                    }
                    Message::Watermark(w, at) => {
                        self.from_wm[from] = self.from_wm[from].max(w);
                        self.advance(at).await?;
                    }
                    Message::End => {
                        self.from_wm[from] = i64::MAX;
                        self.ended += 1;
                        let at = self.last_ingest[from].unwrap_or_else(Instant::now);
                        self.advance(at).await?;
                    }
                }
            }
            let done = match self.keys {
                Some(_) => self.ended == self.n,
                None => source.is_none(),
            };
            if done {
                let out = self.post.finish()?;
                self.emit(out, Instant::now()).await?;
                self.flush_output().await?;
                break;
            }
            if self
                .pending_since
                .is_some_and(|t| !busy || t.elapsed() >= EXCHANGE_WAIT)
            {
                self.flush_exchange()?;
            }
            if !busy {
                // Nothing to do: what is collected goes out before waiting.
                self.flush_output().await?;
                self.ep.park(Duration::from_millis(1));
            }
        }
        self.stats.buffers_reused = self.exchange.reused();
        Ok(CoreReport {
            late: self.post.stats().late_rows + self.partial.as_ref().map_or(0, |p| p.late_rows()),
            stats: self.stats,
            malformed,
            latency: self.latency,
        })
    }
}

/// The latest of `times` that is not NULL (`None` when there is none): one
/// vectorised pass over the column when nothing is NULL.
fn latest(times: &[i64], nulls: Option<&NullBuffer>) -> Option<i64> {
    match nulls.filter(|n| n.null_count() > 0) {
        None => time_range(times).map(|(_, hi)| hi),
        Some(n) => times
            .iter()
            .zip(n.iter())
            .filter_map(|(&t, valid)| valid.then_some(t))
            .max(),
    }
}

/// One core's running count, written only by that core (a plain store, never
/// a contended read-modify-write) and read by the progress reporter.
#[derive(Default)]
#[repr(align(64))]
struct Counter {
    records_in: AtomicU64,
}

/// Per-core throughput on stderr, about once a second.
struct Progress {
    last: Instant,
    prev: Vec<u64>,
}

impl Progress {
    fn new(n: usize) -> Self {
        Progress {
            last: Instant::now(),
            prev: vec![0; n],
        }
    }

    fn tick(&mut self, counters: &[Counter]) {
        let dt = self.last.elapsed().as_secs_f64();
        if dt < 1.0 {
            return;
        }
        let mut parts = Vec::new();
        for (c, (counter, prev)) in counters.iter().zip(self.prev.iter_mut()).enumerate() {
            let now = counter.records_in.load(Ordering::Relaxed);
            parts.push(format!(
                "core {c} {:.1}M rec/s ({now} in)",
                (now - *prev) as f64 / dt / 1e6
            ));
            *prev = now;
        }
        eprintln!("percore: {}", parts.join("; "));
        self.last = Instant::now();
    }
}

/// `n` sequence numbers from `first`, `step` apart (consecutive ones as a
/// plain range, which the compiler vectorises; a 64-bit multiply per row is
/// not, without AVX-512).
fn numbered(first: i64, step: i64, n: usize) -> Int64Array {
    let n = n as i64;
    let seqs: Vec<i64> = if step == 1 {
        (first..first + n).collect()
    } else {
        (0..n).map(|k| first + k * step).collect()
    };
    Int64Array::from(seqs)
}

/// Appends the hidden sequence column.
fn with_seq(batch: RecordBatch, seq: Int64Array) -> RecordBatch {
    let seq: ArrayRef = Arc::new(seq);
    let mut fields: Vec<_> = batch.schema().fields().iter().cloned().collect();
    fields.push(Arc::new(arrow_schema::Field::new(
        "__seq",
        arrow_schema::DataType::Int64,
        false,
    )));
    let mut cols = batch.columns().to_vec();
    cols.push(seq);
    RecordBatch::try_new(Arc::new(arrow_schema::Schema::new(fields)), cols)
        .expect("one more column")
}

/// Per-core state is built inside its executor and never leaves it.
#[allow(dead_code)]
fn assert_not_send() {
    trait AmbiguousIfSend<A> {
        fn some_item() {}
    }
    impl<T: ?Sized> AmbiguousIfSend<()> for T {}
    impl<T: ?Sized + Send> AmbiguousIfSend<u8> for T {}
    // Ambiguous, so a compile error, if `Worker` ever became `Send`.
    let _ = <Worker<'static> as AmbiguousIfSend<_>>::some_item;
}
