use super::*;
use crate::codec::csv::CsvReader;
use crate::codec::OnError;
use crate::ops::testing::rows_text;
use crate::ops::{Pipeline, PipelineOptions};

const DDL: &str = "CREATE STREAM t (k VARCHAR, ts BIGINT, v DECIMAL(10,2), d DOUBLE) \
                   WITH (lateness = '5ms', event_time = 'ts');";

fn rows(batches: &[RecordBatch]) -> Vec<String> {
    let mut out = rows_text(batches);
    out.sort();
    out
}

/// Partial batches of `plan` with their keys as key columns: a column of
/// packed key words ([`crate::state::GroupTable::key_words`]) decoded.
fn decoded(plan: &Plan, batches: &[RecordBatch]) -> Vec<RecordBatch> {
    let types: Vec<crate::SqlType> = match &plan.stage {
        crate::plan::Stage::Aggregate(a) => a.keys.iter().map(crate::expr::Expr::ty).collect(),
        _ => panic!("an aggregate's partials"),
    };
    batches
        .iter()
        .map(|b| {
            let mut cols = Vec::new();
            for c in b.columns() {
                if crate::state::GroupTable::is_key_words(c) {
                    cols.extend(crate::state::GroupTable::decode_key_words(c, &types));
                } else {
                    cols.push(c.clone());
                }
            }
            RecordBatch::try_from_iter(
                cols.into_iter()
                    .enumerate()
                    .map(|(i, c)| (format!("p{i}"), c)),
            )
            .unwrap()
        })
        .collect()
}

/// The rows of `csv` (a header, then `t`'s columns) as batches of at
/// most `size` rows.
fn read(plan: &Plan, csv: &str, size: usize) -> Vec<RecordBatch> {
    let mut r = CsvReader::new(
        "t.csv",
        csv.as_bytes(),
        &plan.source.columns,
        size,
        OnError::Fail,
    )
    .unwrap();
    std::iter::from_fn(|| r.next_batch().unwrap()).collect()
}

/// `SELECT k, COUNT(*)` per 10-ms tumbling window.
fn windowed_count() -> Plan {
    crate::sql::compile(&format!(
        "{DDL} SELECT k, COUNT(*) AS n FROM t GROUP BY k \
         WINDOW TUMBLING (ts, INTERVAL '10' MILLISECOND)"
    ))
    .unwrap()
}

/// The plan of `sql`, `parts` pre-aggregating senders fed the batches
/// of `csv` in turn, and what one plain pipeline outputs for them.
fn fed_senders(sql: &str, csv: &str, parts: usize) -> (Plan, Vec<PartialAgg>, Vec<RecordBatch>) {
    let plan = crate::sql::compile(sql).unwrap();
    let batches = read(&plan, csv, 1);
    let mut direct = Pipeline::new(&plan);
    let mut want = Vec::new();
    for b in &batches {
        want.extend(direct.push(b.clone()).unwrap());
    }
    want.extend(direct.finish().unwrap());
    let mut senders: Vec<PartialAgg> = (0..parts)
        .map(|_| PartialAgg::for_plan(&plan).unwrap())
        .collect();
    for (i, b) in batches.iter().enumerate() {
        senders[i % parts].push(&plan.read(b)).unwrap();
    }
    (plan, senders, want)
}

/// Splits the input over `parts` pre-aggregating senders, flushing at a
/// watermark and at the end, and merges the pieces in `mergers`
/// pipelines, each piece in the one owning its keys.
fn split_and_merge(
    sql: &str,
    csv: &str,
    parts: usize,
    mergers: usize,
) -> (Vec<String>, Vec<String>) {
    let (plan, mut senders, want) = fed_senders(sql, csv, parts);
    let mut merge: Vec<Pipeline> = (0..mergers)
        .map(|_| {
            Pipeline::with_options(
                &plan,
                PipelineOptions {
                    external_watermark: true,
                    partial_input: true,
                    ..PipelineOptions::default()
                },
            )
        })
        .collect();
    // Everything before the watermark 10 first, then the rest, each
    // piece to the merger owning its keys.
    let route = Route {
        cores: mergers,
        owner: &|h| (h % mergers as u64) as usize,
    };
    // A key's partials split over two mergers would give two rows.
    let mut got = Vec::new();
    let deliver = |pieces: Vec<(usize, RecordBatch)>,
                   merge: &mut Vec<Pipeline>,
                   got: &mut Vec<RecordBatch>| {
        for (m, p) in pieces {
            got.extend(merge[m].push(p).unwrap());
        }
    };
    for s in &mut senders {
        let pieces = s.flush_through(10, &route, &mut Pool::default()).unwrap();
        deliver(pieces, &mut merge, &mut got);
    }
    for m in &mut merge {
        got.extend(m.on_watermark(10).unwrap());
    }
    for s in &mut senders {
        let pieces = s.flush_all(&route, &mut Pool::default()).unwrap();
        deliver(pieces, &mut merge, &mut got);
    }
    for m in &mut merge {
        got.extend(m.finish().unwrap());
    }
    (rows(&got), rows(&want))
}

