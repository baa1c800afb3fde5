//! How far a core has read past the slowest core's watermark, in rows.
//!
//! Contract: each batch a core reads is noted with the watermark the core
//! announced after reading it; once the run's watermark (the least over
//! every core's) reaches that, the batch no longer counts. [`Lead::rows`]
//! is the sum over the batches still counted: the rows this core read
//! while ahead of the slowest core — what cores hold beyond what lateness
//! makes them hold anyway, since no row read after the slowest core's
//! watermark can be released before that watermark moves. Cores that keep
//! together count nearly nothing, however late rows may come.

use std::collections::VecDeque;

#[derive(Debug, Default)]
pub(super) struct Lead {
    /// (watermark announced after the batch, its rows), in reading order:
    /// the watermarks ascend (a core's own never goes back), and batches
    /// that left it where it was share one entry.
    batches: VecDeque<(i64, usize)>,
    rows: usize,
}

impl Lead {
    /// A batch of `rows` rows was read; this core's watermark is now `wm`.
    pub(super) fn read(&mut self, wm: i64, rows: usize) {
        match self.batches.back_mut() {
            Some((w, r)) if *w == wm => *r += rows,
            _ => self.batches.push_back((wm, rows)),
        }
        self.rows += rows;
    }

    /// The run's watermark reached `wm`: the batches it passed stop counting.
    pub(super) fn passed(&mut self, wm: i64) {
        while let Some(&(w, r)) = self.batches.front() {
            if w > wm {
                break;
            }
            self.batches.pop_front();
            self.rows -= r;
        }
    }

    /// Rows of the batches the run's watermark has not reached yet.
    pub(super) fn rows(&self) -> usize {
        self.rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_count_until_the_runs_watermark_reaches_theirs() {
        let mut lead = Lead::default();
        lead.read(10, 100);
        lead.read(20, 50);
        lead.read(20, 5); // the watermark did not move: one entry
        lead.read(30, 7);
        assert_eq!(lead.rows(), 162);
        assert_eq!(lead.batches.len(), 3);
        lead.passed(9);
        assert_eq!(lead.rows(), 162, "nothing passed");
        lead.passed(10);
        assert_eq!(
            lead.rows(),
            62,
            "a batch at exactly the watermark is passed"
        );
        lead.passed(25);
        assert_eq!(lead.rows(), 7);
        lead.passed(i64::MAX);
        assert_eq!(lead.rows(), 0);
        lead.read(40, 3);
        assert_eq!(lead.rows(), 3);
    }
}
