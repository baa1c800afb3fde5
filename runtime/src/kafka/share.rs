//! One core's share of a Kafka stream: its consumer, polled without
//! blocking; messages parsed into a batch with the hidden columns; the
//! per-partition event time that bounds the watermark; the offsets handed to
//! the pipeline (what may be committed once the output is flushed).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use crossbeam_queue::SegQueue;
use percore_operators::{Error, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::types::RDKafkaErrorCode;

use super::group::CoreContext;
use super::input::KafkaInputOptions;
use crate::source::{Fill, Source};

mod batch;

/// A transient error repeats on stderr at most this often.
const WARN_EVERY: Duration = Duration::from_secs(5);

/// How long a consumer may wait for its first assignment.
const ASSIGN_TIMEOUT: Duration = Duration::from_secs(60);

/// One message's place in the batch being built.
struct Meta {
    /// Where its text starts in `buf`.
    start: usize,
    /// Lines of `buf` before it.
    lines_before: u64,
    partition: i32,
    offset: i64,
    timestamp: Option<i64>,
    key: Option<String>,
}

/// One core's share: its consumer, and the batch being built.
pub(super) struct KafkaSource {
    consumer: Arc<BaseConsumer<CoreContext>>,
    opts: Arc<KafkaInputOptions>,
    /// The input's flag for a run stopped by a revocation.
    revoked: Arc<AtomicBool>,
    delivered: Arc<SegQueue<(usize, i32, i64)>>,
    core: usize,
    /// Per assigned partition: read to its end (no message since its EOF).
    at_end: HashMap<i32, bool>,
    /// Per partition: the greatest event time read from it.
    max_time: HashMap<i32, i64>,
    buf: Vec<u8>,
    msgs: Vec<Meta>,
    ready: Option<RecordBatch>,
    /// Next offset per partition of the batch in `ready`.
    handed: HashMap<i32, i64>,
    positions: Vec<i64>,
    pending: Option<Error>,
    done: bool,
    /// Read to the end and counted in the group's `finished`; the core
    /// still polls (answering rebalances) until every core has finished.
    finished: bool,
    /// The last transient error reported, and when.
    last_warning: Option<(String, Instant)>,
    /// Cores in this run.
    parts: usize,
    malformed: u64,
    /// Messages dropped as delivered again (see [`ReadUpTo`]).
    redelivered: u64,
    read_up_to: ReadUpTo,
    opened: Instant,
}

/// Per partition, the greatest offset one core has read in this run. The
/// broker may deliver messages again after a rebalance (a partition's
/// position going back; seen with a test broker); one at or below that
/// offset has already been counted by this core, so dropping it keeps every
/// row counted once and never loses one. A run that stops and resumes from
/// the committed offsets starts with a new record.
#[derive(Default)]
struct ReadUpTo(HashMap<i32, i64>);

impl ReadUpTo {
    /// Whether `offset` of `partition` is new here (it is then noted).
    fn first_read(&mut self, partition: i32, offset: i64) -> bool {
        let last = self.0.entry(partition).or_insert(i64::MIN);
        let new = offset > *last;
        *last = (*last).max(offset);
        new
    }
}

impl KafkaSource {
    pub(super) fn new(
        consumer: Arc<BaseConsumer<CoreContext>>,
        opts: Arc<KafkaInputOptions>,
        revoked: Arc<AtomicBool>,
        delivered: Arc<SegQueue<(usize, i32, i64)>>,
        core: usize,
        parts: usize,
    ) -> Self {
        KafkaSource {
            consumer,
            opts,
            revoked,
            delivered,
            core,
            at_end: HashMap::new(),
            max_time: HashMap::new(),
            buf: Vec::new(),
            msgs: Vec::new(),
            ready: None,
            handed: HashMap::new(),
            positions: Vec::new(),
            pending: None,
            done: false,
            finished: false,
            last_warning: None,
            parts,
            malformed: 0,
            redelivered: 0,
            read_up_to: ReadUpTo::default(),
            opened: Instant::now(),
        }
    }

    /// Takes what the consumer has (without blocking), up to a batch.
    fn poll(&mut self) -> Result<()> {
        let c = self.consumer.clone();
        while self.msgs.len() < self.opts.batch_size.max(1) {
            match c.poll(Duration::ZERO) {
                None => break,
                Some(Ok(m)) if self.finished => {
                    // A partition that came after this core finished: it is
                    // left for the next run (not read, not committed), so no
                    // row reaches the state twice through two cores.
                    if let Ok(a) = c.assignment() {
                        let _ = c.pause(&a);
                    }
                    let _ = m;
                }
                Some(Ok(m)) => {
                    let p = m.partition();
                    self.at_end.insert(p, false);
                    if !self.read_up_to.first_read(p, m.offset()) {
                        self.redelivered += 1;
                        if self.redelivered == 1 {
                            eprintln!(
                                "percore: Kafka: topic {} partition {} delivered offset {} again \
                                 (already read by this core in this run): dropped, as will be any others",
                                self.opts.kafka.topic,
                                p,
                                m.offset()
                            );
                        }
                        continue;
                    }
                    c.context()
                        .read
                        .fetch_or(1u64 << p.rem_euclid(64), Ordering::Relaxed);
                    let start = self.buf.len();
                    let lines_before = self.msgs.last().map_or(0, |l| {
                        l.lines_before
                            + self.buf[l.start..].iter().filter(|b| **b == b'\n').count() as u64
                    });
                    self.buf.extend_from_slice(m.payload().unwrap_or_default());
                    if self.buf.last() != Some(&b'\n') {
                        self.buf.push(b'\n');
                    }
                    self.msgs.push(Meta {
                        start,
                        lines_before,
                        partition: p,
                        offset: m.offset(),
                        timestamp: m.timestamp().to_millis(),
                        key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                    });
                }
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    self.at_end.insert(p, true);
                }
                Some(Err(KafkaError::MessageConsumption(
                    code @ (RDKafkaErrorCode::UnknownTopicOrPartition
                    | RDKafkaErrorCode::UnknownTopic
                    | RDKafkaErrorCode::TopicAuthorizationFailed
                    | RDKafkaErrorCode::GroupAuthorizationFailed),
                ))) => {
                    return Err(super::error(
                        format!("reading topic `{}`", self.opts.kafka.topic),
                        code,
                    ))
                }
                // Transient trouble (a broker restarting, a timeout):
                // librdkafka retries; say so (once in a while) and go on.
                Some(Err(e)) => {
                    let text = e.to_string();
                    let repeat = self
                        .last_warning
                        .as_ref()
                        .is_some_and(|(t, at)| *t == text && at.elapsed() < WARN_EVERY);
                    if !repeat {
                        eprintln!("percore: Kafka: {text} (librdkafka retries)");
                        self.last_warning = Some((text, Instant::now()));
                    }
                }
            }
        }
        if self.consumer.context().revoked_read.load(Ordering::Relaxed) && self.opts.stateful {
            self.revoked.store(true, Ordering::Relaxed);
            return Err(Error::Config(format!(
                "Kafka: partitions of `{}` this core read from were reassigned (a consumer joined or left the group); \
                 the query's state cannot be split by partition, so this run stops and resumes from the committed offsets",
                self.opts.kafka.topic
            )));
        }
        Ok(())
    }

    /// Whether every assigned partition has been read to its end, with the
    /// group settled and quiet for `settle` (a core whose assignment just
    /// changed, or is empty while others join, is not done yet).
    fn caught_up(&self) -> Result<bool> {
        let ctx = self.consumer.context();
        if !ctx.ready(&self.consumer)? {
            if !ctx.joined.load(Ordering::Relaxed) && self.opened.elapsed() > ASSIGN_TIMEOUT {
                return Err(super::error(
                    format!(
                        "no partitions of `{}` assigned in group `{}` after {} s",
                        self.opts.kafka.topic,
                        self.opts.kafka.group_id,
                        ASSIGN_TIMEOUT.as_secs()
                    ),
                    format!("are the brokers ({}) reachable?", self.opts.kafka.brokers),
                ));
            }
            return Ok(false);
        }
        if !ctx.group.quiet() {
            return Ok(false);
        }
        let assigned = self
            .consumer
            .assignment()
            .map_err(|e| super::error("reading the assignment", e))?;
        Ok(assigned
            .elements()
            .iter()
            .all(|e| self.at_end.get(&e.partition()).copied().unwrap_or(false)))
    }
}

