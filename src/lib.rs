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

use std::sync::{mpsc, Arc, Mutex};

pub use percore_operators as operators;
pub use percore_runtime as runtime;
pub use percore_shuffle as shuffle;

pub use arrow_array::RecordBatch;
pub use percore_operators::codec::generator::Dataset;
pub use percore_operators::{sql, Error, Pipeline, Plan, SqlType};
pub use percore_runtime::{
    disable_transparent_huge_pages, run_local, Executors, Failed, GeneratorPartitions,
    ParallelConfig, PartitionedSource, RunError, RunStats, Source,
};

/// A thread-per-core runtime to embed: pinned executors started once, in
/// [`Runtime::new`], that run queries and hand the result batches to the
/// caller. Clones share the executors; runs on one runtime take turns (each
/// uses every core).
#[derive(Clone, Debug)]
pub struct Runtime {
    config: ParallelConfig,
    /// Held for a whole run — the control plane, never the data path.
    executors: Arc<Mutex<Executors>>,
}

impl Runtime {
    /// A runtime on `cores` cores, pinned to the CPUs the process may use.
    pub fn new(cores: usize) -> Result<Self, RunError> {
        Self::with_config(ParallelConfig::new(cores))
    }

    /// A runtime laid out by `config` (cores, CPUs, ring sizes, I/O memory).
    pub fn with_config(config: ParallelConfig) -> Result<Self, RunError> {
        let executors = Executors::start(config.cores, config.cpus.as_deref(), config.io_memory)?;
        Ok(Runtime {
            config,
            executors: Arc::new(Mutex::new(executors)),
        })
    }

    /// Cores the runtime runs on.
    pub fn cores(&self) -> usize {
        self.config.cores.max(1)
    }

    /// The built-in generator for a built-in stream (`orders`, `market_data`).
    pub fn generator(dataset: Dataset, rows: u64, seed: u64) -> Arc<dyn PartitionedSource> {
        Arc::new(GeneratorPartitions {
            dataset,
            seed,
            rows,
            batch_size: 8_192,
            config: Default::default(),
            rate: None,
            columns: None,
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
        run_with(&self.executors, &self.config, plan, input, &mut |b| {
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
        let (plan, config, executors) = (plan.clone(), self.config.clone(), self.executors.clone());
        let driver = std::thread::spawn(move || {
            run_with(&executors, &config, &plan, input, &mut |b| {
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

/// One run on the shared executors, after any run still going.
fn run_with(
    executors: &Mutex<Executors>,
    config: &ParallelConfig,
    plan: &Plan,
    input: Arc<dyn PartitionedSource>,
    sink: &mut dyn FnMut(&RecordBatch) -> std::io::Result<()>,
) -> Result<RunStats, Box<Failed>> {
    // A run that panicked on the caller's side leaves the executors fine.
    let executors = executors.lock().unwrap_or_else(|p| p.into_inner());
    runtime::run_on(&executors, plan, input, config, None, &mut |o| match o {
        runtime::Output::Batch(b) => sink(b),
        runtime::Output::Encoded { .. } => unreachable!("no encoder"),
        runtime::Output::Idle => Ok(()),
    })
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
