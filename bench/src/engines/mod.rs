//! The engines under test. All run the same operator code (`Pipeline`) on
//! the same generated data; they differ only in how cores share the work:
//!
//! - [`v1`]: one engine behind a global lock, fed by N threads;
//! - [`v2`]: N per-partition engines, each behind its own lock, rows routed
//!   by key hash through one shared channel;
//! - [`percore`]: the thread-per-core runtime (pinned executors, SPSC
//!   rings, no locks);
//! - [`timely`]: the scenarios written directly on timely-dataflow (the
//!   one engine that does not share percore's operators: the peer to beat).
//!
//! Every engine counts records at the source and materialises its results
//! as output batches, whose rows it counts.

pub mod percore;
pub mod timely;
pub mod v1;
pub mod v2;

use std::time::{Duration, Instant};

use anyhow::Result;
use arrow_array::RecordBatch;
use percore_operators::codec::generator::{Dataset, Generator, MarketConfig};
use percore_operators::{Pipeline, PipelineOptions, Plan};
use percore_runtime::Latency;

/// Batch size of the generated input, the same for every engine.
pub const BATCH: usize = 8_192;

/// Share `part` of `parts` of the generated rows, values made only in the
/// columns `cols` (a plan's inputs, as percore's generator partitions
/// make them), interleaved row by row so
/// all shares move through event time together. The runtime's flat-out
/// generator partitions (percore, `independent`) go in blocks of a batch
/// instead; the baselines keep single rows, which suit them better: timely
/// ran 1.0-1.5x slower on blocks (it holds more rows until its frontier
/// passes), and v1 and v2 drop more rows as late.
pub fn share(dataset: Dataset, rows: u64, part: usize, parts: usize, cols: &[usize]) -> Generator {
    Generator::range(
        dataset,
        42,
        part as u64,
        rows,
        BATCH,
        MarketConfig::default(),
    )
    .with_stride(parts as u64)
    .reading_only(cols)
}

/// A feeder thread's batches, each with its ingest time: share `part` of
/// `parts`, as fast as it can be made (ingest: when made) or paced at
/// `rate` records/s over all parts (then each batch holds the rows that
/// came due, up to [`BATCH`], the runtime's paced source without percore's
/// adaptive cap and linger, `percore_runtime::AdaptiveBatch`; ingest: when
/// its first row came due, so time a row waits to be taken counts).
pub fn feed(
    dataset: Dataset,
    rows: u64,
    part: usize,
    parts: usize,
    rate: Option<f64>,
    cols: &[usize],
) -> Box<dyn Iterator<Item = (RecordBatch, Instant)> + Send> {
    let mut g = share(dataset, rows, part, parts, cols);
    let Some(rate) = rate else {
        return Box::new(std::iter::from_fn(move || {
            g.next().map(|b| (b, Instant::now()))
        }));
    };
    let per_sec = (rate / parts as f64).max(1e-3);
    let start = Instant::now();
    let due_at = move |row: u64| start + Duration::from_secs_f64(row as f64 / per_sec);
    let mut made = 0u64;
    Box::new(std::iter::from_fn(move || {
        if g.remaining() == 0 {
            return None;
        }
        loop {
            let due = (start.elapsed().as_secs_f64() * per_sec) as u64;
            if due > made {
                let first = due_at(made + 1);
                let b = g.next_rows((due - made).min(BATCH as u64) as usize)?;
                made += b.num_rows() as u64;
                return Some((b, first));
            }
            std::thread::sleep(due_at(made + 1).saturating_duration_since(Instant::now()));
        }
    }))
}

/// One pipeline of the lock-based baselines with what it has emitted: the
/// state each of their locks guards.
pub struct Engine {
    pub pipeline: Pipeline,
    pub output_rows: u64,
    pub latency: Latency,
}

impl Engine {
    pub fn new(plan: &Plan) -> Self {
        Self::with_pipeline(Pipeline::new(plan))
    }

    /// An engine fed batches already cut to the columns the query reads
    /// ([`Plan::read`]).
    pub fn of_read_rows(plan: &Plan) -> Self {
        let opt = PipelineOptions {
            input_read: true,
            ..PipelineOptions::default()
        };
        Self::with_pipeline(Pipeline::with_options(plan, opt))
    }

    fn with_pipeline(pipeline: Pipeline) -> Self {
        Engine {
            pipeline,
            output_rows: 0,
            latency: Latency::new(),
        }
    }

    /// Runs one input batch ingested at `ingest`, counting its output.
    pub fn push(&mut self, batch: RecordBatch, ingest: Instant) -> Result<()> {
        let out = self.pipeline.push(batch)?;
        self.count(&out, ingest);
        Ok(())
    }

    /// End of input: flushes and counts what is still held.
    pub fn finish(&mut self) -> Result<()> {
        let ingest = Instant::now();
        let out = self.pipeline.finish()?;
        self.count(&out, ingest);
        Ok(())
    }

    fn count(&mut self, out: &[RecordBatch], ingest: Instant) {
        for b in out {
            self.output_rows += b.num_rows() as u64;
            self.latency.record(ingest, b.num_rows() as u64);
        }
    }
}
