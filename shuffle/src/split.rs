//! Splitting one batch into per-destination batches by key hash.

use arrow_array::{RecordBatch, UInt32Array};

use crate::owner_of;

/// Splits `batch` by the owner of each row's key hash: element `d` is the rows
/// owned by core `d` (in their original order), `None` when there are none.
/// A batch wholly owned by one core is passed through without copying.
pub fn split_by_owner(
    batch: &RecordBatch,
    hashes: &[u64],
    cores: usize,
) -> Vec<Option<RecordBatch>> {
    assert_eq!(hashes.len(), batch.num_rows(), "one hash per row");
    let mut out: Vec<Option<RecordBatch>> = (0..cores).map(|_| None).collect();
    if batch.num_rows() == 0 {
        return out;
    }
    if cores == 1 {
        out[0] = Some(batch.clone());
        return out;
    }
    let mut idx: Vec<Vec<u32>> = vec![Vec::new(); cores];
    for (i, h) in hashes.iter().enumerate() {
        idx[owner_of(*h, cores)].push(i as u32);
    }
    for (d, rows) in idx.into_iter().enumerate() {
        if rows.len() == batch.num_rows() {
            out[d] = Some(batch.clone());
        } else if !rows.is_empty() {
            let rows = UInt32Array::from(rows);
            out[d] = Some(
                arrow_select::take::take_record_batch(batch, &rows)
                    .expect("indices within the batch"),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use arrow_array::{ArrayRef, Int64Array};

    use super::*;

    #[test]
    fn every_row_goes_to_exactly_its_owner_in_order() {
        let vals: Vec<i64> = (0..1000).collect();
        let a: ArrayRef = Arc::new(Int64Array::from(vals.clone()));
        let batch = RecordBatch::try_from_iter([("v", a)]).unwrap();
        let hashes: Vec<u64> = vals
            .iter()
            .map(|v| (*v as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .collect();
        let parts = split_by_owner(&batch, &hashes, 3);
        let mut seen = 0;
        for (d, p) in parts.iter().enumerate() {
            let p = p.as_ref().unwrap();
            let col = p.column(0).as_primitive::<Int64Type>();
            let mut prev = -1;
            for v in col.values() {
                assert_eq!(owner_of(hashes[*v as usize], 3), d);
                assert!(*v > prev, "order kept");
                prev = *v;
            }
            seen += p.num_rows();
        }
        assert_eq!(seen, 1000);
    }

    #[test]
    fn one_hot_key_passes_the_batch_through() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![5; 10]));
        let batch = RecordBatch::try_from_iter([("v", a)]).unwrap();
        let parts = split_by_owner(&batch, &[42; 10], 4);
        assert_eq!(parts.iter().filter(|p| p.is_some()).count(), 1);
        let whole = parts.into_iter().flatten().next().unwrap();
        assert!(Arc::ptr_eq(whole.column(0), batch.column(0)));
    }
}
