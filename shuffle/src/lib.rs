//! # percore-shuffle
//!
//! Moves data between cores and knows nothing of SQL:
//!
//! - [`owner_of`]: which core owns a key hash; [`split_by_owner`]: a batch's
//!   rows listed per owning core, for receivers that hold rows by reference;
//! - [`Exchange`]: rows gathered per destination from several batches into
//!   pooled buffers, which the receiver hands back ([`reclaim`]) for reuse;
//! - [`Mesh`] / [`Endpoint`]: one bounded lock-free SPSC ring per ordered pair
//!   of cores (N×N), carrying [`Message`]s — batches and the watermarks that
//!   follow them. A full ring is backpressure; a sender waiting on one keeps
//!   draining its own inbound rings, so no cycle of full rings can deadlock.
//!   An idle core parks its thread and is unparked when a message arrives.
//!
//! ```
//! use percore_shuffle::{Mesh, Message};
//!
//! let mesh = Mesh::<u32>::new(2, 4);
//! let a = mesh.endpoint(0);
//! let b = mesh.endpoint(1);
//! a.try_send(1, Message::Data(7)).unwrap();
//! a.try_send(1, Message::End).unwrap();
//! assert!(matches!(b.try_recv(0), Some(Message::Data(7))));
//! assert!(matches!(b.try_recv(0), Some(Message::End)));
//! ```

#![deny(unsafe_op_in_unsafe_fn)]

mod exchange;
mod mesh;

pub use exchange::Exchange;
pub use mesh::{Endpoint, Mesh, Message};
use percore_operators::gather::split_rows;
pub use percore_operators::gather::{reclaim, Pool};

/// The core that owns a key with hash `hash` among `cores` cores.
///
/// Multiply-shift range reduction: uniform for uniform hashes, and stable for
/// a given `(hash, cores)`, so every core routes a key to the same owner.
#[inline]
pub fn owner_of(hash: u64, cores: usize) -> usize {
    debug_assert!(cores > 0, "at least one core");
    ((hash as u128 * cores as u128) >> 64) as usize
}

/// Each row's index (its position in `hashes`) appended to the list of the
/// core owning its hash, `lists` holding one list per core (emptied first):
/// every list ascends, and each row is in exactly one.
pub fn split_by_owner(hashes: &[u64], lists: &mut [Vec<u32>]) {
    let cores = lists.len();
    assert!(cores > 0, "at least one core");
    assert!(
        hashes.len() <= u32::MAX as usize,
        "rows numbered in 32 bits"
    );
    if let [a, b] = lists {
        split_rows(hashes.iter().map(|&h| owner_of(h, 2) == 1), a, b);
        return;
    }
    // Room for an even share and some more: lists handed on leave empty
    // vectors behind, which would otherwise grow by doubling.
    let share = hashes.len() / cores + hashes.len() / 8 + 16;
    lists.iter_mut().for_each(|l| {
        l.clear();
        l.reserve(share);
    });
    for (i, &h) in hashes.iter().enumerate() {
        lists[owner_of(h, cores)].push(i as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_row_is_listed_once_under_its_owner() {
        let hashes: Vec<u64> = (0..1000u64)
            .map(|k| k.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect();
        for cores in 1..=5 {
            let mut lists = vec![vec![99u32]; cores];
            split_by_owner(&hashes, &mut lists);
            let mut seen = vec![false; hashes.len()];
            for (d, list) in lists.iter().enumerate() {
                assert!(list.windows(2).all(|w| w[0] < w[1]), "ascending");
                for &i in list {
                    assert_eq!(owner_of(hashes[i as usize], cores), d);
                    assert!(!seen[i as usize], "listed once");
                    seen[i as usize] = true;
                }
            }
            assert!(seen.iter().all(|s| *s), "every row listed");
        }
    }

    #[test]
    fn owners_are_in_range_and_spread() {
        use std::hash::BuildHasher;
        let state = foldhash::quality::FixedState::with_seed(1);
        for cores in 1..=8 {
            let mut counts = vec![0usize; cores];
            for k in 0..80_000u64 {
                let o = owner_of(state.hash_one(k), cores);
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
}
