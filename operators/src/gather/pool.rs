//! Spare vectors for gathered columns, and taking them back from batches.
//!
//! Contract: [`Pool::take`] hands out a kept vector (emptied) or a new one;
//! [`reclaim`] turns the buffers behind a batch's columns back into vectors
//! — only those nobody else references any more, so a shared buffer is
//! never reused while it is read — and a pool is bounded ([`POOL_MAX`]
//! vectors per element type; surplus ones are freed). A core that gathers
//! into pooled vectors and gets them back from the batches' consumers reuses
//! its own memory instead of freeing another core's (a cross-thread free).

use arrow_array::cast::AsArray;
use arrow_array::types::{
    ArrowPrimitiveType, Decimal128Type, Float64Type, Int64Type, TimestampMillisecondType,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::DataType;

/// Vectors kept per kind (more are freed).
pub const POOL_MAX: usize = 64;

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
    /// Keeps `v` (emptied) for reuse, unless the list is full or `v` holds
    /// no memory.
    pub fn put<T>(list: &mut Vec<Vec<T>>, mut v: Vec<T>) {
        if list.len() < POOL_MAX && v.capacity() > 0 {
            v.clear();
            list.push(v);
        }
    }

    /// A vector from the list (room for `n` more values), or a new one.
    pub fn take<T>(list: &mut Vec<Vec<T>>, n: usize) -> Vec<T> {
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
