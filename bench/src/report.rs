//! The report: the Markdown table on stdout and the JSON of every figure,
//! with the ratios between measurements taken round by round.
//!
//! Contract: a ratio between two measurements (scaling, percore against a
//! baseline) is the median of the ratios of their runs in the same round,
//! never a ratio of medians; a measurement without runs has no ratio.

use std::collections::BTreeMap;

use crate::budget::{self, Budget};
use crate::measure::{median_min_max, Pauses};
use crate::rounds::Probes;
use crate::{Row, CEILING};

/// The one-core row of each scenario and engine, flat out.
fn one_core_rows(table: &[Row]) -> BTreeMap<(&str, &str), &Row> {
    table
        .iter()
        .filter(|r| r.cores == 1 && r.rate.is_none())
        .map(|r| ((r.scenario, r.engine.as_str()), r))
        .collect()
}

/// The flat-out row of `engine` on `scenario` at `cores` cores, if `table`
/// has one.
pub(crate) fn flat_out<'a>(
    table: &'a [Row],
    scenario: &str,
    engine: &str,
    cores: usize,
) -> Option<&'a Row> {
    table.iter().find(|b| {
        b.scenario == scenario && b.engine == engine && b.cores == cores && b.rate.is_none()
    })
}

/// `a`'s throughput over `b`'s, paired: the median of the ratios of the
/// runs of the same round (both rows' runs were interleaved, see
/// `run_rounds`), so a slow phase that hit one round hits both sides of
/// its ratio. `None` without runs.
fn paired(a: &Row, b: &Row) -> Option<f64> {
    let ratios: Vec<f64> = a
        .runs
        .iter()
        .zip(&b.runs)
        .map(|(x, y)| x.rate() / y.rate())
        .collect();
    (!ratios.is_empty()).then(|| median_min_max(&ratios).0)
}

/// Throughput at N cores over N × throughput at one (paired, see [`paired`]).
fn efficiency(r: &Row, base: &BTreeMap<(&str, &str), &Row>) -> Option<f64> {
    if r.rate.is_some() {
        return None;
    }
    base.get(&(r.scenario, r.engine.as_str()))
        .and_then(|one| paired(r, one))
        .map(|x| x / r.cores as f64)
}

/// The median, least and greatest of the round trips, in ns (`None` when
/// none was timed).
fn trip_summary(trips: &[f64]) -> Option<(f64, f64, f64)> {
    (!trips.is_empty()).then(|| crate::measure::median_min_max(trips))
}

pub(crate) fn print_table(table: &[Row], runs: usize, probes: &Probes) {
    let base = one_core_rows(table);
    println!("Throughput in million records/s (median of {runs}; min–max), latency ingest → emit in µs (> 1 ms: the share of output rows over 1 ms; p99 is under 1 ms when it is under 1%); idle: the share of percore's cores' time spent parked with nothing to do, on several cores mostly waiting for a slower one; preempted: the share of their time another thread had their CPUs (rows due meanwhile wait); scaling and the ratios below are medians of ratios within a round (runs interleaved).\n");
    if let Some((med, lo, hi)) = trip_summary(&probes.trips) {
        println!("A cache line from the first CPU to the second and back, before each round: median {med:.0} ns ({lo:.0}–{hi:.0}).\n");
    }
    if let Some(p) = &probes.pauses {
        println!(
            "Host pauses (a spinning thread pinned to each CPU the paced runs use, {:.0} CPU-s before their rounds): {:.2} over 1 ms and {:.2} over 200 µs per CPU-second, the longest {:.1} ms, {:.2}% of the time lost. A paced core is paused as often, and catches up after: no p99 falls below what these cost.\n",
            p.cpu_secs,
            p.over_1ms_per_sec().unwrap_or(0.0),
            p.over_200us_per_sec().unwrap_or(0.0),
            p.longest_us as f64 / 1e3,
            p.lost_share().unwrap_or(0.0) * 100.0
        );
    }
    println!("| scenario | engine | cores | load | median | min–max | scaling | CPU ns/rec | idle | preempted | p50 | p99 | p99.9 | max | > 1 ms | peak RSS MB | output rows | late rows dropped |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in table {
        let (med, lo, hi) = r.rates();
        let m = r.median_run();
        let eff = efficiency(r, &base).map_or("–".into(), |e| format!("{:.0}%", e * 100.0));
        let rss = m
            .peak_rss
            .map_or("–".into(), |b| format!("{:.0}", b as f64 / 1e6));
        let cpu = r
            .cpu_ns_per_record()
            .map_or("–".into(), |c| format!("{c:.1}"));
        let idle = r
            .idle_share()
            .map_or("–".into(), |x| format!("{:.1}%", x * 100.0));
        let preempted = r
            .preempted_share()
            .map_or("–".into(), |x| format!("{:.1}%", x * 100.0));
        let over = m
            .over_1ms_share()
            .map_or("–".into(), |x| format!("{:.2}%", x * 100.0));
        println!(
            "| {} | {} | {} | {} | {:.2} | {:.2}–{:.2} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.scenario,
            r.engine,
            r.cores,
            match (r.load, r.rate) {
                (Some(l), _) => format!("{:.0}% of peak", l * 100.0),
                (None, Some(rate)) => format!("{:.2}M rec/s", rate / 1e6),
                (None, None) => "flat out".into(),
            },
            med / 1e6,
            lo / 1e6,
            hi / 1e6,
            eff,
            cpu,
            idle,
            preempted,
            m.latency.p50,
            m.latency.p99,
            m.latency.p999,
            m.latency.max,
            over,
            rss,
            m.output_rows,
            m.late_rows
        );
    }
    // percore against each baseline at the same core count.
    let mut lines = Vec::new();
    for r in table
        .iter()
        .filter(|r| r.engine == "percore" && r.rate.is_none())
    {
        let parts: Vec<String> = vs_baselines(table, r)
            .iter()
            .map(|(base, x)| format!("{x:.2}× {base}"))
            .collect();
        if !parts.is_empty() {
            lines.push(format!(
                "| {} | {} | {} |",
                r.scenario,
                r.cores,
                parts.join(", ")
            ));
        }
    }
    if !lines.is_empty() {
        println!("\n| scenario | cores | percore vs baselines |\n|---|---|---|");
        for l in lines {
            println!("{l}");
        }
    }
    budget::print(table);
}

