//! A naive reference evaluator: one row at a time, aggregates recomputed from
//! scratch over plain lists, written without any engine code. Slow and
//! obviously correct; the engine must agree with it exactly.

use std::collections::BTreeMap;

use percore::operators::Scalar;

use super::{Row, Trade};

/// Aggregates over a list of trades, computed from scratch.
#[derive(Clone, Copy, Debug)]
pub enum Agg {
    CountStar,
    CountPrice,
    /// SUM(price * qty): DECIMAL scale 4.
    SumValue,
    /// AVG(price): DECIMAL(38,6), exact quotient rounded half away from zero.
    AvgPrice,
    MinPrice,
    MaxPrice,
    SumQty,
    MaxQty,
    /// AVG(qty): DOUBLE.
    AvgQty,
    SumFprice,
    AvgFprice,
}

/// `n / d` rounded half away from zero, by the schoolbook rule.
fn round_div(n: i128, d: i128) -> i128 {
    let neg = (n < 0) != (d < 0);
    let (n, d) = (n.abs(), d.abs());
    let mut q = n / d;
    if 2 * (n % d) >= d {
        q += 1;
    }
    if neg {
        -q
    } else {
        q
    }
}

pub fn agg(rows: &[&Trade], a: Agg) -> Scalar {
    let prices: Vec<i128> = rows.iter().filter_map(|t| t.price).collect();
    let qtys: Vec<i64> = rows.iter().filter_map(|t| t.qty).collect();
    let fprices: Vec<f64> = rows.iter().filter_map(|t| t.fprice).collect();
    let dec = |v: Option<i128>, s: u8| v.map_or(Scalar::Null, |v| Scalar::Decimal(v, s));
    match a {
        Agg::CountStar => Scalar::BigInt(rows.len() as i64),
        Agg::CountPrice => Scalar::BigInt(prices.len() as i64),
        Agg::SumValue => {
            let vals: Vec<i128> = rows
                .iter()
                .filter_map(|t| Some(t.price? * t.qty? as i128))
                .collect();
            dec((!vals.is_empty()).then(|| vals.iter().sum()), 4)
        }
        Agg::AvgPrice => dec(
            (!prices.is_empty())
                .then(|| round_div(prices.iter().sum::<i128>() * 100, prices.len() as i128)),
            6,
        ),
        Agg::MinPrice => dec(prices.iter().min().copied(), 4),
        Agg::MaxPrice => dec(prices.iter().max().copied(), 4),
        Agg::SumQty => {
            if qtys.is_empty() {
                Scalar::Null
            } else {
                Scalar::BigInt(qtys.iter().sum())
            }
        }
        Agg::MaxQty => qtys
            .iter()
            .max()
            .map_or(Scalar::Null, |v| Scalar::BigInt(*v)),
        Agg::AvgQty => {
            if qtys.is_empty() {
                Scalar::Null
            } else {
                Scalar::Double(
                    qtys.iter().map(|v| *v as i128).sum::<i128>() as f64 / qtys.len() as f64,
                )
            }
        }
        Agg::SumFprice => {
            if fprices.is_empty() {
                Scalar::Null
            } else {
                Scalar::Double(fprices.iter().sum())
            }
        }
        Agg::AvgFprice => {
            if fprices.is_empty() {
                Scalar::Null
            } else {
                Scalar::Double(fprices.iter().sum::<f64>() / fprices.len() as f64)
            }
        }
    }
}

fn aggs(rows: &[&Trade], list: &[Agg]) -> Vec<Scalar> {
    list.iter().map(|a| agg(rows, *a)).collect()
}

fn s_sym(t: &Trade) -> Scalar {
    t.symbol.clone().map_or(Scalar::Null, Scalar::Varchar)
}

fn s_trader(t: &Trade) -> Scalar {
    t.trader.map_or(Scalar::Null, Scalar::BigInt)
}

/// Rows that are not late, in event-time order (ties in arrival order):
/// late means a NULL time or a time below the watermark (max earlier time −
/// lateness) as it stood when the row arrived.
pub fn in_event_order(trades: &[Trade], lateness: i64) -> (Vec<&Trade>, u64) {
    let mut max: Option<i64> = None;
    let mut kept = Vec::new();
    let mut late = 0;
    for t in trades {
        match t.ts {
            Some(ts) if max.is_none_or(|m| ts >= m - lateness) => {
                kept.push(t);
                max = Some(max.map_or(ts, |m| m.max(ts)));
            }
            _ => late += 1,
        }
    }
    kept.sort_by_key(|t| t.ts.unwrap()); // stable
    (kept, late)
}

/// Rows whose tumbling window had not closed (end ≤ watermark) when they arrived.
pub fn in_open_windows(trades: &[Trade], lateness: i64, size: i64) -> (Vec<&Trade>, u64) {
    let mut max: Option<i64> = None;
    let mut kept = Vec::new();
    let mut late = 0;
    for t in trades {
        match t.ts {
            Some(ts) if max.is_none_or(|m| ts.div_euclid(size) * size + size > m - lateness) => {
                kept.push(t);
                max = Some(max.map_or(ts, |m| m.max(ts)));
            }
            _ => late += 1,
        }
    }
    (kept, late)
}

