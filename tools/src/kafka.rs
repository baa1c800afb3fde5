//! `kafka://` in the command line: `--source NAME=kafka://...` binds a
//! stream to a topic, `--output kafka://...` (run and gen) writes to one.
//!
//! `kafka://HOST:PORT[,HOST:PORT...]/TOPIC?key=value&...` where the keys are
//! a stream's Kafka options (`group_id`, `format`, `settle_ms`, `kafka.*`
//! passed to librdkafka) or, for outputs, `key` (the column whose text keys
//! each message), `partitions` (create the topic with that many) and
//! `kafka.*`. Without the `kafka` feature every use is a clear error.

use percore_operators::plan::KafkaOptions;

use crate::Failure;

/// A parsed `kafka://` address.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct KafkaUrl {
    pub brokers: String,
    pub topic: String,
    pub params: Vec<(String, String)>,
}

/// Whether `text` names Kafka rather than a file.
pub(crate) fn is_kafka(text: &str) -> bool {
    text.starts_with("kafka://")
}

pub(crate) fn parse_url(text: &str) -> Result<KafkaUrl, Failure> {
    let bad = |why: &str| {
        Failure::usage(format!(
            "{why} in `{text}`; expected kafka://HOST:PORT/TOPIC?key=value&..."
        ))
    };
    let rest = text
        .strip_prefix("kafka://")
        .ok_or_else(|| bad("no kafka:// prefix"))?;
    let (addr, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (brokers, topic) = addr.split_once('/').ok_or_else(|| bad("no /TOPIC"))?;
    if brokers.is_empty() {
        return Err(bad("no brokers"));
    }
    if topic.is_empty() || topic.contains('/') {
        return Err(bad("no topic (or a / in it)"));
    }
    let mut params = Vec::new();
    for kv in query.split('&').filter(|s| !s.is_empty()) {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| bad(&format!("parameter `{kv}` is not key=value")))?;
        params.push((k.to_string(), v.to_string()));
    }
    Ok(KafkaUrl {
        brokers: brokers.to_string(),
        topic: topic.to_string(),
        params,
    })
}

/// A stream's Kafka options from a `--source` URL; also the format it names.
pub(crate) fn source_options(
    url: &KafkaUrl,
) -> Result<(KafkaOptions, Option<percore_operators::Format>), Failure> {
    let mut o = KafkaOptions {
        brokers: url.brokers.clone(),
        topic: url.topic.clone(),
        settle_ms: percore_operators::plan::KAFKA_SETTLE_MS,
        ..Default::default()
    };
    let mut format = None;
    for (k, v) in &url.params {
        if k == "format" {
            format = Some(percore_operators::Format::parse(v).ok_or_else(|| {
                Failure::usage(format!("unknown format '{v}'; use 'csv' or 'jsonl'"))
            })?);
            continue;
        }
        match o.set(k, v) {
            Ok(true) => {}
            Ok(false) => {
                return Err(Failure::usage(format!(
                "unknown Kafka source parameter `{k}`; known: group_id, format, settle_ms, kafka.*"
            )))
            }
            Err(m) => return Err(Failure::usage(m)),
        }
    }
    if let Some(m) = o.missing() {
        return Err(Failure::usage(format!(
            "a Kafka source needs {m}: add ?{m}=... to the kafka:// address"
        )));
    }
    Ok((o, format))
}

#[cfg(feature = "kafka")]
mod enabled {
    use std::sync::Arc;

    use percore_operators::state::TimeColumn;
    use percore_operators::{Column, Format, Plan};
    use percore_runtime::kafka::{KafkaInput, KafkaInputOptions, KafkaOutput, KafkaOutputOptions};

    use super::KafkaUrl;
    use crate::input::InputOptions;
    use crate::Failure;

    pub(crate) type Input = Arc<KafkaInput>;
    pub(crate) type Output = Arc<KafkaOutput>;

