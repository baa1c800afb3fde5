//! Splitting a batch's rows between two cores by their routing hashes,
//! sixteen rows a step where the CPU has AVX-512.
//!
//! Contract: [`Owners::split_two`] lists each row of `hashes` under the
//! core owning its hash, as [`Owners::split`] does for two cores (both
//! lists ascending, emptied first, each row in exactly one), and gives
//! every key group the owner the shared table gives it. Each core keeps its
//! own [`Sides`]: a byte per key group naming which of the two cores owns
//! it, filled from [`Owners`] as groups are met. A group's owner never
//! moves, so a side once known stays true. With AVX-512 F a step reads
//! sixteen rows' sides (a load each: a gather of sixteen waited longer)
//! into a mask and writes the sixteen row numbers to both lists, each
//! compressed to the rows its core owns; a step meeting a group this core
//! has not looked up yet asks the shared table for it (giving it an owner
//! if none has), then runs again. Without AVX-512, row by row.

use crate::owners::{group, Owners, KEY_GROUPS};

/// Which of two cores owns each key group, as far as this core has seen:
/// 0 not looked up yet, 1 the first core, 2 the second.
pub struct Sides {
    /// One byte per group.
    sides: Box<[u8; KEY_GROUPS]>,
}

impl Default for Sides {
    fn default() -> Self {
        Sides {
            sides: Box::new([0; KEY_GROUPS]),
        }
    }
}

impl Sides {
    /// Nothing known yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Of sixteen rows' hashes: which the second core owns (a bit each),
    /// and whether any group is not known yet. Read byte by byte, in code
    /// of its own: a gather of sixteen waited longer than sixteen loads,
    /// and the loop compiled for AVX-512 assembled the bytes in vectors.
    #[cfg(target_arch = "x86_64")]
    #[inline(never)]
    fn of_sixteen(&self, hashes: &[u64]) -> (u16, bool) {
        let (mut to_b, mut unknown) = (0u32, 0u32);
        for (k, &h) in hashes[..16].iter().enumerate() {
            let s = self.sides[group(h)] as u32;
            to_b |= (s >> 1) << k;
            unknown |= (s == 0) as u32;
        }
        (to_b as u16, unknown != 0)
    }

    /// Group `g`'s side, looked up in `owners` (and given an owner) when
    /// this core has not met it yet.
    fn learn(&mut self, owners: &Owners, g: usize) -> u8 {
        let s = &mut self.sides[g];
        if *s == 0 {
            *s = owners.owner_of_group(g) as u8 + 1;
        }
        *s
    }
}

impl Owners {
    /// [`Self::split`] for two cores, through this core's `sides`.
    ///
    /// # Panics
    /// Unless there are two cores; when there are 2^32 rows or more.
    pub fn split_two(&self, hashes: &[u64], sides: &mut Sides, a: &mut Vec<u32>, b: &mut Vec<u32>) {
        assert_eq!(self.cores(), 2, "two cores");
        let n = hashes.len();
        assert!(n < u32::MAX as usize, "rows numbered in 32 bits");
        for l in [&mut *a, &mut *b] {
            l.clear();
            // A step stores sixteen lanes past its list's length.
            l.reserve(n + 16);
        }
        let mut done = 0;
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("popcnt")
        {
            // SAFETY: the CPU has AVX-512 F and POPCNT (checked just
            // above), the target features `avx512::split` enables; both lists
            // are empty with room for `n + 16` rows (reserved above).
            done = unsafe { avx512::split(self, hashes, sides, a, b) };
        }
        for (i, &h) in hashes.iter().enumerate().skip(done) {
            let list = if sides.learn(self, group(h)) == 2 {
                &mut *b
            } else {
                &mut *a
            };
            list.push(i as u32);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::Sides;
    use crate::owners::{group, Owners};

    /// The first rows of `hashes`, sixteen at a time, split as
    /// [`Owners::split_two`] splits them; how many (a multiple of sixteen;
    /// the caller lists the rest). Every side the rows need is learnt.
    ///
    /// # Safety
    /// The CPU must have AVX-512 F and POPCNT; `a` and `b` must be empty
    /// with room for `hashes.len() + 16` rows; `hashes.len()` below 2^32.
    #[target_feature(enable = "avx512f,popcnt")]
    pub(super) unsafe fn split(
        owners: &Owners,
        hashes: &[u64],
        sides: &mut Sides,
        a: &mut Vec<u32>,
        b: &mut Vec<u32>,
    ) -> usize {
        let n = hashes.len();
        let (pa, pb) = (a.as_mut_ptr(), b.as_mut_ptr());
        let (mut na, mut nb) = (0usize, 0usize);
        let lanes = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
        let mut i = 0;
        while i + 16 <= n {
            let (to_b, unknown) = sides.of_sixteen(&hashes[i..i + 16]);
            if unknown {
                // Groups this core has not met: learnt, then the step again.
                for &h in &hashes[i..i + 16] {
                    sides.learn(owners, group(h));
                }
                continue;
            }
            let rows = _mm512_add_epi32(_mm512_set1_epi32(i as i32), lanes);
            // SAFETY: `na + nb == i`, so each list's sixteen stored lanes
            // end within `i + 16 <= n + 16`, its reserved room.
            unsafe {
                _mm512_storeu_si512(pa.add(na).cast(), _mm512_maskz_compress_epi32(!to_b, rows));
                _mm512_storeu_si512(pb.add(nb).cast(), _mm512_maskz_compress_epi32(to_b, rows));
            }
            nb += to_b.count_ones() as usize;
            na += 16 - to_b.count_ones() as usize;
            i += 16;
        }
        // SAFETY: the first `na` (`nb`) slots of each list were written (a
        // step's compressed rows first in its stored lanes), within room.
        unsafe {
            a.set_len(na);
            b.set_len(nb);
        }
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Each row is listed once, ascending, under the owner the shared
        /// table gives its hash: rows counts around the sixteen-row step,
        /// few groups or many, sides partly learnt beforehand (through
        /// another core's lookups too), and a second split with the same
        /// sides.
        #[test]
        fn split_two_lists_rows_under_their_owners(
            hashes in prop::collection::vec(any::<u64>(), 0..100),
            groups in prop::sample::select(vec![4u64, 64, 4096]),
            before in prop::collection::vec(any::<u64>(), 0..20),
        ) {
            let owners = Owners::new(2);
            // Hashes in a few groups (a few hundred keys' worth), or in any.
            let step = (KEY_GROUPS as u64 / groups) << (64 - 12);
            let hashes: Vec<u64> = hashes
                .iter()
                .map(|h| ((h % groups) * step) | (h & 0xffff))
                .collect();
            let mut sides = Sides::new();
            // Some groups given already by another core, some learnt here.
            for &h in &before {
                owners.owner(h);
                sides.learn(&owners, group(h ^ (1 << 63)));
            }
            for _ in 0..2 {
                let (mut a, mut b) = (vec![7u32], vec![9u32]);
                owners.split_two(&hashes, &mut sides, &mut a, &mut b);
                let want_a: Vec<u32> = (0..hashes.len() as u32).filter(|&i| owners.owner(hashes[i as usize]) == 0).collect();
                let want_b: Vec<u32> = (0..hashes.len() as u32).filter(|&i| owners.owner(hashes[i as usize]) == 1).collect();
                prop_assert_eq!(a, want_a);
                prop_assert_eq!(b, want_b);
            }
        }
    }
}
