//! V1: one engine behind a global `Arc<Mutex<_>>`, locked per batch by each
//! of N feeding threads (the original engine's first design).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Result;
use percore_operators::{Pipeline, Plan};
use percore_runtime::Latency;

use crate::measure::Run;
use crate::scenarios::Scenario;

struct Shared {
    pipeline: Pipeline,
    output_rows: u64,
    latency: Latency,
}

pub fn run(s: &Scenario, plan: &Plan, rows: u64, cores: usize, rate: Option<f64>) -> Result<Run> {
    let shared = Arc::new(Mutex::new(Shared {
        pipeline: Pipeline::new(plan),
        output_rows: 0,
        latency: Latency::new(),
    }));
    let started = Instant::now();
    std::thread::scope(|scope| -> Result<()> {
        let handles: Vec<_> = (0..cores)
            .map(|part| {
                let shared = shared.clone();
                scope.spawn(move || -> Result<u64> {
                    let mut records = 0;
                    for batch in super::feed(s.dataset, rows, part, cores, rate) {
                        let ingest = Instant::now();
                        records += batch.num_rows() as u64;
                        let mut g = shared.lock().expect("no panics while locked");
                        let out = g.pipeline.push(batch)?;
                        for b in &out {
                            g.output_rows += b.num_rows() as u64;
                            g.latency.record(ingest, b.num_rows() as u64);
                        }
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
    let ingest = Instant::now();
    let out = g.pipeline.finish()?;
    for b in &out {
        g.output_rows += b.num_rows() as u64;
        g.latency.record(ingest, b.num_rows() as u64);
    }
    let secs = started.elapsed().as_secs_f64();
    let stats = g.pipeline.stats();
    Ok(Run {
        records: stats.records_in,
        output_rows: g.output_rows,
        late_rows: stats.late_rows,
        secs,
        latency: g.latency.summary(),
        peak_rss: None,
    })
}
