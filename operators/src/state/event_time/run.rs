//! Held runs: the rows of one accepted batch still held, and what a
//! release takes from them ([`Taken`]: each row's run and place, time and
//! sequence, in arrival order).

use arrow_array::RecordBatch;
use arrow_buffer::ScalarBuffer;

use super::kernels::{split_steps, SplitOut};
use crate::gather::Pair;

/// Rows of one accepted batch still held.
pub(super) struct Run {
    pub(super) batch: RecordBatch,
    /// `batch` has not been through the buffer's `prepare` yet.
    pub(super) raw: bool,
    /// Each row's time and sequence number, in batch order.
    pub(super) times: ScalarBuffer<i64>,
    pub(super) seqs: Option<ScalarBuffer<i64>>,
    /// The least and greatest sequence of the held rows when they ascend
    /// in batch order (`None` when they do not, or there are none); for a
    /// batch numbered by range alone (`seqs` is `None`), that range.
    pub(super) seq_span: Option<(i64, i64)>,
    pub(super) held: Held,
}

/// Which rows of a run are held.
pub(super) enum Held {
    /// The batch came in (time, sequence) order: rows `start..`.
    Sorted { start: usize },
    /// Any order: every row (`rows` is `None`) or the rows listed, in batch
    /// order; `min` and `max` bound their times.
    Unsorted {
        rows: Option<Vec<u32>>,
        min: i64,
        max: i64,
    },
}

/// Rows taken for a release, in arrival order: (run, batch row), time and
/// sequence of each.
#[derive(Default)]
pub(super) struct Taken {
    pub(super) rows: Vec<Pair>,
    pub(super) times: Vec<i64>,
    pub(super) seqs: Option<Vec<i64>>,
}

impl Taken {
    /// Appends rows `range` of run `k` (`r`), every one of them.
    fn take_all(&mut self, k: usize, r: &Run, range: std::ops::Range<usize>) {
        self.rows
            .extend(range.clone().map(|i| (k as u32, i as u32)));
        self.times.extend_from_slice(&r.times[range.clone()]);
        if let (Some(all), Some(s)) = (&mut self.seqs, &r.seqs) {
            all.extend_from_slice(&s[range]);
        }
    }

    /// Appends the rows of the pass — rows `list` of run `k` (`r`), or
    /// its first `count` rows when there is no list — whose time is at or
    /// below `limit`, in order; the others go to `stay` (when given).
    /// Returns the least time of those that stay. Whole steps of eight
    /// rows first where the CPU allows ([`split_steps`]), then row by row:
    /// every row is written to both sides and only one side's length
    /// advances, no branch per row on its verdict.
    fn take_rows(
        &mut self,
        k: usize,
        r: &Run,
        list: Option<&[u32]>,
        count: usize,
        limit: i64,
        mut stay: Option<&mut Vec<u32>>,
    ) -> i64 {
        let at = self.rows.len();
        self.rows.reserve(count);
        self.times.reserve(count);
        let (rows, times) = (
            &mut self.rows.spare_capacity_mut()[..count],
            &mut self.times.spare_capacity_mut()[..count],
        );
        let mut seqs = match (&mut self.seqs, &r.seqs) {
            (Some(all), Some(s)) => {
                all.reserve(count);
                Some((&mut all.spare_capacity_mut()[..count], &s[..]))
            }
            _ => None,
        };
        let keeping = stay.is_some();
        let kept = match &mut stay {
            Some(v) => {
                v.clear();
                v.reserve(count);
                &mut v.spare_capacity_mut()[..count]
            }
            None => &mut [][..],
        };
        let split = split_steps(
            k as u32,
            &r.times,
            list,
            limit,
            SplitOut {
                rows: &mut rows[..],
                times: &mut times[..],
                seqs: seqs.as_mut().map(|(o, s)| (&mut o[..], *s)),
                stay: keeping.then_some(&mut kept[..]),
            },
        );
        let (mut w, mut u, mut min) = (split.went, split.stayed, split.min_stayed);
        let row = |j: usize| list.map_or(j, |l| l[j] as usize);
        for i in (split.done..count).map(row) {
            let t = r.times[i];
            rows[w].write((k as u32, i as u32));
            times[w].write(t);
            if let Some((out, s)) = &mut seqs {
                out[w].write(s[i]);
            }
            let go = t <= limit;
            w += go as usize;
            if keeping {
                kept[u].write(i as u32);
                min = if go { min } else { min.min(t) };
                u += !go as usize;
            }
        }
        // SAFETY: each vector had `count` slots reserved past its length
        // and the first `w` (resp. `u`) of them were written above (the
        // split's steps wrote the first `split.went` and `split.stayed`).
        unsafe {
            self.rows.set_len(at + w);
            self.times.set_len(at + w);
            if let Some(all) = &mut self.seqs {
                if r.seqs.is_some() {
                    all.set_len(at + w);
                }
            }
            if let Some(v) = stay {
                v.set_len(u);
            }
        }
        min
    }
}

impl Run {
    /// Numbers each row of a batch numbered by range alone by the range's
    /// first plus the row's place, for a release that orders ties by
    /// sequence: the rows' own numbers for a whole batch of consecutive
    /// rows, else numbers ascending within its range.
    pub(super) fn number_rows(&mut self) {
        if self.seqs.is_none() {
            let first = self.seq_span.map_or(0, |s| s.0);
            let n = self.times.len() as i64;
            self.seqs = Some((0..n).map(|k| first.saturating_add(k)).collect());
        }
    }

    /// How many rows are held.
    pub(super) fn held(&self) -> usize {
        match &self.held {
            Held::Sorted { start } => self.times.len() - start,
            Held::Unsorted { rows: None, .. } => self.times.len(),
            Held::Unsorted { rows: Some(r), .. } => r.len(),
        }
    }

    /// Whether every row has been released.
    pub(super) fn is_empty(&self) -> bool {
        match &self.held {
            Held::Sorted { start } => *start == self.times.len(),
            Held::Unsorted { rows, .. } => rows.as_ref().is_some_and(|r| r.is_empty()),
        }
    }

    /// Moves the held rows with time at or below `limit` to `taken` (this
    /// is run `k`), in batch order.
    pub(super) fn take(&mut self, k: usize, limit: i64, taken: &mut Taken) {
        let n = self.times.len();
        let held = std::mem::replace(&mut self.held, Held::Sorted { start: n });
        self.held = match held {
            Held::Sorted { start } => {
                let end = start + self.times[start..].partition_point(|&t| t <= limit);
                taken.take_all(k, self, start..end);
                Held::Sorted { start: end }
            }
            Held::Unsorted { rows, min, max } if min > limit => Held::Unsorted { rows, min, max },
            Held::Unsorted { rows, max, .. } => {
                // Every row goes when the greatest time does; else one
                // pass picks them and lists the rows that stay.
                let mut stay = (max > limit).then(Vec::new);
                let min = match &rows {
                    None if stay.is_none() => {
                        taken.take_all(k, self, 0..n);
                        i64::MAX
                    }
                    None => taken.take_rows(k, self, None, n, limit, stay.as_mut()),
                    Some(rows) => {
                        taken.take_rows(k, self, Some(rows), rows.len(), limit, stay.as_mut())
                    }
                };
                match stay {
                    None => Held::Sorted { start: n },
                    Some(rows) => Held::Unsorted {
                        rows: Some(rows),
                        min,
                        max,
                    },
                }
            }
        };
    }
}
