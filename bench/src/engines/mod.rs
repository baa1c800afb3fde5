//! The engines under test. All run the same operator code (`Pipeline`) on
//! the same generated data; they differ only in how cores share the work:
//!
//! - [`v1`]: one engine behind a global lock, fed by N threads;
//! - [`v2`]: N per-partition engines, each behind its own lock, rows routed
//!   by key hash through one shared channel;
//! - [`percore`]: the thread-per-core runtime (pinned executors, SPSC
//!   rings, no locks);
//! - [`timely`]: the scenarios written directly on timely-dataflow (the
//!   one engine that does not share percore's operators: the peer to beat).
//!
//! Every engine counts records at the source and materialises its results
//! as output batches, whose rows it counts.

pub mod percore;
pub mod timely;
pub mod v1;
pub mod v2;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Result;
use arrow_array::RecordBatch;
use percore_operators::codec::generator::{Dataset, Generator, MarketConfig};
use percore_operators::{Pipeline, PipelineOptions, Plan};
use percore_runtime::Latency;

/// Batch size of the generated input, the same for every engine.
pub const BATCH: usize = 8_192;

/// Share `part` of `parts` of the generated rows, values made only in the
/// columns `cols` (a plan's inputs, as percore's generator partitions
/// make them), interleaved row by row so
/// all shares move through event time together. The runtime's flat-out
/// generator partitions (percore, `independent`) go in blocks of a batch
/// instead; the baselines keep single rows, which suit them better: timely
/// ran 1.0-1.5x slower on blocks (it holds more rows until its frontier
/// passes), and v1 and v2 drop more rows as late.
pub fn share(dataset: Dataset, rows: u64, part: usize, parts: usize, cols: &[usize]) -> Generator {
    Generator::range(
        dataset,
        42,
        part as u64,
        rows,
        BATCH,
        MarketConfig::default(),
    )
    .with_stride(parts as u64)
    .reading_only(cols)
}

/// A feeder thread's batches, each with its ingest time: share `part` of
/// `parts`, as fast as it can be made (ingest: when made) or paced at
/// `rate` records/s over all parts (then each batch holds the rows that
/// came due, up to [`BATCH`], the runtime's paced source without percore's
/// adaptive cap and linger, `percore_runtime::AdaptiveBatch`; ingest: when
/// its first row came due, so time a row waits to be taken counts).
pub fn feed(
    dataset: Dataset,
    rows: u64,
    part: usize,
    parts: usize,
    rate: Option<f64>,
    cols: &[usize],
) -> Box<dyn Iterator<Item = (RecordBatch, Instant)> + Send> {
    let mut g = share(dataset, rows, part, parts, cols);
    let Some(rate) = rate else {
        return Box::new(std::iter::from_fn(move || {
            g.next().map(|b| (b, Instant::now()))
        }));
    };
    let per_sec = (rate / parts as f64).max(1e-3);
    let start = Instant::now();
    let due_at = move |row: u64| start + Duration::from_secs_f64(row as f64 / per_sec);
    let mut made = 0u64;
    Box::new(std::iter::from_fn(move || {
        if g.remaining() == 0 {
            return None;
        }
        loop {
            let due = (start.elapsed().as_secs_f64() * per_sec) as u64;
            if due > made {
                let first = due_at(made + 1);
                let b = g.next_rows((due - made).min(BATCH as u64) as usize)?;
                made += b.num_rows() as u64;
                return Some((b, first));
            }
            std::thread::sleep(due_at(made + 1).saturating_duration_since(Instant::now()));
        }
    }))
}

/// One pipeline of the lock-based baselines with what it has emitted: the
/// state each of their locks guards.
pub struct Engine {
    pub pipeline: Pipeline,
    pub output_rows: u64,
    pub latency: Latency,
    /// With [`Engine::fed_by`]: each feeder's watermark (its latest event
    /// time read − lateness; `i64::MAX` once it has ended) and the
    /// engine's, the least of them.
    feeders: Option<Feeders>,
}

/// The watermarks of an engine's feeding threads (see [`Engine::fed_by`]).
struct Feeders {
    marks: Vec<i64>,
    lateness: i64,
    wm: i64,
    /// [`Engine::push_numbered`]: each feeder's next message number, and
    /// the marks of its messages that came before an earlier one.
    next: Vec<u64>,
    early: Vec<BTreeMap<u64, i64>>,
}

/// The latest event time of a batch (of the columns the query reads), as a
/// feeder of [`Engine::fed_by`] reports it: `None` when the query keeps no
/// event time or no row has one.
pub fn latest_time(plan: &Plan, batch: &RecordBatch) -> Result<Option<i64>> {
    match plan.watermark_time() {
        Some(t) => Ok(t.latest(batch)?),
        None => Ok(None),
    }
}

impl Engine {
    /// An engine fed batches already cut to the columns the query reads
    /// ([`Plan::read`]) by `feeders` threads ([`Engine::push_from`] or
    /// [`Engine::push_numbered`]), its watermark the least of theirs, as an
    /// operator's watermark is the least over its inputs: no feeder's rows
    /// fall behind another's and are dropped as late.
    pub fn fed_by(plan: &Plan, feeders: usize) -> Self {
        let opt = PipelineOptions {
            input_read: true,
            external_watermark: true,
            ..PipelineOptions::default()
        };
        let mut e = Self::with_pipeline(Pipeline::with_options(plan, opt));
        e.feeders = Some(Feeders {
            marks: vec![i64::MIN; feeders],
            lateness: plan.source.lateness_ms,
            wm: i64::MIN,
            next: vec![0; feeders],
            early: vec![BTreeMap::new(); feeders],
        });
        e
    }

