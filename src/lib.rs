#![doc = include_str!("../README.md")]
//!
//! ## Crate map
//!
//! - [`operators`]: data model, exact decimals, expressions, operators and the
//!   SQL front end ([`sql::compile`] turns SQL into a [`Plan`]);
//! - [`runtime`]: runs a plan on one core ([`run_local`]) or on pinned cores
//!   exchanging batches ([`runtime::run_parallel`]);
//! - [`shuffle`]: the SPSC mesh between cores;
//! - [`Runtime`]: the embedding API below all of them.

use std::sync::mpsc;
use std::sync::Arc;

pub use percore_operators as operators;
pub use percore_runtime as runtime;
pub use percore_shuffle as shuffle;

pub use arrow_array::RecordBatch;
pub use percore_operators::codec::generator::Dataset;
pub use percore_operators::{sql, Error, Pipeline, Plan, SqlType};
pub use percore_runtime::{
    run_local, Failed, GeneratorPartitions, ParallelConfig, PartitionedSource, RunError, RunStats,
    Source,
};

/// A thread-per-core runtime to embed: runs queries on pinned cores and hands
/// the result batches to the caller.
#[derive(Clone, Debug)]
pub struct Runtime {
    config: ParallelConfig,
}

impl Runtime {
    /// A runtime on `cores` cores, pinned to the CPUs the process may use.
    pub fn new(cores: usize) -> Self {
        Runtime {
            config: ParallelConfig::new(cores),
        }
    }

    /// A runtime laid out by `config` (CPUs, ring sizes, I/O memory).
    pub fn with_config(config: ParallelConfig) -> Self {
        Runtime { config }
    }

    /// The built-in generator for a built-in stream (`orders`, `market_data`).
    pub fn generator(dataset: Dataset, rows: u64, seed: u64) -> Arc<dyn PartitionedSource> {
        Arc::new(GeneratorPartitions {
            dataset,
            seed,
            rows,
            batch_size: 8_192,
            config: Default::default(),
        })
    }

    /// Runs `plan` over `input`, calling `on_batch` on this thread for every
    /// result batch as it is produced.
    pub fn run(
        &self,
        plan: &Plan,
        input: Arc<dyn PartitionedSource>,
        mut on_batch: impl FnMut(&RecordBatch),
    ) -> Result<RunStats, Box<Failed>> {
        runtime::run_parallel(plan, input, &self.config, &mut |b| {
            on_batch(b);
            Ok(())
        })
    }

    /// Compiles `sql` and runs it like [`Runtime::run`].
    pub fn run_sql(
        &self,
        sql_text: &str,
        input: Arc<dyn PartitionedSource>,
        on_batch: impl FnMut(&RecordBatch),
    ) -> Result<RunStats, Box<Failed>> {
        let plan = sql::compile(sql_text).map_err(|e| {
            Box::new(Failed {
                error: RunError::Engine(e),
                stats: RunStats::default(),
            })
        })?;
        self.run(&plan, input, on_batch)
    }

    /// Runs `plan` on a driver thread and returns the result batches as an
    /// iterator; at most `buffer` batches wait for the caller (backpressure).
    /// After the last batch, [`Results::finish`] gives the run's figures.
    pub fn iter(&self, plan: &Plan, input: Arc<dyn PartitionedSource>, buffer: usize) -> Results {
        let (tx, rx) = mpsc::sync_channel(buffer.max(1));
        let (plan, config) = (plan.clone(), self.config.clone());
        let driver = std::thread::spawn(move || {
            runtime::run_parallel(&plan, input, &config, &mut |b| {
                tx.send(b.clone()).map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::BrokenPipe, "results dropped")
                })
            })
        });
        Results {
            rx,
            driver: Some(driver),
        }
    }
}

/// Result batches of a run driven by [`Runtime::iter`].
pub struct Results {
    rx: mpsc::Receiver<RecordBatch>,
    driver: Option<std::thread::JoinHandle<Result<RunStats, Box<Failed>>>>,
}

impl Iterator for Results {
    type Item = RecordBatch;

    fn next(&mut self) -> Option<RecordBatch> {
        self.rx.recv().ok()
    }
}

impl Results {
    /// Waits for the run to end: its figures, or why it failed.
    pub fn finish(mut self) -> Result<RunStats, Box<Failed>> {
        while self.rx.recv().is_ok() {}
        self.driver
            .take()
            .expect("finish once")
            .join()
            .expect("the driver thread does not panic")
    }
}
