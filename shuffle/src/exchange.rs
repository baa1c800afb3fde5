//! Rows bound for other cores, gathered per destination, in buffers that
//! come back for reuse.
//!
//! Contract:
//! - [`Exchange::push`] routes each row of a batch to the builder of the core
//!   owning its key hash; a builder holding [`Exchange::target_rows`] rows or
//!   more is flushed into one output batch (rows in arrival order);
//! - [`Exchange::flush`] flushes every builder: call it before a watermark or
//!   End is sent, so those always follow the rows they cover;
//! - output columns are gathered into vectors taken from this exchange's
//!   [`Pool`] when it has them; the receiving core, once done with a batch,
//!   turns its buffers back into vectors with [`reclaim`] (only those it holds
//!   the last reference to) and sends them back; [`Exchange::recycle`] puts
//!   them in the pool. Memory allocated by a core is thus reused by that core
//!   instead of being freed by another (a cross-thread free), and the pool is
//!   bounded, so unreturned or surplus buffers are simply freed;
//! - types without a hand-written gather (none of percore's SQL types) fall
//!   back to Arrow's `interleave`.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    ArrowPrimitiveType, Decimal128Type, Float64Type, Int64Type, TimestampMillisecondType,
};
use arrow_array::{Array, ArrayRef, PrimitiveArray, RecordBatch, StringArray};
use arrow_buffer::{NullBuffer, ScalarBuffer};
use arrow_schema::DataType;

use percore_operators::gather::{gather_nulls, gather_strings};

use crate::owner_of;

/// Vectors kept per kind (more are freed).
const POOL_MAX: usize = 64;

/// Spare vectors by element type.
#[derive(Default, Debug)]
pub struct Pool {
    pub i64s: Vec<Vec<i64>>,
    pub f64s: Vec<Vec<f64>>,
    pub i128s: Vec<Vec<i128>>,
    pub i32s: Vec<Vec<i32>>,
    pub bytes: Vec<Vec<u8>>,
}

impl Pool {
    fn put<T>(list: &mut Vec<Vec<T>>, mut v: Vec<T>) {
        if list.len() < POOL_MAX && v.capacity() > 0 {
            v.clear();
            list.push(v);
        }
    }

    fn take<T>(list: &mut Vec<Vec<T>>, n: usize) -> Vec<T> {
        match list.pop() {
            Some(mut v) => {
                v.reserve(n);
                v
            }
            None => Vec::with_capacity(n),
        }
    }

    /// Adds every vector of `other` (up to the bound).
    pub fn absorb(&mut self, other: Pool) {
        other
            .i64s
            .into_iter()
            .for_each(|v| Self::put(&mut self.i64s, v));
        other
            .f64s
            .into_iter()
            .for_each(|v| Self::put(&mut self.f64s, v));
        other
            .i128s
            .into_iter()
            .for_each(|v| Self::put(&mut self.i128s, v));
        other
            .i32s
            .into_iter()
            .for_each(|v| Self::put(&mut self.i32s, v));
        other
            .bytes
            .into_iter()
            .for_each(|v| Self::put(&mut self.bytes, v));
    }

    /// Vectors held.
    pub fn len(&self) -> usize {
        self.i64s.len() + self.f64s.len() + self.i128s.len() + self.i32s.len() + self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The rows gathered so far for one destination.
#[derive(Default)]
struct Builder {
    batches: Vec<RecordBatch>,
    /// (index into `batches`, row) in arrival order.
    rows: Vec<(usize, usize)>,
}

pub struct Exchange {
    cores: usize,
    target_rows: usize,
    builders: Vec<Builder>,
    pool: Pool,
    reused: u64,
}

impl Exchange {
    pub fn new(cores: usize, target_rows: usize) -> Self {
        Exchange {
            cores,
            target_rows: target_rows.max(1),
            builders: (0..cores).map(|_| Builder::default()).collect(),
            pool: Pool::default(),
            reused: 0,
        }
    }

    /// Destinations.
    pub fn cores(&self) -> usize {
        self.cores
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
        if batch.num_rows() == 0 {
            return;
        }
        let mut touched = vec![false; self.cores];
        for (i, h) in hashes.iter().enumerate() {
            let d = owner_of(*h, self.cores);
            let b = &mut self.builders[d];
            if !touched[d] {
                touched[d] = true;
                b.batches.push(batch.clone());
            }
            b.rows.push((b.batches.len() - 1, i));
        }
        for d in 0..self.cores {
            if self.builders[d].rows.len() >= self.target_rows {
                let b = self.flush_one(d);
                out.push((d, b));
            }
        }
    }

    /// Flushes every builder holding rows.
    pub fn flush(&mut self, out: &mut Vec<(usize, RecordBatch)>) {
        for d in 0..self.cores {
            if !self.builders[d].rows.is_empty() {
                let b = self.flush_one(d);
                out.push((d, b));
            }
        }
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
            let rows = Checked::new(&b.rows, &b.batches);
            let cols = (0..schema.fields().len())
                .map(|c| {
                    let srcs: Vec<&ArrayRef> = b.batches.iter().map(|x| x.column(c)).collect();
                    self.gather(&srcs, rows)
                })
                .collect();
            RecordBatch::try_new(schema, cols).expect("gathered columns match the schema")
        };
        // The builder's vectors stay, emptied, for its next rows.
        b.batches.clear();
        b.rows.clear();
        self.builders[d] = b;
        out
    }

    /// One column (`srcs`: that column of each of the rows' batches).
    fn gather(&mut self, srcs: &[&ArrayRef], checked: Checked<'_>) -> ArrayRef {
        let rows = checked.0;
        let nulls = gather_nulls(srcs, rows);
        let ty = srcs[0].data_type().clone();
        let pool = &mut self.pool;
        let before = pool.len();
        let out: ArrayRef = match &ty {
            DataType::Int64 => prim::<Int64Type>(srcs, checked, &mut pool.i64s, nulls, &ty),
            DataType::Timestamp(_, _) => {
                prim::<TimestampMillisecondType>(srcs, checked, &mut pool.i64s, nulls, &ty)
            }
            DataType::Float64 => prim::<Float64Type>(srcs, checked, &mut pool.f64s, nulls, &ty),
            DataType::Decimal128(_, _) => {
                prim::<Decimal128Type>(srcs, checked, &mut pool.i128s, nulls, &ty)
            }
            DataType::Utf8 => {
                let strs: Vec<&StringArray> = srcs.iter().map(|a| a.as_string::<i32>()).collect();
                let offsets = Pool::take(&mut pool.i32s, rows.len() + 1);
                let values = Pool::take(&mut pool.bytes, 0);
                Arc::new(gather_strings(&strs, rows, offsets, values, nulls))
            }
            _ => {
                let dyns: Vec<&dyn Array> = srcs.iter().map(|a| a.as_ref()).collect();
                return arrow_select::interleave::interleave(&dyns, rows)
                    .expect("sources share a type");
            }
        };
        self.reused += (before - self.pool.len()) as u64;
        out
    }
}

/// (batch, row) pairs checked, once for all the columns gathered, to lie
/// within their batches (and how many batches there were).
#[derive(Clone, Copy)]
struct Checked<'a>(&'a [(usize, usize)], usize);

