//! The loops that narrow and widen a column's values, compiled for AVX2
//! where the CPU has it.
//!
//! Contract: each `to_*` and `dec_to_*` writes `value − lo` in the width
//! named, which the caller has checked holds the span; each `*_to_i64`
//! and `*_to_i128` writes `lo + offset`, the inverse; [`dec_range`] is the
//! least and greatest of DECIMAL values (`(0, 0)` for none), `None` when
//! one does not fit an `i64`.

/// How a column's values are stored: `i64`s, or a DECIMAL's `i128`s
/// (narrowed only when every one fits an `i64`, read as its lower half).
pub(super) trait Lane: Copy + Sized {
    /// The value (its lower 64 bits).
    fn low(self) -> i64;
    /// `values` − `lo` in one byte each (the span fits).
    fn to_u8(values: &[Self], lo: i64) -> Vec<u8>;
    /// `values` − `lo` in two bytes each (the span fits).
    fn to_u16(values: &[Self], lo: i64) -> Vec<u16>;
    /// `values` − `lo` in four bytes each (the span fits).
    fn to_u32(values: &[Self], lo: i64) -> Vec<u32>;
}

impl Lane for i64 {
    #[inline(always)]
    fn low(self) -> i64 {
        self
    }
    fn to_u8(values: &[i64], lo: i64) -> Vec<u8> {
        to_u8(values, lo)
    }
    fn to_u16(values: &[i64], lo: i64) -> Vec<u16> {
        to_u16(values, lo)
    }
    fn to_u32(values: &[i64], lo: i64) -> Vec<u32> {
        to_u32(values, lo)
    }
}

impl Lane for i128 {
    #[inline(always)]
    fn low(self) -> i64 {
        self as i64
    }
    fn to_u8(values: &[i128], lo: i64) -> Vec<u8> {
        dec_to_u8(values, lo)
    }
    fn to_u16(values: &[i128], lo: i64) -> Vec<u16> {
        dec_to_u16(values, lo)
    }
    fn to_u32(values: &[i128], lo: i64) -> Vec<u32> {
        dec_to_u32(values, lo)
    }
}

