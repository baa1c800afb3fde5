use super::*;

fn stream(sql: &str) -> Result<StreamDef> {
    Ok(parse(sql)?.streams.remove(0))
}

#[test]
fn kafka_streams_carry_hidden_columns_and_client_options() {
    let s = stream(
        "CREATE STREAM t (sym VARCHAR, px DECIMAL(10,2)) WITH (connector = 'kafka', \
         topic = 'trades', brokers = 'h:1', group_id = 'g', format = 'csv', \
         event_time = '_timestamp', kafka.session.timeout.ms = '6000', \"kafka.client.rack\" = 'r1')",
    )
    .unwrap();
    let k = s.kafka.as_ref().unwrap();
    assert_eq!((k.topic.as_str(), k.brokers.as_str()), ("trades", "h:1"));
    assert_eq!(k.group_id, "g");
    assert_eq!(
        k.client,
        vec![
            ("session.timeout.ms".to_string(), "6000".to_string()),
            ("client.rack".to_string(), "r1".to_string())
        ]
    );
    let names: Vec<&str> = s.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["sym", "px", "_key", "_partition", "_offset", "_timestamp"]
    );
    assert_eq!(s.data_columns().len(), 2);
    assert_eq!(s.event_time.as_deref(), Some("_timestamp"));
    // SELECT * leaves the hidden columns out; naming them works.
    let script = parse(
        "CREATE STREAM t (sym VARCHAR) WITH (connector = 'kafka', topic = 't', \
         brokers = 'h:1', group_id = 'g'); SELECT * FROM t",
    )
    .unwrap();
    assert_eq!(script.plan().unwrap().output.len(), 1);
    let script = parse(
        "CREATE STREAM t (sym VARCHAR) WITH (connector = 'kafka', topic = 't', \
         brokers = 'h:1', group_id = 'g'); SELECT sym, _partition, _offset FROM t",
    )
    .unwrap();
    assert_eq!(script.plan().unwrap().output.len(), 3);
}

#[test]
fn a_plan_reads_only_the_columns_it_uses() {
    let reads = |q: &str| {
        let p = compile(q).unwrap();
        let names: Vec<String> = p.input_columns().into_iter().map(|c| c.name).collect();
        (names.join(","), p.to_string())
    };
    let (r, explain) = reads(
        "SELECT symbol, price, MIN(price) OVER (PARTITION BY symbol ORDER BY timestamp \
         ROWS BETWEEN 9 PRECEDING AND CURRENT ROW) AS lo FROM market_data",
    );
    assert_eq!(r, "symbol,price,timestamp");
    assert!(
        explain.contains("reads=[symbol, price, timestamp]"),
        "{explain}"
    );
    // WHERE, keys, arguments and the window's time count; the SELECT
    // list of an aggregate sees its output, not the source.
    let (r, _) = reads(
        "SELECT symbol, COUNT(*) AS n FROM market_data WHERE quantity > 5 \
         GROUP BY symbol WINDOW TUMBLING (trade_time, INTERVAL '1' MINUTE)",
    );
    assert_eq!(r, "symbol,quantity,trade_time");
    let (r, explain) = reads("SELECT * FROM orders WHERE total_amount > 1");
    assert_eq!(r, "order_id,customer_id,order_date,total_amount");
    assert!(!explain.contains("reads="), "{explain}");
    // A query of no column still reads one, to carry the row count.
    assert_eq!(reads("SELECT 1 AS one FROM orders").0, "order_id");
}

#[test]
fn a_time_column_moved_by_the_cut_is_found_again_on_whole_rows() {
    use arrow_array::{Int64Array, RecordBatch, TimestampMillisecondArray};
    use std::sync::Arc;
    let plan = compile(
        "CREATE STREAM t (a BIGINT, b BIGINT, ts TIMESTAMP) WITH (event_time = 'ts'); \
         SELECT b, COUNT(*) AS n FROM t GROUP BY b WINDOW TUMBLING (ts, INTERVAL '1' SECOND)",
    )
    .unwrap();
    assert_eq!(plan.inputs, vec![1, 2]);
    let whole = RecordBatch::try_new(
        crate::types::arrow_schema(&plan.source.columns),
        vec![
            Arc::new(Int64Array::from(vec![7, 8])),
            Arc::new(Int64Array::from(vec![1, 2])),
            Arc::new(TimestampMillisecondArray::from(vec![1_000, 2_000])),
        ],
    )
    .unwrap();
    let time = &plan.watermark_time().unwrap().0;
    let on_whole = plan.on_source(time).eval(&whole).unwrap();
    let on_read = time.eval(&plan.read(&whole)).unwrap();
    assert_eq!(on_whole.as_ref(), whole.column(2).as_ref());
    assert_eq!(on_read.as_ref(), whole.column(2).as_ref());
}

