//! The open windows of a tumbling aggregate: one set of groups per window
//! start, and the cleared sets of closed windows kept for reuse.
//!
//! Contract: [`Windows::fold`] folds rows into their windows' groups;
//! [`Windows::pop_closed`] hands out windows in start order once their end is
//! at or below a limit; a window's groups given back with
//! [`Windows::recycle`] serve the next window that opens. They keep their
//! keys with every value reset (or are cleared, their key arena reset, when
//! fewer than half their keys had rows or they hold more than
//! [`KEEP_KEYS`]): the next window's rows mostly find their keys instead
//! of inserting them. A run
//! with bounded groups per window allocates nothing once warm and its memory
//! stays flat; a group no row of a window reaches is not emitted for it.

use std::collections::BTreeMap;

use arrow_array::{ArrayRef, UInt32Array};

use super::group_by::Groups;
use crate::gather::split_rows;
use crate::plan::AggPlan;
use crate::state::time_range;

/// Cleared group sets kept (more would only hold memory).
const SPARE: usize = 4;

/// The most keys a recycled group set keeps: a larger one is cleared, so
/// kept keys never fill a pre-aggregating core's bound on groups held
/// ([`super::PartialAgg::MAX_GROUPS`]) on their own (a window of 40,000
/// groups kept whole would flush every open window's partials as the next
/// one opens).
pub(crate) const KEEP_KEYS: usize = 1 << 14;

pub(crate) struct Windows {
    plan: AggPlan,
    open: BTreeMap<i64, Groups>,
    spare: Vec<Groups>,
}

impl Windows {
    pub(crate) fn new(plan: &AggPlan) -> Self {
        Windows {
            plan: plan.clone(),
            open: BTreeMap::new(),
            spare: Vec::new(),
        }
    }

    /// The groups of the window starting at `start`, opened if need be.
    pub(crate) fn entry(&mut self, start: i64) -> &mut Groups {
        let (plan, spare) = (&self.plan, &mut self.spare);
        self.open
            .entry(start)
            .or_insert_with(|| spare.pop().unwrap_or_else(|| Groups::new(plan)))
    }

    /// Folds row `i` of `keys`/`args` into the window starting at row
    /// `i`'s start, one window's rows at a time: a window's share of a
    /// batch read where it lies (keys and arguments), not taken out.
    pub(crate) fn fold(&mut self, starts: &Starts, keys: &[ArrayRef], args: &[Option<ArrayRef>]) {
        match starts {
            Starts::One(s, n) => self.entry(*s).update(keys, args, *n),
            Starts::Two { early, late, rows } => {
                for (s, rows) in [(*early, &rows[0]), (*late, &rows[1])] {
                    if !rows.is_empty() {
                        self.entry(s).update_rows(keys, rows, args);
                    }
                }
            }
            Starts::Each(v) => {
                for (s, rows) in by_start(v) {
                    match rows {
                        None => self.entry(s).update(keys, args, v.len()),
                        Some(idx) => self.entry(s).update_rows(keys, idx.values(), args),
                    }
                }
            }
        }
    }

    /// Merges partial states (`cols`: keys, then partial columns, as
    /// [`Groups::partial`] makes them) of row `i` into the window
    /// starting at `starts[i]`.
    pub(crate) fn merge(&mut self, starts: &[i64], cols: &[ArrayRef]) {
        for (s, rows) in by_start(starts) {
            match rows {
                None => self.entry(s).merge(cols, starts.len()),
                Some(idx) => {
                    let part: Vec<ArrayRef> = cols
                        .iter()
                        .map(|a| arrow_select::take::take(a, &idx, None).expect("take"))
                        .collect();
                    self.entry(s).merge(&part, idx.len());
                }
            }
        }
    }

    /// The earliest open window if it ends (`start + size`) at or below `limit`.
    pub(crate) fn pop_closed(&mut self, size: i64, limit: i64) -> Option<(i64, Groups)> {
        let (&start, _) = self.open.first_key_value()?;
        if start.saturating_add(size) > limit {
            return None;
        }
        self.open.remove_entry(&start)
    }

