//! The Kafka source as a whole: one group consumer per core, kept across
//! runs; commits; where the group stands after a bounded run.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_queue::SegQueue;
use percore_operators::codec::OnError;
use percore_operators::plan::KafkaOptions;
use percore_operators::state::TimeColumn;
use percore_operators::{Column, Error, Format, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::group::{CoreContext, Group};
use super::share::KafkaSource;
use crate::source::{Partition, PartitionedSource};

/// How a Kafka stream is read.
#[derive(Clone, Debug)]
pub struct KafkaInputOptions {
    pub kafka: KafkaOptions,
    pub format: Format,
    /// The stream's columns, hidden ones last (as the plan has them).
    pub columns: Vec<Column>,
    /// Most rows per batch.
    pub batch_size: usize,
    pub on_error: OnError,
    /// End each core's input once its partitions are read to their end.
    pub stop_at_end: bool,
    /// The query keeps keyed state: a revoked partition stops the run.
    pub stateful: bool,
    /// The column (index in `columns`) the topic is keyed by: every row's
    /// message key must be its text, or the run fails (the exchange may
    /// have been skipped on that promise).
    pub key: Option<usize>,
    /// The event-time column the watermark follows, if any: tracked per
    /// partition (see [`crate::Source::event_time_bound`]).
    pub time: Option<TimeColumn>,
}

/// Where a consumer group stands after this process's bounded run.
#[derive(Debug, PartialEq, Eq)]
pub enum GroupProgress {
    /// Every partition of the topic is committed to its end.
    Done,
    /// Partitions now assigned here hold uncommitted rows: run again.
    RunAgain,
    /// Other members still read these partitions.
    Wait(Vec<i32>),
}

/// A Kafka topic read by every core through its own group consumer.
/// Consumers live as long as this value, across runs (see
/// [`KafkaInput::take_revoked`]).
pub struct KafkaInput {
    opts: Arc<KafkaInputOptions>,
    consumers: Vec<OnceLock<Arc<BaseConsumer<CoreContext>>>>,
    revoked: Arc<AtomicBool>,
    /// `(core, partition, next offset)` after each batch a core handed to
    /// its pipeline: what may be committed once the output is flushed.
    delivered: Arc<SegQueue<(usize, i32, i64)>>,
    group: Arc<Group>,
}

impl KafkaInput {
    /// A source for up to `cores` cores. Nothing connects until a core opens
    /// its share.
    pub fn new(opts: KafkaInputOptions, cores: usize) -> Self {
        let settle = Duration::from_millis(opts.kafka.settle_ms);
        KafkaInput {
            opts: Arc::new(opts),
            consumers: (0..cores).map(|_| OnceLock::new()).collect(),
            revoked: Arc::new(AtomicBool::new(false)),
            delivered: Arc::new(SegQueue::new()),
            group: Arc::new(Group {
                settle,
                born: Instant::now(),
                cores: AtomicUsize::new(0),
                joined: AtomicUsize::new(0),
                last_change_ms: AtomicU64::new(0),
                settled: AtomicBool::new(false),
                finished: AtomicUsize::new(0),
            }),
        }
    }

    /// Whether the last run stopped because a partition it read from was
    /// revoked (and clears the flag): run again to resume.
    /// Call before every run: the cores of the new run have finished nothing.
    pub fn begin_run(&self) {
        self.group.finished.store(0, Ordering::Relaxed);
    }

    pub fn take_revoked(&self) -> bool {
        let revoked = self.revoked.swap(false, Ordering::Relaxed);
        if revoked {
            // The stopped run's rows are read again: none of it is committed.
            while self.delivered.pop().is_some() {}
        }
        revoked
    }

    /// Commits, for every partition a core still owns, the offset after the
    /// last row it handed to its pipeline (synchronously). Call it only after
    /// the output of those rows has been flushed. Returns the number of
    /// partitions committed.
    pub fn commit(&self) -> Result<usize> {
        let mut next: HashMap<(usize, i32), i64> = HashMap::new();
        while let Some((core, p, o)) = self.delivered.pop() {
            next.insert((core, p), o);
        }
        let mut n = 0;
        for (core, c) in self.consumers.iter().enumerate() {
            let Some(c) = c.get() else { continue };
            // A partition that moved on is its new owner's to commit.
            let owned = c
                .assignment()
                .map_err(|e| super::error("reading the assignment", e))?;
            let mut tpl = TopicPartitionList::new();
            for e in owned.elements() {
                if let Some(o) = next.get(&(core, e.partition())) {
                    tpl.add_partition_offset(e.topic(), e.partition(), Offset::Offset(*o))
                        .map_err(|e| super::error("committing", e))?;
                }
            }
            if tpl.count() > 0 {
                c.commit(&tpl, rdkafka::consumer::CommitMode::Sync)
                    .map_err(|e| super::error("committing offsets", e))?;
                n += tpl.count();
            }
        }
        Ok(n)
    }

    /// After a bounded run was committed: where the whole group stands.
    pub fn group_progress(&self) -> Result<GroupProgress> {
        let Some(any) = self.consumers.iter().find_map(OnceLock::get) else {
            return Ok(GroupProgress::Done);
        };
        let topic = &self.opts.kafka.topic;
        let t = Duration::from_secs(10);
        let meta = any
            .fetch_metadata(Some(topic), t)
            .map_err(|e| super::error(format!("reading the partitions of `{topic}`"), e))?;
        let mut all = TopicPartitionList::new();
        for m in meta.topics().iter().filter(|m| m.name() == topic) {
            for p in m.partitions() {
                all.add_partition(topic, p.id());
            }
        }
        let committed = any
            .committed_offsets(all, t)
            .map_err(|e| super::error("reading the group's committed offsets", e))?;
        let mut behind = Vec::new();
        for e in committed.elements() {
            let (low, high) = any
                .fetch_watermarks(topic, e.partition(), t)
                .map_err(|err| {
                    super::error(format!("reading partition {}'s end", e.partition()), err)
                })?;
            let at = match e.offset() {
                Offset::Offset(o) => o,
                _ => low,
            };
            if at < high {
                behind.push(e.partition());
            }
        }
        if behind.is_empty() {
            return Ok(GroupProgress::Done);
        }
        for c in self.consumers.iter().filter_map(OnceLock::get) {
            let mine = c
                .assignment()
                .map_err(|e| super::error("reading the assignment", e))?;
            if mine
                .elements()
                .iter()
                .any(|e| behind.contains(&e.partition()))
            {
                return Ok(GroupProgress::RunAgain);
            }
        }
        Ok(GroupProgress::Wait(behind))
    }

    /// Serves every consumer's callbacks (rebalances) for about `d`, while
    /// no run reads. What a poll returns is dropped: the next run starts
    /// from the committed offsets.
    pub fn idle(&self, d: Duration) {
        let until = Instant::now() + d;
        while Instant::now() < until {
            for c in self.consumers.iter().filter_map(OnceLock::get) {
                let _ = c.poll(Duration::ZERO);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn consumer(&self, core: usize) -> Result<(Arc<BaseConsumer<CoreContext>>, bool)> {
        let slot = self.consumers.get(core).ok_or_else(|| {
            Error::Config(format!("Kafka source: no consumer slot for core {core}"))
        })?;
        if let Some(c) = slot.get() {
            return Ok((c.clone(), false));
        }
        let k = &self.opts.kafka;
        let mut config = super::client_config(&k.brokers, &[]);
        config
            .set("group.id", &k.group_id)
            .set("client.id", format!("percore-core{core}"))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            .set("auto.offset.reset", "earliest")
            .set("partition.assignment.strategy", "cooperative-sticky")
            // Fetch in larger pieces: a broker answering every fetch at
            // once with one small batch bounds throughput (Tansu: 0.13M
            // rec/s at librdkafka's defaults, 0.24M with these); costs at
            // most `fetch.wait.max.ms` of latency at low load.
            .set("fetch.min.bytes", "262144")
            .set("fetch.wait.max.ms", "20");
        for (key, v) in &k.client {
            config.set(key, v);
        }
        let ctx = CoreContext {
            group: self.group.clone(),
            joined: AtomicBool::new(false),
            resumed: AtomicBool::new(false),
            read: AtomicU64::new(0),
            revoked_read: AtomicBool::new(false),
        };
        let consumer: BaseConsumer<CoreContext> = config
            .create_with_context(ctx)
            .map_err(|e| super::error(format!("creating a consumer for {}", k.brokers), e))?;
        consumer
            .subscribe(&[&k.topic])
            .map_err(|e| super::error(format!("subscribing to `{}`", k.topic), e))?;
        let consumer = Arc::new(consumer);
        let _ = slot.set(consumer.clone());
        Ok((consumer, true))
    }
}

impl PartitionedSource for KafkaInput {
    fn open(&self, part: usize, parts: usize) -> Result<Option<Partition>> {
        self.group.cores.store(parts, Ordering::Relaxed);
        let (consumer, fresh) = self.consumer(part)?;
        let ctx = consumer.context();
        ctx.read.store(0, Ordering::Relaxed);
        ctx.revoked_read.store(false, Ordering::Relaxed);
        if !fresh {
            // A run after a stopped one: start again from what is committed.
            seek_to_committed(&consumer, &self.opts.kafka)?;
            // Partitions a finished core held back are read now.
            if ctx.resumed.load(Ordering::Relaxed) {
                let assigned = consumer
                    .assignment()
                    .map_err(|e| super::error("reading the assignment", e))?;
                if assigned.count() > 0 {
                    consumer
                        .resume(&assigned)
                        .map_err(|e| super::error("resuming partitions", e))?;
                }
            }
        }
        Ok(Some(Partition {
            source: Box::new(KafkaSource::new(
                consumer,
                self.opts.clone(),
                self.revoked.clone(),
                self.delivered.clone(),
                part,
                parts,
            )),
            first_seq: 0,
            seq_stride: 1,
        }))
    }
}

/// Moves every assigned partition back to its committed offset (or to the
/// start, or end, that `auto.offset.reset` names when nothing is committed).
fn seek_to_committed(c: &BaseConsumer<CoreContext>, k: &KafkaOptions) -> Result<()> {
    let assigned = c
        .assignment()
        .map_err(|e| super::error("reading the assignment", e))?;
    if assigned.count() == 0 {
        return Ok(());
    }
    let committed = c
        .committed_offsets(assigned, Duration::from_secs(10))
        .map_err(|e| super::error("reading committed offsets", e))?;
    let latest = k.client.iter().any(|(key, v)| {
        key == "auto.offset.reset" && matches!(v.as_str(), "latest" | "end" | "largest")
    });
    let mut tpl = TopicPartitionList::new();
    for e in committed.elements() {
        let to = match e.offset() {
            Offset::Offset(o) => Offset::Offset(o),
            _ if latest => Offset::End,
            _ => Offset::Beginning,
        };
        tpl.add_partition_offset(e.topic(), e.partition(), to)
            .map_err(|e| super::error("seeking", e))?;
    }
    let result = c
        .seek_partitions(tpl, Duration::from_secs(10))
        .map_err(|e| super::error("seeking to committed offsets", e))?;
    for e in result.elements() {
        if let Err(err) = e.error() {
            return Err(super::error(
                format!(
                    "seeking partition {} to its committed offset",
                    e.partition()
                ),
                err,
            ));
        }
    }
    Ok(())
}
