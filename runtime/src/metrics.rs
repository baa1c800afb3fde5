//! Run figures: counters per core and an ingest-to-emit latency histogram.
//!
//! Each core writes only its own counters and histogram (no lock, no shared
//! atomic); a run's figures are merged once at the end.

use std::time::Instant;

use hdrhistogram::Histogram;

/// Figures of one core.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CoreStats {
    pub core: usize,
    pub records_in: u64,
    pub records_out: u64,
    /// Exchange output buffers taken from vectors other cores handed back.
    pub buffers_reused: u64,
    /// CPU time the core's thread used during the run.
    pub cpu_secs: f64,
    /// The most input rows the core's operators held at once between
    /// batches, waiting for the watermark (see
    /// [`crate::ParallelConfig::align_rows`]).
    pub peak_held_rows: usize,
    /// Wall time the core spent parked with nothing to do: no batch its
    /// input could give and no message from another core (a paced input's
    /// waits for its next rows to come due are the input's, not counted).
    /// On several cores, mostly a core waiting for a slower one.
    pub idle_secs: f64,
    /// Of `idle_secs`, the time the core was held back: it had read as far
    /// past the slowest core's watermark as it may
    /// ([`crate::ParallelConfig::align_rows`], `align_ms`) and waited for
    /// that watermark to move.
    pub held_back_secs: f64,
    /// Wall time the core waited to send into a full ring: another core,
    /// or the output thread, behind it (backpressure).
    pub blocked_secs: f64,
    /// Wall time the core's thread was ready to run while another thread
    /// had its CPU: the kernel's run-queue wait (`/proc/thread-self/schedstat`;
    /// 0 where the kernel does not keep it). A kernel thread or another
    /// process taking a pinned core's CPU shows here, and every row due
    /// meanwhile waits; a hypervisor pausing the whole vCPU does not.
    pub preempted_secs: f64,
}

/// Latency percentiles in microseconds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LatencySummary {
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    /// Output rows measured.
    pub count: u64,
    /// Of those, the rows whose latency was over 1 ms (p99 is under 1 ms
    /// exactly when these are under 1% of `count`).
    pub over_1ms: u64,
}

/// Figures of one run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunStats {
    pub records_in: u64,
    pub records_out: u64,
    pub late_rows: u64,
    pub malformed_rows: u64,
    pub elapsed_secs: f64,
    pub cores: Vec<CoreStats>,
    pub latency_us: LatencySummary,
}

impl RunStats {
    /// The share of the cores' time spent idle (their `idle_secs` over
    /// cores × elapsed time; `None` without cores or time): on several
    /// cores, what waiting for each other cost.
    pub fn idle_share(&self) -> Option<f64> {
        self.share(|c| c.idle_secs)
    }

    /// The share of the cores' time spent blocked on full rings (their
    /// `blocked_secs` over cores × elapsed time): what a slower receiver
    /// (another core, the output) cost them.
    pub fn blocked_share(&self) -> Option<f64> {
        self.share(|c| c.blocked_secs)
    }

    /// The share of the cores' time their threads waited for their CPUs
    /// while another thread ran there (their `preempted_secs` over cores ×
    /// elapsed time): what the rest of the machine took from the run.
    pub fn preempted_share(&self) -> Option<f64> {
        self.share(|c| c.preempted_secs)
    }

    fn share(&self, secs: impl Fn(&CoreStats) -> f64) -> Option<f64> {
        let span = self.cores.len() as f64 * self.elapsed_secs;
        (span > 0.0).then(|| self.cores.iter().map(secs).sum::<f64>() / span)
    }
}

/// Ingest-to-emit latency of output rows, in microseconds.
pub struct Latency {
    hist: Histogram<u64>,
}

impl Latency {
    pub fn new() -> Self {
        Latency {
            // 1 µs .. 1 hour, 3 significant digits.
            hist: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds"),
        }
    }

    /// Records `rows` output rows whose input batch was ingested at `ingest`.
    pub fn record(&mut self, ingest: Instant, rows: u64) {
        if rows == 0 {
            return;
        }
        let us = (ingest.elapsed().as_micros() as u64).clamp(1, 3_600_000_000);
        self.hist.saturating_record_n(us, rows);
    }

    /// Adds another core's measurements.
    pub fn merge(&mut self, other: &Latency) {
        self.hist.add(&other.hist).expect("histograms share bounds");
    }

    pub fn summary(&self) -> LatencySummary {
        if self.hist.is_empty() {
            return LatencySummary::default();
        }
        LatencySummary {
            p50: self.hist.value_at_quantile(0.50),
            p99: self.hist.value_at_quantile(0.99),
            p999: self.hist.value_at_quantile(0.999),
            max: self.hist.max(),
            count: self.hist.len(),
            // Exact at 1,000 µs: the histogram counts every microsecond
            // up to 2,047.
            over_1ms: self.hist.len() - self.hist.count_between(0, 1_000),
        }
    }
}

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

/// CPU time the calling thread has used so far.
pub(crate) fn thread_cpu_secs() -> f64 {
    cpu_clock_secs(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// Time the calling thread has spent ready to run but waiting for a CPU
/// so far (seconds): the second figure of `/proc/thread-self/schedstat`,
/// the run-queue wait in nanoseconds; `None` where the kernel does not
/// keep it.
pub(crate) fn thread_wait_secs() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(ns as f64 * 1e-9)
}

/// CPU time every thread of this process has used so far (seconds; 0 when
/// the clock cannot be read): taken before and after a run, the CPU the
/// run cost, which a benchmark divides by its records.
pub fn process_cpu_secs() -> f64 {
    cpu_clock_secs(libc::CLOCK_PROCESS_CPUTIME_ID)
}

fn cpu_clock_secs(clock: libc::clockid_t) -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration;
    // the CPU-time clocks need nothing else.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    /// Rows over 1 ms are counted exactly at the boundary: a row that
    /// waited 1,000 µs is not over, one that waited 1,001 µs is.
    #[test]
    fn rows_over_one_ms_are_counted_from_the_histogram() {
        let mut l = Latency::new();
        for (us, rows) in [(5u64, 90u64), (1_000, 3), (1_001, 4), (70_000, 3)] {
            l.hist.record_n(us, rows).unwrap();
        }
        let s = l.summary();
        assert_eq!(s.count, 100);
        assert_eq!(s.over_1ms, 7);
        // p99 falls among the rows over 1 ms exactly when they are over 1%.
        assert!(s.p99 > 1_000);
        let mut merged = Latency::new();
        merged.merge(&l);
        let before = Instant::now() - Duration::from_millis(3);
        merged.record(before, 10);
        assert_eq!(merged.summary().over_1ms, 17);
        assert_eq!(Latency::new().summary(), LatencySummary::default());
    }
}