    /// Opens the window starting at `start` with `groups` (built elsewhere);
    /// hands them back when that window is already open.
    pub(crate) fn adopt(&mut self, start: i64, groups: Groups) -> Option<Groups> {
        match self.open.entry(start) {
            std::collections::btree_map::Entry::Occupied(_) => Some(groups),
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(groups);
                None
            }
        }
    }

    /// The cleared group sets kept for reuse, taken out (for the windows
    /// that adopted this one's groups: see [`Self::adopt`]).
    pub(crate) fn take_spares(&mut self) -> Vec<Groups> {
        std::mem::take(&mut self.spare)
    }

    /// Keeps cleared group sets from elsewhere for reuse (up to the bound).
    pub(crate) fn give_spares(&mut self, spares: Vec<Groups>) {
        for g in spares {
            if self.spare.len() < SPARE {
                self.spare.push(g);
            }
        }
    }

    /// Every open window, in start order.
    pub(crate) fn take_all(&mut self) -> Vec<(i64, Groups)> {
        std::mem::take(&mut self.open).into_iter().collect()
    }

    /// Takes back a closed window's groups for reuse: their values reset,
    /// their keys kept (windows after it mostly meet the same keys) unless
    /// fewer than half of them had rows (then cleared, so keys that stopped
    /// coming are not held for ever) or they are more than [`KEEP_KEYS`].
    /// EMIT CHANGES too since session 32 (its rows' keys found, not
    /// inserted: 0.978–0.985 of the time paired, where an earlier session
    /// had measured it 1% slower).
    pub(crate) fn recycle(&mut self, groups: Groups) {
        self.recycle_keeping(groups, true);
    }

    /// [`Self::recycle`], with the keys cleared whatever their rows when
    /// `keep` is false (groups closed because too many were held).
    pub(crate) fn recycle_keeping(&mut self, mut groups: Groups, keep: bool) {
        if self.spare.len() < SPARE {
            let keep = keep && groups.len() <= KEEP_KEYS;
            if !keep || groups.live_len() * 2 < groups.len() {
                groups.clear();
            } else {
                groups.reset_values();
            }
            self.spare.push(groups);
        }
    }

    /// Groups held over all open windows.
    pub(crate) fn groups(&self) -> usize {
        self.open.values().map(Groups::len).sum()
    }
}

/// Start of the tumbling window of `size` ms (aligned to the epoch) holding
/// each time (the first window starts at i64::MIN, however short): the last
/// window found is remembered, so times in it — most of a batch's — cost a
/// compare instead of a 64-bit division.
pub(crate) struct StartOf {
    size: i64,
    /// The last window found: its start and (exclusive) end.
    last: i64,
    end: i128,
}

impl StartOf {
    /// `size` must be positive.
    pub(crate) fn new(size: i64) -> Self {
        StartOf {
            size,
            last: 0,
            end: size as i128,
        }
    }

    #[inline(always)]
    pub(crate) fn start(&mut self, t: i64) -> i64 {
        if t >= self.last && (t as i128) < self.end {
            return self.last;
        }
        // In i128, then clamped: the window of a time near i64::MIN may
        // start below it.
        let floor = (t as i128).div_euclid(self.size as i128) * self.size as i128;
        self.last = floor.max(i64::MIN as i128) as i64;
        self.end = floor + self.size as i128;
        self.last
    }
}

/// The window start of each row of a batch: one start for every row (the
/// common case: a batch's times share a window), two adjacent windows' rows
/// listed (a batch across one window's end), or each row's own.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Starts {
    /// Every one of the batch's rows (the count) in the window starting here.
    One(i64, usize),
    /// The rows of the windows starting at `early` and at `late` (the next
    /// one), each list ascending; every row on one of them.
    Two {
        early: i64,
        late: i64,
        rows: [Vec<u32>; 2],
    },
    /// Each row's start, in row order.
    Each(Vec<i64>),
}

impl Starts {
    /// Each row's start, in row order.
    pub(crate) fn each(&self) -> Vec<i64> {
        match self {
            Starts::One(s, n) => vec![*s; *n],
            Starts::Two { early, late, rows } => {
                let mut v = vec![*early; rows[0].len() + rows[1].len()];
                for &r in &rows[1] {
                    v[r as usize] = *late;
                }
                v
            }
            Starts::Each(v) => v.clone(),
        }
    }
}

/// The window start (windows of `size` ms) of each of `times`, with the
/// least start and the greatest time (`None` when there are no times).
/// [`Starts::One`] when the least and greatest times share a window (then
/// every time between does), the most common case, with nothing written per
/// row; [`Starts::Two`] when they are in adjacent windows (a row is in the
/// later one when its time is at or past its start: one branch-free pass
/// lists the rows); [`StartOf`] row by row otherwise.
pub(crate) fn window_starts(times: &[i64], size: i64) -> (Starts, Option<(i64, i64)>) {
    let Some((lo, hi)) = time_range(times) else {
        return (Starts::Each(Vec::new()), None);
    };
    let mut start_of = StartOf::new(size);
    let least = start_of.start(lo);
    let latest = start_of.start(hi);
    if latest == least {
        return (Starts::One(least, times.len()), Some((least, hi)));
    }
    if least.checked_add(size) == Some(latest) {
        let (mut early, mut late) = (Vec::new(), Vec::new());
        split_rows(times.iter().map(|&t| t >= latest), &mut early, &mut late);
        let rows = [early, late];
        return (
            Starts::Two {
                early: least,
                late: latest,
                rows,
            },
            Some((least, hi)),
        );
    }
    let starts = times.iter().map(|&t| start_of.start(t)).collect();
    (Starts::Each(starts), Some((least, hi)))
}

