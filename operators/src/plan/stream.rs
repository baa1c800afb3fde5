//! A declared stream: its columns, its input format, its event-time
//! settings and its Kafka options, as `CREATE STREAM` states them.

use crate::types::Column;

/// The input file format of a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    JsonLines,
}

impl Format {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "jsonl" | "json" | "ndjson" | "jsonlines" => Some(Format::JsonLines),
            _ => None,
        }
    }
}

/// A declared source stream: its schema and how to read it.
#[derive(Clone, Debug)]
pub struct StreamDef {
    pub name: String,
    pub columns: Vec<Column>,
    pub path: Option<String>,
    pub format: Option<Format>,
    /// Allowed lateness in milliseconds (watermark = max event time − lateness).
    pub lateness_ms: i64,
    /// The column that carries event time, when the stream has one.
    pub event_time: Option<String>,
    /// Read from a Kafka topic instead of a file (`connector = 'kafka'`).
    pub kafka: Option<KafkaOptions>,
}

/// Where a Kafka stream reads from. Its rows carry the hidden columns
/// [`crate::catalog::KAFKA_HIDDEN`] after the declared ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KafkaOptions {
    /// `host:port[,host:port...]`.
    pub brokers: String,
    pub topic: String,
    /// The consumer group every core of every process joins.
    pub group_id: String,
    /// Other client settings, passed to librdkafka as they are
    /// (`kafka.session.timeout.ms = '6000'` becomes `session.timeout.ms`).
    pub client: Vec<(String, String)>,
    /// The column whose text keys every message (`key = 'symbol'`): rows
    /// with equal values share a partition, so when the query's keys include
    /// it each core owns the keys of what it reads and no exchange is needed.
    pub key: Option<String>,
    /// How long a new consumer waits, with its partitions paused, for the
    /// group to settle before it reads (so processes started together split
    /// the partitions before any state is built).
    pub settle_ms: u64,
}

/// Default of [`KafkaOptions::settle_ms`]: longer than Kafka's own
/// `group.initial.rebalance.delay.ms` (3 s), which some brokers also apply
/// to every member joining after the first.
pub const KAFKA_SETTLE_MS: u64 = 5_000;

impl KafkaOptions {
    /// Sets one option by name (`brokers`, `topic`, `group_id`, `settle_ms`,
    /// or `kafka.*`); `Ok(false)` if the name is not a Kafka option.
    pub fn set(&mut self, key: &str, value: &str) -> std::result::Result<bool, String> {
        match key {
            "brokers" | "bootstrap_servers" => self.brokers = value.to_string(),
            "topic" => self.topic = value.to_string(),
            "group_id" | "group" => self.group_id = value.to_string(),
            "key" => self.key = Some(value.to_string()),
            "settle_ms" => {
                self.settle_ms = value
                    .parse()
                    .map_err(|_| format!("settle_ms must be a number of ms, got '{value}'"))?
            }
            k => match k.strip_prefix("kafka.") {
                Some(name) if !name.is_empty() => {
                    self.client.push((name.to_string(), value.to_string()))
                }
                _ => return Ok(false),
            },
        }
        Ok(true)
    }

    /// The first required option that is missing.
    pub fn missing(&self) -> Option<&'static str> {
        [
            ("brokers", &self.brokers),
            ("topic", &self.topic),
            ("group_id", &self.group_id),
        ]
        .into_iter()
        .find(|(_, v)| v.is_empty())
        .map(|(k, _)| k)
    }
}

impl StreamDef {
    /// Turns this stream into one read from Kafka: the hidden columns are
    /// appended (an error if a declared column already uses one's name).
    pub fn make_kafka(&mut self, options: KafkaOptions) -> std::result::Result<(), String> {
        if let Some(k) = &options.key {
            if self.column_index(k).is_none() || crate::catalog::is_hidden(k) {
                return Err(format!(
                    "key column `{k}` is not a declared column of stream `{}`",
                    self.name
                ));
            }
        }
        if self.kafka.is_none() {
            for c in crate::catalog::kafka_hidden_columns() {
                if self.column_index(&c.name).is_some() {
                    return Err(format!(
                        "column `{}` is reserved in a Kafka stream (it carries the message's {})",
                        c.name,
                        c.name.trim_start_matches('_')
                    ));
                }
                self.columns.push(c);
            }
        }
        self.path = None;
        self.kafka = Some(options);
        Ok(())
    }

    /// The columns a reader fills from the data (without Kafka's hidden ones).
    pub fn data_columns(&self) -> &[Column] {
        let hidden = if self.kafka.is_some() {
            crate::catalog::KAFKA_HIDDEN.len()
        } else {
            0
        };
        &self.columns[..self.columns.len() - hidden]
    }

    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
    }
}
