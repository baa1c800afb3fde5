//! The Kafka source: one group consumer per core (see the module contract in
//! [`super`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use crossbeam_queue::SegQueue;
use percore_operators::codec::csv::CsvReader;
use percore_operators::codec::jsonl::JsonLinesReader;
use percore_operators::codec::write::value_text;
use percore_operators::codec::OnError;
use percore_operators::plan::KafkaOptions;
use percore_operators::state::TimeColumn;
use percore_operators::types::arrow_schema;
use percore_operators::{Column, Error, Format, Result};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;

use crate::source::{Fill, Partition, PartitionedSource, Source};

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
    /// partition (see [`Source::event_time_bound`]).
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

/// A transient error repeats on stderr at most this often.
const WARN_EVERY: Duration = Duration::from_secs(5);

/// How long a consumer may wait for its first assignment.
const ASSIGN_TIMEOUT: Duration = Duration::from_secs(60);

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
            .set("partition.assignment.strategy", "cooperative-sticky");
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
        }
        Ok(Some(Partition {
            source: Box::new(KafkaSource {
                consumer,
                opts: self.opts.clone(),
                revoked: self.revoked.clone(),
                delivered: self.delivered.clone(),
                core: part,
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
                opened: Instant::now(),
            }),
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

/// What the cores of one process know about their group, shared by every
/// core's consumer callbacks (atomics only: each core writes its own moments,
/// the others read them).
struct Group {
    settle: Duration,
    born: Instant,
    /// Cores opened in the current run.
    cores: AtomicUsize,
    /// Cores whose consumer has had its first assignment (even an empty one).
    joined: AtomicUsize,
    /// When any core's assignment last changed (ms since `born`).
    last_change_ms: AtomicU64,
    /// Set once: every core joined and nothing changed for `settle`.
    settled: AtomicBool,
    /// Cores of the current run that have read everything (`stop_at_end`).
    finished: AtomicUsize,
}

impl Group {
    fn now_ms(&self) -> u64 {
        self.born.elapsed().as_millis() as u64
    }

    /// Whether the assignment has been quiet for `settle` (and every core
    /// has joined); once true, true for good.
    fn settled(&self) -> bool {
        if self.settled.load(Ordering::Relaxed) {
            return true;
        }
        let cores = self.cores.load(Ordering::Relaxed);
        if cores == 0 || self.joined.load(Ordering::Relaxed) < cores || !self.quiet() {
            return false;
        }
        self.settled.store(true, Ordering::Relaxed);
        true
    }

    /// No assignment has changed for `settle`.
    fn quiet(&self) -> bool {
        let last = self.last_change_ms.load(Ordering::Relaxed);
        self.now_ms().saturating_sub(last) >= self.settle.as_millis() as u64
    }
}

/// Callbacks librdkafka runs on the polling core, inside `poll`.
struct CoreContext {
    group: Arc<Group>,
    /// This consumer has had an assignment.
    joined: AtomicBool,
    /// This consumer's partitions run (after the group settled).
    resumed: AtomicBool,
    /// Partitions read from in this run (bit `p % 64`).
    read: AtomicU64,
    /// A partition read from in this run was revoked.
    revoked_read: AtomicBool,
}

impl ClientContext for CoreContext {}

impl ConsumerContext for CoreContext {
    fn pre_rebalance(&self, _c: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let read = self.read.load(Ordering::Relaxed);
            if tpl
                .elements()
                .iter()
                .any(|e| read & (1u64 << (e.partition().rem_euclid(64))) != 0)
            {
                self.revoked_read.store(true, Ordering::Relaxed);
            }
        }
    }

    fn post_rebalance(&self, c: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            let g = &self.group;
            g.last_change_ms.store(g.now_ms(), Ordering::Relaxed);
            if !self.joined.swap(true, Ordering::Relaxed) {
                g.joined.fetch_add(1, Ordering::Relaxed);
            }
            if !self.resumed.load(Ordering::Relaxed) && tpl.count() > 0 {
                // Hold the new partitions until the group settles.
                let _ = c.pause(tpl);
            }
        }
    }
}

impl CoreContext {
    /// Whether this core may read: the group has settled (its partitions
    /// are resumed the first time this says so).
    fn ready(&self, c: &BaseConsumer<Self>) -> Result<bool> {
        if self.resumed.load(Ordering::Relaxed) {
            return Ok(true);
        }
        if !self.group.settled() {
            return Ok(false);
        }
        self.resumed.store(true, Ordering::Relaxed);
        let assigned = c
            .assignment()
            .map_err(|e| super::error("reading the assignment", e))?;
        if assigned.count() > 0 {
            c.resume(&assigned)
                .map_err(|e| super::error("resuming partitions", e))?;
        }
        Ok(true)
    }
}

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
struct KafkaSource {
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
    opened: Instant,
}

impl KafkaSource {
    /// Takes what the consumer has (without blocking), up to a batch.
    fn poll(&mut self) -> Result<()> {
        let c = self.consumer.clone();
        while self.msgs.len() < self.opts.batch_size.max(1) {
            match c.poll(Duration::ZERO) {
                None => break,
                Some(Ok(m)) => {
                    let p = m.partition();
                    self.at_end.insert(p, false);
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

    /// Checks each row's message key is the text of the key column.
    fn check_keys(&mut self, batch: &RecordBatch, idx: &[usize]) {
        let Some(col) = self.opts.key else { return };
        let ty = self.opts.columns[col].ty;
        let values = batch.column(col);
        for (row, i) in idx.iter().enumerate() {
            let m = &self.msgs[*i];
            let text = value_text(values.as_ref(), ty, row);
            if m.key != text {
                self.pending.get_or_insert_with(|| {
                    Error::Config(format!(
                        "Kafka topic {} partition {} offset {}: the message key is {:?} but column `{}` is {:?}: \
                         the topic is not keyed by `{}` (drop key = '...' from the stream)",
                        self.opts.kafka.topic,
                        m.partition,
                        m.offset,
                        m.key,
                        self.opts.columns[col].name,
                        text,
                        self.opts.columns[col].name
                    ))
                });
                return;
            }
        }
    }

    /// Parses the collected messages into one batch (hidden columns last).
    fn build(&mut self) {
        let data_cols = &self.opts.columns[..self.opts.columns.len() - 4];
        let name = format!("kafka topic {}", self.opts.kafka.topic);
        let mut batches = Vec::new();
        let mut positions: Vec<i64> = Vec::new();
        let mut error = None;
        let rows_cap = self.msgs.len().max(1);
        let mut take = |next: &mut dyn FnMut() -> Result<Option<RecordBatch>>,
                        pos: &dyn Fn() -> Vec<i64>| loop {
            match next() {
                Ok(Some(b)) => {
                    batches.push(b);
                    positions.extend(pos());
                }
                Ok(None) => break,
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        };
        let malformed = match self.opts.format {
            Format::JsonLines => {
                let r = std::cell::RefCell::new(JsonLinesReader::new(
                    name,
                    &self.buf[..],
                    data_cols,
                    rows_cap,
                    self.opts.on_error,
                ));
                take(&mut || r.borrow_mut().next_batch(), &|| {
                    r.borrow().positions().to_vec()
                });
                let m = r.borrow().malformed_rows();
                m
            }
            Format::Csv => {
                let r = std::cell::RefCell::new(CsvReader::headerless(
                    name,
                    &self.buf[..],
                    data_cols,
                    (0..data_cols.len()).collect(),
                    rows_cap,
                    self.opts.on_error,
                ));
                take(&mut || r.borrow_mut().next_batch(), &|| {
                    r.borrow().positions().to_vec()
                });
                let m = r.borrow().malformed_rows();
                m
            }
        };
        self.malformed += malformed;
        self.pending = error.map(|e| self.locate(e));
        let mut data: Vec<RecordBatch> = batches;
        let data = match data.len() {
            0 => None,
            1 => data.pop(),
            _ => Some(
                arrow_select::concat::concat_batches(&data[0].schema(), &data)
                    .expect("batches of one schema"),
            ),
        };
        self.ready = data.map(|d| self.with_hidden(d, &positions));
        // Every message of the batch counts as read (malformed ones skipped
        // included): the next offset of each partition goes out with it.
        for m in &self.msgs {
            let o = self.handed.entry(m.partition).or_insert(0);
            *o = (*o).max(m.offset + 1);
        }
        self.buf.clear();
        self.msgs.clear();
    }

    /// Appends the hidden columns to `data`, whose rows start at byte
    /// `positions` of the buffer; records each row's order key.
    fn with_hidden(&mut self, data: RecordBatch, positions: &[i64]) -> RecordBatch {
        let idx: Vec<usize> = positions
            .iter()
            .map(|p| {
                self.msgs
                    .partition_point(|m| m.start as i64 <= *p)
                    .saturating_sub(1)
            })
            .collect();
        let m = |i: &usize| &self.msgs[*i];
        let key: ArrayRef = Arc::new(StringArray::from_iter(idx.iter().map(|i| m(i).key.clone())));
        let part: ArrayRef = Arc::new(Int64Array::from_iter_values(
            idx.iter().map(|i| m(i).partition as i64),
        ));
        let off: ArrayRef = Arc::new(Int64Array::from_iter_values(
            idx.iter().map(|i| m(i).offset),
        ));
        let ts: ArrayRef = Arc::new(TimestampMillisecondArray::from_iter(
            idx.iter().map(|i| m(i).timestamp),
        ));
        self.positions = idx
            .iter()
            .map(|i| (m(i).offset << 12) | (m(i).partition as i64 & 0xfff))
            .collect();
        let mut cols = data.columns().to_vec();
        cols.extend([key, part, off, ts]);
        let batch = RecordBatch::try_new(arrow_schema(&self.opts.columns), cols)
            .expect("declared columns, then the hidden ones");
        self.check_keys(&batch, &idx);
        if let Some(t) = &self.opts.time {
            // A bad time value fails the run where the pipeline evaluates it.
            if let Ok((times, nulls)) = t.eval(&batch) {
                for (row, (time, i)) in times.iter().zip(&idx).enumerate() {
                    if nulls.as_ref().is_none_or(|n| n.is_valid(row)) {
                        let m = self
                            .max_time
                            .entry(self.msgs[*i].partition)
                            .or_insert(*time);
                        *m = (*m).max(*time);
                    }
                }
            }
        }
        batch
    }

    /// Names the message a reader's error came from.
    fn locate(&self, e: Error) -> Error {
        let Error::Input {
            line, column, msg, ..
        } = &e
        else {
            return e;
        };
        let i = self
            .msgs
            .partition_point(|m| m.lines_before < *line)
            .saturating_sub(1);
        match self.msgs.get(i) {
            Some(m) => Error::Config(format!(
                "Kafka topic {} partition {} offset {}: column `{column}`: {msg}",
                self.opts.kafka.topic, m.partition, m.offset
            )),
            None => e,
        }
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