    /// The plan's Kafka source, if it reads one.
    pub(crate) fn input(
        plan: &Plan,
        opt: &InputOptions,
        cores: usize,
        stop_at_end: bool,
    ) -> Result<Option<Input>, Failure> {
        let Some(k) = &plan.source.kafka else {
            return Ok(None);
        };
        if opt.rate.is_some() {
            return Err(Failure::usage(
                "--rate paces the built-in generator; it does not apply to Kafka",
            ));
        }
        Ok(Some(Arc::new(KafkaInput::new(
            KafkaInputOptions {
                kafka: k.clone(),
                format: plan.source.format.unwrap_or(Format::JsonLines),
                columns: plan.source.columns.clone(),
                batch_size: opt.batch_size,
                on_error: opt.on_error,
                stop_at_end,
                stateful: plan.exchange_keys().is_some(),
                // The reader evaluates it on whole rows.
                time: plan
                    .watermark_time()
                    .map(|t| TimeColumn(plan.on_source(&t.0))),
                key: k.key.as_deref().and_then(|c| plan.source.column_index(c)),
            },
            cores,
        ))))
    }

    pub(crate) fn parts(i: &Input) -> Arc<dyn percore_runtime::PartitionedSource> {
        i.clone()
    }

    /// Whether the plan reads a topic keyed by one of its exchange keys, so
    /// each core owns the keys of the partitions it reads.
    pub(crate) fn local_keys(plan: &Plan) -> bool {
        plan.source
            .kafka
            .as_ref()
            .and_then(|k| k.key.as_deref())
            .and_then(|c| plan.source.column_index(c))
            .is_some_and(|c| plan.partitioned_by(&[c]))
    }

    pub(crate) fn take_revoked(i: &Input) -> bool {
        i.take_revoked()
    }

    pub(crate) fn begin_run(i: &Input) {
        i.begin_run()
    }

    /// After a committed bounded run: `true` to run again (partitions with
    /// uncommitted rows came to this process), `false` when the whole group
    /// has read the topic to its end. Waits, answering rebalances, while
    /// other members still read (or `stop` is set).
    pub(crate) fn wait_for_group(
        i: &Input,
        stop: &std::sync::atomic::AtomicBool,
    ) -> Result<bool, Failure> {
        use percore_runtime::kafka::GroupProgress;
        let started = std::time::Instant::now();
        let mut said = false;
        loop {
            match i
                .group_progress()
                .map_err(|e| Failure::runtime(e.to_string()))?
            {
                GroupProgress::Done => return Ok(false),
                GroupProgress::RunAgain => return Ok(true),
                GroupProgress::Wait(behind) => {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        return Ok(false);
                    }
                    if !said && started.elapsed() > std::time::Duration::from_secs(5) {
                        eprintln!(
                            "percore: read to the end here; waiting for the group to finish partitions {behind:?}"
                        );
                        said = true;
                    }
                    i.idle(std::time::Duration::from_millis(250));
                }
            }
        }
    }

    pub(crate) fn commit(i: &Input) -> Result<usize, Failure> {
        i.commit()
            .map_err(|e| Failure::runtime(format!("committing offsets: {e}")))
    }

    /// A topic to write rows of `columns` to.
    pub(crate) fn output(
        url: &KafkaUrl,
        columns: &[Column],
        cores: usize,
    ) -> Result<Output, Failure> {
        let mut o = KafkaOutputOptions {
            brokers: url.brokers.clone(),
            topic: url.topic.clone(),
            ..Default::default()
        };
        for (k, v) in &url.params {
            match k.as_str() {
                "key" => {
                    let i = columns
                        .iter()
                        .position(|c| c.name.eq_ignore_ascii_case(v))
                        .ok_or_else(|| {
                            Failure::usage(format!("key column `{v}` is not an output column"))
                        })?;
                    o.key = Some((i, columns[i].ty));
                }
                "partitions" => {
                    o.partitions = Some(v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                        Failure::usage(format!("partitions must be a positive number, got `{v}`"))
                    })?)
                }
                _ => match k.strip_prefix("kafka.") {
                    Some(name) if !name.is_empty() => o.client.push((name.into(), v.clone())),
                    _ => {
                        return Err(Failure::usage(format!(
                            "unknown Kafka output parameter `{k}`; known: key, partitions, kafka.*"
                        )))
                    }
                },
            }
        }
        KafkaOutput::new(o, cores)
            .map(Arc::new)
            .map_err(|e| Failure::runtime(e.to_string()))
    }

    pub(crate) fn send(
        o: &Output,
        core: usize,
        batch: &arrow_array::RecordBatch,
        encode: &dyn Fn(&arrow_array::RecordBatch, &mut Vec<u8>),
        lines: bool,
    ) -> std::io::Result<()> {
        o.send(core, batch, encode, lines)
    }

    pub(crate) fn flush(o: &Output) -> Result<(), Failure> {
        o.flush(std::time::Duration::from_secs(60))
            .map(|_| ())
            .map_err(|e| Failure::runtime(e.to_string()))
    }
}