/// Defines `$name`, which runs the loop `$any` compiled for AVX2 where the
/// CPU has it (so it vectorises 4–8 values a step), else as it is.
macro_rules! avx2_or_portable {
    ($(#[$doc:meta])* fn $name:ident($($a:ident: $t:ty),*) -> $r:ty = $any:path) => {
        $(#[$doc])*
        pub(super) fn $name($($a: $t),*) -> $r {
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                #[target_feature(enable = "avx2")]
                unsafe fn fast($($a: $t),*) -> $r {
                    $any($($a),*)
                }
                // SAFETY: the CPU has AVX2 (checked just above), the only
                // condition of a function whose sole unsafety is the
                // target feature it is compiled for.
                return unsafe { fast($($a),*) };
            }
            $any($($a),*)
        }
    };
}

avx2_or_portable!(
    /// `values` − `lo` in one byte each (the span fits).
    fn to_u8(values: &[i64], lo: i64) -> Vec<u8> = narrow_any::<i64, u8>
);
avx2_or_portable!(
    /// `values` − `lo` in two bytes each (the span fits).
    fn to_u16(values: &[i64], lo: i64) -> Vec<u16> = narrow_any::<i64, u16>
);
avx2_or_portable!(
    /// `values` − `lo` in four bytes each (the span fits).
    fn to_u32(values: &[i64], lo: i64) -> Vec<u32> = narrow_any::<i64, u32>
);
avx2_or_portable!(
    /// DECIMAL `values` − `lo` in one byte each (each fits `i64`, the span fits).
    fn dec_to_u8(values: &[i128], lo: i64) -> Vec<u8> = narrow_any::<i128, u8>
);
avx2_or_portable!(
    /// DECIMAL `values` − `lo` in two bytes each (each fits `i64`, the span fits).
    fn dec_to_u16(values: &[i128], lo: i64) -> Vec<u16> = narrow_any::<i128, u16>
);
avx2_or_portable!(
    /// DECIMAL `values` − `lo` in four bytes each (each fits `i64`, the span fits).
    fn dec_to_u32(values: &[i128], lo: i64) -> Vec<u32> = narrow_any::<i128, u32>
);
avx2_or_portable!(
    /// DECIMAL `values` as `i64`s (each fits).
    fn dec_to_i64(values: &[i128]) -> Vec<i64> = dec_to_i64_any
);
avx2_or_portable!(
    /// The least and greatest of DECIMAL `values` (`(0, 0)` for none);
    /// `None` when one does not fit an `i64`.
    fn dec_range(values: &[i128]) -> Option<(i64, i64)> = dec_range_any
);
avx2_or_portable!(
    /// `lo` + each of `offsets`.
    fn u8_to_i64(offsets: &[u8], lo: i64) -> Vec<i64> = widen_any::<u8, i64>
);
avx2_or_portable!(
    /// `lo` + each of `offsets`.
    fn u16_to_i64(offsets: &[u16], lo: i64) -> Vec<i64> = widen_any::<u16, i64>
);
avx2_or_portable!(
    /// `lo` + each of `offsets`.
    fn u32_to_i64(offsets: &[u32], lo: i64) -> Vec<i64> = widen_any::<u32, i64>
);
avx2_or_portable!(
    /// `lo` + each of `offsets`, as DECIMAL's `i128`s.
    fn u8_to_i128(offsets: &[u8], lo: i64) -> Vec<i128> = widen_any::<u8, i128>
);
avx2_or_portable!(
    /// `lo` + each of `offsets`, as DECIMAL's `i128`s.
    fn u16_to_i128(offsets: &[u16], lo: i64) -> Vec<i128> = widen_any::<u16, i128>
);
avx2_or_portable!(
    /// `lo` + each of `offsets`, as DECIMAL's `i128`s.
    fn u32_to_i128(offsets: &[u32], lo: i64) -> Vec<i128> = widen_any::<u32, i128>
);
avx2_or_portable!(
    /// `values` widened to DECIMAL's `i128`s.
    fn i64_to_i128(values: &[i64]) -> Vec<i128> = i64_to_i128_any
);

#[inline(always)]
fn narrow_any<L: Lane, O: Offset>(values: &[L], lo: i64) -> Vec<O> {
    values
        .iter()
        .map(|v| O::low_bits(v.low().wrapping_sub(lo)))
        .collect()
}

/// An offset's width: 1, 2 or 4 bytes.
pub(super) trait Offset: Copy + Sized {
    /// `v`'s low bits (`v` fits: it is within the span).
    fn low_bits(v: i64) -> Self;
    /// `lo` + each of `offsets`.
    fn to_i64(offsets: &[Self], lo: i64) -> Vec<i64>;
    /// `lo` + each of `offsets`, as DECIMAL's `i128`s.
    fn to_i128(offsets: &[Self], lo: i64) -> Vec<i128>;
}

/// [`Offset`] for `$t`, widened by `$to_i64` and `$to_i128`.
macro_rules! offset {
    ($t:ty, $to_i64:ident, $to_i128:ident) => {
        impl Offset for $t {
            #[inline(always)]
            fn low_bits(v: i64) -> $t {
                v as $t
            }
            fn to_i64(offsets: &[$t], lo: i64) -> Vec<i64> {
                $to_i64(offsets, lo)
            }
            fn to_i128(offsets: &[$t], lo: i64) -> Vec<i128> {
                $to_i128(offsets, lo)
            }
        }
    };
}

offset!(u8, u8_to_i64, u8_to_i128);
offset!(u16, u16_to_i64, u16_to_i128);
offset!(u32, u32_to_i64, u32_to_i128);

#[inline(always)]
fn dec_to_i64_any(values: &[i128]) -> Vec<i64> {
    values.iter().map(|&v| v as i64).collect()
}

#[inline(always)]
fn dec_range_any(values: &[i128]) -> Option<(i64, i64)> {
    if values.is_empty() {
        return Some((0, 0));
    }
    // A value fits when its upper 64 bits are its lower half's sign.
    let (lost, lo, hi) = values
        .iter()
        .fold((0i64, i64::MAX, i64::MIN), |(lost, lo, hi), &v| {
            let low = v as i64;
            (
                lost | (((v >> 64) as i64) ^ (low >> 63)),
                lo.min(low),
                hi.max(low),
            )
        });
    (lost == 0).then_some((lo, hi))
}

#[inline(always)]
fn widen_any<O: Copy + Into<i64>, W: From<i64>>(offsets: &[O], lo: i64) -> Vec<W> {
    offsets
        .iter()
        .map(|&o| W::from(lo.wrapping_add(o.into())))
        .collect()
}

#[inline(always)]
fn i64_to_i128_any(values: &[i64]) -> Vec<i128> {
    values.iter().map(|&v| v as i128).collect()
}