#[test]
fn a_topic_keyed_by_a_group_key_needs_no_exchange() {
    let plan = |q: &str| {
        compile(&format!(
            "CREATE STREAM t (sym VARCHAR, trader BIGINT, px BIGINT) WITH (connector = 'kafka', \
             topic = 't', brokers = 'h', group_id = 'g', key = 'sym'); {q}"
        ))
        .unwrap()
    };
    let by = |p: &Plan| p.partitioned_by(&[p.source.column_index("sym").unwrap()]);
    let moved = compile(
        "CREATE STREAM t (px BIGINT, sym VARCHAR) WITH (connector = 'kafka', \
         topic = 't', brokers = 'h', group_id = 'g', key = 'sym'); \
         SELECT sym, COUNT(*) AS n FROM t GROUP BY sym",
    )
    .unwrap();
    assert_eq!(moved.inputs, vec![1]);
    assert!(by(&moved));
    assert!(by(&plan(
        "SELECT sym, trader, COUNT(*) AS n FROM t GROUP BY trader, sym"
    )));
    assert!(by(&plan("SELECT sym, AVG(px) OVER (PARTITION BY sym ORDER BY px ROWS BETWEEN 9 PRECEDING AND CURRENT ROW) AS a FROM t")));
    // Keys without the topic's key column, a global aggregate, a plain
    // SELECT: rows of one key may sit on several cores (or no exchange).
    assert!(!by(&plan(
        "SELECT trader, COUNT(*) AS n FROM t GROUP BY trader"
    )));
    assert!(!by(&plan("SELECT COUNT(*) AS n FROM t")));
    assert!(!by(&plan("SELECT sym FROM t")));
    assert!(stream("CREATE STREAM t (a BIGINT) WITH (connector = 'kafka', topic = 't', brokers = 'h', group_id = 'g', key = 'b')")
        .err()
        .unwrap()
        .to_string()
        .contains("key column `b`"));
}

#[test]
fn a_frame_too_large_to_count_is_an_error_at_its_bound() {
    let q = "CREATE STREAM t (sym VARCHAR, px BIGINT, ts BIGINT);\nSELECT sym, AVG(px) OVER (PARTITION BY sym ORDER BY ts ROWS BETWEEN 18446744073709551615 PRECEDING AND CURRENT ROW) AS a FROM t";
    let e = compile(q).err().unwrap().to_string();
    assert!(
        e.contains("PRECEDING is too large") && e.contains("line 2"),
        "{e}"
    );
    let ok = q.replace("18446744073709551615", "18446744073709551614");
    assert!(compile(&ok).is_ok());
}

#[test]
fn kafka_stream_errors_name_the_option() {
    let err = |sql: &str| stream(sql).err().map(|e| e.to_string()).unwrap();
    assert!(err(
        "CREATE STREAM t (a BIGINT) WITH (connector = 'kafka', topic = 't', brokers = 'h:1')"
    )
    .contains("needs the option group_id"));
    assert!(
        err("CREATE STREAM t (a BIGINT) WITH (topic = 't')").contains("needs connector = 'kafka'")
    );
    assert!(
        err("CREATE STREAM t (a BIGINT) WITH (connector = 'pigeon')").contains("unknown connector")
    );
    assert!(err("CREATE STREAM t (_offset BIGINT) WITH (connector = 'kafka', topic = 't', brokers = 'h', group_id = 'g')")
        .contains("reserved"));
    assert!(
        err("CREATE STREAM t (a BIGINT) WITH (path = 'x.csv', event_time = '_timestamp')")
            .contains("`_timestamp` needs connector = 'kafka'")
    );
    // Without a declared TIMESTAMP, event time is not taken from Kafka's.
    let s = stream("CREATE STREAM t (a BIGINT) WITH (connector = 'kafka', topic = 't', brokers = 'h', group_id = 'g')").unwrap();
    assert_eq!(s.event_time, None);
}
