//! V2: N per-partition engines, each behind its own lock; N producer
//! threads route rows by key hash through one shared channel, from which N
//! worker threads take batches and push them into their partition's engine
//! (the original engine's redesign).
//!
//! A partition's engine takes its watermark as the least of its producers'
//! ([`Engine::push_numbered`]): each message carries its producer's
//! watermark and its number among that producer's messages to the
//! partition, so a batch another worker overtook holds the watermark back
//! until it has come. Until session 42 each engine took its watermark from
//! the rows it was pushed, and on two threads dropped about half of the
//! ROWS, TUMBLING and EMIT CHANGES rows as late.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Result;
use arrow_array::{ArrayRef, RecordBatch};
use percore_operators::expr::Expr;
use percore_operators::state::hash_keys;
use percore_operators::Plan;
use percore_runtime::Latency;
use percore_shuffle::{Exchange, Owners};

use super::{latest_time, Engine};
use crate::measure::Run;
use crate::scenarios::Scenario;

/// What a producer sends a partition through the shared channel.
struct Msg {
    part: usize,
    producer: usize,
    /// Its number among `producer`'s messages to `part`.
    seq: u64,
    /// `None`: the producer's watermark alone (it routed `part` no rows).
    batch: Option<RecordBatch>,
    /// The producer's watermark after this message (`i64::MAX`: its end).
    mark: i64,
    ingest: Instant,
}

pub fn run(s: &Scenario, plan: &Plan, rows: u64, cores: usize, rate: Option<f64>) -> Result<Run> {
    let parts: Arc<Vec<Mutex<Engine>>> = Arc::new(
        (0..cores)
            .map(|_| Mutex::new(Engine::fed_by(plan, cores)))
            .collect(),
    );
    let keys: Vec<Expr> = plan
        .exchange_keys()
        .map(<[Expr]>::to_vec)
        .unwrap_or_default();
    // The runtime's key owners (one table for every producer), so keys
    // split over partitions as they split over percore's cores.
    let owners = Arc::new(Owners::new(cores));
    let (tx, rx) = mpsc::sync_channel::<Msg>(cores * 16);
    let rx = Arc::new(Mutex::new(rx));
    let started = Instant::now();
    let records = std::thread::scope(|scope| -> Result<u64> {
        let workers: Vec<_> = (0..cores)
            .map(|_| {
                let (rx, parts) = (rx.clone(), parts.clone());
                scope.spawn(move || -> Result<()> {
                    loop {
                        let msg = rx.lock().expect("channel lock").recv();
                        let Ok(m) = msg else {
                            return Ok(());
                        };
                        parts[m.part]
                            .lock()
                            .expect("partition lock")
                            .push_numbered(m.producer, m.seq, m.batch, m.mark, m.ingest)?;
                    }
                })
            })
            .collect();
        let producers: Vec<_> = (0..cores)
            .map(|me| {
                let (tx, keys, owners) = (tx.clone(), &keys, owners.clone());
                scope.spawn(move || -> Result<u64> {
                    let mut records = 0;
                    let mut hashes = Vec::new();
                    let mut exchange = Exchange::new(owners, usize::MAX);
                    let mut sent = vec![0u64; cores];
                    let mut mark = i64::MIN;
                    let mut send = |part: usize, batch, mark, ingest| {
                        let seq = sent[part];
                        sent[part] += 1;
                        let m = Msg {
                            part,
                            producer: me,
                            seq,
                            batch,
                            mark,
                            ingest,
                        };
                        tx.send(m).expect("workers outlive producers");
                    };
                    for (batch, ingest) in
                        super::feed(s.dataset, rows, me, cores, rate, &plan.inputs)
                    {
                        records += batch.num_rows() as u64;
                        // Columns the query never reads are not routed.
                        let batch = plan.read(&batch);
                        if let Some(t) = latest_time(plan, &batch)? {
                            mark = mark.max(t.saturating_sub(plan.source.lateness_ms));
                        }
                        let mut routed = vec![false; cores];
                        for (p, b) in route(&batch, keys, &mut exchange, &mut hashes, me)? {
                            routed[p] = true;
                            send(p, Some(b), mark, ingest);
                        }
                        // Every partition follows the producer's event time.
                        if mark > i64::MIN {
                            for p in (0..cores).filter(|&p| !routed[p]) {
                                send(p, None, mark, ingest);
                            }
                        }
                    }
                    for p in 0..cores {
                        send(p, None, i64::MAX, Instant::now());
                    }
                    Ok(records)
                })
            })
            .collect();
        drop(tx);
        let mut records = 0;
        for h in producers {
            records += h.join().expect("producer thread")?;
        }
        for h in workers {
            h.join().expect("worker thread")?;
        }
        Ok(records)
    })?;
    let mut output_rows = 0;
    let mut late_rows = 0;
    let mut latency = Latency::new();
    for p in parts.iter() {
        let mut p = p.lock().expect("partition lock");
        p.finish()?;
        output_rows += p.output_rows;
        late_rows += p.pipeline.stats().late_rows;
        latency.merge(&p.latency);
    }
    Ok(Run {
        records,
        output_rows,
        late_rows,
        secs: started.elapsed().as_secs_f64(),
        latency: latency.summary(),
        peak_rss: None,
        cpu_secs: None,
        idle_share: None,
        preempted_share: None,
    })
}

/// The batch split by the partition owning each row's key (the runtime's
/// exchange, flushed at once); a keyless query keeps the batch on the
/// producer's own partition.
fn route(
    batch: &RecordBatch,
    keys: &[Expr],
    exchange: &mut Exchange,
    hashes: &mut Vec<u64>,
    me: usize,
) -> Result<Vec<(usize, RecordBatch)>> {
    let cores = exchange.cores();
    if keys.is_empty() || cores == 1 {
        return Ok(vec![(me % cores, batch.clone())]);
    }
    let cols: Vec<ArrayRef> = keys
        .iter()
        .map(|k| k.eval(batch))
        .collect::<Result<_, _>>()?;
    let types: Vec<_> = keys.iter().map(Expr::ty).collect();
    hash_keys(&cols, &types, batch.num_rows(), hashes);
    let mut out = Vec::new();
    exchange.push(batch, hashes, &mut out);
    exchange.flush(&mut out);
    Ok(out)
}
