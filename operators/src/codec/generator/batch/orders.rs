//! Batches of `orders` rows: the hashed fields of a batch drawn in one
//! branch-free loop (vectorised: AVX-512 or AVX2 where the CPU has it, as
//! the market draws), then the columns built from them.
//!
//! Contract: [`Generator::draw_orders`] draws exactly the fields
//! [`Generator::order_row`] gives one row at a time, and
//! [`Generator::orders_batch`] gives those rows as columns (the tests
//! compare them row by row).

use std::sync::Arc;

use arrow_array::{ArrayRef, Decimal128Array, Int64Array};

use super::super::{below32, halves, mix, Generator, RowIds};
use super::short_strings;
use crate::cpu::by_cpu;

/// The fields of a batch of `orders` rows, column by column
/// ([`Generator::draw_orders`]): the id, and those drawn from the row's
/// hashes: customer, date index, and amount less one (in cents).
#[derive(Default)]
pub(super) struct OrderDraws {
    ids: Vec<i64>,
    customers: Vec<i64>,
    dates: Vec<u32>,
    amounts: Vec<u32>,
}

impl OrderDraws {
    /// The rows drawn, in order, each what [`Generator::order_row`] gives
    /// (for the tests: timely draws its tuples with `order_row` itself).
    #[cfg(test)]
    pub(super) fn rows(&self) -> impl Iterator<Item = super::super::OrderRow> + '_ {
        (0..self.customers.len()).map(move |k| super::super::OrderRow {
            order_id: self.ids[k],
            customer_id: self.customers[k],
            date: self.dates[k],
            total_amount: self.amounts[k] as i128 + 1,
        })
    }
}

impl Generator {
    /// Every column of rows `rows`: the draws ([`Self::draw_orders`]), then
    /// the amounts widened in a pass of their own.
    pub(in super::super) fn orders_batch(&self, rows: RowIds) -> Vec<ArrayRef> {
        let mut d = OrderDraws::default();
        self.draw_orders(rows, &mut d);
        let amounts: Vec<i128> = d.amounts.iter().map(|&a| a as i128 + 1).collect();
        vec![
            Arc::new(Int64Array::from(d.ids)),
            Arc::new(Int64Array::from(d.customers)),
            Arc::new(short_strings(&self.dates, &d.dates)),
            Arc::new(
                Decimal128Array::from(amounts)
                    .with_precision_and_scale(18, 2)
                    .expect("valid decimal"),
            ),
        ]
    }

    /// Fills `d` with the hashed fields of rows `rows` (as
    /// [`Generator::order_row`] draws them; what it held before is dropped,
    /// its memory kept), with AVX-512 or else AVX2 where the CPU has it.
    pub(super) fn draw_orders(&self, rows: RowIds, d: &mut OrderDraws) {
        by_cpu!(
            ["avx512f", "avx512dq", "avx512vl"] => draw_orders_avx512(self.seed, rows, d),
            ["avx2"] => draw_orders_avx2(self.seed, rows, d);
            draw_orders_any(self.seed, rows, d)
        )
    }
}

/// [`draw_orders_any`] compiled for AVX-512 (eight rows a step).
///
/// # Safety
/// The CPU must have AVX-512 F, DQ and VL.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl")]
unsafe fn draw_orders_avx512(seed: u64, rows: RowIds, d: &mut OrderDraws) {
    draw_orders_any(seed, rows, d)
}

/// [`draw_orders_any`] compiled for AVX2 (four rows a step, each 64-bit
/// multiply made of three 32-bit ones).
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn draw_orders_avx2(seed: u64, rows: RowIds, d: &mut OrderDraws) {
    draw_orders_any(seed, rows, d)
}

/// Fills `d` with the fields of rows `rows` that [`Generator::order_row`]
/// draws from the row's two hashes: one pass of multiplies, shifts and
/// stores, no branch, so it vectorises.
#[inline(always)]
pub(super) fn draw_orders_any(seed: u64, rows: RowIds, d: &mut OrderDraws) {
    let n = rows.len();
    for v in [&mut d.ids, &mut d.customers] {
        v.clear();
        v.reserve(n);
    }
    for v in [&mut d.dates, &mut d.amounts] {
        v.clear();
        v.reserve(n);
    }
    let (id, cu) = (
        &mut d.ids.spare_capacity_mut()[..n],
        &mut d.customers.spare_capacity_mut()[..n],
    );
    let (da, am) = (
        &mut d.dates.spare_capacity_mut()[..n],
        &mut d.amounts.spare_capacity_mut()[..n],
    );
    for k in 0..n {
        let i = rows.first + k as u64 * rows.stride;
        let (customer, date) = halves(mix(seed, i, 1));
        let (amount, _) = halves(mix(seed, i, 2));
        id[k].write(i as i64 + 1);
        cu[k].write(below32(customer, 10_000) as i64 + 1);
        da[k].write(below32(date, 28) as u32);
        am[k].write(below32(amount, 20_000) as u32);
    }
    // SAFETY: each vector has capacity for `n` values (reserved above) and
    // the loop above wrote every one of its first `n` slots.
    unsafe {
        d.ids.set_len(n);
        d.customers.set_len(n);
        d.dates.set_len(n);
        d.amounts.set_len(n);
    }
}
