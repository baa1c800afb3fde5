//! Adaptive batch sizes: small batches while a core keeps up with its
//! input, bigger ones only while it falls behind.
//!
//! Contract: [`AdaptiveBatch::ready`] says whether to take a batch yet:
//! once a full batch (the current cap) has come due, or the oldest row due
//! has waited [`LINGER`] (a source that cannot tell how long: at once).
//! [`AdaptiveBatch::take`] is told how many rows wait at the source (its
//! backlog, the inbound queue depth) and answers how many to take as the
//! next batch: all of them up to the current cap, at least one.
//! The cap starts at the minimum and
//! - doubles (up to the maximum) when, three batches in a row, more than two
//!   batches' worth waited and no fewer than the batch before: the core
//!   cannot keep up with batches this small, so per-batch costs are spread
//!   over more rows (a backlog of a batch or two is a core keeping up, whose
//!   batches take about as long as the next one takes to come due; one slow
//!   batch is not falling behind);
//! - halves (down to the minimum) when the backlog fits in half the cap:
//!   the core keeps up, so batches shrink back for latency.
//!
//! Why: a core's latency is the time it spends on whatever it took last.
//! Taking every row that came due makes a feedback loop under partial load
//! — one long batch (a large watermark release, a VM stall) leaves many
//! rows due, the next batch is larger, its watermark releases more on every
//! core, and so on. Capping batches while the backlog is falling breaks the
//! loop; a backlog that keeps growing still gets batches large enough for
//! full throughput.
//!
//! Why linger: a core that takes whatever came due the moment it looks
//! takes batches of a few dozen rows under a fast feed, and every batch
//! costs the same fixed work (its arrays, its run in a window's buffer,
//! its watermark, the release it triggers on every core), so a core at
//! half load was near saturation and caught up slowly after any pause.
//! Waiting up to [`LINGER`] for a full batch (spinning on its other work,
//! as a timer would wake it late) about halved the rows over 1 ms at half
//! load on two cores (ROWS, EMIT CHANGES; TUMBLING unchanged); it adds at
//! most that wait to a row's latency.

use std::time::Duration;

/// The cap when a core keeps up.
pub const MIN_BATCH_ROWS: usize = 1024;

/// How long the oldest row due may wait for a full batch to come due.
pub const LINGER: Duration = Duration::from_micros(100);

/// Batches in a row the backlog must be above two caps and not shrinking
/// before the cap doubles: one slow batch (a large release, a stall) is not
/// a core falling behind.
const RISING: u32 = 3;

/// Rows waiting at a source, as [`crate::Source::backlog`] reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backlog {
    /// Rows that could be taken now.
    pub rows: u64,
    /// The most rows the source puts in one batch.
    pub max_batch: usize,
    /// How long the oldest of those rows has waited (`None`: unknown).
    pub waited: Option<Duration>,
}

#[derive(Clone, Debug)]
pub struct AdaptiveBatch {
    min: usize,
    max: usize,
    cap: usize,
    /// The backlog at the previous batch.
    last: Option<u64>,
    /// Batches in a row at which more than two caps waited, each at least
    /// as many as at the one before.
    rising: u32,
}

impl AdaptiveBatch {
    /// Caps between `min` and `max` rows (`max` at least `min`, both at
    /// least one).
    pub fn new(min: usize, max: usize) -> Self {
        let min = min.max(1);
        let max = max.max(min);
        AdaptiveBatch {
            min,
            max,
            cap: min,
            last: None,
            rising: 0,
        }
    }

    /// The current cap.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Whether to take a batch from `backlog` now: a full batch (the cap)
    /// has come due, or its oldest row has waited [`LINGER`], or the source
    /// cannot tell how long it has.
    pub fn ready(&self, backlog: &Backlog) -> bool {
        backlog.rows >= self.cap as u64 || backlog.waited.is_none_or(|w| w >= LINGER)
    }