/// The distinct window starts of `starts` in ascending order, each with the
/// rows that have it (`None`: every row — one window, nothing to split).
/// Two starts (a batch across one window's end, out of order near it: the
/// common split) in one pass without a branch per row; more, in one pass
/// that finds each row's start among the few seen so far, the last one
/// first.
fn by_start(starts: &[i64]) -> Vec<(i64, Option<UInt32Array>)> {
    let Some((lo, hi)) = time_range(starts) else {
        return Vec::new();
    };
    if lo == hi {
        return vec![(lo, None)];
    }
    if starts.iter().all(|&s| s == lo || s == hi) {
        let (mut early, mut late) = (Vec::new(), Vec::new());
        split_rows(starts.iter().map(|&s| s == hi), &mut early, &mut late);
        return vec![
            (lo, Some(UInt32Array::from(early))),
            (hi, Some(UInt32Array::from(late))),
        ];
    }
    let mut found: Vec<(i64, Vec<u32>)> = Vec::new();
    let mut last = usize::MAX;
    for (i, &s) in starts.iter().enumerate() {
        if found.get(last).is_none_or(|f| f.0 != s) {
            last = match found.iter().position(|f| f.0 == s) {
                Some(k) => k,
                None => {
                    found.push((s, Vec::with_capacity(starts.len())));
                    found.len() - 1
                }
            };
        }
        found[last].1.push(i as u32);
    }
    found.sort_unstable_by_key(|f| f.0);
    found
        .into_iter()
        .map(|(s, rows)| (s, Some(UInt32Array::from(rows))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::StartOf;
    use proptest::prelude::*;

    proptest! {
        /// Each distinct start once, ascending, with exactly its rows in order.
        #[test]
        fn by_start_splits_rows_by_window(
            starts in prop::collection::vec(prop_oneof![
                4 => Just(0i64),
                3 => Just(60_000i64),
                1 => -2i64..3,
            ], 0..300),
        ) {
            let got: Vec<(i64, Vec<u32>)> = super::by_start(&starts)
                .into_iter()
                .map(|(s, rows)| {
                    let rows = match rows {
                        None => (0..starts.len() as u32).collect(),
                        Some(r) => r.values().to_vec(),
                    };
                    (s, rows)
                })
                .collect();
            let mut distinct = starts.clone();
            distinct.sort();
            distinct.dedup();
            let want: Vec<(i64, Vec<u32>)> = distinct
                .into_iter()
                .map(|s| (s, (0..starts.len() as u32).filter(|&i| starts[i as usize] == s).collect()))
                .collect();
            prop_assert_eq!(got, want);
        }

        /// Each time's start as dividing gives it, the least start and the
        /// greatest time: batches within one window (filled at once) and
        /// across several, in any order, at the ends of the i64 range too.
        #[test]
        fn window_starts_are_each_times_floor(
            times in prop_oneof![
                prop::collection::vec(0i64..60_000, 0..300),
                prop::collection::vec(-130_000i64..130_000, 0..300),
                prop::collection::vec(50_000i64..70_000, 0..300),
                prop::collection::vec(any::<i64>(), 0..50),
            ],
            size in prop_oneof![Just(60_000i64), 1i64..1_000, Just(i64::MAX)],
        ) {
            let floor = |t: i64| {
                let f = (t as i128).div_euclid(size as i128) * size as i128;
                f.max(i64::MIN as i128) as i64
            };
            let (starts, range) = super::window_starts(&times, size);
            let want: Vec<i64> = times.iter().map(|&t| floor(t)).collect();
            prop_assert_eq!(starts.each(), want.clone());
            // One start for all exactly when the rows share one window; two
            // lists exactly when they span two adjacent ones.
            let (lo, hi) = (want.iter().min(), want.iter().max());
            let one = lo.is_some() && lo == hi;
            let two = lo.zip(hi).is_some_and(|(l, h)| l.checked_add(size) == Some(*h));
            prop_assert_eq!(matches!(starts, super::Starts::One(..)), one);
            prop_assert_eq!(matches!(starts, super::Starts::Two { .. }), two);
            if let super::Starts::Two { rows, .. } = &starts {
                // Each list ascending, the two together every row once.
                let mut all: Vec<u32> = rows.concat();
                prop_assert!(rows.iter().all(|r| r.windows(2).all(|w| w[0] < w[1])));
                all.sort();
                prop_assert_eq!(all, (0..times.len() as u32).collect::<Vec<_>>());
            }
            let least = want.iter().copied().min();
            let latest = times.iter().copied().max();
            prop_assert_eq!(range, least.zip(latest));
        }

        /// The remembered window gives the same start as dividing, for runs
        /// of nearby times and for times anywhere in the i64 range.
        #[test]
        fn start_of_is_the_euclidean_floor(
            times in prop::collection::vec(prop_oneof![
                -200_000i64..200_000,
                any::<i64>(),
                Just(i64::MIN),
                Just(i64::MAX),
            ], 0..200),
            size in prop_oneof![1i64..100_000, Just(i64::MAX)],
        ) {
            let mut s = StartOf::new(size);
            for t in times {
                let floor = (t as i128).div_euclid(size as i128) * size as i128;
                prop_assert_eq!(s.start(t), floor.max(i64::MIN as i128) as i64, "t = {}", t);
            }
        }
    }
}
