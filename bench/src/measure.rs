//! What one run measured, and the machine it ran on.

use std::time::{Duration, Instant};

use percore_runtime::LatencySummary;

/// One run of one engine on one scenario.
#[derive(Clone, Debug, Default)]
pub struct Run {
    pub records: u64,
    pub output_rows: u64,
    pub late_rows: u64,
    pub secs: f64,
    pub latency: LatencySummary,
    /// Peak resident memory during the run (bytes), when the kernel lets
    /// the peak be reset between runs.
    pub peak_rss: Option<u64>,
    /// CPU time the run's process used during the run, every thread
    /// (seconds; runs that ran at the same time: their sum).
    pub cpu_secs: Option<f64>,
    /// percore's cores' idle time over cores × run time
    /// (`RunStats::idle_share`): what they spent waiting for each other
    /// (or, on one core, for nothing to do).
    pub idle_share: Option<f64>,
    /// percore's cores' time spent ready to run while another thread had
    /// their CPUs, over cores × run time (`RunStats::preempted_share`):
    /// what the rest of the machine (a kernel thread, another process)
    /// took from them; rows due meanwhile wait.
    pub preempted_share: Option<f64>,
}

impl Run {
    pub fn rate(&self) -> f64 {
        self.records as f64 / self.secs.max(1e-9)
    }

    /// The share of output rows whose latency was over 1 ms (`None` when
    /// none was timed).
    pub fn over_1ms_share(&self) -> Option<f64> {
        let l = &self.latency;
        (l.count > 0).then(|| l.over_1ms as f64 / l.count as f64)
    }

    /// CPU nanoseconds per record read (`None` when the CPU time is unknown
    /// or nothing was read).
    pub fn cpu_ns_per_record(&self) -> Option<f64> {
        let cpu = self.cpu_secs?;
        (self.records > 0).then(|| cpu * 1e9 / self.records as f64)
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "records": self.records,
            "output_rows": self.output_rows,
            "late_rows": self.late_rows,
            "secs": self.secs,
            "latency_us": {
                "p50": self.latency.p50,
                "p99": self.latency.p99,
                "p999": self.latency.p999,
                "max": self.latency.max,
                "count": self.latency.count,
                "over_1ms": self.latency.over_1ms,
            },
            "peak_rss_bytes": self.peak_rss,
            "cpu_secs": self.cpu_secs,
            "idle_share": self.idle_share,
            "preempted_share": self.preempted_share,
        })
    }

    /// Runs that ran at the same time, as one: their records, output rows
    /// and CPU time summed over the longest run's time, their idle and
    /// preempted shares' means; the latency and peak memory of the slowest.
    ///
    /// # Panics
    /// When `runs` is empty.
    pub fn together(runs: Vec<Run>) -> Run {
        let slowest = runs
            .iter()
            .max_by(|a, b| a.secs.total_cmp(&b.secs))
            .expect("a run")
            .clone();
        Run {
            records: runs.iter().map(|r| r.records).sum(),
            output_rows: runs.iter().map(|r| r.output_rows).sum(),
            late_rows: runs.iter().map(|r| r.late_rows).sum(),
            cpu_secs: runs.iter().map(|r| r.cpu_secs).sum(),
            idle_share: mean_of(&runs, |r| r.idle_share),
            preempted_share: mean_of(&runs, |r| r.preempted_share),
            ..slowest
        }
    }

    pub fn from_json(v: &serde_json::Value) -> Run {
        let u = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
        let l = &v["latency_us"];
        Run {
            records: u(&v["records"]),
            output_rows: u(&v["output_rows"]),
            late_rows: u(&v["late_rows"]),
            secs: v["secs"].as_f64().unwrap_or(0.0),
            latency: LatencySummary {
                p50: u(&l["p50"]),
                p99: u(&l["p99"]),
                p999: u(&l["p999"]),
                max: u(&l["max"]),
                count: u(&l["count"]),
                over_1ms: u(&l["over_1ms"]),
            },
            peak_rss: v["peak_rss_bytes"].as_u64(),
            cpu_secs: v["cpu_secs"].as_f64(),
            idle_share: v["idle_share"].as_f64(),
            preempted_share: v["preempted_share"].as_f64(),
        }
    }
}