/// `SELECT symbol, price * qty, price + 1.5, qty / 3, fprice * 2 FROM trades WHERE price > 50.25`
pub fn select(trades: &[Trade]) -> Vec<Row> {
    trades
        .iter()
        .filter(|t| t.price.is_some_and(|p| p > 50_2500))
        .map(|t| {
            let p = t.price.unwrap();
            vec![
                s_sym(t),
                t.qty
                    .map_or(Scalar::Null, |q| Scalar::Decimal(p * q as i128, 4)),
                Scalar::Decimal(p + 1_5000, 4),
                t.qty.map_or(Scalar::Null, |q| Scalar::BigInt(q / 3)),
                t.fprice.map_or(Scalar::Null, |f| Scalar::Double(f * 2.0)),
            ]
        })
        .collect()
}

pub const ROWS_AGGS: &[Agg] = &[
    Agg::AvgPrice,
    Agg::MinPrice,
    Agg::MaxPrice,
    Agg::SumQty,
    Agg::CountPrice,
    Agg::CountStar,
    Agg::AvgFprice,
];

/// Each surviving row with [symbol, price, ROWS_AGGS over its symbol's last `n` rows].
pub fn rows_window(trades: &[Trade], lateness: i64, n: usize) -> (Vec<Row>, u64) {
    let (kept, late) = in_event_order(trades, lateness);
    let mut seen: BTreeMap<Option<String>, Vec<&Trade>> = BTreeMap::new();
    let mut out = Vec::new();
    for t in kept {
        let list = seen.entry(t.symbol.clone()).or_default();
        list.push(t);
        let frame = &list[list.len().saturating_sub(n)..];
        let mut row = vec![
            s_sym(t),
            t.price.map_or(Scalar::Null, |p| Scalar::Decimal(p, 4)),
        ];
        row.extend(aggs(frame, ROWS_AGGS));
        out.push(row);
    }
    (out, late)
}

pub const GROUP_AGGS: &[Agg] = &[
    Agg::CountStar,
    Agg::SumValue,
    Agg::AvgPrice,
    Agg::MinPrice,
    Agg::MaxQty,
    Agg::AvgQty,
    Agg::SumFprice,
];

type Key = (Option<String>, Option<i64>);

fn key(t: &Trade) -> Key {
    (t.symbol.clone(), t.trader)
}

/// GROUP BY symbol, trader with EMIT CHANGES: one row per surviving row in event order.
pub fn group_changes(trades: &[Trade], lateness: i64) -> (Vec<Row>, u64) {
    let (kept, late) = in_event_order(trades, lateness);
    let mut groups: BTreeMap<Key, Vec<&Trade>> = BTreeMap::new();
    let mut out = Vec::new();
    for t in kept {
        let g = groups.entry(key(t)).or_default();
        g.push(t);
        let mut row = vec![s_sym(t), s_trader(t)];
        row.extend(aggs(g, GROUP_AGGS));
        out.push(row);
    }
    (out, late)
}

/// GROUP BY symbol, trader with EMIT FINAL (every row counts; no watermark),
/// keeping groups with more than `min_count` rows (HAVING COUNT(*) > min_count).
pub fn group_final(trades: &[Trade], min_count: usize) -> Vec<Row> {
    let mut groups: BTreeMap<Key, Vec<&Trade>> = BTreeMap::new();
    for t in trades {
        groups.entry(key(t)).or_default().push(t);
    }
    groups
        .into_iter()
        .filter(|(_, g)| g.len() > min_count)
        .map(|((s, tr), g)| {
            let mut row = vec![
                s.map_or(Scalar::Null, Scalar::Varchar),
                tr.map_or(Scalar::Null, Scalar::BigInt),
            ];
            row.extend(aggs(&g, GROUP_AGGS));
            row
        })
        .collect()
}

pub const TUMBLE_AGGS: &[Agg] = &[Agg::CountStar, Agg::SumValue, Agg::AvgPrice, Agg::MaxPrice];

fn window_cols(ts: i64, size: i64) -> [Scalar; 2] {
    let start = ts.div_euclid(size) * size;
    [Scalar::Timestamp(start), Scalar::Timestamp(start + size)]
}

/// TUMBLING EMIT FINAL: [window_start, window_end, symbol, TUMBLE_AGGS] per window and symbol.
pub fn tumble_final(trades: &[Trade], lateness: i64, size: i64) -> (Vec<Row>, u64) {
    let (kept, late) = in_open_windows(trades, lateness, size);
    let mut groups: BTreeMap<(i64, Option<String>), Vec<&Trade>> = BTreeMap::new();
    for t in kept {
        let start = t.ts.unwrap().div_euclid(size) * size;
        groups.entry((start, t.symbol.clone())).or_default().push(t);
    }
    let rows = groups
        .into_iter()
        .map(|((start, s), g)| {
            let mut row = window_cols(start, size).to_vec();
            row.push(s.map_or(Scalar::Null, Scalar::Varchar));
            row.extend(aggs(&g, TUMBLE_AGGS));
            row
        })
        .collect();
    (rows, late)
}

/// TUMBLING EMIT CHANGES: one row per surviving row, its window and symbol so far.
pub fn tumble_changes(trades: &[Trade], lateness: i64, size: i64) -> (Vec<Row>, u64) {
    let (kept, late) = in_event_order(trades, lateness);
    let mut groups: BTreeMap<(i64, Option<String>), Vec<&Trade>> = BTreeMap::new();
    let mut out = Vec::new();
    for t in kept {
        let ts = t.ts.unwrap();
        let g = groups
            .entry((ts.div_euclid(size), t.symbol.clone()))
            .or_default();
        g.push(t);
        let mut row = window_cols(ts, size).to_vec();
        row.push(s_sym(t));
        row.extend(aggs(g, TUMBLE_AGGS));
        out.push(row);
    }
    (out, late)
}
