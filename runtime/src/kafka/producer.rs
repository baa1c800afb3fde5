//! The Kafka sink: one producer per core, one message per result row.
//!
//! Contract: a core encodes its own rows (JSON lines or CSV, as the run's
//! output format) and hands each row to its own producer, keyed by the text
//! of the key column when one is named; keyed messages go to partitions by
//! murmur2, like Kafka's Java clients. [`KafkaOutput::flush`] waits until
//! every message is acknowledged and fails if any delivery failed — the
//! caller commits source offsets only after that.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use arrow_array::RecordBatch;
use percore_operators::codec::write::value_text;
use percore_operators::{Error, Result, SqlType};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;

/// Where results go in Kafka.
#[derive(Clone, Debug, Default)]
pub struct KafkaOutputOptions {
    pub brokers: String,
    pub topic: String,
    /// Other producer settings, passed to librdkafka as they are.
    pub client: Vec<(String, String)>,
    /// Create the topic with this many partitions if it does not exist.
    pub partitions: Option<i32>,
    /// The output column whose text keys each message (and its type).
    pub key: Option<(usize, SqlType)>,
}

/// Counts failed deliveries (librdkafka reports them on the producing core).
#[derive(Default)]
struct Deliveries {
    failed: AtomicU64,
    first_error: OnceLock<String>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            let _ = self.first_error.set(e.to_string());
        }
    }
}

/// A topic every core produces its result rows to.
pub struct KafkaOutput {
    opts: KafkaOutputOptions,
    producers: Vec<BaseProducer<Deliveries>>,
}

impl KafkaOutput {
    /// Producers for `cores` cores; creates the topic first when asked to.
    pub fn new(opts: KafkaOutputOptions, cores: usize) -> Result<Self> {
        if let Some(n) = opts.partitions {
            create_topic(&opts, n)?;
        }
        let producers = (0..cores.max(1))
            .map(|core| {
                let mut c = super::client_config(&opts.brokers, &[]);
                c.set("client.id", format!("percore-out{core}"))
                    .set("partitioner", "murmur2_random")
                    // Larger batches: fewer, bigger fetches for readers.
                    .set("linger.ms", "20")
                    .set("batch.num.messages", "100000");
                for (k, v) in &opts.client {
                    c.set(k, v);
                }
                c.create_with_context(Deliveries::default()).map_err(|e| {
                    super::error(format!("creating a producer for {}", opts.brokers), e)
                })
            })
            .collect::<Result<_>>()?;
        Ok(KafkaOutput { opts, producers })
    }

    /// Sends every row of `batch` from `core`'s producer. `encode` writes
    /// rows as text; `lines`: each row is one line of its output (JSON lines),
    /// otherwise rows are encoded one at a time (CSV may quote newlines).
    pub fn send(
        &self,
        core: usize,
        batch: &RecordBatch,
        encode: &dyn Fn(&RecordBatch, &mut Vec<u8>),
        lines: bool,
    ) -> std::io::Result<()> {
        let p = &self.producers[core % self.producers.len()];
        let mut buf = Vec::with_capacity(batch.num_rows() * 96);
        let mut rows: Vec<std::ops::Range<usize>> = Vec::with_capacity(batch.num_rows());
        if lines {
            encode(batch, &mut buf);
            let mut start = 0;
            for (i, b) in buf.iter().enumerate() {
                if *b == b'\n' {
                    rows.push(start..i);
                    start = i + 1;
                }
            }
        } else {
            for i in 0..batch.num_rows() {
                let start = buf.len();
                encode(&batch.slice(i, 1), &mut buf);
                let end = if buf.last() == Some(&b'\n') {
                    buf.len() - 1
                } else {
                    buf.len()
                };
                rows.push(start..end);
            }
        }
        for (i, range) in rows.into_iter().enumerate() {
            let key = self
                .opts
                .key
                .and_then(|(col, ty)| value_text(batch.column(col).as_ref(), ty, i));
            let mut record: BaseRecord<'_, str, [u8]> =
                BaseRecord::to(&self.opts.topic).payload(&buf[range]);
            if let Some(k) = key.as_deref() {
                record = record.key(k);
            }
            loop {
                match p.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                        // Backpressure: let deliveries complete, then retry.
                        p.poll(Duration::from_millis(10));
                        record = r;
                    }
                    Err((e, _)) => {
                        return Err(std::io::Error::other(format!(
                            "Kafka: producing to `{}`: {e}",
                            self.opts.topic
                        )))
                    }
                }
            }
        }
        p.poll(Duration::ZERO);
        Ok(())
    }

    /// Waits until every message sent is acknowledged; fails if any was not.
    pub fn flush(&self, timeout: Duration) -> Result<u64> {
        let mut sent = 0;
        for p in &self.producers {
            p.flush(timeout)
                .map_err(|e| super::error(format!("flushing to `{}`", self.opts.topic), e))?;
            let ctx = p.context();
            let failed = ctx.failed.load(Ordering::Relaxed);
            if failed > 0 {
                return Err(Error::Config(format!(
                    "Kafka: {failed} messages to `{}` were not delivered: {}",
                    self.opts.topic,
                    ctx.first_error.get().map_or("", String::as_str)
                )));
            }
            sent += 1;
        }
        Ok(sent)
    }
}

/// Creates `topic` with `partitions` partitions unless it exists.
fn create_topic(opts: &KafkaOutputOptions, partitions: i32) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> =
        super::client_config(&opts.brokers, &opts.client)
            .create()
            .map_err(|e| super::error(format!("connecting to {}", opts.brokers), e))?;
    let topic = NewTopic::new(&opts.topic, partitions, TopicReplication::Fixed(1));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = futures_lite::future::block_on(admin.create_topics([&topic], &options))
        .map_err(|e| super::error(format!("creating topic `{}`", opts.topic), e))?;
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(super::error(format!("creating topic `{name}`"), code));
            }
        }
    }
    Ok(())
}
