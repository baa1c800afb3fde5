//! Golden tests: the five scenario queries of `examples/scenarios/`, in both
//! spellings, over the CSV inputs in `tests/golden/`, must give exactly the
//! rows in `tests/golden/expected/` — which PostgreSQL computed from the same
//! files (`tools/golden/expected_from_postgres.py`). The inputs are out of
//! order within the built-in lateness, and include DECIMAL prices near
//! DECIMAL(18,4)'s limit, so sums of products run far beyond 2^53 units.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use percore::operators::codec::csv::CsvReader;
use percore::operators::codec::jsonl::JsonLinesReader;
use percore::operators::codec::write::write_jsonl;
use percore::operators::codec::OnError;
use percore::{sql, Pipeline, Plan};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_csv(plan: &Plan, path: &Path, batch_size: usize) -> Vec<RecordBatch> {
    let f = BufReader::new(File::open(path).unwrap());
    let mut r = CsvReader::new(
        path.display().to_string(),
        f,
        &plan.source.columns,
        batch_size,
        OnError::Fail,
    )
    .unwrap();
    let mut out = Vec::new();
    while let Some(b) = r.next_batch().unwrap() {
        out.push(b);
    }
    out
}

fn run(plan: &Plan, input: &[RecordBatch]) -> Vec<String> {
    let mut p = Pipeline::new(plan);
    let mut out = Vec::new();
    for b in input {
        out.extend(p.push(b.clone()).unwrap());
    }
    out.extend(p.finish().unwrap());
    let mut buf = Vec::new();
    for b in &out {
        write_jsonl(b, &mut buf);
    }
    canonical(&String::from_utf8(buf).unwrap())
}

/// JSON lines as sorted, key-order-independent text.
fn canonical(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .unwrap()
                .to_string()
        })
        .collect();
    v.sort();
    v
}

fn expected(name: &str) -> Vec<String> {
    canonical(
        &std::fs::read_to_string(
            root()
                .join("tests/golden/expected")
                .join(format!("{name}.jsonl")),
        )
        .unwrap(),
    )
}

fn check(scenario: &str, expected_name: &str) {
    let sql_text = std::fs::read_to_string(
        root()
            .join("examples/scenarios")
            .join(format!("{scenario}.sql")),
    )
    .unwrap();
    let plan = sql::compile(&sql_text).unwrap();
    let input = root()
        .join("tests/golden")
        .join(format!("{}.csv", plan.source.name));
    let want = expected(expected_name);
    assert!(!want.is_empty());
    // Batch boundaries must not matter.
    for batch_size in [1, 7, 100, 8192] {
        let got = run(&plan, &read_csv(&plan, &input, batch_size));
        assert_eq!(
            got.len(),
            want.len(),
            "{scenario}: row count (batch size {batch_size})"
        );
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "{scenario}: batch size {batch_size}");
        }
    }
}

#[test]
fn s0_select() {
    check("s0_select", "s0_select");
}

#[test]
fn s1_rows_window_both_spellings() {
    check("s1_rows_window", "s1_rows_window");
    check("s1_rows_window_std", "s1_rows_window");
}

#[test]
fn s2_group_by_changes_and_final() {
    check("s2_group_by", "s2_group_by");
    check("s2_group_by_final", "s2_group_by_final");
}

#[test]
fn s3a_tumbling_both_spellings() {
    check("s3a_tumbling", "s3a_tumbling");
    check("s3a_tumbling_std", "s3a_tumbling");
}

#[test]
fn s3b_emit_changes() {
    check("s3b_emit_changes", "s3b_emit_changes");
}

#[test]
fn sums_beyond_2_pow_53_are_exact() {
    let want = expected("s2_group_by_final");
    let big = want.iter().find(|l| l.contains("\"trader_id\":7")).unwrap();
    // 312193159149519925325.9415 is about 3.1e24 units of 0.0001: no f64 holds it.
    assert!(
        big.contains("\"total_value\":\"312193159149519925325.9415\""),
        "{big}"
    );
    assert!(
        big.contains("\"avg_price\":\"78086419725308.641825\""),
        "{big}"
    );
}

#[test]
fn json_lines_input_gives_the_same_answer() {
    let sql_text =
        std::fs::read_to_string(root().join("examples/scenarios/s3a_tumbling.sql")).unwrap();
    let plan = sql::compile(&sql_text).unwrap();
    let csv = read_csv(&plan, &root().join("tests/golden/market_data.csv"), 100);
    let mut jsonl = Vec::new();
    for b in &csv {
        write_jsonl(b, &mut jsonl);
    }
    let mut r = JsonLinesReader::new(
        "mem.jsonl",
        &jsonl[..],
        &plan.source.columns,
        64,
        OnError::Fail,
    );
    let mut batches = Vec::new();
    while let Some(b) = r.next_batch().unwrap() {
        batches.push(b);
    }
    assert_eq!(run(&plan, &batches), expected("s3a_tumbling"));
}
