//! Ctrl-C: the first stops the sources, so every core drains, flushes its
//! windows and the sink, and the run exits 130; a second exits at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arrow_array::RecordBatch;
use percore_operators::Result;
use percore_runtime::{Partition, PartitionedSource, Source};

/// Set by the first SIGINT or SIGTERM.
pub(crate) fn install() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal while the flag is set exits immediately with 130.
        let _ = signal_hook::flag::register_conditional_shutdown(sig, 130, flag.clone());
        let _ = signal_hook::flag::register(sig, flag.clone());
    }
    flag
}

/// A source that ends early once `stop` is set.
pub(crate) struct Stoppable {
    pub inner: Box<dyn Source>,
    pub stop: Arc<AtomicBool>,
}

impl Source for Stoppable {
    fn fill(&mut self) -> Option<percore_runtime::Fill<'_>> {
        if self.stop.load(Ordering::Relaxed) {
            return None;
        }
        self.inner.fill()
    }
    fn row_positions(&self) -> Option<&[i64]> {
        self.inner.row_positions()
    }
    fn row_range(&self) -> Option<(i64, i64)> {
        self.inner.row_range()
    }
    fn event_time_bound(&self) -> Option<Option<i64>> {
        self.inner.event_time_bound()
    }
    fn idle(&self) -> bool {
        self.inner.idle()
    }
    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        if self.stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        self.inner.next_batch()
    }
    fn backlog(&mut self) -> Option<percore_runtime::Backlog> {
        self.inner.backlog()
    }
    fn next_batch_limited(&mut self, max_rows: usize) -> Result<Option<RecordBatch>> {
        if self.stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        self.inner.next_batch_limited(max_rows)
    }
    fn malformed_rows(&self) -> u64 {
        self.inner.malformed_rows()
    }
}

/// Every share of a partitioned input made [`Stoppable`].
pub(crate) struct StoppableParts {
    pub inner: Arc<dyn PartitionedSource>,
    pub stop: Arc<AtomicBool>,
}

impl PartitionedSource for StoppableParts {
    fn balanced(&self) -> Option<Arc<dyn PartitionedSource>> {
        let inner = self.inner.balanced()?;
        Some(Arc::new(StoppableParts {
            inner,
            stop: self.stop.clone(),
        }))
    }

    fn open(&self, part: usize, parts: usize) -> Result<Option<Partition>> {
        Ok(self.inner.open(part, parts)?.map(|p| Partition {
            source: Box::new(Stoppable {
                inner: p.source,
                stop: self.stop.clone(),
            }),
            first_seq: p.first_seq,
            seq_stride: p.seq_stride,
        }))
    }
}