    /// Rows to take now from a backlog of `backlog` rows (at least one: a
    /// source asked for a batch with nothing due makes its smallest).
    pub fn take(&mut self, backlog: u64) -> usize {
        let behind = backlog > 2 * self.cap as u64;
        self.rising = match self.last {
            Some(before) if behind && backlog >= before => self.rising + 1,
            _ => 0,
        };
        if self.rising >= RISING {
            self.cap = (self.cap * 2).min(self.max);
            self.rising = 0;
        } else if backlog <= (self.cap / 2) as u64 {
            self.cap = (self.cap / 2).max(self.min);
        }
        self.last = Some(backlog);
        backlog.min(self.cap as u64).max(1) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A core taking batches from a feed of `rate` rows/s; a batch of `n`
    /// rows costs `overhead + n * per_row` seconds. Returns each batch's size
    /// and the backlog left at the end.
    struct Sim {
        rate: f64,
        overhead: f64,
        per_row: f64,
    }

    impl Sim {
        /// `stall`: (batch index, seconds) — the core stops that long once.
        fn run(
            &self,
            ctl: &mut AdaptiveBatch,
            batches: usize,
            stall: Option<(usize, f64)>,
        ) -> (Vec<usize>, f64) {
            let (mut arrived, mut taken) = (0.0f64, 0u64);
            let mut sizes = Vec::new();
            for i in 0..batches {
                let backlog = (arrived as u64).saturating_sub(taken);
                let n = ctl.take(backlog);
                taken += n as u64;
                sizes.push(n);
                let mut secs = self.overhead + n as f64 * self.per_row;
                if let Some((at, s)) = stall {
                    if at == i {
                        secs += s;
                    }
                }
                arrived += secs * self.rate;
            }
            let left = arrived - taken as f64;
            (sizes, left)
        }

        /// Rows per second with batches of `n` rows.
        fn capacity(&self, n: usize) -> f64 {
            n as f64 / (self.overhead + n as f64 * self.per_row)
        }
    }

    /// Per-batch cost about that of a 1,024-row batch's rows: small batches
    /// reach only about half the capacity of large ones.
    const CORE: Sim = Sim {
        rate: 0.0,
        overhead: 80e-6,
        per_row: 90e-9,
    };

    /// The largest batch the simulated source makes.
    const MAX: usize = 8192;

    /// A fresh controller on [`CORE`] fed at `rate` rows/s for `batches`
    /// batches: the controller after, each batch's size and the backlog left.
    fn run_at(
        rate: f64,
        batches: usize,
        stall: Option<(usize, f64)>,
    ) -> (AdaptiveBatch, Vec<usize>, f64) {
        let mut ctl = AdaptiveBatch::new(MIN_BATCH_ROWS, MAX);
        let (sizes, left) = Sim { rate, ..CORE }.run(&mut ctl, batches, stall);
        (ctl, sizes, left)
    }

    /// No batch above the minimum cap, and at most one batch's worth left.
    fn assert_stays_small(sizes: &[usize], left: f64) {
        assert!(
            sizes.iter().all(|&n| n <= MIN_BATCH_ROWS),
            "{:?}",
            sizes.iter().max()
        );
        assert!(left < MIN_BATCH_ROWS as f64, "{left}");
    }

    #[test]
    fn a_core_that_keeps_up_stays_at_the_minimum_and_takes_all_that_came_due() {
        let (ctl, sizes, left) = run_at(0.3 * CORE.capacity(MIN_BATCH_ROWS), 10_000, None);
        assert_stays_small(&sizes, left);
        assert_eq!(ctl.cap(), MIN_BATCH_ROWS);
    }

    #[test]
    fn a_core_that_falls_behind_grows_its_batches_to_the_maximum() {
        // More than small batches can take, less than large ones can.
        let rate = 0.9 * CORE.capacity(MAX);
        assert!(rate > CORE.capacity(MIN_BATCH_ROWS));
        let (_, sizes, left) = run_at(rate, 20_000, None);
        // The backlog stays bounded: the core kept up at this rate.
        assert!(left < 4.0 * MAX as f64, "{left}");
        let late = &sizes[sizes.len() / 2..];
        let mean = late.iter().sum::<usize>() as f64 / late.len() as f64;
        assert!(mean > 2.0 * MIN_BATCH_ROWS as f64, "{mean}");
    }

    #[test]
    fn overload_takes_full_batches() {
        let (_, sizes, _) = run_at(2.0 * CORE.capacity(MAX), 1_000, None);
        // Doubling from 1,024 reaches 8,192 within a few batches, then stays.
        assert!(sizes[10..].iter().all(|&n| n == MAX), "{:?}", &sizes[..12]);
    }

    #[test]
    fn a_stall_under_half_load_does_not_grow_the_batches() {
        let rate = 0.5 * CORE.capacity(MIN_BATCH_ROWS);
        // A 2 ms stall leaves several small batches' worth due at once.
        assert!(rate * 2e-3 > 2.0 * MIN_BATCH_ROWS as f64);
        let (_, sizes, left) = run_at(rate, 5_000, Some((1_000, 2e-3)));
        // It drains in small batches: the cap never grows.
        assert_stays_small(&sizes, left);
    }

    #[test]
    fn the_cap_comes_back_down_after_an_overload_ends() {
        let (mut ctl, _, _) = run_at(2.0 * CORE.capacity(MAX), 100, None);
        assert_eq!(ctl.cap(), MAX);
        // The backlog is gone and the feed is light: back to the minimum.
        for _ in 0..10 {
            ctl.take(100);
        }
        assert_eq!(ctl.cap(), MIN_BATCH_ROWS);
    }

    /// A batch is taken once a full one has come due, or its oldest row
    /// has waited LINGER, or the source cannot tell; not before.
    #[test]
    fn a_batch_waits_for_a_full_batch_or_the_linger() {
        let ctl = AdaptiveBatch::new(MIN_BATCH_ROWS, MAX);
        let due = |rows: u64, waited: Option<Duration>| Backlog {
            rows,
            max_batch: MAX,
            waited,
        };
        let young = Some(LINGER / 2);
        assert!(!ctl.ready(&due(10, young)));
        assert!(!ctl.ready(&due(MIN_BATCH_ROWS as u64 - 1, young)));
        assert!(ctl.ready(&due(MIN_BATCH_ROWS as u64, young)));
        assert!(ctl.ready(&due(10, Some(LINGER))));
        assert!(ctl.ready(&due(1, Some(LINGER * 20))));
        assert!(ctl.ready(&due(10, None)));
        // A grown cap waits for its own full batch.
        let (big, _, _) = run_at(2.0 * CORE.capacity(MAX), 100, None);
        assert_eq!(big.cap(), MAX);
        assert!(!big.ready(&due(MAX as u64 - 1, young)));
        assert!(big.ready(&due(MAX as u64, young)));
    }

    #[test]
    fn bounds_hold() {
        let mut ctl = AdaptiveBatch::new(0, 0);
        assert_eq!(ctl.take(0), 1);
        assert_eq!(ctl.take(10), 1);
        let mut ctl = AdaptiveBatch::new(4, 16);
        for backlog in [0u64, 3, 100, 1000, 1000, 1000, 1000, 2, 0] {
            let n = ctl.take(backlog);
            assert!((1..=16).contains(&n) && n as u64 <= backlog.max(1));
            assert!((4..=16).contains(&ctl.cap()));
        }
    }
}
