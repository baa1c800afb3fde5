//! # percore-runtime
//!
//! Drives a query [`Plan`] from its input to a sink and measures it:
//! [`run_parallel`] on pinned glommio executors, one per core, exchanging
//! batches through the shuffle mesh; [`run_local`] on the calling thread for
//! sources that need no executor (the generator). Inputs are
//! [`PartitionedSource`]s (each core opens its share): the generator split by
//! row, a [`FileInput`] split by byte range and read through io_uring.
//!
//! ```
//! use percore_operators::{codec::generator::Generator, sql};
//! use percore_runtime::{run_local, GeneratorSource};
//!
//! let plan = sql::compile("SELECT order_id FROM orders WHERE total_amount > 100").unwrap();
//! let mut source = GeneratorSource::new(Generator::orders(42, 10_000, 1_024));
//! let mut rows = 0;
//! let stats = run_local(&plan, &mut source, &mut |b| {
//!     rows += b.num_rows();
//!     Ok(())
//! })
//! .unwrap();
//! assert_eq!(stats.records_in, 10_000);
//! assert_eq!(stats.records_out as usize, rows);
//! ```

#![deny(unsafe_op_in_unsafe_fn)]

mod batching;
mod file;
mod io_wait;
#[cfg(feature = "kafka")]
pub mod kafka;
mod metrics;
mod pages;
mod parallel;
mod pool;
mod sink;
mod source;

use std::time::Instant;

use arrow_array::RecordBatch;
use percore_operators::{Pipeline, Plan};

pub use batching::{AdaptiveBatch, Backlog, LINGER, MIN_BATCH_ROWS};
pub use file::FileInput;
pub use metrics::{process_cpu_secs, CoreStats, Latency, LatencySummary, RunStats};
pub use pages::disable_transparent_huge_pages;
pub use parallel::{
    available_cpus, run_on, run_parallel, run_parallel_with, CoreSink, Encoder, Output,
    ParallelConfig, ALIGN_ROWS,
};
pub use pool::{Executors, Job};
pub use sink::{check_writable, FileOutput};
pub use source::{
    Fill, FirstCoreOnly, GeneratorPartitions, GeneratorSource, Partition, PartitionedSource, Source,
};

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The query or its input failed (bad row, overflow, ...).
    #[error(transparent)]
    Engine(#[from] percore_operators::Error),
    /// The sink could not take the output.
    #[error("writing output: {0}")]
    Sink(#[from] std::io::Error),
    /// A core failed (error or panic); the run stopped.
    #[error("core {core}: {message}")]
    Core { core: usize, message: String },
    /// Another core failed first and the run was stopped.
    #[error("stopped because another core failed")]
    Aborted,
}

/// A failed run: the error, and the figures up to the failure.
#[derive(Debug)]
pub struct Failed {
    pub error: RunError,
    pub stats: RunStats,
}

/// Runs `plan` over `source` on this thread, handing every output batch to
/// `sink` as soon as it is produced. At the end of a bounded source, every
/// window still open is flushed. On error, output produced so far has already
/// reached the sink; nothing more is flushed.
pub fn run_local(
    plan: &Plan,
    source: &mut dyn Source,
    sink: &mut dyn FnMut(&RecordBatch) -> std::io::Result<()>,
) -> Result<RunStats, Box<Failed>> {
    let started = Instant::now();
    let mut pipeline = Pipeline::new(plan);
    let mut latency = metrics::Latency::new();
    let mut peak_held = 0;
    let result = (|| -> Result<(), RunError> {
        loop {
            if source.fill().is_some() {
                return Err(RunError::Engine(percore_operators::Error::Config(
                    "this source does I/O on a core's executor: run it with run_parallel".into(),
                )));
            }
            let Some(batch) = source.next_batch()? else {
                break;
            };
            let ingest = Instant::now();
            for out in pipeline.push(batch)? {
                sink(&out)?;
                latency.record(ingest, out.num_rows() as u64);
            }
            peak_held = peak_held.max(pipeline.held_rows());
        }
        let ingest = Instant::now();
        for out in pipeline.finish()? {
            sink(&out)?;
            latency.record(ingest, out.num_rows() as u64);
        }
        Ok(())
    })();
    let p = pipeline.stats();
    let stats = RunStats {
        records_in: p.records_in,
        records_out: p.records_out,
        late_rows: p.late_rows,
        malformed_rows: source.malformed_rows(),
        elapsed_secs: started.elapsed().as_secs_f64(),
        cores: vec![CoreStats {
            core: 0,
            records_in: p.records_in,
            records_out: p.records_out,
            buffers_reused: 0,
            cpu_secs: 0.0,
            peak_held_rows: peak_held,
            idle_secs: 0.0,
            held_back_secs: 0.0,
            blocked_secs: 0.0,
            preempted_secs: 0.0,
        }],
        latency_us: latency.summary(),
    };
    match result {
        Ok(()) => Ok(stats),
        Err(error) => Err(Box::new(Failed { error, stats })),
    }
}
