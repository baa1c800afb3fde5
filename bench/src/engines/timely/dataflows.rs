//! The timely dataflows of the scenarios that hold state: GROUP BY (EMIT
//! FINAL), TUMBLING (EMIT FINAL or CHANGES) and the ROWS window, each an
//! operator exchanged by key over native tuples, with hash maps for groups
//! and the input frontier as the watermark.
//!
//! The hash maps are hashbrown's, with its default fast hash (foldhash), as
//! percore's group tables are, not std's SipHash (which a service hashing
//! its own keys has no need of): since session 42, when timely's GROUP BY
//! ran 2.2× and TUMBLING 1.7× faster on one worker for it. Rows held for
//! the frontier are sorted only when it has moved, by a sort that keeps
//! what is already sorted as a run (1.1–1.3× on ROWS and EMIT CHANGES). A
//! ROWS frame keeps its MIN and MAX in monotonic deques instead of scanning
//! its 100 prices for each row (ROWS 4.72M → 9.1–9.2M rec/s on one worker).
//!
//! Contract: the same output rows, per row and per group, as percore's
//! operators give for the scenarios (see the parent module).

use hashbrown::HashMap;
use std::collections::{BTreeMap, VecDeque};

use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::{Capability, Operator};
use timely::dataflow::{Scope, Stream};

use super::{Acc, GroupRow, Trade, BASE};

