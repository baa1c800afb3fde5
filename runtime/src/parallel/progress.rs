//! Per-core progress: each core's running count, and the report of them on
//! stderr about once a second.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// One core's running count, written only by that core (a plain store, never
/// a contended read-modify-write) and read by the progress reporter.
#[derive(Default)]
#[repr(align(64))]
pub(super) struct Counter {
    pub(super) records_in: AtomicU64,
}

/// Per-core throughput on stderr, about once a second.
pub(super) struct Progress {
    last: Instant,
    prev: Vec<u64>,
}

impl Progress {
    pub(super) fn new(n: usize) -> Self {
        Progress {
            last: Instant::now(),
            prev: vec![0; n],
        }
    }

    pub(super) fn tick(&mut self, counters: &[Counter]) {
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
