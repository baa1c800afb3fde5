use super::*;
use proptest::prelude::*;

/// The (source, row) pairs `picks` name among sources of `lens` rows
/// each (none empty).
pub(super) fn pick_pairs(
    picks: &[(prop::sample::Index, prop::sample::Index)],
    lens: &[usize],
) -> Vec<Pair> {
    picks
        .iter()
        .map(|(b, r)| {
            let b = b.index(lens.len());
            (b as u32, r.index(lens[b]) as u32)
        })
        .collect()
}

/// `Rows::check` refuses `pairs` exactly when one lies past its source
/// (or names no source) among sources of `lens` rows.
fn refused_exactly_when_outside(pairs: &[Pair], lens: &[usize]) -> Result<(), TestCaseError> {
    let outside = pairs
        .iter()
        .any(|&(b, r)| lens.get(b as usize).is_none_or(|&n| r as usize >= n));
    let refused = std::panic::catch_unwind(|| {
        Rows::check(pairs, lens);
    })
    .is_err();
    prop_assert_eq!(refused, outside);
    Ok(())
}

proptest! {
    /// `Rows::check` refuses exactly the lists with a pair past its
    /// source (or naming no source): sources of one length and of many,
    /// pairs within the shortest, within their own only, and past them.
    #[test]
    fn rows_are_refused_exactly_when_one_lies_outside(
        same in any::<bool>(),
        (sources, len) in (0usize..4, 1usize..6),
        varied in prop::collection::vec(0usize..6, 0..4),
        pairs in prop::collection::vec((0u32..5, prop_oneof![0u32..2, 0u32..7]), 0..8),
    ) {
        let lens = if same { vec![len; sources] } else { varied };
        refused_exactly_when_outside(&pairs, &lens)?;
    }

    /// The same over lists long enough to be checked chunk by chunk:
    /// sources of different lengths, the pairs in stretches of one source
    /// (as a release takes them, run by run) or mixed, and at most one
    /// pair past its source, anywhere.
    #[test]
    fn long_lists_are_refused_exactly_when_one_lies_outside(
        lens in prop::collection::vec(1usize..300, 1..5),
        picks in prop::collection::vec(any::<(prop::sample::Index, prop::sample::Index)>(), 0..1200),
        stretches in any::<bool>(),
        bad in prop::option::of((any::<prop::sample::Index>(), 0u32..2, 0u32..3)),
    ) {
        let mut pairs = pick_pairs(&picks, &lens);
        if stretches {
            pairs.sort_by_key(|p| p.0);
        }
        // One pair moved past its source's end (or to a source that is
        // not there).
        if let (Some((at, kind, by)), false) = (bad, pairs.is_empty()) {
            let k = at.index(pairs.len());
            let (b, _) = pairs[k];
            pairs[k] = match kind {
                0 => (b, (lens[b as usize] as u32) + by),
                _ => (lens.len() as u32 + by, 0),
            };
        }
        refused_exactly_when_outside(&pairs, &lens)?;
    }

    /// Each gathered row is its source row (text and NULL), for strings
    /// of every length around the block size, from sliced sources; with
    /// `short`, none longer than 8 characters (16 bytes), the copies'
    /// block-only path, whose last blocks near a text's end are copied by
    /// length.
    #[test]
    fn gathered_rows_are_their_source_rows(
        sources in prop::collection::vec(
            prop::collection::vec(prop::option::weighted(0.9, "[a-zé]{0,40}"), 1..30),
            1..4,
        ),
        picks in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 0..80),
        skip in 0usize..3,
        short in any::<bool>(),
    ) {
        let cap = if short { 8 } else { usize::MAX };
        let arrays: Vec<StringArray> = sources
            .iter()
            .map(|v| {
                let a: StringArray = v
                    .iter()
                    .map(|s| s.as_ref().map(|s| s.chars().take(cap).collect::<String>()))
                    .collect();
                let s = skip.min(a.len() - 1);
                a.slice(s, a.len() - s)
            })
            .collect();
        let lens: Vec<usize> = arrays.iter().map(|a| a.len()).collect();
        let rows = pick_pairs(&picks, &lens);
        let cols: Vec<ArrayRef> = arrays.iter().map(|a| Arc::new(a.clone()) as ArrayRef).collect();
        let srcs: Vec<&ArrayRef> = cols.iter().collect();
        let strs: Vec<&StringArray> = arrays.iter().collect();
        let checked = Rows::check(&rows, &lens);
        let got = gather_strings(&strs, checked, vec![7], vec![1, 2], gather_nulls(&srcs, &rows));
        let want: Vec<Option<&str>> = rows
            .iter()
            .map(|&(b, r)| (b as usize, r as usize))
            .map(|(b, r)| arrays[b].is_valid(r).then(|| arrays[b].value(r)))
            .collect();
        let got_rows: Vec<Option<&str>> = got.iter().collect();
        prop_assert_eq!(got_rows, want);
        got.to_data().validate_full().unwrap();
    }
}

