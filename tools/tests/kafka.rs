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

#[test]
fn every_scenario_through_kafka_in_and_out_matches_the_file_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (orders, orders_csv) = load(dir.path(), "orders", 20_000, "order_id");
    let (market, market_csv) = load(dir.path(), "market_data", 20_000, "symbol");
    for (scenario, dataset, topic, csv) in [
        ("s0_select", "orders", &orders, &orders_csv),
        ("s1_rows_window", "market_data", &market, &market_csv),
        ("s2_group_by_final", "market_data", &market, &market_csv),
        ("s3a_tumbling", "market_data", &market, &market_csv),
        ("s3b_emit_changes", "market_data", &market, &market_csv),
    ] {
        let (_, expected) = file_answer(scenario, dataset, csv);
        assert!(expected.len() > 100, "{scenario}: a real answer");
        let out_topic = unique(&format!("{scenario}-out"));
        let stats = dir.path().join(format!("{scenario}.json"));
        percore(&[
            "run",
            "--scenario",
            scenario,
            "--source",
            &source(dataset, topic, &unique("g"), 1000),
            "--stop-at-end",
            "--cores",
            "2",
            "--format",
            "csv",
            "--stats",
            stats.to_str().unwrap(),
            "--output",
            &format!("kafka://{}/{out_topic}?partitions=2", brokers()),
        ]);
        assert_eq!(
            records_in(&stats),
            20_000,
            "{scenario}: every record read once"
        );
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
        assert_eq!(
            (s["late_rows_dropped"].as_u64(), s["records_out"].as_u64()),
            (Some(0), Some(expected.len() as u64)),
            "{scenario}: no row late, every result row produced"
        );
        let messages = read_topic(&out_topic);
        let mut offsets: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
        for (p, o, _) in &messages {
            offsets.entry(*p).or_default().push(*o);
        }
        for (p, o) in &offsets {
            assert!(
                o.iter().copied().eq(0..o.len() as i64),
                "{scenario}: partition {p} of the output holds offsets 0..{} once each",
                o.len()
            );
        }
        assert_same_rows(
            messages.into_iter().map(|(_, _, row)| row).collect(),
            expected,
            &format!("{scenario} through Kafka in and out"),
        );
    }
}