#[cfg(not(feature = "kafka"))]
mod enabled {
    //! Built without Kafka: nothing can make an `Input` or `Output`; every
    //! entry point that would is an error.
    use std::sync::Arc;

    use percore_operators::{Column, Plan};

    use super::KafkaUrl;
    use crate::input::InputOptions;
    use crate::Failure;

    #[derive(Clone)]
    pub(crate) struct Input(());
    #[derive(Clone)]
    pub(crate) struct Output(());

    const NEVER: &str = "no Kafka input or output exists without the kafka feature";

    fn unsupported() -> Failure {
        Failure::usage(
            "this percore was built without Kafka support; build it with `--features kafka` (needs cmake)",
        )
    }

    pub(crate) fn input(
        plan: &Plan,
        _: &InputOptions,
        _: usize,
        _: bool,
    ) -> Result<Option<Input>, Failure> {
        match plan.source.kafka {
            Some(_) => Err(unsupported()),
            None => Ok(None),
        }
    }

    pub(crate) fn parts(_: &Input) -> Arc<dyn percore_runtime::PartitionedSource> {
        unreachable!("{NEVER}")
    }

    pub(crate) fn take_revoked(_: &Input) -> bool {
        unreachable!("{NEVER}")
    }

    pub(crate) fn local_keys(_: &Plan) -> bool {
        false
    }

    pub(crate) fn begin_run(_: &Input) {
        unreachable!("{NEVER}")
    }

    pub(crate) fn wait_for_group(
        _: &Input,
        _: &std::sync::atomic::AtomicBool,
    ) -> Result<bool, Failure> {
        unreachable!("{NEVER}")
    }

    pub(crate) fn commit(_: &Input) -> Result<usize, Failure> {
        unreachable!("{NEVER}")
    }

    pub(crate) fn output(_: &KafkaUrl, _: &[Column], _: usize) -> Result<Output, Failure> {
        Err(unsupported())
    }

    pub(crate) fn send(
        _: &Output,
        _: usize,
        _: &arrow_array::RecordBatch,
        _: &dyn Fn(&arrow_array::RecordBatch, &mut Vec<u8>),
        _: bool,
    ) -> std::io::Result<()> {
        unreachable!("{NEVER}")
    }

    pub(crate) fn flush(_: &Output) -> Result<(), Failure> {
        unreachable!("{NEVER}")
    }
}

pub(crate) use enabled::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("kafka://a:1,b:2/trades?group_id=g&kafka.session.timeout.ms=6000")
            .ok()
            .unwrap();
        assert_eq!(u.brokers, "a:1,b:2");
        assert_eq!(u.topic, "trades");
        assert_eq!(
            u.params,
            vec![
                ("group_id".to_string(), "g".to_string()),
                ("kafka.session.timeout.ms".to_string(), "6000".to_string())
            ]
        );
        let (o, f) = source_options(&u).ok().unwrap();
        assert_eq!(o.group_id, "g");
        assert_eq!(o.client, vec![("session.timeout.ms".into(), "6000".into())]);
        assert_eq!(f, None);
        for bad in [
            "kafka://",
            "kafka:///t",
            "kafka://h:1",
            "kafka://h:1/",
            "kafka://h:1/t?x",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
        // A source needs its group.
        let u = parse_url("kafka://h:1/t").ok().unwrap();
        assert!(source_options(&u).is_err());
        let u = parse_url("kafka://h:1/t?group_id=g&nope=1").ok().unwrap();
        assert!(source_options(&u).is_err());
    }
}
