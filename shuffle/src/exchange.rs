//! Rows bound for other cores, gathered per destination, in buffers that
//! come back for reuse.
//!
//! Contract:
//! - [`Exchange::push`] routes each row of a batch to the builder of the core
//!   owning its key hash (see [`Owners`]); a builder holding [`Exchange::target_rows`] rows or
//!   more is flushed into one output batch (rows in arrival order);
//! - [`Exchange::flush`] flushes every builder: call it before a watermark or
//!   End is sent, so those always follow the rows they cover;
//! - output columns are gathered (`percore_operators::gather`) into vectors
//!   taken from this exchange's [`Pool`] when it has them; the receiving
//!   core, once done with a batch, turns its buffers back into vectors with
//!   [`crate::reclaim`] (only those it holds the last reference to) and sends them
//!   back; [`Exchange::recycle`] puts them in the pool. Memory allocated by a
//!   core is thus reused by that core instead of being freed by another (a
//!   cross-thread free), and the pool is bounded, so unreturned or surplus
//!   buffers are simply freed.

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};

use percore_operators::gather::{gather_column, Pair, Pool, Rows};

use crate::Owners;

/// The rows gathered so far for one destination.
#[derive(Default)]
struct Builder {
    batches: Vec<RecordBatch>,
    /// (index into `batches`, row) in arrival order.
    rows: Vec<Pair>,
}

pub struct Exchange {
    owners: Arc<Owners>,
    target_rows: usize,
    builders: Vec<Builder>,
    pool: Pool,
    reused: u64,
}

impl Exchange {
    /// An exchange routing by `owners` (shared by every core of the run).
    pub fn new(owners: Arc<Owners>, target_rows: usize) -> Self {
        let cores = owners.cores();
        Exchange {
            owners,
            target_rows: target_rows.max(1),
            builders: (0..cores).map(|_| Builder::default()).collect(),
            pool: Pool::default(),
            reused: 0,
        }
    }

    /// Destinations.
    pub fn cores(&self) -> usize {
        self.owners.cores()
    }

    /// Which core owns each key (shared by every core of the run).
    pub fn owners(&self) -> &Owners {
        &self.owners
    }

    /// Rows a builder collects before it is flushed.
    pub fn target_rows(&self) -> usize {
        self.target_rows
    }

    /// Output buffers that came from the pool so far.
    pub fn reused(&self) -> u64 {
        self.reused
    }

    /// Routes each row of `batch` (key hash `hashes[i]`) to its owner's
    /// builder; full builders are flushed into `out` as `(destination, batch)`.
    pub fn push(
        &mut self,
        batch: &RecordBatch,
        hashes: &[u64],
        out: &mut Vec<(usize, RecordBatch)>,
    ) {
        assert_eq!(hashes.len(), batch.num_rows(), "one hash per row");
        assert!(
            batch.num_rows() <= u32::MAX as usize,
            "rows numbered in 32 bits"
        );
        if batch.num_rows() == 0 {
            return;
        }
        let mut touched = vec![false; self.cores()];
        for (i, h) in hashes.iter().enumerate() {
            let d = self.owners.owner(*h);
            let b = &mut self.builders[d];
            if !touched[d] {
                touched[d] = true;
                b.batches.push(batch.clone());
            }
            b.rows.push(((b.batches.len() - 1) as u32, i as u32));
        }
        for d in 0..self.cores() {
            if self.builders[d].rows.len() >= self.target_rows {
                let b = self.flush_one(d);
                out.push((d, b));
            }
        }
    }

    /// Flushes every builder holding rows.
    pub fn flush(&mut self, out: &mut Vec<(usize, RecordBatch)>) {
        for d in 0..self.cores() {
            if !self.builders[d].rows.is_empty() {
                let b = self.flush_one(d);
                out.push((d, b));
            }
        }
    }

    /// The spare vectors, for other batches this core sends whole (partial
    /// aggregates): their receivers reclaim them like the exchange's own.
    pub fn pool_mut(&mut self) -> &mut Pool {
        &mut self.pool
    }

    /// Takes back vectors a receiver reclaimed.
    pub fn recycle(&mut self, returned: Pool) {
        self.pool.absorb(returned);
    }

