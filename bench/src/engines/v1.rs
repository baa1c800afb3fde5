//! V1: one engine behind a global `Arc<Mutex<_>>`, locked per batch by each
//! of N feeding threads (the original engine's first design).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Result;
use percore_operators::Plan;

use super::Engine;
use crate::measure::Run;
use crate::scenarios::Scenario;

pub fn run(s: &Scenario, plan: &Plan, rows: u64, cores: usize, rate: Option<f64>) -> Result<Run> {
    let shared = Arc::new(Mutex::new(Engine::new(plan)));
    let started = Instant::now();
    std::thread::scope(|scope| -> Result<()> {
        let handles: Vec<_> = (0..cores)
            .map(|part| {
                let shared = shared.clone();
                scope.spawn(move || -> Result<u64> {
                    let mut records = 0;
                    for (batch, ingest) in
                        super::feed(s.dataset, rows, part, cores, rate, &plan.inputs)
                    {
                        records += batch.num_rows() as u64;
                        shared
                            .lock()
                            .expect("no panics while locked")
                            .push(batch, ingest)?;
                    }
                    Ok(records)
                })
            })
            .collect();
        for h in handles {
            h.join().expect("feeder thread")?;
        }
        Ok(())
    })?;
    let mut g = shared.lock().expect("no panics while locked");
    g.finish()?;
    let secs = started.elapsed().as_secs_f64();
    let stats = g.pipeline.stats();
    Ok(Run {
        records: stats.records_in,
        output_rows: g.output_rows,
        late_rows: stats.late_rows,
        secs,
        latency: g.latency.summary(),
        peak_rss: None,
        cpu_secs: None,
    })
}
