//! What the cores of one process share about their consumer group:
//! settling (partitions paused until every core joined and the assignment
//! has been quiet for `settle_ms`), revocations of partitions a core read
//! from, and how many cores have read everything.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use percore_operators::Result;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::ClientContext;

/// What the cores of one process know about their group, shared by every
/// core's consumer callbacks (atomics only: each core writes its own moments,
/// the others read them).
pub(super) struct Group {
    pub(super) settle: Duration,
    pub(super) born: Instant,
    /// Cores opened in the current run.
    pub(super) cores: AtomicUsize,
    /// Cores whose consumer has had its first assignment (even an empty one).
    pub(super) joined: AtomicUsize,
    /// When any core's assignment last changed (ms since `born`).
    pub(super) last_change_ms: AtomicU64,
    /// Set once: every core joined and nothing changed for `settle`.
    pub(super) settled: AtomicBool,
    /// Cores of the current run that have read everything (`stop_at_end`).
    pub(super) finished: AtomicUsize,
}

impl Group {
    pub(super) fn now_ms(&self) -> u64 {
        self.born.elapsed().as_millis() as u64
    }

    /// Whether the assignment has been quiet for `settle` (and every core
    /// has joined); once true, true for good.
    pub(super) fn settled(&self) -> bool {
        if self.settled.load(Ordering::Relaxed) {
            return true;
        }
        let cores = self.cores.load(Ordering::Relaxed);
        if cores == 0 || self.joined.load(Ordering::Relaxed) < cores || !self.quiet() {
            return false;
        }
        self.settled.store(true, Ordering::Relaxed);
        true
    }

    /// No assignment has changed for `settle`.
    pub(super) fn quiet(&self) -> bool {
        let last = self.last_change_ms.load(Ordering::Relaxed);
        self.now_ms().saturating_sub(last) >= self.settle.as_millis() as u64
    }
}

/// Callbacks librdkafka runs on the polling core, inside `poll`.
pub(super) struct CoreContext {
    pub(super) group: Arc<Group>,
    /// This consumer has had an assignment.
    pub(super) joined: AtomicBool,
    /// This consumer's partitions run (after the group settled).
    pub(super) resumed: AtomicBool,
    /// Partitions read from in this run (bit `p % 64`).
    pub(super) read: AtomicU64,
    /// A partition read from in this run was revoked.
    pub(super) revoked_read: AtomicBool,
}

impl ClientContext for CoreContext {}

impl ConsumerContext for CoreContext {
    fn pre_rebalance(&self, _c: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let read = self.read.load(Ordering::Relaxed);
            if tpl
                .elements()
                .iter()
                .any(|e| read & (1u64 << (e.partition().rem_euclid(64))) != 0)
            {
                self.revoked_read.store(true, Ordering::Relaxed);
            }
        }
    }

    fn post_rebalance(&self, c: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            let g = &self.group;
            g.last_change_ms.store(g.now_ms(), Ordering::Relaxed);
            if !self.joined.swap(true, Ordering::Relaxed) {
                g.joined.fetch_add(1, Ordering::Relaxed);
            }
            if !self.resumed.load(Ordering::Relaxed) && tpl.count() > 0 {
                // Hold the new partitions until the group settles.
                let _ = c.pause(tpl);
            }
        }
    }
}

impl CoreContext {
    /// Whether this core may read: the group has settled (its partitions
    /// are resumed the first time this says so).
    pub(super) fn ready(&self, c: &BaseConsumer<Self>) -> Result<bool> {
        if self.resumed.load(Ordering::Relaxed) {
            return Ok(true);
        }
        if !self.group.settled() {
            return Ok(false);
        }
        self.resumed.store(true, Ordering::Relaxed);
        let assigned = c
            .assignment()
            .map_err(|e| super::error("reading the assignment", e))?;
        if assigned.count() > 0 {
            c.resume(&assigned)
                .map_err(|e| super::error("resuming partitions", e))?;
        }
        Ok(true)
    }
}
