//! The commas and newlines of a text, in order, found 64 bytes a step.
//!
//! Contract: [`Marks::next`] gives every byte of the text that is `,` or
//! `\n`, in ascending position, each once, with whether it is a newline;
//! then `None`. A block of 64 bytes is compared with both bytes at once
//! (SSE2, which every x86-64 CPU has; a byte loop elsewhere) into two bit
//! masks, and the marks are taken from the masks one bit at a time, so a
//! line's fields cost a few instructions each instead of a search each.

/// A cursor over the commas and newlines of `text`.
pub(super) struct Marks<'a> {
    text: &'a [u8],
    /// Where the block the masks cover starts.
    base: usize,
    /// The block's commas and newlines not yet taken (bit `i`: byte
    /// `base + i`).
    bits: u64,
    /// The block's newlines.
    newlines: u64,
}

impl<'a> Marks<'a> {
    pub(super) fn new(text: &'a [u8]) -> Self {
        let mut m = Marks {
            text,
            base: 0,
            bits: 0,
            newlines: 0,
        };
        m.load();
        m
    }

    /// The next comma or newline: its position and whether it is a newline.
    #[inline]
    pub(super) fn next(&mut self) -> Option<(usize, bool)> {
        while self.bits == 0 {
            if self.base + 64 >= self.text.len() {
                return None;
            }
            self.base += 64;
            self.load();
        }
        let i = self.bits.trailing_zeros();
        self.bits &= self.bits - 1;
        Some((self.base + i as usize, (self.newlines >> i) & 1 == 1))
    }

    /// The masks of the block at `base` (its last block padded with zeros).
    fn load(&mut self) {
        let rest = &self.text[self.base.min(self.text.len())..];
        let (commas, newlines) = match rest.first_chunk::<64>() {
            Some(block) => masks(block),
            None => {
                let mut block = [0u8; 64];
                block[..rest.len()].copy_from_slice(rest);
                masks(&block)
            }
        };
        self.bits = commas | newlines;
        self.newlines = newlines;
    }
}

/// Bit `i` set where `block[i]` is `,` (first mask) or `\n` (second).
#[cfg(target_arch = "x86_64")]
#[inline]
fn masks(block: &[u8; 64]) -> (u64, u64) {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
    };
    let (mut commas, mut newlines) = (0u64, 0u64);
    // SAFETY: SSE2 is part of x86-64, so these intrinsics are always
    // available; each load reads 16 bytes at offset `16 * k` for k < 4,
    // inside the 64-byte block (unaligned loads allow any address).
    unsafe {
        let (comma, newline) = (_mm_set1_epi8(b',' as i8), _mm_set1_epi8(b'\n' as i8));
        for k in 0..4 {
            let v = _mm_loadu_si128(block.as_ptr().add(16 * k) as *const __m128i);
            let c = _mm_movemask_epi8(_mm_cmpeq_epi8(v, comma)) as u16 as u64;
            let n = _mm_movemask_epi8(_mm_cmpeq_epi8(v, newline)) as u16 as u64;
            commas |= c << (16 * k);
            newlines |= n << (16 * k);
        }
    }
    (commas, newlines)
}

/// Bit `i` set where `block[i]` is `,` (first mask) or `\n` (second).
#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn masks(block: &[u8; 64]) -> (u64, u64) {
    let (mut commas, mut newlines) = (0u64, 0u64);
    for (i, &b) in block.iter().enumerate() {
        commas |= ((b == b',') as u64) << i;
        newlines |= ((b == b'\n') as u64) << i;
    }
    (commas, newlines)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Every comma and newline, in order, against a plain scan.
        #[test]
        fn marks_are_the_commas_and_newlines(
            text in proptest::collection::vec(
                prop_oneof![Just(b','), Just(b'\n'), Just(b'a'), any::<u8>()],
                0..300,
            ),
        ) {
            let want: Vec<(usize, bool)> = text
                .iter()
                .enumerate()
                .filter(|(_, &b)| b == b',' || b == b'\n')
                .map(|(i, &b)| (i, b == b'\n'))
                .collect();
            let mut m = Marks::new(&text);
            let got: Vec<(usize, bool)> = std::iter::from_fn(|| m.next()).collect();
            prop_assert_eq!(got, want);
        }
    }
}