/// As [`split_and_merge`] with one merger per sender (core `i` both):
/// at the watermark each core sends the other cores their pieces and
/// its merger adopts its own groups whole. `early`: every merger first
/// marks its own windows through the watermark closed with nothing to
/// adopt, so pieces merge as they come and the adoption then finds its
/// windows open (and merges its owned groups as a piece would).
fn split_and_adopt(sql: &str, csv: &str, parts: usize, early: bool) -> (Vec<String>, Vec<String>) {
    let (plan, mut senders, want) = fed_senders(sql, csv, parts);
    let opt = PipelineOptions {
        external_watermark: true,
        partial_input: true,
        own_partials: true,
        ..PipelineOptions::default()
    };
    let mut merge: Vec<Pipeline> = (0..parts)
        .map(|_| Pipeline::with_options(&plan, opt))
        .collect();
    let route = Route {
        cores: parts,
        owner: &|h| (h % parts as u64) as usize,
    };
    let mut got = Vec::new();
    if early {
        for m in &mut merge {
            let mut none = PartialAgg::for_plan(&plan)
                .unwrap()
                .close_through(10, &route);
            assert!(m.adopt(10, &mut none, 0).unwrap());
        }
    }
    // The last core first: pieces for windows a merger has not closed
    // itself wait for its own groups.
    for i in (0..parts).rev() {
        let mut closed = senders[i].close_through(10, &route);
        for d in (0..parts).filter(|&d| d != i) {
            for b in senders[i].pieces(&closed, d, &mut Pool::default()).unwrap() {
                got.extend(merge[d].push(b).unwrap());
            }
        }
        assert!(merge[i].adopt(10, &mut closed, i).unwrap());
        senders[i].recycle(closed);
    }
    for m in &mut merge {
        got.extend(m.on_watermark(10).unwrap());
    }
    for s in &mut senders {
        for (d, b) in s.flush_all(&route, &mut Pool::default()).unwrap() {
            got.extend(merge[d].push(b).unwrap());
        }
    }
    for m in &mut merge {
        got.extend(m.finish().unwrap());
    }
    (rows(&got), rows(&want))
}

const CSV: &str =
    "k,ts,v,d\na,1,1.50,0.5\nb,2,,\na,3,-2.25,1.5\nc,4,7.00,\na,12,3.10,2\nb,13,0.01,4\nc,25,,\n";

#[test]
fn adopted_partials_equal_one_aggregate() {
    let mut csv = String::from("k,ts,v,d\n");
    for i in 0..300u32 {
        let k = (i * 7919) % 41;
        csv += &format!("k{k},{},{}.{:02},{}\n", i / 12, i % 89, i % 100, i % 11);
    }
    let sql = format!(
        "{DDL} SELECT k, COUNT(*) AS n, SUM(v) AS s, AVG(v) AS a, MAX(d) AS m FROM t GROUP BY k \
         WINDOW TUMBLING (ts, INTERVAL '10' MILLISECOND)"
    );
    for parts in [1, 2, 3] {
        for early in [false, true] {
            let (got, want) = split_and_adopt(&sql, &csv, parts, early);
            assert_eq!(got, want, "parts {parts}, early {early}");
            assert!(got.len() > 41, "{}", got.len());
        }
    }
}