/// The mean of a share over `runs` (`None` unless every run has it).
fn mean_of(runs: &[Run], share: impl Fn(&Run) -> Option<f64>) -> Option<f64> {
    runs.iter()
        .map(share)
        .sum::<Option<f64>>()
        .map(|s| s / runs.len() as f64)
}

/// This process's peak RSS (VmHWM) in bytes (each run is a process).
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Facts about this machine for the report.
pub fn machine() -> serde_json::Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let mem_kb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    serde_json::json!({
        "cpu": model,
        "cpus_available": percore_runtime::available_cpus().len(),
        "memory_bytes": mem_kb * 1024,
        "kernel": kernel,
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
    })
}

/// How long a cache line takes to go from the first available CPU to the
/// second and back, in ns: two threads pinned to them pass a counter back
/// and forth `rounds` times (the mean). On a virtual machine it moves as
/// the host places the two vCPUs (76 to 437 ns within minutes on session
/// 17's host), and with it what two cores pay to exchange rows. `None`
/// with fewer than two CPUs, when a thread cannot be pinned, or when it
/// takes over a second (the other thread not running).
pub fn round_trip_ns(rounds: u64) -> Option<f64> {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    /// The counter alone on its cache lines.
    #[repr(align(128))]
    struct Line(AtomicU64);

    let cpus = core_affinity::get_core_ids()?;
    let (first, second) = (*cpus.first()?, *cpus.get(1)?);
    let line = Line(AtomicU64::new(0));
    let stop = AtomicBool::new(false);
    let give_up = |started: Instant| {
        let late = started.elapsed() > Duration::from_secs(1);
        late || stop.load(Ordering::Relaxed)
    };
    // Both sides on threads of their own: pinning this thread would pin
    // the benchmark's child processes too.
    std::thread::scope(|s| {
        s.spawn(|| {
            if !core_affinity::set_for_current(second) {
                stop.store(true, Ordering::Relaxed);
                return;
            }
            let started = Instant::now();
            let mut want = 1;
            let mut spins = 0u32;
            while want < 2 * rounds {
                if line.0.load(Ordering::Acquire) == want {
                    line.0.store(want + 1, Ordering::Release);
                    want += 2;
                } else {
                    spins = spins.wrapping_add(1);
                    if spins.is_multiple_of(4096) && give_up(started) {
                        return;
                    }
                    std::hint::spin_loop();
                }
            }
        });
        s.spawn(|| {
            if !core_affinity::set_for_current(first) {
                stop.store(true, Ordering::Relaxed);
                return None;
            }
            let started = Instant::now();
            let mut spins = 0u32;
            for i in 0..rounds {
                line.0.store(2 * i + 1, Ordering::Release);
                while line.0.load(Ordering::Acquire) != 2 * i + 2 {
                    spins = spins.wrapping_add(1);
                    if spins.is_multiple_of(4096) && give_up(started) {
                        stop.store(true, Ordering::Relaxed);
                        return None;
                    }
                    std::hint::spin_loop();
                }
            }
            Some(started.elapsed().as_nanos() as f64 / rounds.max(1) as f64)
        })
        .join()
        .ok()
        .flatten()
    })
}

/// How often the host stopped threads that never yield: what a paced
/// core's p99 cannot get below. A pause is a gap of over 200 µs between
/// two clock readings of a thread that does nothing else — an interrupt,
/// another thread, or on a virtual machine the host running something
/// else on that vCPU. A core paused while rows come due catches up only
/// after the pause, and with a watermark from every core one core's pause
/// holds back what every core releases.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Pauses {
    /// CPU-seconds watched (threads × seconds).
    pub cpu_secs: f64,
    pub over_200us: u64,
    pub over_1ms: u64,
    /// The longest pause (µs).
    pub longest_us: u64,
    /// Time lost in pauses (seconds).
    pub lost_secs: f64,
}

