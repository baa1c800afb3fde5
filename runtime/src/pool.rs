//! The executor pool: one thread per core, each running one glommio
//! `LocalExecutor` for the pool's whole life.
//!
//! Contract:
//! - [`Executors::start`] makes every executor (pinned with
//!   `Placement::Fixed` to its CPU; unpinned beyond the CPU list) and returns
//!   only when all are up, or the first one's failure as a clear error (no
//!   io_uring, too low a memlock limit);
//! - jobs are `Send` closures run on the core's executor thread; what a job
//!   builds there (per-core state) never leaves it;
//! - a core runs one job at a time, in submission order; a run uses every
//!   core, so runs on one pool must not overlap (the caller serialises them);
//! - dropping the pool ends the executors and joins their threads.

use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;

use glommio::{LocalExecutorBuilder, Placement};

use crate::RunError;

/// Work for one core: called on that core's executor thread.
pub type Job = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()>>> + Send>;

struct CoreThread {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// One pinned glommio executor per core, started once.
pub struct Executors {
    cores: Vec<CoreThread>,
}

impl std::fmt::Debug for Executors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Executors({} cores)", self.cores.len())
    }
}

impl Executors {
    /// Starts `cores` executors on `cpus` (in order; `None`: every CPU the
    /// process may use), each registering `io_memory` bytes for io_uring.
    pub fn start(cores: usize, cpus: Option<&[usize]>, io_memory: usize) -> Result<Self, RunError> {
        let cpus = cpus
            .map(<[usize]>::to_vec)
            .unwrap_or_else(crate::available_cpus);
        let mut pool = Executors { cores: Vec::new() };
        let (ready_tx, ready_rx) = mpsc::channel::<(usize, Result<(), String>)>();
        for core in 0..cores.max(1) {
            let placement = match cpus.get(core) {
                Some(&cpu) => Placement::Fixed(cpu),
                None => Placement::Unbound,
            };
            let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
            let ready = ready_tx.clone();
            let thread = std::thread::Builder::new()
                .name(format!("percore-{core}"))
                .spawn(move || {
                    // Made inside its thread, so failing to make it is
                    // reported like any other start-up error.
                    let made = LocalExecutorBuilder::new(placement)
                        .name(&format!("percore-{core}"))
                        .io_memory(io_memory)
                        .make();
                    let executor = match made {
                        Ok(e) => e,
                        Err(e) => {
                            let _ = ready.send((core, Err(e.to_string())));
                            return;
                        }
                    };
                    let _ = ready.send((core, Ok(())));
                    drop(ready);
                    executor.run(async move {
                        // Between runs the executor has nothing else to do.
                        while let Ok(job) = jobs_rx.recv() {
                            job().await;
                        }
                    });
                })
                .map_err(|e| RunError::Core {
                    core,
                    message: format!("cannot start a thread: {e}"),
                })?;
            pool.cores.push(CoreThread {
                jobs: Some(jobs_tx),
                thread: Some(thread),
            });
        }
        drop(ready_tx);
        for _ in 0..pool.cores.len() {
            match ready_rx.recv() {
                Ok((_, Ok(()))) => {}
                Ok((core, Err(e))) => {
                    return Err(RunError::Core {
                        core,
                        message: format!(
                            "cannot start a glommio executor: {e}. percore needs io_uring (Linux 5.8+) \
                             and locked memory for it: raise `ulimit -l` to at least 512 KiB per core"
                        ),
                    })
                }
                Err(_) => {
                    return Err(RunError::Core {
                        core: 0,
                        message: "an executor thread ended while starting".into(),
                    })
                }
            }
        }
        Ok(pool)
    }

    /// Number of cores.
    pub fn len(&self) -> usize {
        self.cores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cores.is_empty()
    }

    /// Queues `job` on `core`'s executor; false if that executor is gone.
    pub fn submit(&self, core: usize, job: Job) -> bool {
        self.cores[core]
            .jobs
            .as_ref()
            .is_some_and(|tx| tx.send(job).is_ok())
    }
}

impl Drop for Executors {
    fn drop(&mut self) {
        for c in &mut self.cores {
            c.jobs.take();
        }
        for c in &mut self.cores {
            if let Some(t) = c.thread.take() {
                let _ = t.join();
            }
        }
    }
}