#[test]
fn kafka_metadata_columns_and_event_time_from_the_message_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let (topic, _) = load(dir.path(), "orders", 1_000, "order_id");
    let sql = format!(
        "CREATE STREAM o (order_id BIGINT, total_amount DECIMAL(18,2)) WITH (connector = 'kafka', \
         topic = '{topic}', brokers = '{}', group_id = '{}', settle_ms = '200', \
         event_time = '_timestamp'); \
         SELECT order_id, _key, _partition, _offset, _timestamp FROM o",
        brokers(),
        unique("meta")
    );
    let out = percore(&["run", "--sql", &sql, "--stop-at-end", "--cores", "1"]);
    let rows: Vec<serde_json::Value> = lines(&out.stdout)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1_000);
    let mut per_partition: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for r in &rows {
        // Keyed by order_id: the key is the id's text.
        assert_eq!(r["_key"].as_str().unwrap(), r["order_id"].to_string());
        per_partition
            .entry(r["_partition"].as_i64().unwrap())
            .or_default()
            .push(r["_offset"].as_i64().unwrap());
        assert!(r["_timestamp"]
            .as_str()
            .is_some_and(|t| t.starts_with("20")));
    }
    assert_eq!(
        per_partition.len(),
        4,
        "murmur2 spreads the keys over 4 partitions"
    );
    // A message that does not fit the declared columns names where it is.
    let sql = format!(
        "CREATE STREAM o (order_id BIGINT, order_date BIGINT) WITH (connector = 'kafka', \
         topic = '{topic}', brokers = '{}', group_id = '{}', settle_ms = '200'); SELECT * FROM o",
        brokers(),
        unique("bad")
    );
    let bad = Command::new(BIN)
        .args(["run", "--sql", &sql, "--stop-at-end", "--cores", "1"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains(&format!("Kafka topic {topic} partition "))
            && err.contains(" offset ")
            && err.contains("column `order_date`"),
        "{err}"
    );
    for offsets in per_partition.values_mut() {
        offsets.sort();
        let expect: Vec<i64> = (0..offsets.len() as i64).collect();
        assert_eq!(*offsets, expect, "every offset of a partition read once");
    }
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

#[test]
fn two_processes_in_one_group_split_the_partitions_and_give_one_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (topic, csv) = load(dir.path(), "market_data", 40_000, "symbol");
    for scenario in ["s2_group_by_final", "s3a_tumbling"] {
        let (_, expected) = file_answer(scenario, "market_data", &csv);
        let group = unique("pair");
        let src = source("market_data", &topic, &group, 4000);
        let mut children = Vec::new();
        for p in ["a", "b"] {
            let stats = dir.path().join(format!("{scenario}-{p}.json"));
            let args = [
                "run",
                "--scenario",
                scenario,
                "--source",
                &src,
                "--stop-at-end",
                "--cores",
                "1",
                "--format",
                "csv",
                "--stats",
                stats.to_str().unwrap(),
            ];
            let out = dir.path().join(format!("{scenario}-{p}.csv"));
            children.push((spawn(&args, &out), out, stats));
        }
        let mut got = Vec::new();
        let mut read = Vec::new();
        for (child, out, stats) in children {
            wait_ok(child, scenario);
            let mut l = lines(&std::fs::read(&out).unwrap());
            l.remove(0);
            got.extend(l);
            read.push(records_in(&stats));
        }
        assert!(
            read.iter().all(|r| *r > 0),
            "{scenario}: both processes got partitions: {read:?}"
        );
        assert_eq!(read.iter().sum::<u64>(), 40_000, "{scenario}: {read:?}");
        assert_same_rows(got, expected, &format!("{scenario} on two processes"));
    }
}