impl Pauses {
    /// Notes one gap between clock readings (a pause when over 200 µs).
    fn note(&mut self, gap: Duration) {
        if gap <= Duration::from_micros(200) {
            return;
        }
        self.over_200us += 1;
        self.over_1ms += u64::from(gap > Duration::from_millis(1));
        self.longest_us = self.longest_us.max(gap.as_micros() as u64);
        self.lost_secs += gap.as_secs_f64();
    }

    pub fn add(&mut self, other: &Pauses) {
        self.cpu_secs += other.cpu_secs;
        self.over_200us += other.over_200us;
        self.over_1ms += other.over_1ms;
        self.longest_us = self.longest_us.max(other.longest_us);
        self.lost_secs += other.lost_secs;
    }

    /// `x` per CPU-second watched (`None` when nothing was watched).
    fn per_cpu_sec(&self, x: f64) -> Option<f64> {
        (self.cpu_secs > 0.0).then(|| x / self.cpu_secs)
    }

    /// Pauses over 1 ms per CPU-second (`None` when nothing was watched).
    pub fn over_1ms_per_sec(&self) -> Option<f64> {
        self.per_cpu_sec(self.over_1ms as f64)
    }

    /// Pauses over 200 µs per CPU-second.
    pub fn over_200us_per_sec(&self) -> Option<f64> {
        self.per_cpu_sec(self.over_200us as f64)
    }

    /// The share of the watched time lost in pauses.
    pub fn lost_share(&self) -> Option<f64> {
        self.per_cpu_sec(self.lost_secs)
    }

    pub fn to_json(self) -> serde_json::Value {
        serde_json::json!({
            "cpu_secs": self.cpu_secs,
            "over_200us": self.over_200us,
            "over_1ms": self.over_1ms,
            "over_1ms_per_cpu_sec": self.over_1ms_per_sec(),
            "longest_us": self.longest_us,
            "lost_share": self.lost_share(),
        })
    }
}