/// A flat-out percore row's throughput over each baseline's at the same
/// scenario and core count (paired, see [`paired`]); empty for any other row.
fn vs_baselines(table: &[Row], r: &Row) -> BTreeMap<&'static str, f64> {
    let mut out = BTreeMap::new();
    if r.engine != "percore" || r.rate.is_some() {
        return out;
    }
    for base in ["v1", "v2", "timely", CEILING] {
        let b = flat_out(table, r.scenario, base, r.cores);
        if let Some(x) = b.and_then(|b| paired(r, b)) {
            out.insert(base, x);
        }
    }
    out
}

pub(crate) fn to_json(table: &[Row], rows: u64, runs: usize, probes: &Probes) -> serde_json::Value {
    let base = one_core_rows(table);
    let results: Vec<serde_json::Value> = table
        .iter()
        .map(|r| {
            let (med, lo, hi) = r.rates();
            let m = r.median_run();
            serde_json::json!({
                "scenario": r.scenario,
                "engine": r.engine,
                "cores": r.cores,
                "rate": r.rate,
                "load": r.load,
                "records": m.records,
                "runs": r.runs.len(),
                "throughput_median": med,
                "throughput_min": lo,
                "throughput_max": hi,
                "scaling_efficiency": efficiency(r, &base),
                "cpu_ns_per_record": r.cpu_ns_per_record(),
                "idle_share": r.idle_share(),
                "preempted_share": r.preempted_share(),
                "vs_baselines": vs_baselines(table, r),
                "scaling_budget": Budget::of(table, r).map(Budget::to_json),
                "latency_us": {
                    "p50": m.latency.p50,
                    "p99": m.latency.p99,
                    "p999": m.latency.p999,
                    "max": m.latency.max,
                    "over_1ms_share": m.over_1ms_share(),
                },
                "output_rows": m.output_rows,
                "late_rows": m.late_rows,
                "peak_rss_bytes": m.peak_rss,
            })
        })
        .collect();
    serde_json::json!({
        "machine": crate::measure::machine(),
        "host_pauses": probes.pauses.map(Pauses::to_json),
        "core_round_trip_ns": trip_summary(&probes.trips).map(|(median, min, max)| serde_json::json!({
            "median": median,
            "min": min,
            "max": max,
            "samples": probes.trips.len(),
        })),
        "rows_per_run": rows,
        "runs": runs,
        "results": results,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::Run;

    /// A flat-out row whose runs took `secs` each for a million records.
    fn row(engine: &str, cores: usize, secs: &[f64]) -> Row {
        Row {
            scenario: "group_by",
            engine: engine.into(),
            cores,
            rate: None,
            load: None,
            runs: secs
                .iter()
                .map(|&secs| Run {
                    records: 1_000_000,
                    output_rows: 1,
                    secs,
                    ..Default::default()
                })
                .collect(),
        }
    }

    #[test]
    fn ratios_are_taken_round_by_round() {
        // Round 2 ran in a slow phase (both sides three times slower):
        // every round says 2×.
        let percore = row("percore", 1, &[0.5, 1.5, 0.5]);
        let timely = row("timely", 1, &[1.0, 3.0, 1.0]);
        assert_eq!(paired(&percore, &timely), Some(2.0));
        // The baseline's third run stalled: the medians of the rates (2M
        // against 0.33M rec/s) would say 6×; the rounds say 2×, 2× and 20×,
        // whose median is 2×.
        let stalled = row("timely", 1, &[1.0, 3.0, 10.0]);
        assert_eq!(paired(&percore, &stalled), Some(2.0));
        assert_eq!(paired(&percore, &row("timely", 1, &[])), None);
    }

    #[test]
    fn scaling_is_paired_and_per_core() {
        let one = row("percore", 1, &[1.0, 2.0, 1.0]);
        // Two cores: 1.5× one core in every round (0.75 of 2×), though the
        // second round was twice as slow for both.
        let two = row("percore", 2, &[1.0 / 1.5, 2.0 / 1.5, 1.0 / 1.5]);
        let table = [one, two];
        let base = one_core_rows(&table);
        let eff = efficiency(&table[1], &base).unwrap();
        assert!((eff - 0.75).abs() < 1e-9, "{eff}");
        assert!((efficiency(&table[0], &base).unwrap() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn cpu_per_record_is_the_median_runs_and_only_when_every_run_has_it() {
        let mut r = row("percore", 2, &[1.0, 1.0, 1.0]);
        // 1.5, 3.0 and 2.2 CPU seconds for a million records each.
        for (run, cpu) in r.runs.iter_mut().zip([1.5, 3.0, 2.2]) {
            run.cpu_secs = Some(cpu);
        }
        let ns = r.cpu_ns_per_record().unwrap();
        assert!((ns - 2200.0).abs() < 1e-6, "{ns}");
        r.runs[1].cpu_secs = None;
        assert_eq!(r.cpu_ns_per_record(), None);
        assert_eq!(row("percore", 1, &[]).cpu_ns_per_record(), None);
    }
}