proptest! {
    /// Every column type gathers as Arrow's `interleave` does (values,
    /// NULLs, and data type: decimal precision and scale, time unit).
    #[test]
    fn a_batch_gathers_as_arrow_interleaves(
        sources in prop::collection::vec(
            prop::collection::vec(
                (any::<Option<i64>>(), any::<Option<i128>>(), any::<Option<f64>>(), prop::option::of("[a-z]{0,20}")),
                1..20,
            ),
            1..4,
        ),
        picks in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 0..60),
    ) {
        use arrow_array::{Decimal128Array, Float64Array, Int64Array, TimestampMillisecondArray};
        let batches: Vec<RecordBatch> = sources
            .iter()
            .map(|rows| {
                let col = |a: ArrayRef| (a.data_type().to_string(), a, true);
                RecordBatch::try_from_iter_with_nullable([
                    col(Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.0)))),
                    col(Arc::new(TimestampMillisecondArray::from_iter(rows.iter().map(|r| r.0)))),
                    col(Arc::new(
                        Decimal128Array::from_iter(rows.iter().map(|r| r.1))
                            .with_precision_and_scale(38, 4)
                            .unwrap(),
                    )),
                    col(Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.2)))),
                    col(Arc::new(StringArray::from_iter(rows.iter().map(|r| r.3.clone())))),
                ])
                .unwrap()
            })
            .collect();
        let lens: Vec<usize> = batches.iter().map(|b| b.num_rows()).collect();
        let rows = pick_pairs(&picks, &lens);
        let refs: Vec<&RecordBatch> = batches.iter().collect();
        let got = gather_batch(&refs, &rows);
        let wide: Vec<(usize, usize)> = rows.iter().map(|&(b, r)| (b as usize, r as usize)).collect();
        for c in 0..got.num_columns() {
            let srcs: Vec<&dyn Array> = batches.iter().map(|b| b.column(c).as_ref()).collect();
            let want = arrow_select::interleave::interleave(&srcs, &wide).unwrap();
            prop_assert_eq!(got.column(c).data_type(), want.data_type());
            prop_assert_eq!(&got.column(c).to_data(), &want.to_data());
        }
    }
}

#[test]
#[should_panic(expected = "gathered rows lie within their sources")]
fn a_row_past_its_source_is_refused() {
    let a = RecordBatch::try_from_iter([(
        "n",
        Arc::new(arrow_array::Int64Array::from(vec![1, 2])) as ArrayRef,
    )])
    .unwrap();
    gather_batch(&[&a, &a], &[(1, 1), (0, 2)]);
}

/// Rows checked against longer sources than the columns given.
#[test]
#[should_panic(expected = "one column of each source, as long as the source")]
fn a_column_shorter_than_its_checked_source_is_refused() {
    let lens = [5];
    let rows = Rows::check(&[(0, 3)], &lens);
    let short = StringArray::from(vec!["a", "b"]);
    gather_strings(&[&short], rows, Vec::new(), Vec::new(), None);
}

#[test]
#[should_panic(expected = "one column of each source, as long as the source")]
fn a_primitive_column_shorter_than_its_checked_source_is_refused() {
    let lens = [5];
    let rows = Rows::check(&[(0, 3)], &lens);
    let short: ArrayRef = Arc::new(arrow_array::Int64Array::from(vec![1, 2]));
    gather_column(&[&short], rows, &mut Pool::default());
}

#[test]
fn a_batch_gathers_every_column() {
    let batch = |s: Vec<Option<&str>>, n: Vec<i64>| {
        RecordBatch::try_from_iter_with_nullable([
            ("s", Arc::new(StringArray::from(s)) as ArrayRef, true),
            (
                "n",
                Arc::new(arrow_array::Int64Array::from(n)) as ArrayRef,
                true,
            ),
        ])
        .unwrap()
    };
    let a = batch(vec![Some("x"), Some("yy")], vec![1, 2]);
    let b = batch(vec![Some("zzz"), None], vec![3, 4]);
    let got = gather_batch(&[&a, &b], &[(1, 0), (0, 1), (1, 1), (0, 0)]);
    let s: Vec<Option<&str>> = got.column(0).as_string::<i32>().iter().collect();
    assert_eq!(s, vec![Some("zzz"), Some("yy"), None, Some("x")]);
    let n = got
        .column(1)
        .as_primitive::<arrow_array::types::Int64Type>();
    assert_eq!(n.values().to_vec(), vec![3, 2, 4, 1]);
}
