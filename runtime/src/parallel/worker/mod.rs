//! One core's worker: its share of the plan and of the exchange, what it
//! sends and emits. Its loop is in [`run_loop`], its side of the exchange
//! in [`exchange`].

mod exchange;
mod lead;
mod run_loop;
mod wire;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{ArrayRef, Int64Array, RecordBatch};
use arrow_schema::FieldRef;
use percore_operators::expr::Expr;
use percore_operators::ops::PartialAgg;
use percore_operators::state::{Prepare, TimeColumn};
use percore_operators::{Pipeline, PipelineOptions, Plan, SqlType};
use percore_shuffle::{Endpoint, Exchange, Message, Sides};

use crate::batching::AdaptiveBatch;
use crate::metrics::{CoreStats, Latency};
use crate::sink::{CoreFile, FileOutput};
use crate::RunError;

use super::{Batch, CoreSetup, CoreSink, Counter, Encoder, Payload, EXCHANGE_ROWS};

pub(super) struct Worker<'a> {
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
    /// [`super::ParallelConfig::rows_by_reference`]); else the sender gathers them.
    holds_rows: bool,
    by_reference: bool,
    /// Rows the sender gathers cross narrowed ([`super::ParallelConfig::narrow_rows`]).
    narrow_rows: bool,
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
    align_rows: usize,
    /// Rows read past the slowest core's watermark (counted only when
    /// `align_rows` bounds them).
    lead: lead::Lead,
    encoder: Option<Encoder>,
    file_output: Option<FileOutput>,
    core_sink: Option<CoreSink>,
    /// This core's writes to the shared output file, once opened.
    file: Option<CoreFile>,
    /// Every row read here is this core's own (see [`super::ParallelConfig::local_keys`]).
    local: bool,
    /// The columns of a narrowed batch from another core widened on arrival
    /// (`None`: all of them); the pipeline widens the rest when it releases
    /// the rows.
    eager: Option<Vec<usize>>,
}

impl<'a> Worker<'a> {
    pub(super) fn new(
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
        // Rows other cores send narrowed to an operator that holds them for
        // the watermark: widened on arrival only where admission reads them
        // (a plain time column, the sequence column), the rest when a
        // release first takes rows of them — they wait in a quarter of the
        // bytes.
        let seq_column = numbered_rows(plan, n).then_some(plan.inputs.len());
        let eager: Option<Vec<usize>> = match plan.watermark_time() {
            Some(TimeColumn(Expr::Column { index, .. }))
                if setup.narrow_rows && !local && plan.orders_rows() =>
            {
                Some([*index].into_iter().chain(seq_column).collect())
            }
            _ => None,
        };
        let post = Pipeline::with_options(
            plan,
            PipelineOptions {
                skip_filter: keys.is_some(),
                external_watermark: true,
                // Rows carry their sequence number only where ties in event
                // time decide the output order and several cores' rows meet:
                // one core releases ties in the order it read them, which
                // is the input's.
                seq_column,
                partial_input: partial.is_some(),
                own_partials: partial.is_some(),
                input_read: true,
                prepare: eager.is_some().then_some(wire::widened as Prepare),
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
            narrow_rows: setup.narrow_rows,
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
            align_rows: setup.align_rows,
            lead: lead::Lead::default(),
            encoder: setup.encoder,
            file_output: setup.file_output,
            core_sink: setup.core_sink,
            file: None,
            local,
            eager,
        }
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
}

/// Whether rows carry their sequence number on `n` cores: only where ties
/// in event time decide the output order, and only when another core's
/// rows may meet this core's in a release.
pub(super) fn numbered_rows(plan: &Plan, n: usize) -> bool {
    plan.orders_rows() && n > 1
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

/// The hidden sequence column of numbers per row.
fn per_row(seqs: Int64Array) -> (FieldRef, ArrayRef) {
    let field = arrow_schema::Field::new("__seq", arrow_schema::DataType::Int64, false);
    (Arc::new(field), Arc::new(seqs))
}

/// Appends the hidden sequence column (`seq`: its field and values).
fn with_seq(batch: RecordBatch, (field, seq): (FieldRef, ArrayRef)) -> RecordBatch {
    let mut fields: Vec<_> = batch.schema().fields().iter().cloned().collect();
    fields.push(field);
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
