//! V1: one engine behind a global `Arc<Mutex<_>>`, locked per batch by each
//! of N feeding threads (the original engine's first design). Its watermark
//! is the least of its feeders' ([`Engine::fed_by`]): it drops no rows as
//! late, so it does the work percore does (until session 42 it took its
//! watermark from the rows it was pushed, and dropped about half the rows
//! of ROWS windows and EMIT CHANGES as late on two threads).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Result;
use percore_operators::Plan;

use super::{latest_time, Engine};
use crate::measure::Run;
use crate::scenarios::Scenario;

pub fn run(s: &Scenario, plan: &Plan, rows: u64, cores: usize, rate: Option<f64>) -> Result<Run> {
    let shared = Arc::new(Mutex::new(Engine::fed_by(plan, cores)));
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
                        // Cut and timed before the lock, by each feeder.
                        let batch = plan.read(&batch);
                        let latest = latest_time(plan, &batch)?;
                        shared
                            .lock()
                            .expect("no panics while locked")
                            .push_from(part, batch, latest, ingest)?;
                    }
                    shared
                        .lock()
                        .expect("no panics while locked")
                        .feeder_done(part)?;
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
        idle_share: None,
        preempted_share: None,
    })
}
