//! `percore-bench`: throughput of the five scenarios on the built-in generator.
//!
//! This first cut measures percore on one core (in-memory generator → engine
//! → materialised output batches) with repeated runs and medians. The lock-based
//! baselines, timely-dataflow and multi-core scaling come with the
//! thread-per-core runtime.

use std::time::Instant;

use anyhow::Result;
use clap::Parser;
use percore_operators::codec::generator::{Dataset, Generator, MarketConfig};
use percore_operators::{sql, Pipeline};

#[derive(Parser)]
#[command(name = "percore-bench", about = "Benchmarks of the percore scenarios")]
struct Args {
    /// Rows per run.
    #[arg(long, default_value_t = 2_000_000)]
    rows: u64,
    /// Runs per scenario (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// A short run for smoke tests.
    #[arg(long)]
    quick: bool,
}

const SCENARIOS: &[(&str, &str, Dataset)] = &[
    (
        "select",
        include_str!("../../examples/scenarios/s0_select.sql"),
        Dataset::Orders,
    ),
    (
        "rows_window",
        include_str!("../../examples/scenarios/s1_rows_window.sql"),
        Dataset::MarketData,
    ),
    (
        "group_by",
        include_str!("../../examples/scenarios/s2_group_by_final.sql"),
        Dataset::MarketData,
    ),
    (
        "tumbling",
        include_str!("../../examples/scenarios/s3a_tumbling.sql"),
        Dataset::MarketData,
    ),
    (
        "emit_changes",
        include_str!("../../examples/scenarios/s3b_emit_changes.sql"),
        Dataset::MarketData,
    ),
];

fn main() -> Result<()> {
    let a = Args::parse();
    let (rows, runs) = if a.quick {
        (200_000, 1)
    } else {
        (a.rows, a.runs.max(1))
    };
    println!("| scenario | engine | cores | records | median rec/s | min rec/s | max rec/s | output rows |");
    println!("|---|---|---|---|---|---|---|---|");
    for (name, sql_text, dataset) in SCENARIOS {
        let plan = sql::compile(sql_text)?;
        // Pre-generate so the generator's cost is not measured.
        let input: Vec<_> =
            Generator::range(*dataset, 42, 0, rows, 8_192, MarketConfig::default()).collect();
        let mut rates = Vec::new();
        let mut out_rows = 0;
        for _ in 0..runs {
            let mut p = Pipeline::new(&plan);
            let t = Instant::now();
            let mut n = 0;
            for b in &input {
                n += p
                    .push(b.clone())?
                    .iter()
                    .map(|b| b.num_rows())
                    .sum::<usize>();
            }
            n += p.finish()?.iter().map(|b| b.num_rows()).sum::<usize>();
            rates.push(rows as f64 / t.elapsed().as_secs_f64());
            out_rows = n;
        }
        rates.sort_by(|a, b| a.total_cmp(b));
        println!(
            "| {name} | percore | 1 | {rows} | {:.0} | {:.0} | {:.0} | {out_rows} |",
            rates[rates.len() / 2],
            rates[0],
            rates[rates.len() - 1]
        );
    }
    Ok(())
}
