//! A DECIMAL column times a BIGINT column, as 64-bit products, for an
//! aggregate that reads only the numbers (SUM, AVG).
//!
//! Contract: [`narrow_product`] gives the unscaled products (at the
//! decimal's scale, which is the product's) as a BIGINT column, NULL where
//! either factor is, when every row's product fits 64 bits; `None`
//! otherwise (other operands, or larger values: the caller then computes
//! the DECIMAL column as usual). The test is exact and conservative: every
//! decimal fits 64 bits and the factors' greatest magnitudes have at most
//! 63 significant bits between them, NULL rows' values counted too. The
//! result's Arrow type is not the expression's; only its values are the
//! same, so only an aggregate's argument may take it.
//!
//! One branch-free pass multiplies every row and gathers what the test
//! needs (the decimals' high words against their signs, the OR of the
//! magnitudes); the products are dropped when it fails. Compiled for
//! AVX-512 (64-bit multiplies, absolute values and compares are single
//! instructions there) and AVX2 where the CPU has them.

use std::mem::MaybeUninit;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array};
use arrow_buffer::NullBuffer;

use super::super::Operand;
use super::{decimal_and_bigint, nulls_of};
use crate::cpu::by_cpu;

/// See the [module docs](self).
pub(crate) fn narrow_product(l: &Operand, r: &Operand) -> Option<ArrayRef> {
    let (d, i) = decimal_and_bigint(l, r)?;
    let n = d.len().min(i.len());
    let mut v: Vec<i64> = Vec::with_capacity(n);
    let room = &mut v.spare_capacity_mut()[..n];
    let (d, i) = (&d[..n], &i[..n]);
    let Scan { wide, mag_d, mag_i } = by_cpu!(
        ["avx512f", "avx512dq", "avx512vl"] => products_avx512(d, i, room),
        ["avx2"] => products_avx2(d, i, room);
        products_any(d, i, room)
    );
    let bits = |m: u64| 64 - m.leading_zeros();
    // |x·y| < 2^bits(|x|max) · 2^bits(|y|max) <= 2^63: no product wrapped.
    if wide || bits(mag_d) + bits(mag_i) > 63 {
        return None;
    }
    // SAFETY: the pass wrote each of the `n` slots of `room` (allocated
    // for `n` just above).
    unsafe { v.set_len(n) };
    let nulls = NullBuffer::union(nulls_of(l), nulls_of(r));
    Some(Arc::new(Int64Array::new(v.into(), nulls)))
}

/// What the pass over the rows found.
struct Scan {
    /// A decimal does not fit 64 bits.
    wide: bool,
    /// The OR of the decimals' and of the integers' magnitudes (its
    /// significant bits are the greatest magnitude's).
    mag_d: u64,
    mag_i: u64,
}

/// [`products_any`] compiled for AVX-512 (F, DQ, VL).
///
/// # Safety
/// The CPU must have AVX-512 F, DQ and VL.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl")]
unsafe fn products_avx512(d: &[i128], i: &[i64], out: &mut [MaybeUninit<i64>]) -> Scan {
    products_any(d, i, out)
}

/// [`products_any`] compiled for AVX2.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn products_avx2(d: &[i128], i: &[i64], out: &mut [MaybeUninit<i64>]) -> Scan {
    products_any(d, i, out)
}