    fn flush_one(&mut self, d: usize) -> RecordBatch {
        let mut b = std::mem::take(&mut self.builders[d]);
        let schema = b.batches[0].schema();
        let out = if b.batches.len() == 1 && b.rows.len() == b.batches[0].num_rows() {
            // One source batch taken whole: pass it through without copying.
            b.batches.pop().expect("one batch")
        } else {
            let lens: Vec<usize> = b.batches.iter().map(RecordBatch::num_rows).collect();
            let rows = Rows::check(&b.rows, &lens);
            let before = self.pool.len();
            let cols = (0..schema.fields().len())
                .map(|c| {
                    let srcs: Vec<&ArrayRef> = b.batches.iter().map(|x| x.column(c)).collect();
                    gather_column(&srcs, rows, &mut self.pool)
                })
                .collect();
            self.reused += (before - self.pool.len()) as u64;
            RecordBatch::try_new(schema, cols).expect("gathered columns match the schema")
        };
        // The builder's vectors stay, emptied, for its next rows.
        b.batches.clear();
        b.rows.clear();
        self.builders[d] = b;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use arrow_array::{Array, Int64Array, StringArray};
    use percore_operators::gather::reclaim;

    fn batch(from: i64, n: i64) -> RecordBatch {
        let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(from..from + n));
        let names: ArrayRef = Arc::new(StringArray::from_iter(
            (from..from + n).map(|i| (i % 5 != 0).then(|| format!("name-{i}"))),
        ));
        RecordBatch::try_from_iter([("id", ids), ("name", names)]).unwrap()
    }

    fn hashes(b: &RecordBatch) -> Vec<u64> {
        let ids = b.column(0).as_primitive::<Int64Type>();
        ids.values()
            .iter()
            .map(|v| (*v as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .collect()
    }

    #[test]
    fn rows_reach_their_owner_in_order_in_full_batches_then_at_flush() {
        let owners = Arc::new(Owners::new(3));
        let mut x = Exchange::new(owners.clone(), 100);
        let mut out = Vec::new();
        for k in 0..10 {
            let b = batch(k * 37, 37);
            x.push(&b, &hashes(&b), &mut out);
        }
        assert!(
            out.iter().all(|(_, b)| b.num_rows() >= 100),
            "only full builders flush early"
        );
        x.flush(&mut out);
        let mut seen = vec![Vec::new(); 3];
        for (d, b) in &out {
            let ids = b.column(0).as_primitive::<Int64Type>();
            let names = b.column(1).as_string::<i32>();
            for i in 0..b.num_rows() {
                let id = ids.value(i);
                assert_eq!(
                    owners.owner((id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
                    *d
                );
                assert_eq!(names.is_null(i), id % 5 == 0);
                if names.is_valid(i) {
                    assert_eq!(names.value(i), format!("name-{id}"));
                }
                seen[*d].push(id);
            }
        }
        let mut all: Vec<i64> = seen.iter().flatten().copied().collect();
        for s in &seen {
            assert!(s.windows(2).all(|w| w[0] < w[1]), "arrival order kept");
        }
        all.sort_unstable();
        assert_eq!(all, (0..370).collect::<Vec<_>>());
    }

    #[test]
    fn reclaimed_buffers_are_reused_and_shared_ones_are_not_taken() {
        let mut x = Exchange::new(Arc::new(Owners::new(2)), 1_000_000);
        let mut out = Vec::new();
        let b = batch(0, 500);
        x.push(&b, &hashes(&b), &mut out);
        x.flush(&mut out);
        assert_eq!(x.reused(), 0);
        let (_, first) = out.pop().unwrap();
        let ptr = first
            .column(0)
            .as_primitive::<Int64Type>()
            .values()
            .as_ptr();
        // Still referenced by the receiver: nothing to take back.
        let held = first.column(0).clone();
        let pool = reclaim(first.clone());
        assert!(pool.i64s.is_empty());
        drop(held);
        let pool = reclaim(first);
        assert_eq!(pool.i64s.len(), 1, "the id column's vector comes back");
        assert_eq!(pool.i32s.len(), 1);
        assert_eq!(pool.bytes.len(), 1);
        x.recycle(pool);
        out.clear();
        let b = batch(1000, 100); // fits the returned vectors: no regrowth
        x.push(&b, &hashes(&b), &mut out);
        x.flush(&mut out);
        assert!(x.reused() >= 3);
        let reused = out
            .iter()
            .any(|(_, b)| b.column(0).as_primitive::<Int64Type>().values().as_ptr() == ptr);
        assert!(reused, "the returned vector backs a new batch");
    }

    #[test]
    fn one_hot_key_passes_a_whole_batch_through() {
        let mut x = Exchange::new(Arc::new(Owners::new(4)), 10);
        let mut out = Vec::new();
        let b = batch(0, 50);
        x.push(&b, &[7; 50], &mut out);
        assert_eq!(out.len(), 1);
        assert!(Arc::ptr_eq(out[0].1.column(0), b.column(0)));
    }
}