#[test]
fn merged_partials_equal_one_aggregate() {
    let aggs = "COUNT(*) AS n, COUNT(v) AS nv, SUM(v) AS s, AVG(v) AS a, MIN(v) AS lo, \
                MAX(k) AS hi, SUM(d) AS sd, MIN(d) AS md";
    for (parts, mergers) in [(1, 1), (2, 1), (3, 1), (1, 2), (2, 3), (3, 2)] {
        let (got, want) = split_and_merge(
            &format!("{DDL} SELECT k, {aggs} FROM t GROUP BY k EMIT FINAL"),
            CSV,
            parts,
            mergers,
        );
        assert_eq!(got, want);
        assert_eq!(got.len(), 3);
        let (got, want) = split_and_merge(
            &format!(
                "{DDL} SELECT k, {aggs} FROM t GROUP BY k \
                 WINDOW TUMBLING (ts, INTERVAL '10' MILLISECOND)"
            ),
            CSV,
            parts,
            mergers,
        );
        assert_eq!(got, want);
        assert_eq!(got.len(), 6);
    }
}

#[test]
fn many_keys_each_merge_on_the_core_that_owns_them() {
    // Enough keys that every merger owns several, interleaved with the
    // others' in order of first appearance.
    let mut csv = String::from("k,ts,v,d\n");
    for i in 0..400u32 {
        let k = (i * 7919) % 53;
        csv += &format!("k{k},{},{}.{:02},{}\n", i / 10, i % 97, i % 100, i % 13);
    }
    for mergers in [2, 3, 5] {
        let (got, want) = split_and_merge(
            &format!(
                "{DDL} SELECT k, COUNT(*) AS n, SUM(v) AS s, MAX(d) AS m FROM t GROUP BY k \
                 WINDOW TUMBLING (ts, INTERVAL '10' MILLISECOND)"
            ),
            &csv,
            3,
            mergers,
        );
        assert_eq!(got, want);
        assert!(got.len() > 53, "{}", got.len());
    }
}

/// A merger that fired a window counts the groups of a piece for it
/// arriving after as late, and still merges the later window's piece
/// (between cores that flush before their watermark passes this cannot
/// happen; the check guards the merge).
#[test]
fn a_piece_for_a_window_the_merger_fired_counts_its_groups_as_late() {
    let plan = windowed_count();
    let batches = read(&plan, "k,ts,v,d\na,1,,\nb,2,,\na,11,,\na,12,,\n", 4);
    let mut p = PartialAgg::for_plan(&plan).unwrap();
    p.push(&plan.read(&batches[0])).unwrap();
    let pieces = p.flush_all(&Route::ONE, &mut Pool::default()).unwrap();
    let opt = PipelineOptions {
        external_watermark: true,
        partial_input: true,
        ..PipelineOptions::default()
    };
    let mut merge = Pipeline::with_options(&plan, opt);
    // Window [0, 10) fires empty before the pieces come.
    assert!(merge.on_watermark(10).unwrap().is_empty());
    let mut got = Vec::new();
    for (_, b) in pieces {
        got.extend(merge.push(b).unwrap());
    }
    got.extend(merge.finish().unwrap());
    assert_eq!(merge.stats().late_rows, 2, "a and b of window 0");
    assert_eq!(
        rows(&got),
        vec!["1970-01-01T00:00:00.010Z|1970-01-01T00:00:00.020Z|a|2"]
    );
}

#[test]
fn a_row_for_a_flushed_window_is_late() {
    let plan = windowed_count();
    let mut batches = read(&plan, "k,ts,v,d\na,1,,\na,11,,\na,2,,\n", 1).into_iter();
    let mut p = PartialAgg::for_plan(&plan).unwrap();
    p.push(&plan.read(&batches.next().unwrap())).unwrap();
    p.push(&plan.read(&batches.next().unwrap())).unwrap();
    let flushed: Vec<RecordBatch> = p
        .flush_through(10, &Route::ONE, &mut Pool::default())
        .unwrap()
        .into_iter()
        .map(|(core, b)| {
            assert_eq!(core, 0);
            b
        })
        .collect();
    assert_eq!(
        rows(&decoded(&plan, &flushed)),
        vec!["1970-01-01T00:00:00.000Z|a|1"]
    );
    p.push(&plan.read(&batches.next().unwrap())).unwrap();
    assert_eq!(p.late_rows(), 1);
    assert_eq!(p.groups(), 1);
}

mod reuse;
