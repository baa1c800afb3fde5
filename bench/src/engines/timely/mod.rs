//! timely: the five scenarios written directly on timely-dataflow 0.12 — a
//! worker per thread, rows as native tuples (the symbol as its index, prices
//! as scaled integers), `Exchange` by key, hash maps for groups, and the
//! frontier as the watermark: the field's reference Rust dataflow, the peer
//! to beat. Same generated rows as the other engines, drawn the same way
//! (`Generator::draw_market` a batch at a time, as for percore's batches;
//! orders by `order_row` straight into the tuples, which measured 3% faster
//! for timely than the batch draws percore's columns use, `draw_orders`),
//! same lateness rule at the source (a row behind the
//! watermark is dropped and counted), same outputs per row and per group.
//!
//! Event-time scenarios use the watermark (max event time read − lateness,
//! in ms after [`BASE`]) as the timely timestamp: a row is sent at the
//! current watermark, which is at or before its own time, so once the
//! frontier passes `t` every row with time below `t` has arrived.
//!
//! Layout: this module holds the run (workers, sources, pacing, counts)
//! and SELECT; [`dataflows`] the operators of the other four scenarios.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::Result;
use percore_operators::codec::generator::{
    Dataset, Generator, MarketConfig, MarketDraws, START_MS,
};
use percore_runtime::Latency;
use timely::dataflow::operators::{Filter, Input, Inspect, Map, Probe};
use timely::dataflow::{InputHandle, ProbeHandle};

use super::BATCH;
use dataflows::{group_final, rows_window, tumbling};

mod dataflows;
use crate::measure::Run;
use crate::scenarios::Scenario;

/// Event times are carried as ms after this (ten minutes before the data).
const BASE: i64 = START_MS - 600_000;
/// The built-in stream's lateness.
const LATENESS: i64 = 2_000;
/// How far the input may run ahead of the output before the worker waits:
/// batches (SELECT, GROUP BY), or ms of event time (the others).
const LAG: u64 = 64;
const LAG_MS: u64 = 10_000;

/// (symbol, trader_id, price ×10⁴, quantity, timestamp, trade_time, row number)
type Trade = (u32, i64, i64, i64, i64, i64, u64);
/// (order_id, customer_id, date index, total_amount ×10²)
type Order = (i64, i64, u32, i64);
/// Aggregates of one group: count, Σ price, Σ quantity, Σ price × quantity.
type Acc = (u64, i128, i64, i128);
/// An output row of the GROUP BY scenarios: window start (0 without a
/// window), trader, symbol, count, AVG(price) ×10⁶, Σ quantity, Σ value.
type GroupRow = (i64, i64, u32, u64, i128, i64, i128);

/// What one worker saw.
struct Tally {
    records: u64,
    output_rows: u64,
    late: u64,
    latency: Latency,
}

