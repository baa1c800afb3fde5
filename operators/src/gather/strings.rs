//! Concatenating string values, given as spans of other arrays' text, into
//! one string array: the copy under every string gather (the filter's, the
//! exchange's, the event-time release's).
//!
//! Contract: [`concat_strings`] returns the array whose value `k` is the
//! `k`-th span's bytes, with the NULLs given. The spans are walked twice:
//! once for the total length and the longest string, then for the copies.
//! When no string is longer than [`SHORT`] bytes, each is copied as one
//! fixed 16-byte block (no call, no length test) for as long as its block
//! lies within its text; the rest are copied by length.

use std::mem::MaybeUninit;

use arrow_array::StringArray;
use arrow_buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};

use super::SHORT;

/// A string to copy: (text, start, length).
pub(crate) type Span<'a> = (&'a [u8], usize, usize);

/// The strings `span(0..rows)` concatenated into one array, built in
/// `offsets` and `values` (emptied first), with `nulls`.
///
/// # Safety
/// Each span's `src[start..start + len]` must be in bounds and valid UTF-8
/// (a whole value of a string array), and `span` must give the same span
/// for a row every time (the copies rely on the lengths summed first). In
/// turn, `span` is called only for rows below `rows`.
///
/// # Panics
/// When the text exceeds `i32::MAX` bytes.
pub(crate) unsafe fn concat_strings<'a>(
    rows: usize,
    span: impl Fn(usize) -> Span<'a> + Copy,
    mut offsets: Vec<i32>,
    mut values: Vec<u8>,
    nulls: Option<NullBuffer>,
) -> StringArray {
    let (total, longest) = (0..rows).fold((0usize, 0usize), |(t, l), k| {
        let len = span(k).2;
        (t + len, l.max(len))
    });
    assert!(total <= i32::MAX as usize, "gathered strings exceed 2 GiB");
    offsets.clear();
    offsets.reserve(rows + 1);
    offsets.push(0);
    // Room for a full block past the last string, not zeroed: every byte
    // below `total` is written by the copies, and the length is set to
    // `total` once they are done.
    values.clear();
    values.reserve(total + SHORT);
    let ends = &mut offsets.spare_capacity_mut()[..rows];
    let dst = values.as_mut_ptr();
    // SAFETY: the spans are in bounds and the same as those just summed
    // (the caller's promise); `dst` has room for `total + SHORT` bytes.
    let pos = unsafe {
        if longest <= SHORT {
            copy_short(span, ends, dst)
        } else {
            copy_any(span, ends, dst, 0, 0)
        }
    };
    assert!(pos == total, "the same spans both walks");
    // SAFETY: the copies wrote every byte of `0..total` (the spans tile it,
    // in order) and the `rows` end offsets after the leading 0, within the
    // capacity reserved above.
    unsafe {
        values.set_len(total);
        offsets.set_len(rows + 1);
    }
    // SAFETY: the offsets start at 0 and never decrease (each adds a
    // string's length, and their sum fits i32, checked above).
    let offsets = unsafe { OffsetBuffer::new_unchecked(ScalarBuffer::from(offsets)) };
    // SAFETY: every byte of `values` was last written by the copy of the
    // string it belongs to (later copies start past it; block bytes past
    // the last string lie beyond the length), so `values` is the
    // concatenation of whole UTF-8 values (the caller's promise). `offsets`
    // end at `values.len()` (at most i32::MAX) and mark exactly the
    // strings' boundaries.
    unsafe { StringArray::new_unchecked(offsets, Buffer::from_vec(values), nulls) }
}

/// Copies the spans of rows `0..ends.len()`, none longer than [`SHORT`]
/// bytes, to `dst`, writing each one's end offset to `ends`: one 16-byte
/// block each while the block lies within its text, in a loop with no call
/// (so nothing is spilled around one), then the rest by [`copy_any`].
/// Returns the bytes copied.
///
/// # Safety
/// As [`copy_any`], for spans no longer than [`SHORT`].
#[inline(never)]
unsafe fn copy_short<'a>(
    span: impl Fn(usize) -> Span<'a>,
    ends: &mut [MaybeUninit<i32>],
    dst: *mut u8,
) -> usize {
    let (mut k, mut pos) = (0usize, 0usize);
    while k < ends.len() {
        let (src, from, len) = span(k);
        if from + SHORT > src.len() {
            break;
        }
        // SAFETY: `src[from..from + SHORT]` was checked just above; the
        // block written at `pos` ends at most `SHORT` past the end of this
        // span's copy, within the caller's room. Distinct allocations.
        unsafe {
            let block = (src.as_ptr().add(from) as *const u128).read_unaligned();
            (dst.add(pos) as *mut u128).write_unaligned(block);
        }
        pos += len;
        ends[k].write(pos as i32);
        k += 1;
    }
    // SAFETY: the rest of the spans, as the caller promised for all.
    unsafe { copy_any(span, ends, dst, k, pos) }
}

/// Copies the spans of rows `k..ends.len()` to `dst` from byte `pos` on,
/// writing each one's end offset to `ends`: a block for a span of at most
/// [`SHORT`] bytes whose block lies within its text, else by length.
/// Returns the bytes copied, with the `pos` before them.
///
/// # Safety
/// Each span's `src[start..start + len]` is in bounds; `dst` has room for
/// `pos` plus the spans' lengths plus [`SHORT`] bytes, and does not overlap
/// any text.
unsafe fn copy_any<'a>(
    span: impl Fn(usize) -> Span<'a>,
    ends: &mut [MaybeUninit<i32>],
    dst: *mut u8,
    k: usize,
    mut pos: usize,
) -> usize {
    for (k, end) in ends.iter_mut().enumerate().skip(k) {
        let (src, from, len) = span(k);
        // SAFETY: `src[from..from + len]` is in bounds and `dst` has room
        // for it at `pos`, plus a block's slack (the caller's promise); the
        // block is read only when it lies within `src`.
        unsafe {
            let (s, d) = (src.as_ptr().add(from), dst.add(pos));
            if len <= SHORT && from + SHORT <= src.len() {
                (d as *mut u128).write_unaligned((s as *const u128).read_unaligned());
            } else {
                std::ptr::copy_nonoverlapping(s, d, len);
            }
        }
        pos += len;
        end.write(pos as i32);
    }
    pos
}