fn key_hash(trader: i64, symbol: u32) -> u64 {
    let mut z = (trader as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (symbol as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z ^ (z >> 29)
}

fn fold(acc: &mut Acc, t: &Trade) {
    acc.0 += 1;
    acc.1 += t.2 as i128;
    acc.2 += t.3;
    acc.3 += t.2 as i128 * t.3 as i128;
}

/// AVG(price) at scale 6 (price has scale 4), rounded half away from zero.
fn avg(acc: &Acc) -> i128 {
    let n = acc.0 as i128;
    let x = acc.1 * 100;
    (x + x.signum() * n / 2) / n
}

/// The smallest time of the input frontier, if any.
fn frontier_min(f: &timely::progress::frontier::MutableAntichain<u64>) -> Option<u64> {
    f.frontier().iter().min().copied()
}

/// GROUP BY trader_id, symbol … EMIT FINAL: every group once, at the end.
pub(super) fn group_final<G: Scope<Timestamp = u64>>(
    input: &Stream<G, Trade>,
) -> Stream<G, GroupRow> {
    input.unary_frontier(
        Exchange::new(|t: &Trade| key_hash(t.1, t.0)),
        "group_final",
        |cap, _| {
            let mut cap: Option<Capability<u64>> = Some(cap);
            let mut groups: HashMap<(i64, u32), Acc> = HashMap::new();
            let mut buf = Vec::new();
            move |input, output| {
                input.for_each(|_, data| {
                    data.swap(&mut buf);
                    for t in buf.drain(..) {
                        fold(groups.entry((t.1, t.0)).or_default(), &t);
                    }
                });
                match frontier_min(input.frontier()) {
                    Some(f) => {
                        if let Some(c) = cap.as_mut() {
                            if *c.time() < f {
                                c.downgrade(&f);
                            }
                        }
                    }
                    None => {
                        if let Some(c) = cap.take() {
                            let mut s = output.session(&c);
                            for ((trader, sym), a) in groups.drain() {
                                s.give((0, trader, sym, a.0, avg(&a), a.2, a.3));
                            }
                        }
                    }
                }
            }
        },
    )
}

/// GROUP BY trader_id, symbol WINDOW TUMBLING (trade_time, 1 minute): EMIT
/// FINAL fires each window once the frontier passes its end; EMIT CHANGES
/// emits every row, in event-time order, with its group's values so far.
pub(super) fn tumbling<G: Scope<Timestamp = u64>>(
    input: &Stream<G, Trade>,
    changes: bool,
) -> Stream<G, GroupRow> {
    input.unary_frontier(
        Exchange::new(|t: &Trade| key_hash(t.1, t.0)),
        "tumbling",
        move |cap, _| {
            let mut cap: Option<Capability<u64>> = Some(cap);
            let mut windows: BTreeMap<i64, HashMap<(i64, u32), Acc>> = BTreeMap::new();
            let mut held: Vec<Trade> = Vec::new();
            let mut buf = Vec::new();
            // The frontier at the last release: held rows are sorted only
            // when it has moved (a run already sorted, new rows after it).
            let mut released = i64::MIN;
            move |input, output| {
                input.for_each(|_, data| {
                    data.swap(&mut buf);
                    if changes {
                        held.append(&mut buf);
                    } else {
                        for t in buf.drain(..) {
                            let ws = t.5.div_euclid(60_000) * 60_000;
                            fold(
                                windows
                                    .entry(ws)
                                    .or_default()
                                    .entry((t.1, t.0))
                                    .or_default(),
                                &t,
                            );
                        }
                    }
                });
                let f = frontier_min(input.frontier());
                let limit = f.map_or(i64::MAX, |f| f as i64 + BASE);
                if let Some(c) = cap.as_ref() {
                    if changes && !held.is_empty() && limit > released {
                        released = limit;
                        // Rows below the frontier, in (trade_time, row) order.
                        held.sort_by_key(|t| (t.5, t.6));
                        let k = held.partition_point(|t| t.5 < limit);
                        let mut s = output.session(c);
                        for t in held.drain(..k) {
                            let ws = t.5.div_euclid(60_000) * 60_000;
                            let a = windows
                                .entry(ws)
                                .or_default()
                                .entry((t.1, t.0))
                                .or_default();
                            fold(a, &t);
                            s.give((ws, t.1, t.0, a.0, avg(a), a.2, a.3));
                        }
                    }
                    let mut s = output.session(c);
                    while let Some((&ws, _)) = windows.first_key_value() {
                        if ws + 60_000 > limit {
                            break;
                        }
                        let groups = windows.remove(&ws).expect("present");
                        if !changes {
                            for ((trader, sym), a) in groups {
                                s.give((ws, trader, sym, a.0, avg(&a), a.2, a.3));
                            }
                        }
                    }
                }
                match f {
                    Some(f) => {
                        if let Some(c) = cap.as_mut() {
                            if *c.time() < f {
                                c.downgrade(&f);
                            }
                        }
                    }
                    None => {
                        cap = None;
                    }
                }
            }
        },
    )
}

/// AVG/MIN/MAX(price) OVER (PARTITION BY symbol ORDER BY timestamp ROWS 100):
/// rows released in (timestamp, row) order once the frontier passes them.
pub(super) fn rows_window<G: Scope<Timestamp = u64>>(
    input: &Stream<G, Trade>,
) -> Stream<G, (u32, i64, i128, i64, i64)> {
    input.unary_frontier(
        Exchange::new(|t: &Trade| t.0 as u64),
        "rows_window",
        |cap, _| {
            let mut cap: Option<Capability<u64>> = Some(cap);
            let mut frames: HashMap<u32, Frame> = HashMap::new();
            let mut held: Vec<Trade> = Vec::new();
            let mut buf = Vec::new();
            // As the tumbling operator's.
            let mut released = i64::MIN;
            move |input, output| {
                input.for_each(|_, data| {
                    data.swap(&mut buf);
                    held.append(&mut buf);
                });
                let f = frontier_min(input.frontier());
                let limit = f.map_or(i64::MAX, |f| f as i64 + BASE);
                if let (Some(c), true) = (cap.as_ref(), limit > released) {
                    released = limit;
                    held.sort_by_key(|t| (t.4, t.6));
                    let k = held.partition_point(|t| t.4 < limit);
                    let mut s = output.session(c);
                    for t in held.drain(..k) {
                        let (avg, lo, hi) = frames.entry(t.0).or_default().push(t.2);
                        s.give((t.0, t.2, avg, lo, hi));
                    }
                }
                match f {
                    Some(f) => {
                        if let Some(c) = cap.as_mut() {
                            if *c.time() < f {
                                c.downgrade(&f);
                            }
                        }
                    }
                    None => cap = None,
                }
            }
        },
    )
}

/// Rows in a ROWS frame (the current row and the 99 before it).
const FRAME: u64 = 100;

/// One partition's ROWS frame: its prices, their sum, and the minimum and
/// maximum kept by monotonic deques (the textbook sliding-window
/// minimum: each price enters and leaves each deque once), so a row costs
/// the same whatever the frame's length.
#[derive(Default)]
struct Frame {
    prices: VecDeque<i64>,
    sum: i128,
    /// Rows pushed so far (the next row's index).
    rows: u64,
    /// (index, price), prices ascending: the frame's minimum first.
    mins: VecDeque<(u64, i64)>,
    /// (index, price), prices descending: the frame's maximum first.
    maxs: VecDeque<(u64, i64)>,
}

impl Frame {
    /// Adds a row's price: the frame's AVG (scale 6, rounded half up), MIN
    /// and MAX with it.
    fn push(&mut self, p: i64) -> (i128, i64, i64) {
        self.prices.push_back(p);
        self.sum += p as i128;
        if self.prices.len() as u64 > FRAME {
            self.sum -= self.prices.pop_front().expect("full") as i128;
        }
        let i = self.rows;
        self.rows += 1;
        while self.mins.back().is_some_and(|&(_, x)| x >= p) {
            self.mins.pop_back();
        }
        self.mins.push_back((i, p));
        while self.maxs.back().is_some_and(|&(_, x)| x <= p) {
            self.maxs.pop_back();
        }
        self.maxs.push_back((i, p));
        let first = self.rows.saturating_sub(FRAME);
        while self.mins.front().is_some_and(|&(j, _)| j < first) {
            self.mins.pop_front();
        }
        while self.maxs.front().is_some_and(|&(j, _)| j < first) {
            self.maxs.pop_front();
        }
        let n = self.prices.len() as i128;
        let lo = self.mins.front().expect("the row just pushed").1;
        let hi = self.maxs.front().expect("the row just pushed").1;
        ((self.sum * 100 + n / 2) / n, lo, hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame gives the AVG, MIN and MAX of its last 100 prices, as a scan
    /// of them does, on prices that repeat, rise and fall.
    #[test]
    fn a_frame_is_its_last_hundred_prices() {
        let mut f = Frame::default();
        let mut all = Vec::new();
        let mut x = 12_345u64;
        for k in 0..2_000u64 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let p = match k / 500 {
                0 => (x >> 50) as i64 - 4_000,
                1 => k as i64,
                2 => 2_000 - k as i64,
                _ => (x >> 61) as i64,
            };
            all.push(p);
            let last = &all[all.len().saturating_sub(100)..];
            let n = last.len() as i128;
            let sum: i128 = last.iter().map(|&p| p as i128).sum();
            let want = (
                (sum * 100 + n / 2) / n,
                *last.iter().min().unwrap(),
                *last.iter().max().unwrap(),
            );
            assert_eq!(f.push(p), want, "row {k}");
        }
    }
}
