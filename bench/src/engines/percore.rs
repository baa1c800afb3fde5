//! percore: the thread-per-core runtime, on executors started once per core
//! count (start-up is not timed).

use std::sync::Arc;

use anyhow::Result;
use percore_operators::Plan;
use percore_runtime::{run_on, Executors, GeneratorPartitions, Output, ParallelConfig};

use super::BATCH;
use crate::measure::Run;
use crate::scenarios::Scenario;

pub fn run(
    executors: &Executors,
    s: &Scenario,
    plan: &Plan,
    rows: u64,
    rate: Option<f64>,
) -> Result<Run> {
    let input = Arc::new(GeneratorPartitions {
        dataset: s.dataset,
        seed: 42,
        rows,
        batch_size: BATCH,
        config: Default::default(),
        rate,
    });
    let cfg = ParallelConfig::new(executors.len());
    let mut output_rows = 0u64;
    let stats = run_on(executors, plan, input, &cfg, None, &mut |o| {
        if let Output::Batch(b) = o {
            output_rows += b.num_rows() as u64;
        }
        Ok(())
    })
    .map_err(|f| anyhow::anyhow!("{}", f.error))?;
    Ok(Run {
        records: stats.records_in,
        output_rows,
        late_rows: stats.late_rows,
        secs: stats.elapsed_secs,
        latency: stats.latency_us,
        peak_rss: None,
    })
}
