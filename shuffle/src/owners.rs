//! Which core owns a key, shared by every core of a run.
//!
//! Contract:
//! - a key's routing hash falls in one of [`KEY_GROUPS`] key groups (its top
//!   bits); a key group is given to a core the first time any core asks for
//!   its owner, and never moves: every core routes a key to the same core
//!   for the whole run;
//! - a new key group goes to the core owning the fewest groups so far (the
//!   lowest such core), so a few hundred keys (100 symbols) split evenly
//!   over the cores, where a fixed reduction of their hashes splits them as
//!   unevenly as chance has it (46/54 for the market data's symbols, the
//!   heavier core then holding the other back). With far more keys than
//!   groups each group holds many keys and the split is even either way;
//! - which core gets a group depends on which core meets it first, so on
//!   several cores the owners differ from run to run: never what a key's
//!   rows compute, only where;
//! - no locks: an owner is one relaxed atomic load (the table, 8 KiB, stays
//!   in cache); a group's first owner is set by compare-and-swap, whose
//!   loser takes the winner's choice.

use std::sync::atomic::{AtomicU16, AtomicU32, Ordering};

/// Key groups (the top `GROUP_BITS` bits of a routing hash).
pub const KEY_GROUPS: usize = 1 << GROUP_BITS;
const GROUP_BITS: u32 = 12;

/// The key group of routing hash `hash`.
#[inline(always)]
pub(crate) fn group(hash: u64) -> usize {
    (hash >> (64 - GROUP_BITS)) as usize
}

/// The owning core of every key group of one run.
pub struct Owners {
    cores: usize,
    /// 0: not given yet; else the owning core plus one. (A fixed length:
    /// a group number indexes it without a bounds check.)
    groups: Box<[AtomicU16; KEY_GROUPS]>,
    /// Key groups each core owns.
    owned: Box<[AtomicU32]>,
}

