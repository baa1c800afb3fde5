//! What one run measured, and the machine it ran on.

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
}

impl Run {
    pub fn rate(&self) -> f64 {
        self.records as f64 / self.secs.max(1e-9)
    }
}

/// Resets the process's peak-RSS mark (Linux: `/proc/self/clear_refs` 5), so
/// the next [`peak_rss`] reads the peak of what follows. False if unsupported.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The process's peak RSS (VmHWM) in bytes.
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
