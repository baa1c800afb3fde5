//! Kafka end to end: the scenarios through Kafka in and out, two processes in
//! one consumer group, and a process killed mid-run — each compared with the
//! file-based answer.
//!
//! These tests need a broker at `PERCORE_KAFKA_BROKERS` (host:port); `.ci/run`
//! starts one. Without it every test fails, loudly: they are only built with
//! the `kafka` feature, which is asked for on purpose.
#![cfg(feature = "kafka")]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_percore");

/// Consumer settings every test uses: a short session (a killed process's
/// partitions move on after ~6 s).
const CLIENT: &str = "kafka.session.timeout.ms=6000&kafka.heartbeat.interval.ms=1000";

fn brokers() -> String {
    let b = std::env::var("PERCORE_KAFKA_BROKERS").unwrap_or_else(|_| {
        panic!(
            "PERCORE_KAFKA_BROKERS is not set: the Kafka tests need a broker (host:port); \
             start one as README's Kafka section shows"
        )
    });
    let addr = b.split(',').next().unwrap_or_default().to_string();
    let reachable = std::net::ToSocketAddrs::to_socket_addrs(addr.as_str())
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(5)).is_ok());
    assert!(
        reachable,
        "no Kafka broker reachable at {addr} (PERCORE_KAFKA_BROKERS)"
    );
    b
}

/// A name no other test (or earlier run against the same broker) uses.
fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn percore(args: &[&str]) -> Output {
    let out = Command::new(BIN).args(args).output().expect("run percore");
    assert!(
        out.status.success(),
        "percore {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::to_string)
        .collect()
}

/// `records_in` of a `--stats` file.
fn records_in(stats: &Path) -> u64 {
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(stats).unwrap()).unwrap();
    s["records_in"].as_u64().unwrap()
}

/// Rows as a multiset.
fn counts(rows: impl IntoIterator<Item = String>) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in rows {
        *m.entry(r).or_insert(0) += 1;
    }
    m
}

/// Fails naming how the two multisets of rows differ (a few rows each way).
fn assert_same_rows(got: Vec<String>, expected: Vec<String>, what: &str) {
    let (g, e) = (counts(got), counts(expected));
    if g == e {
        return;
    }
    let diff = |a: &BTreeMap<String, usize>, b: &BTreeMap<String, usize>| {
        a.iter()
            .filter(|(r, n)| b.get(*r).copied().unwrap_or(0) < **n)
            .map(|(r, n)| format!("{r} (x{n})"))
            .collect::<Vec<_>>()
    };
    let (extra, missing) = (diff(&g, &e), diff(&e, &g));
    panic!(
        "{what}: {} rows vs {} expected; {} extra, e.g. {:?}; {} missing, e.g. {:?}",
        g.values().sum::<usize>(),
        e.values().sum::<usize>(),
        extra.len(),
        &extra[..extra.len().min(3)],
        missing.len(),
        &missing[..missing.len().min(3)]
    );
}

/// Writes `rows` rows of a built-in data set to a CSV file and to a new
/// 4-partition topic keyed by `key` (JSON lines); returns the topic.
fn load(dir: &Path, dataset: &str, rows: u64, key: &str) -> (String, std::path::PathBuf) {
    let b = brokers();
    let topic = unique(dataset);
    let rows = rows.to_string();
    percore(&[
        "gen",
        dataset,
        "--rows",
        &rows,
        "--format",
        "jsonl",
        "--output",
        &format!("kafka://{b}/{topic}?partitions=4&key={key}"),
    ]);
    let csv = dir.join(format!("{dataset}.csv"));
    percore(&[
        "gen",
        dataset,
        "--rows",
        &rows,
        "--output",
        csv.to_str().unwrap(),
    ]);
    (topic, csv)
}

/// The scenario's answer from the CSV file on one core: header, then rows.
fn file_answer(scenario: &str, dataset: &str, csv: &Path) -> (String, Vec<String>) {
    let out = percore(&[
        "run",
        "--scenario",
        scenario,
        "--source",
        &format!("{dataset}={}", csv.display()),
        "--cores",
        "1",
        "--format",
        "csv",
    ]);
    let mut l = lines(&out.stdout);
    let header = l.remove(0);
    (header, l)
}

/// Runs market_data `scenario` from the Kafka source `src` to the topic's
/// end on two cores and checks its rows against the file answer for `csv`.
fn assert_two_cores_give_the_file_answer(scenario: &str, src: &str, csv: &Path, what: &str) {
    let out = percore(&[
        "run",
        "--scenario",
        scenario,
        "--source",
        src,
        "--stop-at-end",
        "--cores",
        "2",
        "--format",
        "csv",
    ]);
    let mut got = lines(&out.stdout);
    got.remove(0);
    let (_, expected) = file_answer(scenario, "market_data", csv);
    assert_same_rows(got, expected, what);
}

fn source(dataset: &str, topic: &str, group: &str, settle_ms: u64) -> String {
    format!(
        "{dataset}=kafka://{}/{topic}?group_id={group}&settle_ms={settle_ms}&{CLIENT}",
        brokers()
    )
}

/// Every message of `topic`, read by a plain librdkafka consumer (not
/// percore's source, so the sink is checked on its own): each partition from
/// offset 0 to its end. Offset 0, not "earliest": Tansu 0.6 answers a
/// ListOffsets(earliest) with the batch written first, which is not the one
/// at the lowest offset when two producers write one partition at once — a
/// new group would start mid-log.
fn read_topic(topic: &str) -> Vec<(i32, i64, String)> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", unique("readback"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .expect("a consumer");
    let t = Duration::from_secs(10);
    let meta = c.fetch_metadata(Some(topic), t).expect("topic metadata");
    let mut tpl = TopicPartitionList::new();
    let mut open = std::collections::BTreeSet::new();
    for p in meta.topics()[0].partitions() {
        tpl.add_partition_offset(topic, p.id(), Offset::Offset(0))
            .unwrap();
        open.insert(p.id());
    }
    assert!(!open.is_empty(), "topic {topic} has partitions");
    c.assign(&tpl).expect("assign");
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !open.is_empty() {
        assert!(
            Instant::now() < deadline,
            "reading {topic}: partitions {open:?} never ended"
        );
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let text = String::from_utf8_lossy(m.payload().unwrap_or_default());
                got.push((
                    m.partition(),
                    m.offset(),
                    text.trim_end_matches('\n').to_string(),
                ));
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                open.remove(&p);
            }
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            None => {}
        }
    }
    got
}

fn spawn(args: &[&str], stdout: &Path) -> Child {
    Command::new(BIN)
        .args(args)
        .stdout(std::fs::File::create(stdout).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start percore")
}

fn wait_ok(child: Child, what: &str) {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

mod groups;
mod scenarios;
mod unbounded;