/// [`Pauses`] of one spinning thread pinned to each of the first `cpus`
/// available CPUs for `watch` (`None` when a thread cannot be pinned).
pub fn host_pauses(cpus: usize, watch: Duration) -> Option<Pauses> {
    let ids = core_affinity::get_core_ids()?;
    let ids: Vec<_> = ids.into_iter().take(cpus.max(1)).collect();
    // Threads of their own: pinning this thread would pin the benchmark's
    // child processes too.
    let each: Vec<Option<Pauses>> = std::thread::scope(|s| {
        let threads: Vec<_> = ids
            .iter()
            .map(|&id| {
                s.spawn(move || {
                    if !core_affinity::set_for_current(id) {
                        return None;
                    }
                    let mut p = Pauses::default();
                    let start = Instant::now();
                    let mut last = start;
                    loop {
                        let now = Instant::now();
                        p.note(now - last);
                        last = now;
                        if now - start >= watch {
                            break;
                        }
                    }
                    p.cpu_secs = start.elapsed().as_secs_f64();
                    Some(p)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().ok().flatten())
            .collect()
    });
    let mut all = Pauses::default();
    for p in each {
        all.add(&p?);
    }
    Some(all)
}

/// The median, minimum and maximum of `xs` (not empty).
pub fn median_min_max(xs: &[f64]) -> (f64, f64, f64) {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    };
    (mid, v[0], v[v.len() - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(records: u64, secs: f64, p99: u64) -> Run {
        Run {
            records,
            output_rows: records / 2,
            late_rows: 1,
            secs,
            latency: LatencySummary {
                p99,
                ..Default::default()
            },
            peak_rss: Some(records),
            cpu_secs: Some(secs * 0.9),
            idle_share: Some(records as f64 / 1000.0),
            preempted_share: Some(secs / 100.0),
        }
    }

    /// Runs side by side: their records over the slowest one's time, and
    /// the slowest one's latency, not the fastest's.
    #[test]
    fn runs_together_count_every_record_over_the_longest_time() {
        let r = Run::together(vec![run(100, 1.0, 5), run(300, 2.0, 9), run(200, 1.5, 7)]);
        assert_eq!(r.records, 600);
        assert_eq!(r.output_rows, 300);
        assert_eq!(r.late_rows, 3);
        assert_eq!(r.secs, 2.0);
        assert_eq!(r.rate(), 300.0);
        assert_eq!(r.latency.p99, 9);
        assert_eq!(r.peak_rss, Some(300));
        // The CPU of all three (0.9 + 1.8 + 1.35 s) over all their records.
        assert!((r.cpu_secs.unwrap() - 4.05).abs() < 1e-9);
        assert!((r.cpu_ns_per_record().unwrap() - 4.05e9 / 600.0).abs() < 1e-3);
        // One run without a CPU time: the sum is unknown.
        let mut unknown = run(100, 1.0, 5);
        unknown.cpu_secs = None;
        assert_eq!(
            Run::together(vec![unknown, run(100, 1.0, 5)]).cpu_secs,
            None
        );
        // Their idle shares' mean (0.1, 0.3, 0.2) and preempted shares'
        // (0.01, 0.02, 0.015); either unknown if one run's is.
        let idle: fn(&mut Run) -> &mut Option<f64> = |r| &mut r.idle_share;
        let preempted: fn(&mut Run) -> &mut Option<f64> = |r| &mut r.preempted_share;
        for (share, mean) in [(idle, 0.2), (preempted, 0.015)] {
            assert!((share(&mut r.clone()).unwrap() - mean).abs() < 1e-9);
            let mut unknown = run(100, 1.0, 5);
            *share(&mut unknown) = None;
            let mut both = Run::together(vec![unknown, run(100, 1.0, 5)]);
            assert_eq!(*share(&mut both), None);
        }
    }

    /// Gaps up to 200 µs are the clock's own steps; longer ones are
    /// pauses, counted, timed and summed over threads.
    #[test]
    fn pauses_count_gaps_over_200_us() {
        let mut a = Pauses::default();
        for us in [1, 150, 200, 201, 999, 1_000, 1_001, 4_000] {
            a.note(Duration::from_micros(us));
        }
        a.cpu_secs = 2.0;
        assert_eq!((a.over_200us, a.over_1ms, a.longest_us), (5, 2, 4_000));
        assert!((a.lost_secs - 7.201e-3).abs() < 1e-9);
        let mut b = Pauses {
            cpu_secs: 2.0,
            ..Default::default()
        };
        b.note(Duration::from_millis(9));
        a.add(&b);
        assert_eq!(a.over_1ms_per_sec(), Some(3.0 / 4.0));
        assert_eq!(a.over_200us_per_sec(), Some(6.0 / 4.0));
        assert_eq!(a.longest_us, 9_000);
        assert!((a.lost_share().unwrap() - 16.201e-3 / 4.0).abs() < 1e-9);
        assert_eq!(Pauses::default().lost_share(), None);
    }

    /// A short watch on one CPU: it watched about that long and lost no
    /// more than it watched.
    #[test]
    fn a_watch_of_one_cpu_accounts_for_its_time() {
        let p = host_pauses(1, Duration::from_millis(50)).expect("a CPU to pin a thread to");
        assert!(p.cpu_secs >= 0.05, "{p:?}");
        assert!(p.lost_secs <= p.cpu_secs, "{p:?}");
        assert!(p.over_1ms <= p.over_200us, "{p:?}");
    }

    #[test]
    fn a_run_reads_back_from_its_json() {
        let mut r = run(1000, 0.5, 42);
        r.latency.count = 400;
        r.latency.over_1ms = 3;
        let back = Run::from_json(&r.to_json());
        assert_eq!(back.records, 1000);
        assert_eq!(back.latency.p99, 42);
        assert_eq!(back.latency.over_1ms, 3);
        assert_eq!(back.over_1ms_share(), Some(3.0 / 400.0));
        assert_eq!(run(1, 1.0, 1).over_1ms_share(), None);
        assert_eq!(back.cpu_secs, Some(0.45));
        assert_eq!(back.peak_rss, Some(1000));
        assert_eq!(back.idle_share, Some(1.0));
        assert_eq!(back.preempted_share, Some(0.005));
    }
}
