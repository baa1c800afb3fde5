//! The exchange's budget: how much CPU a record N cores may spend beyond N
//! cores that share nothing, if they are to scale as issue 4 asks (2 cores
//! ≥ 1.8× one: 90%), and how much percore's N cores do spend beyond them.
//!
//! Contract: for a flat-out `percore` row at N > 1 cores whose table also
//! holds percore's flat-out one-core row and `independent`'s flat-out row
//! at N cores, with CPU time in every run of all three (each figure the
//! median of its runs' CPU a record):
//! - `allowed`: one core's CPU a record ÷ [`TARGET`] — N cores that never
//!   wait scale by one core's CPU a record over theirs, so this is the most
//!   they may spend at [`TARGET`];
//! - `independent`: what N one-core processes sharing nothing spend (the
//!   machine's own cost of running N cores at once, no exchange);
//! - `percore`: what percore's N cores spend;
//! - `left = allowed − independent`: what the exchange may cost, and
//!   `spent = percore − independent`: what it costs.
//!
//! Any other row has none. The figures are differences of the medians
//! shown beside them (so the table adds up), not medians of differences
//! taken round by round: a round runs the three rows one after another,
//! not side by side, and on a noisy host a round's difference can take
//! the other sign from the medians'.

use crate::report::flat_out;
use crate::{Row, CEILING};

/// The scaling the budget is for: 2 cores ≥ 1.8× one.
pub(crate) const TARGET: f64 = 0.9;

/// CPU nanoseconds a record, from the medians of runs (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Budget {
    pub allowed: f64,
    pub independent: f64,
    pub percore: f64,
    pub left: f64,
    pub spent: f64,
}

impl Budget {
    /// `r`'s budget in `table`, if it has one (see the module docs).
    pub(crate) fn of(table: &[Row], r: &Row) -> Option<Budget> {
        if r.engine != "percore" || r.rate.is_some() || r.cores < 2 {
            return None;
        }
        let allowed = flat_out(table, r.scenario, "percore", 1)?.cpu_ns_per_record()? / TARGET;
        let independent = flat_out(table, r.scenario, CEILING, r.cores)?.cpu_ns_per_record()?;
        let percore = r.cpu_ns_per_record()?;
        Some(Budget {
            allowed,
            independent,
            percore,
            left: allowed - independent,
            spent: percore - independent,
        })
    }

    pub(crate) fn to_json(self) -> serde_json::Value {
        serde_json::json!({
            "target_scaling": TARGET,
            "allowed_cpu_ns_per_record": self.allowed,
            "independent_cpu_ns_per_record": self.independent,
            "cpu_ns_per_record": self.percore,
            "left_ns": self.left,
            "spent_ns": self.spent,
        })
    }
}

/// The Markdown table of every budget in `table` (nothing when none has one).
pub(crate) fn print(table: &[Row]) {
    let lines: Vec<String> = table
        .iter()
        .filter_map(|r| {
            let b = Budget::of(table, r)?;
            Some(format!(
                "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
                r.scenario, r.cores, b.allowed, b.independent, b.percore, b.left, b.spent
            ))
        })
        .collect();
    if lines.is_empty() {
        return;
    }
    println!(
        "\nThe exchange's budget, in CPU ns a record (all cores' time): scaling {:.0}% allows one core's CPU a record ÷ {TARGET}; `independent` spends what the cores cost with nothing exchanged; what is left of the first beyond the second is what the exchange may cost, beside what it costs (percore less `independent`); each figure from the medians of runs.\n",
        TARGET * 100.0
    );
    println!("| scenario | cores | allowed | independent | percore | left for the exchange | spent on it |\n|---|---|---|---|---|---|---|");
    for l in lines {
        println!("{l}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::Run;

    /// A flat-out row of `engine` whose runs used `cpu` seconds each for a
    /// million records (ns a record: `cpu` × 1000).
    fn row(engine: &str, cores: usize, cpu: &[Option<f64>]) -> Row {
        Row {
            scenario: "emit_changes",
            engine: engine.into(),
            cores,
            rate: None,
            load: None,
            runs: cpu
                .iter()
                .map(|&cpu_secs| Run {
                    records: 1_000_000,
                    output_rows: 1,
                    secs: 1.0,
                    cpu_secs,
                    ..Default::default()
                })
                .collect(),
        }
    }

    /// The table of percore's one core, `independent`'s two and percore's
    /// two, whose runs used these CPU seconds for a million records each.
    fn table(one: &[f64], ind: &[f64], two: &[f64]) -> [Row; 3] {
        let runs = |v: &[f64]| v.iter().map(|&x| Some(x)).collect::<Vec<_>>();
        [
            row("percore", 1, &runs(one)),
            row(CEILING, 2, &runs(ind)),
            row("percore", 2, &runs(two)),
        ]
    }

    /// `b` holds these figures, and what is left and spent adds up.
    fn assert_figures(b: Budget, allowed: f64, independent: f64, percore: f64) {
        let close = |x: f64, y: f64| (x - y).abs() < 1e-9;
        assert!(close(b.allowed, allowed), "{b:?}");
        assert!(close(b.independent, independent), "{b:?}");
        assert!(close(b.percore, percore), "{b:?}");
        assert!(close(b.left, allowed - independent), "{b:?}");
        assert!(close(b.spent, percore - independent), "{b:?}");
    }

    #[test]
    fn the_budget_is_what_the_target_leaves_beyond_cores_that_share_nothing() {
        // One core 27 ns a record (÷ 0.9: 30); two independent cores 28.5
        // (1.5 left); percore's two 40.5 (12 spent). Run two ran in a slow
        // phase (everything 2×).
        let t = table(
            &[0.027, 0.054, 0.027],
            &[0.0285, 0.057, 0.0285],
            &[0.0405, 0.081, 0.0405],
        );
        assert_figures(Budget::of(&t, &t[2]).unwrap(), 30.0, 28.5, 40.5);
        // Only percore's rows at several cores have one.
        assert_eq!(Budget::of(&t, &t[0]), None);
        assert_eq!(Budget::of(&t, &t[1]), None);
        // Each figure is its row's median: a stalled run of each is left
        // out.
        let t = table(
            &[0.027, 0.090, 0.026],
            &[0.028, 0.040, 0.029],
            &[0.04, 0.2, 0.03],
        );
        assert_figures(Budget::of(&t, &t[2]).unwrap(), 30.0, 29.0, 40.0);
    }

    #[test]
    fn no_budget_without_every_run_timed_or_without_its_rows() {
        let one = row("percore", 1, &[Some(0.027), Some(0.027)]);
        let ind = row(CEILING, 2, &[Some(0.028), Some(0.028)]);
        let two = row("percore", 2, &[Some(0.04), None]);
        let table = [one, ind, two];
        assert_eq!(Budget::of(&table, &table[2]), None);
        let table = [
            row("percore", 1, &[Some(0.027)]),
            row("percore", 2, &[Some(0.04)]),
        ];
        assert_eq!(Budget::of(&table, &table[1]), None, "no independent row");
        let table = [
            row(CEILING, 2, &[Some(0.028)]),
            row("percore", 2, &[Some(0.04)]),
        ];
        assert_eq!(Budget::of(&table, &table[1]), None, "no one-core row");
    }
}