impl<'a> Checked<'a> {
    fn new(rows: &'a [(usize, usize)], batches: &[RecordBatch]) -> Self {
        let lens: Vec<usize> = batches.iter().map(RecordBatch::num_rows).collect();
        assert!(
            rows.iter()
                .all(|&(b, r)| lens.get(b).is_some_and(|&n| r < n)),
            "gathered rows lie within their batches"
        );
        Checked(rows, batches.len())
    }
}

/// `srcs` is one column of each batch `rows` was checked against, in order.
fn prim<T: ArrowPrimitiveType>(
    srcs: &[&ArrayRef],
    rows: Checked<'_>,
    pool: &mut Vec<Vec<T::Native>>,
    nulls: Option<NullBuffer>,
    ty: &DataType,
) -> ArrayRef {
    let vals: Vec<&[T::Native]> = srcs
        .iter()
        .map(|a| a.as_primitive::<T>().values().as_ref())
        .collect();
    assert_eq!(vals.len(), rows.1, "one column of each batch");
    let mut v = Pool::take(pool, rows.0.len());
    // SAFETY: `Checked::new` found every `b` below the number of batches
    // (`vals.len()`, asserted above: one column of each) and every `r`
    // below batch `b`'s row count, the length of each of its columns.
    v.extend(
        rows.0
            .iter()
            .map(|&(b, r)| unsafe { *vals.get_unchecked(b).get_unchecked(r) }),
    );
    Arc::new(PrimitiveArray::<T>::new(ScalarBuffer::from(v), nulls).with_data_type(ty.clone()))
}

/// The vectors behind `batch`'s columns that nobody else references any
/// more (call it after the batch's consumer is done with it), for the core
/// that made them to reuse.
pub fn reclaim(batch: RecordBatch) -> Pool {
    let mut pool = Pool::default();
    let cols: Vec<ArrayRef> = batch.columns().to_vec();
    drop(batch);
    for col in cols {
        match col.data_type() {
            DataType::Int64 => take_prim::<Int64Type>(col, &mut pool.i64s),
            DataType::Timestamp(_, _) => take_prim::<TimestampMillisecondType>(col, &mut pool.i64s),
            DataType::Float64 => take_prim::<Float64Type>(col, &mut pool.f64s),
            DataType::Decimal128(_, _) => take_prim::<Decimal128Type>(col, &mut pool.i128s),
            DataType::Utf8 => {
                let s = col.as_string::<i32>().clone();
                drop(col);
                let (offsets, values, _) = s.into_parts();
                if let Ok(v) = offsets.into_inner().into_inner().into_vec::<i32>() {
                    Pool::put(&mut pool.i32s, v);
                }
                if let Ok(v) = values.into_vec::<u8>() {
                    Pool::put(&mut pool.bytes, v);
                }
            }
            _ => {}
        }
    }
    pool
}

fn take_prim<T: ArrowPrimitiveType>(col: ArrayRef, pool: &mut Vec<Vec<T::Native>>) {
    let a = col.as_primitive::<T>().clone();
    drop(col);
    let (_, values, _) = a.into_parts();
    if let Ok(v) = values.into_inner().into_vec::<T::Native>() {
        Pool::put(pool, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};

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
        let mut x = Exchange::new(3, 100);
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
                    owner_of((id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15), 3),
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
        let mut x = Exchange::new(2, 1_000_000);
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
        let mut x = Exchange::new(4, 10);
        let mut out = Vec::new();
        let b = batch(0, 50);
        x.push(&b, &[7; 50], &mut out);
        assert_eq!(out.len(), 1);
        assert!(Arc::ptr_eq(out[0].1.column(0), b.column(0)));
    }
}
