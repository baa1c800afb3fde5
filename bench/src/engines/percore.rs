//! percore: the thread-per-core runtime, on executors started once per core
//! count (start-up is not timed).

use std::sync::Arc;

use anyhow::Result;
use percore_operators::Plan;
use percore_runtime::{
    run_on, Executors, GeneratorPartitions, ParallelConfig, Partition, PartitionedSource,
};

use super::BATCH;
use crate::measure::Run;
use crate::scenarios::Scenario;

/// Which shape of percore's exchange of held rows a run takes (engines
/// `percore`, `percore_rows_by_reference`, `percore_wide_rows`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Variant {
    /// The defaults: gathered by the sender, narrowed for the trip.
    Default,
    /// `ParallelConfig::rows_by_reference`.
    RowsByReference,
    /// `ParallelConfig::narrow_rows` off: gathered, crossing as they are.
    WideRows,
}

pub fn run(
    executors: &Executors,
    s: &Scenario,
    plan: &Plan,
    rows: u64,
    rate: Option<f64>,
    variant: Variant,
    stripe: Option<(usize, usize)>,
) -> Result<Run> {
    let generator = GeneratorPartitions {
        dataset: s.dataset,
        seed: 42,
        rows,
        batch_size: BATCH,
        config: Default::default(),
        rate,
        columns: Some(plan.inputs.clone()),
    };
    let input: Arc<dyn PartitionedSource> = match stripe {
        None => Arc::new(generator),
        Some((k, n)) => Arc::new(Stripe {
            inner: generator,
            k,
            n,
        }),
    };
    // Results stay on the core that made them (counted there, in
    // `records_out`), as v1 and v2 count theirs on their worker threads.
    let cfg = ParallelConfig {
        core_sink: Some(Arc::new(|_, _| Ok(()))),
        rows_by_reference: variant == Variant::RowsByReference,
        narrow_rows: variant != Variant::WideRows,
        ..ParallelConfig::new(executors.len())
    };
    let stats = run_on(executors, plan, input, &cfg, None, &mut |_| Ok(()))
        .map_err(|f| anyhow::anyhow!("{}", f.error))?;
    let output_rows = stats.records_out;
    let idle_share = stats.idle_share();
    let preempted_share = stats.preempted_share();
    Ok(Run {
        records: stats.records_in,
        output_rows,
        late_rows: stats.late_rows,
        secs: stats.elapsed_secs,
        latency: stats.latency_us,
        peak_rss: None,
        cpu_secs: None,
        idle_share,
        preempted_share,
    })
}

/// Only stripe `k` of `n` of a generator (what percore's core `k` of `n`
/// reads), for a one-core run.
struct Stripe {
    inner: GeneratorPartitions,
    k: usize,
    n: usize,
}

impl PartitionedSource for Stripe {
    fn open(&self, part: usize, parts: usize) -> percore_operators::Result<Option<Partition>> {
        assert_eq!((part, parts), (0, 1), "a stripe is read by one core");
        self.inner.open(self.k, self.n)
    }
}