    fn with_pipeline(pipeline: Pipeline) -> Self {
        Engine {
            pipeline,
            output_rows: 0,
            latency: Latency::new(),
            feeders: None,
        }
    }

    /// Runs one batch of feeder `feeder` ([`Self::fed_by`]) whose latest
    /// event time is `latest` ([`latest_time`]), then what the engine's
    /// watermark releases if the batch moved it.
    pub fn push_from(
        &mut self,
        feeder: usize,
        batch: RecordBatch,
        latest: Option<i64>,
        ingest: Instant,
    ) -> Result<()> {
        self.push(batch, ingest)?;
        if let Some(t) = latest {
            self.feeder_at(feeder, t.saturating_sub(self.lateness()), ingest)?;
        }
        Ok(())
    }

    /// Message `seq` (numbered from 0 for each feeder and engine) of feeder
    /// `feeder`, taken in any order: its rows (if any), and `mark`, the
    /// feeder's watermark once it had sent them (`i64::MAX`: it has ended).
    /// A mark counts only once every earlier message of its feeder has come,
    /// so no row of a message overtaken by a later one falls behind the
    /// watermark.
    pub fn push_numbered(
        &mut self,
        feeder: usize,
        seq: u64,
        batch: Option<RecordBatch>,
        mark: i64,
        ingest: Instant,
    ) -> Result<()> {
        if let Some(b) = batch {
            self.push(b, ingest)?;
        }
        let f = self.feeders.as_mut().expect("an engine fed_by feeders");
        if seq != f.next[feeder] {
            f.early[feeder].insert(seq, mark);
            return Ok(());
        }
        let mut mark = mark;
        f.next[feeder] += 1;
        while let Some(m) = f.early[feeder].remove(&f.next[feeder]) {
            mark = mark.max(m);
            f.next[feeder] += 1;
        }
        self.feeder_at(feeder, mark, ingest)
    }

    /// Feeder `feeder` has ended: the watermark follows the others.
    pub fn feeder_done(&mut self, feeder: usize) -> Result<()> {
        self.feeder_at(feeder, i64::MAX, Instant::now())
    }

    fn lateness(&self) -> i64 {
        self.feeders.as_ref().map_or(0, |f| f.lateness)
    }

    fn feeder_at(&mut self, feeder: usize, mark: i64, ingest: Instant) -> Result<()> {
        let f = self.feeders.as_mut().expect("an engine fed_by feeders");
        f.marks[feeder] = f.marks[feeder].max(mark);
        let w = f.marks.iter().copied().min().unwrap_or(i64::MAX);
        // All ended: finish releases the rest.
        if w > f.wm && w < i64::MAX {
            f.wm = w;
            let out = self.pipeline.on_watermark(w)?;
            self.count(&out, ingest);
        }
        Ok(())
    }

    /// Runs one input batch ingested at `ingest`, counting its output.
    pub fn push(&mut self, batch: RecordBatch, ingest: Instant) -> Result<()> {
        let out = self.pipeline.push(batch)?;
        self.count(&out, ingest);
        Ok(())
    }

    /// End of input: flushes and counts what is still held.
    pub fn finish(&mut self) -> Result<()> {
        let ingest = Instant::now();
        let out = self.pipeline.finish()?;
        self.count(&out, ingest);
        Ok(())
    }

    fn count(&mut self, out: &[RecordBatch], ingest: Instant) {
        for b in out {
            self.output_rows += b.num_rows() as u64;
            self.latency.record(ingest, b.num_rows() as u64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenarios;
    use percore_operators::sql;

    /// Two feeders' shares of the ROWS scenario's rows in messages of
    /// 2,000 rows, each feeder's messages taken in pairs swapped (the
    /// second before the first, as another worker may push it first): every
    /// row comes out and none is late, whichever feeder's pair goes first.
    #[test]
    fn numbered_messages_taken_out_of_order_drop_no_row() {
        let s = scenarios::find("rows_window").expect("a scenario");
        let plan = sql::compile(s.sql).expect("the scenario compiles");
        let rows = 40_000;
        let msgs: Vec<Vec<(RecordBatch, i64)>> = (0..2)
            .map(|f| {
                let mut g = share(s.dataset, rows, f, 2, &plan.inputs);
                let mut mark = i64::MIN;
                std::iter::from_fn(|| g.next_rows(2_000))
                    .map(|b| {
                        let b = plan.read(&b);
                        let t = latest_time(&plan, &b).unwrap().expect("times");
                        mark = mark.max(t - plan.source.lateness_ms);
                        (b, mark)
                    })
                    .collect()
            })
            .collect();
        assert_eq!(msgs[0].len(), 10);
        for first in [0, 1] {
            let mut e = Engine::fed_by(&plan, 2);
            let now = Instant::now();
            for pair in (0..msgs[0].len()).step_by(2) {
                for f in [first, 1 - first] {
                    for seq in [pair + 1, pair] {
                        let (b, mark) = msgs[f][seq].clone();
                        e.push_numbered(f, seq as u64, Some(b), mark, now).unwrap();
                    }
                }
            }
            for (f, m) in msgs.iter().enumerate() {
                e.push_numbered(f, m.len() as u64, None, i64::MAX, now)
                    .unwrap();
            }
            e.finish().unwrap();
            assert_eq!(e.pipeline.stats().late_rows, 0, "{first}");
            assert_eq!(e.output_rows, rows, "{first}");
        }
    }
}
