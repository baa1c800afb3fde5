//! Which rows of a batch stay, as a mask made only once a row is dropped.
//!
//! Contract: [`KeepMask::push`] takes each row's verdict in row order
//! (row `i` the `i`-th call); while every row stays nothing is stored, and
//! the first dropped row makes the mask with every row before it kept.
//! [`KeepMask::filter`] returns the batch itself when no row was dropped,
//! else its kept rows in order.

use arrow_array::{BooleanArray, RecordBatch};

#[derive(Default)]
pub(crate) struct KeepMask {
    mask: Option<Vec<bool>>,
    dropped: usize,
}

impl KeepMask {
    /// Row `i`'s verdict.
    #[inline(always)]
    pub(crate) fn push(&mut self, i: usize, keep: bool) {
        if !keep {
            self.mask.get_or_insert_with(|| vec![true; i]).push(false);
            self.dropped += 1;
        } else if let Some(m) = self.mask.as_mut() {
            m.push(true);
        }
    }

    /// Rows dropped so far.
    pub(crate) fn dropped(&self) -> usize {
        self.dropped
    }

    /// The mask, `None` when every row stayed.
    pub(crate) fn into_mask(self) -> Option<Vec<bool>> {
        self.mask
    }

    /// `batch` without the dropped rows (`batch` itself when none was).
    pub(crate) fn filter(self, batch: RecordBatch) -> RecordBatch {
        match self.mask {
            None => batch,
            Some(m) => crate::gather::filter_batch(&batch, &BooleanArray::from(m)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use arrow_array::{ArrayRef, Int64Array};
    use std::sync::Arc;

    #[test]
    fn kept_rows_stay_in_order_and_no_drop_is_no_mask() {
        let batch = || {
            let a: ArrayRef = Arc::new(Int64Array::from((0..6).collect::<Vec<i64>>()));
            RecordBatch::try_from_iter([("a", a)]).unwrap()
        };
        let mut all = KeepMask::default();
        (0..6).for_each(|i| all.push(i, true));
        assert_eq!(all.dropped(), 0);
        assert!(all.into_mask().is_none());
        let verdicts = [true, true, false, true, false, true];
        let mut some = KeepMask::default();
        verdicts
            .iter()
            .enumerate()
            .for_each(|(i, k)| some.push(i, *k));
        assert_eq!(some.dropped(), 2);
        let kept = some.filter(batch());
        let got = kept.column(0).as_primitive::<Int64Type>().values().to_vec();
        assert_eq!(got, vec![0, 1, 3, 5]);
        let mut some = KeepMask::default();
        verdicts
            .iter()
            .enumerate()
            .for_each(|(i, k)| some.push(i, *k));
        assert_eq!(some.into_mask().unwrap(), verdicts);
    }
}
