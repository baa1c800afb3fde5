//! Every scenario through Kafka in and out, and the Kafka metadata columns
//! with event time from the message timestamp.

use super::*;

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
