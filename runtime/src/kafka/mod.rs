//! Kafka sources and sinks (feature `kafka`), through librdkafka (`rdkafka`,
//! built from source), driven from the glommio executors without tokio.
//!
//! Contract:
//! - **one consumer per core**: every core of every process joins the
//!   stream's consumer group with its own `BaseConsumer`, so Kafka assigns
//!   partitions to cores directly and each core reads only its own; it polls
//!   without blocking and waits on its executor's timer when nothing came;
//! - **settling**: a new consumer keeps its partitions paused until its
//!   assignment has not changed for `settle_ms` (default 5 s; Kafka itself
//!   delays a new group's first assignment by 3 s), so processes started
//!   together split the partitions before any state is built;
//! - **rows**: each message holds one row (JSON lines or CSV without a
//!   header); the hidden columns `_key`, `_partition`, `_offset` and
//!   `_timestamp` follow the declared ones; rows are ordered (event-time ties)
//!   by `(offset, partition)`, the same in any process;
//! - **at-least-once**: offsets are committed only by [`KafkaInput::commit`],
//!   which the caller runs after every sink has flushed the run's output
//!   (librdkafka's auto-commit and offset store are off); a run that stops
//!   without that commit resumes, next time, from the last committed offsets,
//!   so rows may repeat, never go missing;
//! - **rebalancing**: assignment is cooperative (`cooperative-sticky`): only
//!   the partitions that move are revoked. A stateless query keeps going. A
//!   query with keyed state cannot split its state by partition, so when a
//!   partition it has read from is revoked the run stops and
//!   [`KafkaInput::take_revoked`] says so; the caller drops the state and
//!   runs again on the same consumers, which first seek back to the
//!   committed offsets. Nothing is committed for the stopped run: its rows
//!   are read again by whoever owns them now (output may repeat; state is
//!   never mixed);
//! - **event time**: each partition is in event-time order only on its own,
//!   so the watermark follows the slowest partition still being read (the
//!   least of each partition's greatest event time), not the greatest time
//!   of any row;
//! - **bounded runs** (`stop_at_end`): a core has finished when its
//!   assignment has not changed for `settle_ms` and every partition in it is
//!   read to its end; the run ends when every core of the process has
//!   finished (until then a finished core still answers rebalances). After
//!   the commit, [`KafkaInput::group_progress`] tells whether the whole group
//!   is done, or partitions with uncommitted rows came here (a member died:
//!   run again), or others still read (wait, serving rebalances with
//!   [`KafkaInput::idle`]).

mod group;
mod input;
mod producer;
mod share;

pub use input::{GroupProgress, KafkaInput, KafkaInputOptions};
pub use producer::{KafkaOutput, KafkaOutputOptions};

use rdkafka::ClientConfig;

/// A client configuration: the brokers, then `client` settings as given.
fn client_config(brokers: &str, client: &[(String, String)]) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers);
    for (k, v) in client {
        c.set(k, v);
    }
    c
}

/// A Kafka error as a percore error naming what was being done.
fn error(context: impl std::fmt::Display, e: impl std::fmt::Display) -> percore_operators::Error {
    percore_operators::Error::Config(format!("Kafka: {context}: {e}"))
}