pub fn run(s: &Scenario, rows: u64, cores: usize, rate: Option<f64>) -> Result<Run> {
    let name = s.name;
    let dataset = s.dataset;
    let started = Instant::now();
    let guards = timely::execute(timely::Config::process(cores), move |worker| {
        let (index, peers) = (worker.index(), worker.peers());
        let ingest: Rc<RefCell<BTreeMap<u64, Instant>>> = Rc::default();
        let tally = Rc::new(RefCell::new(Tally {
            records: 0,
            output_rows: 0,
            late: 0,
            latency: Latency::new(),
        }));
        let mut probe = ProbeHandle::new();
        let mut orders = InputHandle::<u64, Order>::new();
        let mut trades = InputHandle::<u64, Trade>::new();
        worker.dataflow::<u64, _, _>(|scope| {
            let (ing, t) = (ingest.clone(), tally.clone());
            // Counts output rows and times them from the ingest of their epoch.
            let count = move |time: &u64, n: usize| {
                let at = ing.borrow().range(..=*time).next_back().map(|(_, i)| *i);
                let mut t = t.borrow_mut();
                t.output_rows += n as u64;
                if let Some(at) = at {
                    t.latency.record(at, n as u64);
                }
            };
            match name {
                "select" => {
                    scope
                        .input_from(&mut orders)
                        .filter(|o| o.3 > 10_000) // total_amount > 100.00
                        .map(|o| (o.0, o.1, o.2, o.3))
                        .inspect_batch(move |t, xs| count(t, xs.len()))
                        .probe_with(&mut probe);
                }
                "rows_window" => {
                    rows_window(&scope.input_from(&mut trades))
                        .inspect_batch(move |t, xs| count(t, xs.len()))
                        .probe_with(&mut probe);
                }
                "group_by" => {
                    group_final(&scope.input_from(&mut trades))
                        .inspect_batch(move |t, xs| count(t, xs.len()))
                        .probe_with(&mut probe);
                }
                "tumbling" => {
                    tumbling(&scope.input_from(&mut trades), false)
                        .inspect_batch(move |t, xs| count(t, xs.len()))
                        .probe_with(&mut probe);
                }
                _ => {
                    tumbling(&scope.input_from(&mut trades), true)
                        .inspect_batch(move |t, xs| count(t, xs.len()))
                        .probe_with(&mut probe);
                }
            }
        });

        // This worker's share of the rows, interleaved like v1's and v2's (see `super::share`).
        let mut g = Generator::range(
            dataset,
            42,
            index as u64,
            rows,
            BATCH,
            MarketConfig::default(),
        )
        .with_stride(peers as u64);
        let per_sec = rate.map(|r| (r / peers as f64).max(1e-3));
        let start = Instant::now();
        // When row `k` (counting from 1) of this worker's share comes due.
        let due_at = |k: u64, ps: f64| start + Duration::from_secs_f64(k as f64 / ps);
        let mut made = 0u64;
        let mut batch_no = 0u64;
        let mut max_seen = i64::MIN;
        // Which event time drives the watermark.
        let wm_of = |t: &Trade| if name == "rows_window" { t.4 } else { t.5 };
        let mut order_buf = Vec::with_capacity(BATCH);
        let mut trade_buf = Vec::with_capacity(BATCH);
        let mut draws = MarketDraws::default();
        loop {
            let n = match per_sec {
                None => BATCH,
                Some(ps) => loop {
                    let due = (start.elapsed().as_secs_f64() * ps) as u64;
                    if due > made || g.remaining() == 0 {
                        break (due.saturating_sub(made)).clamp(1, BATCH as u64) as usize;
                    }
                    std::thread::sleep(
                        due_at(made + 1, ps).saturating_duration_since(Instant::now()),
                    );
                },
            };
            // Paced: timed from when the batch's first row came due, as
            // the other engines' feeders time theirs.
            let arrived = match per_sec {
                Some(ps) => due_at(made + 1, ps),
                None => Instant::now(),
            };
            let ids = g.take_rows(n);
            let count = ids.len() as u64;
            if count == 0 {
                break;
            }
            made += count;
            tally.borrow_mut().records += count;
            if dataset == Dataset::Orders {
                order_buf.extend(ids.iter().map(|i| {
                    let o = g.order_row(i);
                    (o.order_id, o.customer_id, o.date, o.total_amount as i64)
                }));
                ingest.borrow_mut().insert(*orders.time(), arrived);
                orders.send_batch(&mut order_buf);
                batch_no += 1;
                orders.advance_to(batch_no);
            } else {
                let epoch = *trades.time();
                let wm = epoch as i64 + BASE;
                let mut late = 0;
                g.draw_market(ids, &mut draws);
                for (i, m) in ids.iter().zip(draws.rows()) {
                    let t = (
                        m.symbol,
                        m.trader_id,
                        m.price as i64,
                        m.quantity,
                        m.timestamp,
                        m.trade_time,
                        i,
                    );
                    let et = wm_of(&t);
                    max_seen = max_seen.max(et);
                    if name != "group_by" && et < wm {
                        late += 1;
                        continue;
                    }
                    trade_buf.push(t);
                }
                tally.borrow_mut().late += late;
                ingest.borrow_mut().insert(epoch, arrived);
                trades.send_batch(&mut trade_buf);
                batch_no += 1;
                let next = if name == "group_by" {
                    batch_no
                } else {
                    ((max_seen - LATENESS - BASE).max(0) as u64).max(epoch)
                };
                trades.advance_to(next);
            }
            // Keep at most a few batches in flight.
            worker.step();
            let behind = if dataset == Dataset::Orders {
                *orders.time()
            } else {
                *trades.time()
            };
            let lag = if name == "group_by" || name == "select" {
                LAG
            } else {
                LAG_MS
            };
            while probe.less_than(&behind.saturating_sub(lag)) {
                worker.step();
            }
        }
        drop(orders);
        drop(trades);
        while worker.step() {}
        let t = Rc::try_unwrap(tally)
            .ok()
            .expect("operators are gone")
            .into_inner();
        (t.records, t.output_rows, t.late, t.latency)
    })
    .map_err(|e| anyhow::anyhow!("timely: {e}"))?;
    let mut run = Run::default();
    let mut latency = Latency::new();
    for r in guards.join() {
        let (records, out, late, lat) = r.map_err(|e| anyhow::anyhow!("timely worker: {e}"))?;
        run.records += records;
        run.output_rows += out;
        run.late_rows += late;
        latency.merge(&lat);
    }
    run.secs = started.elapsed().as_secs_f64();
    run.latency = latency.summary();
    Ok(run)
}
