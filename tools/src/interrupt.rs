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
    fn arrived(&self) -> Option<std::time::Instant> {
        self.inner.arrived()
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    use arrow_array::{ArrayRef, Int64Array};
    use percore_runtime::Backlog;

    /// A source whose every answer differs from a default one.
    struct Marked(Instant);

    impl Source for Marked {
        fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
            self.next_batch_limited(3)
        }
        fn next_batch_limited(&mut self, max_rows: usize) -> Result<Option<RecordBatch>> {
            let a: ArrayRef = std::sync::Arc::new(Int64Array::from_iter_values(0..max_rows as i64));
            Ok(Some(RecordBatch::try_from_iter([("a", a)]).unwrap()))
        }
        fn backlog(&mut self) -> Option<Backlog> {
            Some(Backlog {
                rows: 7,
                max_batch: 11,
                waited: Some(Duration::from_micros(13)),
            })
        }
        fn malformed_rows(&self) -> u64 {
            17
        }
        fn row_positions(&self) -> Option<&[i64]> {
            Some(&[19, 23])
        }
        fn row_range(&self) -> Option<(i64, i64)> {
            Some((29, 31))
        }
        fn arrived(&self) -> Option<Instant> {
            Some(self.0)
        }
        fn event_time_bound(&self) -> Option<Option<i64>> {
            Some(Some(37))
        }
        fn idle(&self) -> bool {
            true
        }
    }

    /// A stoppable source answers as the source it wraps (a paced feed's
    /// arrival times, a file's row ranges, ...) until it is stopped.
    #[test]
    fn a_stoppable_source_passes_on_every_answer_until_stopped() {
        let at = Instant::now() - Duration::from_millis(5);
        let stop = Arc::new(AtomicBool::new(false));
        let mut s = Stoppable {
            inner: Box::new(Marked(at)),
            stop: stop.clone(),
        };
        assert!(s.fill().is_none());
        assert_eq!(s.next_batch().unwrap().unwrap().num_rows(), 3);
        assert_eq!(s.next_batch_limited(5).unwrap().unwrap().num_rows(), 5);
        let b = s.backlog().unwrap();
        assert_eq!(
            (b.rows, b.max_batch, b.waited),
            (7, 11, Some(Duration::from_micros(13)))
        );
        assert_eq!(s.malformed_rows(), 17);
        assert_eq!(s.row_positions(), Some(&[19, 23][..]));
        assert_eq!(s.row_range(), Some((29, 31)));
        assert_eq!(s.arrived(), Some(at));
        assert_eq!(s.event_time_bound(), Some(Some(37)));
        assert!(s.idle());
        stop.store(true, Ordering::Relaxed);
        assert!(s.next_batch().unwrap().is_none());
        assert!(s.next_batch_limited(5).unwrap().is_none());
    }
}