/// Writes `d[k]`'s low word times `i[k]` (wrapping) into `out[k]` for
/// every row, and gathers the [`Scan`]; `d`, `i` and `out` are as long.
#[inline(always)]
fn products_any(d: &[i128], i: &[i64], out: &mut [MaybeUninit<i64>]) -> Scan {
    let (mut wide, mut mag_d, mut mag_i) = (0u64, 0u64, 0u64);
    for ((o, &x), &y) in out.iter_mut().zip(d).zip(i) {
        let (lo, hi) = (x as i64, (x >> 64) as i64);
        wide |= (hi ^ (lo >> 63)) as u64;
        mag_d |= lo.unsigned_abs();
        mag_i |= y.unsigned_abs();
        o.write(lo.wrapping_mul(y));
    }
    Scan {
        wide: wide != 0,
        mag_d,
        mag_i,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Decimal128Type, Int64Type};
    use arrow_array::{Array, Decimal128Array};
    use proptest::prelude::*;

    /// The pass over the rows.
    type Pass = fn(&[i128], &[i64], &mut [MaybeUninit<i64>]) -> Scan;

    /// The pass on every path this CPU runs, by name.
    fn paths() -> Vec<(&'static str, Pass)> {
        let mut paths: Vec<(&'static str, Pass)> = vec![("portable", products_any)];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: called only on this CPU, which has AVX2 (checked
                // just above).
                paths.push(("avx2", |d, i, o| unsafe { products_avx2(d, i, o) }));
            }
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512dq")
                && std::arch::is_x86_feature_detected!("avx512vl")
            {
                // SAFETY: called only on this CPU, which has AVX-512 F, DQ
                // and VL (checked just above).
                paths.push(("avx512", |d, i, o| unsafe { products_avx512(d, i, o) }));
            }
        }
        paths
    }

    /// A decimal near a power of two, or anywhere (past 64 bits too).
    fn decimals() -> impl Strategy<Value = i128> {
        prop_oneof![
            -100_000i128..100_000,
            (0u32..80, -2i128..=2, proptest::bool::ANY)
                .prop_map(|(e, d, neg)| ((1i128 << e) + d) * if neg { -1 } else { 1 }),
            any::<i64>().prop_map(i128::from),
            any::<i128>(),
        ]
    }

    fn integers() -> impl Strategy<Value = i64> {
        prop_oneof![
            -1_000i64..1_000,
            (0u32..63, -2i64..=2, proptest::bool::ANY)
                .prop_map(|(e, d, neg)| ((1i64 << e).wrapping_add(d)) * if neg { -1 } else { 1 }),
            any::<i64>(),
        ]
    }

    proptest! {
        /// The products, where given, are the 128-bit products of each row
        /// (NULL where either factor is); they are given exactly when
        /// every decimal fits 64 bits and the greatest magnitudes have at
        /// most 63 bits between them; and every CPU path's pass agrees
        /// with the portable one.
        #[test]
        fn products_are_exact_or_not_given(
            rows in proptest::collection::vec(
                (decimals(), integers(), proptest::option::weighted(0.9, Just(())), proptest::option::weighted(0.9, Just(()))),
                0..70,
            ),
            swap in proptest::bool::ANY,
        ) {
            let d: Vec<Option<i128>> = rows.iter().map(|r| r.2.map(|_| r.0)).collect();
            let i: Vec<Option<i64>> = rows.iter().map(|r| r.3.map(|_| r.1)).collect();
            let da: ArrayRef = Arc::new(Decimal128Array::from(d.clone()).with_precision_and_scale(38, 4).unwrap());
            let ia: ArrayRef = Arc::new(Int64Array::from(i.clone()));
            let (l, r) = (Operand::Array(da.clone()), Operand::Array(ia.clone()));
            let got = if swap { narrow_product(&r, &l) } else { narrow_product(&l, &r) };
            // The values in NULL slots are the arrays' own (zero here).
            let raw_d: Vec<i128> = da.as_primitive::<Decimal128Type>().values().to_vec();
            let raw_i: Vec<i64> = ia.as_primitive::<Int64Type>().values().to_vec();
            let fits = raw_d.iter().all(|&x| i64::try_from(x).is_ok());
            let bits = |m: u64| 64 - m.leading_zeros();
            let md = raw_d.iter().map(|&x| (x as i64).unsigned_abs()).max().unwrap_or(0);
            let mi = raw_i.iter().map(|&y| y.unsigned_abs()).max().unwrap_or(0);
            let expect = fits && bits(md) + bits(mi) <= 63;
            prop_assert_eq!(got.is_some(), expect);
            if let Some(got) = got {
                let got = got.as_primitive::<Int64Type>();
                for k in 0..rows.len() {
                    match (d[k], i[k]) {
                        (Some(x), Some(y)) => {
                            prop_assert!(got.is_valid(k));
                            prop_assert_eq!(got.value(k) as i128, x * y as i128);
                        }
                        _ => prop_assert!(got.is_null(k)),
                    }
                }
            }
            let n = raw_d.len();
            let mut want = vec![MaybeUninit::new(0i64); n];
            let w = products_any(&raw_d, &raw_i, &mut want);
            for (name, pass) in paths() {
                let mut out = vec![MaybeUninit::new(0i64); n];
                let s = pass(&raw_d, &raw_i, &mut out);
                prop_assert_eq!((s.wide, s.mag_d, s.mag_i), (w.wide, w.mag_d, w.mag_i), "{}", name);
                // SAFETY: every slot was initialised (filled with 0, then
                // written by the pass).
                let (a, b): (Vec<i64>, Vec<i64>) = unsafe {
                    (out.iter().map(|x| x.assume_init()).collect(), want.iter().map(|x| x.assume_init()).collect())
                };
                prop_assert_eq!(a, b, "{}", name);
            }
        }
    }
}
