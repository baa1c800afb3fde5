use super::sort::sort_taken;
use super::{rows_in_range, EventTimeBuffer, Released, Taken, TimeColumn};
use crate::expr::Expr;
use crate::gather::take_batch;
use crate::types::SqlType;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::{ArrayRef, Int32Array, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;

/// A step fed to a buffer: a batch of rows (time or NULL, sequence), or
/// an external watermark.
#[derive(Clone, Debug)]
enum Step {
    Push(Vec<(Option<i64>, i64)>),
    /// A batch of which only the rows marked are pushed, as a row list.
    PushRows(Vec<((Option<i64>, i64), bool)>),
    /// A batch of rows numbered by their range alone ([`rows_in_range`]),
    /// of which the rows marked are pushed: the
    /// whole batch, a row list of it, or a batch of those rows taken out
    /// of it (as the exchange sends another core's rows).
    Ranged(Vec<((Option<i64>, i64), bool)>, Pick),
    Advance(i64),
}

#[derive(Clone, Copy, Debug)]
enum Pick {
    All,
    Listed,
    Taken,
}

fn step(external: bool) -> impl Strategy<Value = Step> {
    // Half the batches without NULL times: those are judged from their
    // time range at once, the others row by row.
    let clean = || ((0i64..60).prop_map(Some), 0i64..4);
    let nulls = || (prop::option::weighted(0.9, 0i64..60), 0i64..4);
    let push = prop_oneof![
        prop::collection::vec(clean(), 0..40),
        prop::collection::vec(nulls(), 0..40),
    ]
    .prop_map(Step::Push);
    let picked = prop_oneof![
        prop::collection::vec((clean(), any::<bool>()), 0..40),
        prop::collection::vec((nulls(), any::<bool>()), 0..40),
    ]
    .prop_map(Step::PushRows);
    if external {
        prop_oneof![push, picked, (0i64..70).prop_map(Step::Advance)].boxed()
    } else {
        prop_oneof![push, picked].boxed()
    }
}

/// A step like [`step`]'s, but each batch holds consecutive rows of the
/// input: its sequences ascend from the start of one of a few blocks, one
/// apart (the generator's rows) or further (a file's lines, numbered by
/// byte position). Batches of different blocks are runs in ranges of
/// their own (taken in sequence order); two of one block overlap, and so
/// does a batch that skips rows of another's range.
fn block_step() -> impl Strategy<Value = Step> {
    let times = || prop::option::weighted(0.95, 0i64..60);
    // Blocks 200 numbers apart hold 40 rows at most 4 apart.
    let numbered = |rows: Vec<Option<i64>>, (block, apart): (i64, i64)| {
        let seqs = (0..).map(move |k: i64| block * 200 + k * apart);
        rows.into_iter()
            .zip(seqs)
            .collect::<Vec<(Option<i64>, i64)>>()
    };
    let block = || (0i64..8, prop_oneof![Just(1i64), 2i64..5]);
    prop_oneof![
        (prop::collection::vec(times(), 0..40), block())
            .prop_map(move |(r, b)| Step::Push(numbered(r, b))),
        (
            prop::collection::vec((times(), any::<bool>()), 0..40),
            block()
        )
            .prop_map(move |(r, b)| {
                let (t, pick): (Vec<_>, Vec<_>) = r.into_iter().unzip();
                Step::PushRows(numbered(t, b).into_iter().zip(pick).collect())
            }),
        (
            prop::collection::vec((times(), any::<bool>()), 1..40),
            block(),
            prop_oneof![Just(Pick::All), Just(Pick::Listed), Just(Pick::Taken)],
        )
            .prop_map(move |(r, b, how)| {
                let (t, pick): (Vec<_>, Vec<_>) = r.into_iter().unzip();
                Step::Ranged(numbered(t, b).into_iter().zip(pick).collect(), how)
            }),
        (0i64..70).prop_map(Step::Advance),
    ]
}

/// Columns: `t` (the event time), `id` (the row's arrival number),
/// `seq` (last, as an externally driven buffer wants it).
fn batch(rows: &[(Option<i64>, i64)], first_id: i64) -> RecordBatch {
    let t: ArrayRef = Arc::new(rows.iter().map(|r| r.0).collect::<Int64Array>());
    let s: ArrayRef = Arc::new(rows.iter().map(|r| r.1).collect::<Int64Array>());
    let id: ArrayRef = Arc::new(Int64Array::from_iter_values(
        (0..rows.len() as i64).map(|k| first_id + k),
    ));
    RecordBatch::try_from_iter([("t", t), ("id", id), ("seq", s)]).unwrap()
}

/// Columns `t` and `id` as [`batch`] makes them, then the range of the
/// rows' sequences, from `rows[0]`'s to the last's (no number per row).
fn ranged_batch(rows: &[(Option<i64>, i64)], first_id: i64) -> RecordBatch {
    let numbered = batch(rows, first_id);
    let (field, seq) = rows_in_range(rows[0].1, rows[rows.len() - 1].1, rows.len());
    let mut fields: Vec<_> = numbered.schema().fields()[..2].to_vec();
    fields.push(field);
    let cols = vec![numbered.column(0).clone(), numbered.column(1).clone(), seq];
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap()
}

/// What a release gave: (id, time) of each row, checking `times`
/// matches the batch's time column, and that the sequence column is
/// left out when the buffer is externally driven (`external`).
fn rows_of(r: Option<Released>, external: bool) -> Vec<(i64, i64)> {
    let Some(r) = r else { return Vec::new() };
    assert_eq!(
        r.batch.num_columns(),
        if external { 2 } else { 3 },
        "the sequence column is left out by an externally driven buffer only"
    );
    let col = |c: usize| {
        r.batch
            .column(c)
            .as_primitive::<Int64Type>()
            .values()
            .to_vec()
    };
    let (t, id) = (col(0), col(1));
    assert_eq!(t, r.times.to_vec(), "released times are the batch's");
    id.into_iter().zip(t).collect()
}

/// The contract, written plainly: every held row in a list; a release
/// takes those at or below the limit sorted by (time, sequence when
/// external, arrival).
struct Model {
    lateness: i64,
    external: bool,
    max: Option<i64>,
    wm: Option<i64>,
    held: Vec<(i64, i64, i64)>,
    late: u64,
}

impl Model {
    /// (id, time) of the rows released, in order.
    fn release(&mut self, limit: i64) -> Vec<(i64, i64)> {
        let external = self.external;
        let key = |r: &(i64, i64, i64)| (r.0, if external { r.1 } else { 0 }, r.2);
        let (mut out, keep): (Vec<_>, Vec<_>) = self.held.iter().partition(|r| r.0 <= limit);
        self.held = keep;
        out.sort_by_key(key);
        out.iter().map(|r| (r.2, r.0)).collect()
    }

    /// Rows with their ids.
    fn push(&mut self, rows: &[((Option<i64>, i64), i64)]) -> Vec<(i64, i64)> {
        for &((t, s), id) in rows {
            let Some(t) = t else {
                self.late += 1;
                continue;
            };
            let late = if self.external {
                self.wm.is_some_and(|w| t < w)
            } else {
                self.max.is_some_and(|m| t < m - self.lateness)
            };
            self.max = Some(self.max.map_or(t, |m| m.max(t)));
            if late {
                self.late += 1;
            } else {
                self.held.push((t, s, id));
            }
        }
        match (self.external, self.max) {
            (false, Some(m)) => self.release(m - self.lateness),
            _ => Vec::new(),
        }
    }

    fn advance(&mut self, w: i64) -> Vec<(i64, i64)> {
        let w = self.wm.map_or(w, |c| c.max(w));
        self.wm = Some(w);
        self.release(w - 1)
    }
}

/// [`batch`]'s batch in a compact form a release cannot read: its `id`
/// column as 32 bits, marked (time and sequence as they were: admission
/// reads them).
fn compact(b: RecordBatch) -> RecordBatch {
    let ids: Int32Array = b
        .column(1)
        .as_primitive::<Int64Type>()
        .iter()
        .map(|v| v.map(|v| v as i32))
        .collect();
    let mut fields: Vec<_> = b.schema().fields().iter().cloned().collect();
    let marked = HashMap::from([("compact".to_string(), String::new())]);
    fields[1] = Arc::new(Field::new("id", DataType::Int32, true).with_metadata(marked));
    let mut cols = b.columns().to_vec();
    cols[1] = Arc::new(ids);
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap()
}

/// [`compact`] undone (`None` for a batch not compact): the buffer's
/// [`super::Prepare`] in the tests.
fn expand(b: &RecordBatch) -> Option<RecordBatch> {
    b.schema().field(1).metadata().get("compact")?;
    let ids: Int64Array = b
        .column(1)
        .as_primitive::<Int32Type>()
        .iter()
        .map(|v| v.map(i64::from))
        .collect();
    let mut fields: Vec<_> = b.schema().fields().iter().cloned().collect();
    fields[1] = Arc::new(Field::new("id", DataType::Int64, true));
    let mut cols = b.columns().to_vec();
    cols[1] = Arc::new(ids);
    Some(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap())
}

/// [`check_compact`] with every batch pushed as it is.
fn check(steps: Vec<Step>, lateness: i64, external: bool) -> Result<(), TestCaseError> {
    check_compact(steps, lateness, external, false)
}

/// Steps fed to a buffer and to the model, compared after each; with
/// `compact`, every batch pushed in [`compact`]'s form, the buffer
/// expanding it as a release first takes rows of it.
fn check_compact(
    steps: Vec<Step>,
    lateness: i64,
    external: bool,
    compact_input: bool,
) -> Result<(), TestCaseError> {
    let time = TimeColumn(Expr::column(0, SqlType::BigInt, "t"));
    let mut buf = EventTimeBuffer::new(time, lateness);
    if external {
        buf = buf.externally_driven(Some(2));
    }
    if compact_input {
        buf = buf.preparing(Some(expand));
    }
    let form = |b: RecordBatch| if compact_input { compact(b) } else { b };
    let mut model = Model {
        lateness,
        external,
        max: None,
        wm: None,
        held: Vec::new(),
        late: 0,
    };
    let mut id = 0;
    for s in steps {
        let (got, want) = match s {
            Step::Push(rows) => {
                let got = rows_of(buf.push(form(batch(&rows, id))).unwrap(), external);
                let with_ids: Vec<_> = rows.iter().zip(id..).map(|(r, i)| (*r, i)).collect();
                id += rows.len() as i64;
                (got, model.push(&with_ids))
            }
            Step::PushRows(rows) => {
                let all: Vec<_> = rows.iter().map(|r| r.0).collect();
                let b = batch(&all, id);
                let picked: Vec<u32> = (0..rows.len() as u32)
                    .filter(|&k| rows[k as usize].1)
                    .collect();
                let got = rows_of(buf.push_rows(form(b), picked.clone()).unwrap(), external);
                let with_ids: Vec<_> = picked
                    .iter()
                    .map(|&k| (all[k as usize], id + k as i64))
                    .collect();
                id += rows.len() as i64;
                (got, model.push(&with_ids))
            }
            Step::Ranged(rows, how) => {
                let all: Vec<_> = rows.iter().map(|r| r.0).collect();
                let b = ranged_batch(&all, id);
                let picked: Vec<u32> = (0..rows.len() as u32)
                    .filter(|&k| rows[k as usize].1 || matches!(how, Pick::All))
                    .collect();
                let got = match how {
                    Pick::All => buf.push(form(b)),
                    Pick::Listed => buf.push_rows(form(b), picked.clone()),
                    Pick::Taken => buf.push(form(take_batch(&b, &picked))),
                };
                // The contract's numbers: the range's first plus the row's
                // place in the batch pushed (its own number but in a batch
                // taken out of another).
                let first = all[0].1;
                let with_ids: Vec<_> = picked
                    .iter()
                    .enumerate()
                    .map(|(place, &k)| {
                        let seq = match how {
                            Pick::Taken => first + place as i64,
                            _ => first + k as i64,
                        };
                        ((all[k as usize].0, seq), id + k as i64)
                    })
                    .collect();
                id += rows.len() as i64;
                (rows_of(got.unwrap(), external), model.push(&with_ids))
            }
            Step::Advance(w) => (rows_of(buf.advance(w), external), model.advance(w)),
        };
        prop_assert_eq!(got, want);
        prop_assert_eq!(buf.late_rows(), model.late);
        prop_assert_eq!(buf.held_rows(), model.held.len(), "rows held");
    }
    let want = model.release(i64::MAX);
    prop_assert_eq!(rows_of(buf.finish(), external), want);
    prop_assert_eq!(buf.held_rows(), 0, "nothing held after the end");
    Ok(())
}

/// A held batch is expanded when a release first takes rows of it, not
/// before, and only once.
#[test]
fn a_batch_held_compact_is_expanded_when_first_released_from() {
    let time = TimeColumn(Expr::column(0, SqlType::BigInt, "t"));
    let mut buf = EventTimeBuffer::new(time, 0)
        .externally_driven(Some(2))
        .preparing(Some(expand));
    buf.push(compact(batch(&[(Some(10), 0), (Some(30), 1)], 0)))
        .unwrap();
    buf.push(compact(batch(&[(Some(50), 2), (Some(60), 3)], 2)))
        .unwrap();
    let raw = |buf: &EventTimeBuffer| buf.pending.iter().map(|r| r.raw).collect::<Vec<_>>();
    assert_eq!(raw(&buf), [true, true]);
    assert_eq!(rows_of(buf.advance(20), true), vec![(0, 10)]);
    assert_eq!(raw(&buf), [false, true], "only the run released from");
    assert_eq!(rows_of(buf.advance(55), true), vec![(1, 30), (2, 50)]);
    assert_eq!(raw(&buf), [false]);
    assert_eq!(rows_of(buf.finish(), true), vec![(3, 60)]);
}

/// With an external watermark, a batch's rows below it are late and the
/// others stay, at the boundary too (whole batches judged at once).
#[test]
fn an_external_watermark_makes_exactly_the_rows_below_it_late() {
    let time = TimeColumn(Expr::column(0, SqlType::BigInt, "t"));
    let mut buf = EventTimeBuffer::new(time, 0).externally_driven(Some(2));
    assert!(rows_of(buf.advance(10), true).is_empty());
    buf.push(batch(&[(Some(10), 0), (Some(12), 0)], 0)).unwrap();
    assert_eq!(buf.late_rows(), 0);
    buf.push(batch(&[(Some(15), 0), (Some(9), 0), (Some(11), 0)], 2))
        .unwrap();
    assert_eq!(buf.late_rows(), 1);
    assert_eq!(
        rows_of(buf.finish(), true),
        vec![(0, 10), (4, 11), (1, 12), (2, 15)]
    );
}

proptest! {
    /// A batch's latest time is the greatest of its times that are not
    /// NULL (whatever value a NULL slot holds), none when all are NULL.
    #[test]
    fn the_latest_time_skips_nulls(
        rows in prop::collection::vec((prop::option::of(-1_000i64..1_000), -5i64..5), 0..40),
    ) {
        let time = TimeColumn(Expr::column(0, SqlType::BigInt, "t"));
        let b = batch(&rows, 0);
        let want = rows.iter().filter_map(|r| r.0).max();
        prop_assert_eq!(time.latest(&b).unwrap(), want);
    }

    /// The buffer releases what the plain model does, in its order, on
    /// random batches: its own watermark (max time seen − lateness).
    #[test]
    fn releases_as_the_model_with_its_own_watermark(
        steps in prop::collection::vec(step(false), 0..12),
        lateness in 0i64..30,
    ) {
        check(steps, lateness, false)?;
    }

    /// The same with an external watermark and ties broken by sequence.
    #[test]
    fn releases_as_the_model_with_an_external_watermark(
        steps in prop::collection::vec(step(true), 0..16),
    ) {
        check(steps, 0, true)?;
    }

    /// The same with batches of consecutive rows, mostly each in a
    /// sequence range of its own (taken in sequence order), numbered one
    /// apart or further.
    #[test]
    fn releases_as_the_model_with_batches_of_consecutive_rows(
        steps in prop::collection::vec(block_step(), 0..16),
    ) {
        check(steps, 0, true)?;
    }

    /// The same, every batch held in a compact form the release cannot
    /// read and expanded as a release first takes rows of it (another
    /// core's rows, narrowed for the trip): runs not yet due stay compact
    /// beside those released.
    #[test]
    fn releases_as_the_model_with_batches_held_compact(
        steps in prop::collection::vec(step(true), 0..16),
        blocks in prop::collection::vec(block_step(), 0..16),
    ) {
        check_compact(steps, 0, true, true)?;
        check_compact(blocks, 0, true, true)?;
    }
}

proptest! {
    /// Released rows are ordered as sorting (time, sequence, position)
    /// tuples orders them: narrow spans (counted), wider ones (packed)
    /// and spans too wide to pack (tuples).
    #[test]
    fn released_order_is_the_tuple_order(
        rows in proptest::collection::vec((0i64..50, 0i64..5), 0..300),
        spread in prop_oneof![Just(1i64), Just(1_000), Just(i64::MAX / 64)],
        seq_kind in 0..3,
    ) {
        // Spreads: counted (when the rows are more than a quarter of
        // the span), packed keys, tuples.
        let times: Vec<i64> = rows
            .iter()
            .map(|r| r.0 * spread + if spread > 1_000 { -(i64::MAX / 2) } else { 1_700_000_000_000 })
            .collect();
        // No sequences, sequences in arrival order, or shuffled ones.
        let seqs: Vec<i64> = match seq_kind {
            1 => rows.iter().scan(0, |acc, r| { *acc += r.1; Some(*acc) }).collect(),
            _ => rows.iter().map(|r| r.1).collect(),
        };
        let seqs = (seq_kind > 0).then_some(seqs.as_slice());
        let mut want: Vec<(i64, i64, u32)> = (0..times.len())
            .map(|i| (times[i], seqs.map_or(0, |s| s[i]), i as u32))
            .collect();
        want.sort();
        let want: Vec<u32> = want.iter().map(|k| k.2).collect();
        let taken = Taken {
            rows: (0..times.len() as u32).map(|i| (7, i)).collect(),
            times: times.clone(),
            seqs: seqs.map(|q| q.to_vec()),
        };
        let (order, sorted, sorted_seqs) = sort_taken(&taken, &mut Vec::new());
        let rows = order.rows(&taken.rows);
        prop_assert!(rows.iter().all(|r| r.0 == 7));
        let got: Vec<u32> = rows.iter().map(|r| r.1).collect();
        let want_times: Vec<i64> = want.iter().map(|&i| times[i as usize]).collect();
        let want_seqs: Option<Vec<i64>> = seqs
            .filter(|q| q.windows(2).any(|w| w[0] > w[1]))
            .map(|q| want.iter().map(|&i| q[i as usize]).collect());
        prop_assert_eq!(got, want);
        prop_assert_eq!(sorted, want_times);
        prop_assert_eq!(sorted_seqs, want_seqs);
    }
}