impl Owners {
    /// No group given yet, for `cores` cores (1 to 65,534).
    pub fn new(cores: usize) -> Self {
        assert!((1..u16::MAX as usize).contains(&cores), "1 to 65,534 cores");
        Owners {
            cores,
            groups: Box::new([const { AtomicU16::new(0) }; KEY_GROUPS]),
            owned: (0..cores).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    pub fn cores(&self) -> usize {
        self.cores
    }

    /// The core owning keys with routing hash `hash`.
    #[inline]
    pub fn owner(&self, hash: u64) -> usize {
        if self.cores == 1 {
            return 0;
        }
        self.owner_of_group(group(hash))
    }

    /// The core owning key group `g` (given one if it has none yet).
    #[inline]
    pub(crate) fn owner_of_group(&self, g: usize) -> usize {
        match self.groups[g].load(Ordering::Relaxed) {
            0 => self.give(g),
            o => o as usize - 1,
        }
    }

    /// Of two cores, whether the second owns keys with routing hash
    /// `hash`: [`Self::owner`] `== 1`, with the table looked up through the
    /// returned function itself (a loop calling it keeps the table's
    /// address in a register).
    ///
    /// # Panics
    /// Unless there are two cores.
    pub fn second_of_two(&self) -> impl Fn(u64) -> bool + '_ {
        assert_eq!(self.cores, 2, "two cores");
        let groups: &[AtomicU16; KEY_GROUPS] = &self.groups;
        move |hash| match groups[group(hash)].load(Ordering::Relaxed) {
            0 => self.give(group(hash)) == 1,
            o => o == 2,
        }
    }

    /// Gives key group `g` to the core owning the fewest groups, unless
    /// another core gave it first; its owner either way.
    #[cold]
    #[inline(never)]
    fn give(&self, g: usize) -> usize {
        let least = (0..self.cores)
            .min_by_key(|&c| self.owned[c].load(Ordering::Relaxed))
            .expect("at least one core");
        match self.groups[g].compare_exchange(
            0,
            least as u16 + 1,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => {
                self.owned[least].fetch_add(1, Ordering::Relaxed);
                least
            }
            Err(o) => o as usize - 1,
        }
    }

    /// Each row's index (its position in `hashes`) appended to the list of
    /// the core owning its hash, `lists` holding one list per core (emptied
    /// first): every list ascends, and each row is in exactly one.
    pub fn split(&self, hashes: &[u64], lists: &mut [Vec<u32>]) {
        assert_eq!(lists.len(), self.cores, "one list per core");
        assert!(
            hashes.len() <= u32::MAX as usize,
            "rows numbered in 32 bits"
        );
        if let [a, b] = lists {
            let second = self.second_of_two();
            crate::split_rows(hashes.iter().map(|&h| second(h)), a, b);
            return;
        }
        // Room for an even share and some more: lists handed on leave empty
        // vectors behind, which would otherwise grow by doubling.
        let share = hashes.len() / self.cores + hashes.len() / 8 + 16;
        lists.iter_mut().for_each(|l| {
            l.clear();
            l.reserve(share);
        });
        for (i, &h) in hashes.iter().enumerate() {
            lists[self.owner(h)].push(i as u32);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;
    use std::sync::Arc;

    use super::*;

    fn hashes(n: u64, seed: u64) -> Vec<u64> {
        let state = foldhash::quality::FixedState::with_seed(seed);
        (0..n).map(|k| state.hash_one(k)).collect()
    }

    #[test]
    fn second_of_two_is_the_owner_being_the_second_core() {
        let hashes = hashes(5000, 11);
        let (a, b) = (Owners::new(2), Owners::new(2));
        let second = b.second_of_two();
        // Groups given through either path, interleaved, agree.
        for (i, &h) in hashes.iter().enumerate() {
            let (x, y) = if i % 2 == 0 {
                (a.owner(h) == 1, second(h))
            } else {
                (second(h), a.owner(h) == 1)
            };
            assert_eq!(x, y);
            assert_eq!(second(h), b.owner(h) == 1);
        }
    }

    #[test]
    fn each_row_is_listed_once_under_its_owner() {
        let hashes = hashes(1000, 7);
        for cores in 1..=5 {
            let owners = Owners::new(cores);
            let mut lists = vec![vec![99u32]; cores];
            owners.split(&hashes, &mut lists);
            let mut seen = vec![false; hashes.len()];
            for (d, list) in lists.iter().enumerate() {
                assert!(list.windows(2).all(|w| w[0] < w[1]), "ascending");
                for &i in list {
                    assert_eq!(owners.owner(hashes[i as usize]), d);
                    assert!(!seen[i as usize], "listed once");
                    seen[i as usize] = true;
                }
            }
            assert!(seen.iter().all(|s| *s), "every row listed");
        }
    }

    #[test]
    fn few_keys_split_evenly_and_many_keys_spread() {
        for cores in 1..=8 {
            // 100 keys: each core owns 100 / cores of them, give or take
            // the odd pair sharing a key group.
            let owners = Owners::new(cores);
            let mut counts = vec![0usize; cores];
            for h in hashes(100, 3) {
                counts[owners.owner(h)] += 1;
            }
            let even = 100 / cores;
            for &c in &counts {
                assert!(c + 2 >= even && c <= even + 3, "{counts:?}");
            }
            // 80,000 keys: within a tenth of an even share.
            let owners = Owners::new(cores);
            let mut counts = vec![0usize; cores];
            for h in hashes(80_000, 1) {
                let o = owners.owner(h);
                assert!(o < cores);
                counts[o] += 1;
            }
            let expected = 80_000 / cores;
            for c in counts {
                assert!(
                    c > expected * 9 / 10 && c < expected * 11 / 10,
                    "skewed: {c} vs {expected}"
                );
            }
        }
    }

    #[test]
    fn cores_asking_at_once_agree_on_every_owner() {
        let hashes = Arc::new(hashes(20_000, 5));
        let owners = Arc::new(Owners::new(4));
        let seen: Vec<Vec<usize>> = std::thread::scope(|s| {
            let runs: Vec<_> = (0..4)
                .map(|t| {
                    let (hashes, owners) = (hashes.clone(), owners.clone());
                    // Each thread starts at a different row, so they race
                    // to give the same groups.
                    s.spawn(move || {
                        let n = hashes.len();
                        let mut got = vec![0; n];
                        for k in 0..n {
                            let i = (k + t * n / 4) % n;
                            got[i] = owners.owner(hashes[i]);
                        }
                        got
                    })
                })
                .collect();
            runs.into_iter().map(|r| r.join().unwrap()).collect()
        });
        assert!(seen.windows(2).all(|w| w[0] == w[1]), "one owner per key");
        let total: u32 = owners.owned.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        let given = owners
            .groups
            .iter()
            .filter(|g| g.load(Ordering::Relaxed) != 0)
            .count();
        assert_eq!(total as usize, given, "each group counted once");
    }
}