impl Source for KafkaSource {
    fn fill(&mut self) -> Option<Fill<'_>> {
        if self.ready.is_some() || self.done {
            return None;
        }
        if let Some(e) = self.pending.take() {
            return Some(Box::pin(async move { Err(e) }));
        }
        let step = self.poll().and_then(|()| {
            if !self.msgs.is_empty() {
                self.build();
                return Ok(true);
            }
            if self.opts.stop_at_end {
                let group = self.consumer.context().group.clone();
                if !self.finished && self.caught_up()? {
                    self.finished = true;
                    group.finished.fetch_add(1, Ordering::Relaxed);
                }
                // Every core ends together: until then a finished core still
                // answers rebalances (and reads what new partitions bring).
                if self.finished && group.finished.load(Ordering::Relaxed) >= self.parts {
                    self.done = true;
                    return Ok(true);
                }
            } else {
                self.consumer.context().ready(&self.consumer)?;
            }
            Ok(false)
        });
        match step {
            Ok(true) if self.ready.is_some() || self.done => None,
            Ok(true) => {
                // Every message was malformed (skipped) or an error waits.
                let e = self.pending.take();
                Some(Box::pin(async move { e.map_or(Ok(()), Err) }))
            }
            Ok(false) => Some(Box::pin(async {
                glommio::timer::sleep(Duration::from_millis(1)).await;
                Ok(())
            })),
            Err(e) => Some(Box::pin(async move { Err(e) })),
        }
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        // Rows before a bad one go out first; the error with the next call.
        if self.ready.is_none() {
            if let Some(e) = self.pending.take() {
                return Err(e);
            }
        }
        for (p, o) in self.handed.drain() {
            self.delivered.push((self.core, p, o));
        }
        Ok(self.ready.take())
    }

    fn malformed_rows(&self) -> u64 {
        self.malformed
    }

    fn row_positions(&self) -> Option<&[i64]> {
        Some(&self.positions)
    }

    fn idle(&self) -> bool {
        if !self.max_time.is_empty() {
            // It read rows: its own bound says how far it has come.
            return false;
        }
        // A core that finished (it reads nothing more in this run), or, in
        // an unbounded run, one left without partitions once the group is
        // quiet. One whose partitions are still on their way is not idle:
        // the watermark must not run ahead of them.
        let ctx = self.consumer.context();
        self.finished
            || (!self.opts.stop_at_end
                && ctx.resumed.load(Ordering::Relaxed)
                && ctx.group.quiet()
                && self.consumer.assignment().is_ok_and(|a| a.count() == 0))
    }

    fn event_time_bound(&self) -> Option<Option<i64>> {
        self.opts.time.as_ref()?;
        // The least over assigned partitions still being read; one that has
        // shown no event time yet holds everything back.
        let assigned = self.consumer.assignment().ok()?;
        let mut bound: Option<i64> = None;
        let mut reading = false;
        for e in assigned.elements() {
            let p = e.partition();
            if self.at_end.get(&p).copied().unwrap_or(false) {
                continue;
            }
            reading = true;
            let Some(t) = self.max_time.get(&p) else {
                return Some(None);
            };
            bound = Some(bound.map_or(*t, |b| b.min(*t)));
        }
        if !reading {
            // Every partition is read to its end: all of it counts.
            bound = self.max_time.values().copied().max();
        }
        Some(bound)
    }
}

#[cfg(test)]
mod tests;