#[test]
fn a_killed_process_loses_no_row() {
    let dir = tempfile::tempdir().unwrap();
    let rows = 400_000;
    let (topic, csv) = load(dir.path(), "orders", rows, "order_id");
    let (header, expected) = file_answer("s0_select", "orders", &csv);
    let group = unique("kill");
    let src = source("orders", &topic, &group, 2000);
    let args = [
        "run",
        "--scenario",
        "s0_select",
        "--source",
        &src,
        "--stop-at-end",
        "--cores",
        "1",
        "--batch-size",
        "64",
        "--format",
        "csv",
    ];
    let a1_out = dir.path().join("a1.csv");
    let b_out = dir.path().join("b.csv");
    let mut a1 = spawn(&args, &a1_out);
    let b = spawn(&args, &b_out);
    // Kill A once it has written some rows (and before it is done).
    let started = Instant::now();
    while std::fs::metadata(&a1_out).map_or(0, |m| m.len()) < 4096 {
        assert!(
            a1.try_wait().unwrap().is_none(),
            "A finished before it could be killed; make the input larger"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "A wrote nothing"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    a1.kill().unwrap();
    a1.wait().unwrap();
    // A again, at once: its old partitions move on when the dead member's
    // session ends, and are read from what the group committed.
    let a2_out = dir.path().join("a2.csv");
    let a2_stats = dir.path().join("a2.json");
    let mut a2_args = args.to_vec();
    a2_args.extend(["--stats", a2_stats.to_str().unwrap()]);
    let a2 = spawn(&a2_args, &a2_out);
    wait_ok(b, "B");
    wait_ok(a2, "A restarted");
    assert!(
        records_in(&a2_stats) > 0,
        "the restarted process took over the killed one's partitions"
    );
    let mut got = counts(
        [&a1_out, &b_out, &a2_out]
            .iter()
            .flat_map(|p| {
                let text = std::fs::read(p).unwrap();
                // A killed process may leave half a line: only whole ones count.
                let whole = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
                lines(&text[..whole])
            })
            .filter(|l| *l != header),
    );
    let mut missing = 0;
    for row in &expected {
        match got.get_mut(row) {
            Some(n) if *n > 0 => *n -= 1,
            _ => missing += 1,
        }
    }
    assert_eq!(missing, 0, "rows lost across the killed process");
}

#[test]
fn a_topic_keyed_by_the_query_key_skips_the_exchange_and_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let (topic, csv) = load(dir.path(), "market_data", 20_000, "symbol");
    for scenario in ["s1_rows_window", "s2_group_by_final", "s3b_emit_changes"] {
        let src = format!(
            "{}&key=symbol",
            source("market_data", &topic, &unique("k"), 300)
        );
        let plan = percore(&["explain", "--scenario", scenario, "--source", &src]);
        assert!(
            String::from_utf8_lossy(&plan.stdout).contains("no exchange"),
            "{scenario}: keyed by symbol, a key of the query"
        );
        let out = percore(&[
            "run",
            "--scenario",
            scenario,
            "--source",
            &src,
            "--stop-at-end",
            "--cores",
            "2",
            "--format",
            "csv",
        ]);
        let mut got = lines(&out.stdout);
        got.remove(0);
        let (_, expected) = file_answer(scenario, "market_data", &csv);
        assert_same_rows(got, expected, &format!("{scenario} keyed by symbol"));
    }
    // A key the topic is not keyed by is caught, not trusted.
    let src = format!(
        "{}&key=trader_id",
        source("market_data", &topic, &unique("k"), 300)
    );
    let out = Command::new(BIN)
        .args(["run", "--scenario", "s2_group_by_final", "--source", &src])
        .args(["--stop-at-end", "--cores", "2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the topic is not keyed by `trader_id`"),
        "{err}"
    );
}

#[test]
fn an_unbounded_run_on_more_cores_than_partitions_closes_windows_and_resumes_after_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let b = brokers();
    let topic = unique("one-partition");
    percore(&[
        "gen",
        "market_data",
        "--rows",
        "300000",
        "--format",
        "jsonl",
        "--output",
        &format!("kafka://{b}/{topic}?partitions=1&key=symbol"),
    ]);
    let csv = dir.path().join("m.csv");
    percore(&[
        "gen",
        "market_data",
        "--rows",
        "300000",
        "--output",
        csv.to_str().unwrap(),
    ]);
    let group = unique("unbounded");
    let src = source("market_data", &topic, &group, 500);
    // Two cores, one partition: one core reads nothing, and must not hold
    // the other's windows back.
    let out = dir.path().join("first.csv");
    let mut run = spawn(
        &[
            "run",
            "--scenario",
            "s3a_tumbling",
            "--source",
            &src,
            "--cores",
            "2",
            "--format",
            "csv",
        ],
        &out,
    );
    let started = Instant::now();
    while lines(&std::fs::read(&out).unwrap()).len() < 1000 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no window closed while the unbounded run ran"
        );
        assert!(
            run.try_wait().unwrap().is_none(),
            "the unbounded run ended by itself"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = run.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let status = run.wait().unwrap();
    assert_eq!(status.code(), Some(130), "Ctrl-C exits 130");
    // A query with state commits nothing on Ctrl-C: the same group reads
    // everything again and gives the whole answer.
    let again = percore(&[
        "run",
        "--scenario",
        "s3a_tumbling",
        "--source",
        &src,
        "--stop-at-end",
        "--cores",
        "2",
        "--format",
        "csv",
    ]);
    let mut got = lines(&again.stdout);
    got.remove(0);
    let (_, expected) = file_answer("s3a_tumbling", "market_data", &csv);
    assert_same_rows(got, expected, "tumbling after Ctrl-C, from the last commit");
}
