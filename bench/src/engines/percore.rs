//! percore: the thread-per-core runtime, on executors started once per core
//! count (start-up is not timed).

use std::sync::Arc;

use anyhow::Result;
use percore_operators::Plan;
use percore_runtime::{run_on, Executors, GeneratorPartitions, ParallelConfig};

use super::BATCH;
use crate::measure::Run;
use crate::scenarios::Scenario;

pub fn run(
    executors: &Executors,
    s: &Scenario,
    plan: &Plan,
    rows: u64,
    rate: Option<f64>,
    rows_by_reference: bool,
) -> Result<Run> {
    let input = Arc::new(GeneratorPartitions {
        dataset: s.dataset,
        seed: 42,
        rows,
        batch_size: BATCH,
        config: Default::default(),
        rate,
    });
    // Results stay on the core that made them (counted there, in
    // `records_out`), as v1 and v2 count theirs on their worker threads.
    let cfg = ParallelConfig {
        core_sink: Some(Arc::new(|_, _| Ok(()))),
        rows_by_reference,
        ..ParallelConfig::new(executors.len())
    };
    let stats = run_on(executors, plan, input, &cfg, None, &mut |_| Ok(()))
        .map_err(|f| anyhow::anyhow!("{}", f.error))?;
    let output_rows = stats.records_out;
    Ok(Run {
        records: stats.records_in,
        output_rows,
        late_rows: stats.late_rows,
        secs: stats.elapsed_secs,
        latency: stats.latency_us,
        peak_rss: None,
    })
}
