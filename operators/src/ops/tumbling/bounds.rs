//! A window's start and end columns for its output rows.
//!
//! Contract: [`Bounds::columns`] gives two NULL-free TIMESTAMP columns of
//! `n` rows, every value of the first the window's start, of the second its
//! end. Calls for the same window share two buffers — sliced, zero-copy —
//! where each call filled two new ones (EMIT CHANGES emits a batch per input
//! batch, thousands for one window); a new window, or more rows than the
//! buffers hold, fills new ones, at least as long as the last (twice as
//! long for the same window): filling stays a small share of the rows.

use std::sync::Arc;

use arrow_array::{ArrayRef, TimestampMillisecondArray};
use arrow_buffer::ScalarBuffer;

/// The last window's filled start and end buffers (see the module docs).
#[derive(Default)]
pub(super) struct Bounds {
    filled: Option<(i64, i64, ScalarBuffer<i64>, ScalarBuffer<i64>)>,
}

impl Bounds {
    /// The start and end columns of `n` rows of window `start..end`.
    pub(super) fn columns(&mut self, start: i64, end: i64, n: usize) -> [ArrayRef; 2] {
        let fits = |f: &(i64, i64, ScalarBuffer<i64>, ScalarBuffer<i64>)| {
            f.0 == start && f.1 == end && f.2.len() >= n
        };
        if !self.filled.as_ref().is_some_and(fits) {
            // Filled anew: as long as the last buffers, twice as long when
            // the same window outgrew them (its calls vary in length;
            // filled to each longer one, a window's buffers were filled
            // again and again).
            let len = match &self.filled {
                Some(f) if f.0 == start && f.1 == end => n.max(2 * f.2.len()),
                Some(f) => n.max(f.2.len()),
                None => n,
            };
            self.filled = Some((
                start,
                end,
                ScalarBuffer::from(vec![start; len]),
                ScalarBuffer::from(vec![end; len]),
            ));
        }
        let (_, _, starts, ends) = self.filled.as_ref().expect("filled above");
        let column = |b: &ScalarBuffer<i64>| -> ArrayRef {
            Arc::new(TimestampMillisecondArray::new(b.slice(0, n), None))
        };
        [column(starts), column(ends)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;
    use proptest::prelude::*;

    proptest! {
        /// Every call gives what filling two new columns gives, whatever
        /// windows and lengths came before.
        #[test]
        fn bounds_are_the_windows_own(
            calls in prop::collection::vec((0i64..3, 0usize..40), 1..20),
        ) {
            let mut b = Bounds::default();
            for (w, n) in calls {
                let (start, end) = (w * 60_000, (w + 1) * 60_000);
                let [s, e] = b.columns(start, end, n);
                let want_s: ArrayRef = Arc::new(TimestampMillisecondArray::from_value(start, n));
                let want_e: ArrayRef = Arc::new(TimestampMillisecondArray::from_value(end, n));
                prop_assert_eq!(&s, &want_s);
                prop_assert_eq!(&e, &want_e);
                prop_assert_eq!(s.null_count() + e.null_count(), 0);
            }
        }
    }
}
