//! N cores against one core and against the reference evaluator: every
//! scenario shape and emit mode on random input split into several source
//! partitions, out of order within the lateness bound, with many event-time
//! ties. 1..=4 cores on this 2-CPU machine also covers cores run unpinned.

mod common;

use std::sync::Arc;

use arrow_array::RecordBatch;
use common::reference::{self as r};
use common::{bounded_trades, run_engine, sorted_text, to_batches, trades_ddl, Row, Trade};
use percore::runtime::{run_parallel, ParallelConfig, Partition, PartitionedSource, Source};
use percore::sql;
use proptest::prelude::*;

/// The trades split into `parts` contiguous partitions of small batches.
struct Split {
    trades: Vec<Trade>,
    batch_size: usize,
    /// When each batch names its rows' range of sequence numbers
    /// (`Source::row_range`, so it carries only that range), how far apart
    /// consecutive rows' numbers are (1 as the generator's rows, more as a
    /// file's lines by byte position); `None`: rows are counted from the
    /// share's first.
    ranged: Option<i64>,
}

struct VecSource {
    batches: std::vec::IntoIter<RecordBatch>,
    /// The number of the next batch's first row, and the last one's range.
    next_row: i64,
    range: Option<(i64, i64)>,
    ranged: Option<i64>,
}

impl VecSource {
    /// Batches of consecutive rows, the first being input row `first_row`
    /// (see [`Split::ranged`]).
    fn new(batches: Vec<RecordBatch>, first_row: i64, ranged: Option<i64>) -> Self {
        VecSource {
            batches: batches.into_iter(),
            next_row: first_row,
            range: None,
            ranged,
        }
    }
}

impl Source for VecSource {
    fn next_batch(&mut self) -> percore::operators::Result<Option<RecordBatch>> {
        let b = self.batches.next();
        let rows = b.as_ref().map_or(0, |b| b.num_rows() as i64);
        let apart = self.ranged.unwrap_or(1);
        let first = self.next_row * apart;
        self.range = b.as_ref().map(|_| (first, first + (rows - 1) * apart));
        self.next_row += rows;
        Ok(b)
    }

    fn row_range(&self) -> Option<(i64, i64)> {
        self.range.filter(|_| self.ranged.is_some())
    }
}

impl PartitionedSource for Split {
    fn open(&self, part: usize, parts: usize) -> percore::operators::Result<Option<Partition>> {
        let lo = self.trades.len() * part / parts;
        let hi = self.trades.len() * (part + 1) / parts;
        Ok(Some(Partition {
            source: Box::new(VecSource::new(
                to_batches(&self.trades[lo..hi], self.batch_size),
                lo as i64,
                self.ranged,
            )),
            first_seq: lo as i64,
            seq_stride: 1,
        }))
    }
}

fn run_cores(
    sql_text: &str,
    trades: &[Trade],
    batch_size: usize,
    cores: usize,
    ring: usize,
) -> Vec<Row> {
    let plan = sql::compile(sql_text).unwrap();
    let input = Arc::new(Split {
        trades: trades.to_vec(),
        batch_size,
        // Both numberings of rows, by the batch size: a random draw of
        // every case, apart from the parity below; ranges of numbers one
        // apart and two apart.
        ranged: (batch_size % 4 < 2).then_some(1 + batch_size as i64 % 2),
    });
    let mut out = Vec::new();
    let cfg = ParallelConfig {
        ring_capacity: ring,
        // Both shapes of the exchange of held rows (gathered by the sender,
        // or a row list of the batch they came in), by the batch size's
        // parity: a random draw of every case.
        rows_by_reference: batch_size % 2 == 1,
        // Gathered rows cross narrowed or as they are, by the batch
        // size's remainder by 3 (independent of the parity above).
        narrow_rows: !batch_size.is_multiple_of(3),
        ..ParallelConfig::new(cores)
    };
    let stats = run_parallel(&plan, input, &cfg, &mut |b| {
        out.push(b.clone());
        Ok(())
    })
    .unwrap_or_else(|f| panic!("{}", f.error));
    assert_eq!(stats.late_rows, 0, "input within the lateness bound");
    assert_eq!(stats.records_in as usize, trades.len());
    // Each result row is timed once (when the sink has it), not also when
    // its core emitted it.
    assert_eq!(stats.latency_us.count, stats.records_out, "rows timed");
    common::batches_to_rows(&out)
}

const LATENESS: i64 = 500;

fn check(
    sql_body: &str,
    trades: &[Trade],
    want: &[Row],
    bs: usize,
    cores: usize,
    ring: usize,
) -> Result<(), TestCaseError> {
    let sql_text = format!("{}{sql_body}", trades_ddl(LATENESS));
    let (one, _) = run_engine(&sql_text, &to_batches(trades, bs)).unwrap();
    prop_assert_eq!(
        sorted_text(&one),
        sorted_text(want),
        "one core vs reference"
    );
    let many = run_cores(&sql_text, trades, bs, cores, ring);
    prop_assert_eq!(
        sorted_text(&many),
        sorted_text(want),
        "{} cores vs reference",
        cores
    );
    Ok(())
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 24,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn select_on_n_cores(ts in bounded_trades(200, LATENESS), bs in 1usize..30, cores in 1usize..=4) {
        check("SELECT symbol, price * qty AS v, price + 1.5 AS p2, qty / 3 AS q3, fprice * 2 AS f2 FROM trades WHERE price > 50.25",
            &ts, &r::select(&ts), bs, cores, 8)?;
    }

    #[test]
    fn rows_window_on_n_cores(ts in bounded_trades(200, LATENESS), bs in 1usize..30, cores in 1usize..=4, n in 1usize..6, filtered in any::<bool>()) {
        let w = format!("OVER (PARTITION BY symbol ORDER BY ts ROWS BETWEEN {} PRECEDING AND CURRENT ROW)", n - 1);
        // With WHERE, the rows it keeps (filtered before the exchange)
        // form the windows, as they do in the reference.
        let (cond, kept): (&str, Vec<Trade>) = if filtered {
            (" WHERE price > 50.25", ts.iter().filter(|t| t.price.is_some_and(|p| p > 50_2500)).cloned().collect())
        } else {
            ("", ts.clone())
        };
        let sql_body = format!(
            "SELECT symbol, price, AVG(price) {w} AS a, MIN(price) {w} AS mn, MAX(price) {w} AS mx, \
             SUM(qty) {w} AS sq, COUNT(price) {w} AS cp, COUNT(*) {w} AS c, AVG(fprice) {w} AS af FROM trades{cond}");
        let (want, late) = r::rows_window(&kept, LATENESS, n);
        prop_assert_eq!(late, 0);
        check(&sql_body, &ts, &want, bs, cores, 4)?;
    }

    #[test]
    fn group_by_changes_and_final_on_n_cores(ts in bounded_trades(200, LATENESS), bs in 1usize..30, cores in 1usize..=4) {
        let select = "SELECT symbol, trader, COUNT(*) AS c, SUM(price * qty) AS v, AVG(price) AS ap, \
             MIN(price) AS mn, MAX(qty) AS mx, AVG(qty) AS aq, SUM(fprice) AS sf FROM trades GROUP BY symbol, trader";
        let (want, _) = r::group_changes(&ts, LATENESS);
        check(select, &ts, &want, bs, cores, 2)?;
        check(&format!("{select} EMIT FINAL"), &ts, &r::group_final(&ts, 0), bs, cores, 2)?;
    }

    #[test]
    fn tumbling_final_and_changes_on_n_cores(ts in bounded_trades(200, LATENESS), bs in 1usize..30, cores in 1usize..=4, secs in 1i64..3) {
        let select = format!(
            "SELECT symbol, COUNT(*) AS c, SUM(price * qty) AS v, AVG(price) AS ap, MAX(price) AS mx FROM trades \
             GROUP BY symbol WINDOW TUMBLING (ts, INTERVAL '{secs}' SECOND)");
        let (want, _) = r::tumble_final(&ts, LATENESS, secs * 1000);
        check(&select, &ts, &want, bs, cores, 2)?;
        let (want, _) = r::tumble_changes(&ts, LATENESS, secs * 1000);
        check(&format!("{select} EMIT CHANGES"), &ts, &want, bs, cores, 2)?;
    }
}

#[test]
fn an_error_on_one_core_stops_the_run_and_names_it() {
    // Division by zero happens on whichever core owns the key; the run must
    // end (not hang) with an error naming a core and the expression.
    let mut ts: Vec<Trade> = (0..2000)
        .map(|i| Trade {
            symbol: Some(["A", "B", "C", "D"][i % 4].into()),
            trader: Some(1),
            price: Some(10_000),
            qty: Some(if i == 1500 { 0 } else { 1 }),
            ts: Some(1_705_312_800_000 + i as i64),
            fprice: None,
        })
        .collect();
    ts.truncate(2000);
    let plan = sql::compile(&format!(
        "{}SELECT symbol, SUM(price / qty) AS s FROM trades GROUP BY symbol",
        trades_ddl(0)
    ))
    .unwrap();
    for cores in [2, 3] {
        let input = Arc::new(Split {
            trades: ts.clone(),
            batch_size: 16,
            ranged: None,
        });
        let err =
            run_parallel(&plan, input, &ParallelConfig::new(cores), &mut |_| Ok(())).unwrap_err();
        let msg = err.error.to_string();
        assert!(
            msg.starts_with("core ")
                && msg.contains("`price / qty`")
                && msg.contains("division by zero"),
            "{msg}"
        );
    }
}

/// A slow output (the sink sleeps on the first batches) fills the rings
/// into the output thread: the cores wait for room, counted as blocked,
/// not as idle, and not more than the run lasted.
#[test]
fn cores_waiting_for_a_slow_output_count_it_as_blocked() {
    let ts: Vec<Trade> = (0..4000)
        .map(|i| Trade {
            symbol: Some(["A", "B", "C", "D"][i % 4].into()),
            trader: Some(1),
            price: Some(10_000),
            qty: Some(1),
            ts: Some(1_705_312_800_000 + i as i64),
            fprice: None,
        })
        .collect();
    let plan = sql::compile(&format!(
        "{}SELECT symbol, price FROM trades",
        trades_ddl(0)
    ))
    .unwrap();
    let input = Arc::new(Split {
        trades: ts,
        batch_size: 16,
        ranged: None,
    });
    let cfg = ParallelConfig {
        ring_capacity: 1,
        ..ParallelConfig::new(2)
    };
    let mut slow = 10;
    let stats = run_parallel(&plan, input, &cfg, &mut |_| {
        if slow > 0 {
            slow -= 1;
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        Ok(())
    })
    .unwrap_or_else(|f| panic!("{}", f.error));
    assert_eq!(stats.records_out, 4000);
    let blocked: f64 = stats.cores.iter().map(|c| c.blocked_secs).sum();
    // Ten sleeps of 5 ms with both cores' batches queued behind them.
    assert!(blocked >= 0.02, "blocked {blocked} s: {:?}", stats.cores);
    for c in &stats.cores {
        assert!(
            c.idle_secs + c.blocked_secs <= stats.elapsed_secs,
            "{c:?} in {} s",
            stats.elapsed_secs
        );
    }
    let share = stats.blocked_share().unwrap();
    assert!(share > 0.0 && share <= 1.0, "{share}");
}

/// The plan of the scenario query `examples/scenarios/{name}.sql`.
fn scenario_plan(name: &str) -> percore::Plan {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let text =
        std::fs::read_to_string(root.join(format!("examples/scenarios/{name}.sql"))).unwrap();
    sql::compile(&text).unwrap()
}

/// `rows` rows of the built-in market data (seed 7, blocks of 8,192), only
/// the columns `plan` reads, paced at `rate` rows a second (`None`: flat out).
fn market_data(
    plan: &percore::Plan,
    rows: u64,
    rate: Option<f64>,
) -> Arc<percore::runtime::GeneratorPartitions> {
    Arc::new(percore::runtime::GeneratorPartitions {
        dataset: percore::Dataset::MarketData,
        seed: 7,
        rows,
        batch_size: 8_192,
        config: Default::default(),
        rate,
        columns: Some(plan.inputs.clone()),
    })
}

/// A core whose CPU another thread keeps busy waits for it, and the run
/// says so: one core pinned beside a thread that spins on the same CPU the
/// whole run spends a good part of the run preempted (the scheduler shares
/// the CPU between the two), never more than the run.
#[test]
fn a_core_sharing_its_cpu_counts_the_time_it_waited_as_preempted() {
    use percore::runtime::available_cpus;
    use std::sync::atomic::{AtomicBool, Ordering};
    let cpu = available_cpus()[0];
    let stop = Arc::new(AtomicBool::new(false));
    let hog = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            assert!(core_affinity::set_for_current(core_affinity::CoreId {
                id: cpu
            }));
            while !stop.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        })
    };
    let plan = scenario_plan("s2_group_by");
    let input = market_data(&plan, 400_000, None);
    let cfg = ParallelConfig {
        cpus: Some(vec![cpu]),
        ..ParallelConfig::new(1)
    };
    let stats = run_parallel(&plan, input, &cfg, &mut |_| Ok(()));
    stop.store(true, Ordering::Relaxed);
    hog.join().unwrap();
    let stats = stats.unwrap_or_else(|f| panic!("{}", f.error));
    let core = &stats.cores[0];
    assert!(
        core.preempted_secs >= 0.2 * stats.elapsed_secs
            && core.preempted_secs <= stats.elapsed_secs,
        "preempted {} s of {} s",
        core.preempted_secs,
        stats.elapsed_secs
    );
    let share = stats.preempted_share().unwrap();
    assert!((0.2..=1.0).contains(&share), "{share}");
}

/// A paced generator's cores take batches sized by the adaptive cap (the
/// rows that came due, at most 1,024 while a core keeps up, more while it
/// falls behind): the results must be those of the same rows taken flat
/// out in 8,192-row batches, for the scenarios whose answer depends on
/// event-time order and on how rows meet in windows.
#[test]
fn paced_sources_with_adaptive_batches_give_the_rows_of_a_flat_out_run() {
    let rows = 60_000;
    for name in ["s1_rows_window", "s3a_tumbling", "s3b_emit_changes"] {
        let plan = scenario_plan(name);
        let run = |rate: Option<f64>| {
            let input = market_data(&plan, rows, rate);
            let mut out = Vec::new();
            let stats = run_parallel(&plan, input, &ParallelConfig::new(2), &mut |b| {
                out.push(b.clone());
                Ok(())
            })
            .unwrap_or_else(|f| panic!("{}", f.error));
            assert_eq!(stats.records_in, rows);
            sorted_text(&common::batches_to_rows(&out))
        };
        let flat = run(None);
        assert!(!flat.is_empty(), "{name}");
        // Well above what a debug build takes: the backlog grows, so the
        // cap starts at 1,024 rows and doubles.
        assert_eq!(run(Some(50e6)), flat, "{name}: overloaded");
        // Below it: small batches of whatever came due.
        assert_eq!(run(Some(300e3)), flat, "{name}: paced");
    }
}

/// What a watermark releases on two cores is timed from the ingest of the
/// batch that moved the watermark, also on the core whose own watermark
/// fires a window (it adopts its own closed windows and sends itself no
/// pieces): one core reads every row (the other ends at once), and the
/// only group is owned by one core or the other, for each of eight keys.
/// Each batch (10,000 rows, ten windows) is folded before its watermark
/// goes out, so every window's latency holds at least that batch's fold
/// (100 µs and more); timing from the start of the close (the old bug)
/// read about 6 µs on the owning core.
#[test]
fn windows_fired_by_a_cores_own_watermark_are_timed_from_the_ingest() {
    use percore::runtime::FirstCoreOnly;
    for key in ["a", "b", "c", "d", "e", "f", "g", "h"] {
        let trades: Vec<Trade> = (0..40_000i64)
            .map(|i| Trade {
                symbol: Some(key.to_string()),
                trader: Some(1),
                price: Some(10_000),
                qty: Some(1),
                ts: Some(1_705_312_800_000 + i),
                fprice: Some(1.0),
            })
            .collect();
        let sql_text = format!(
            "{}SELECT symbol, COUNT(*) AS n, SUM(qty) AS q FROM trades \
             GROUP BY symbol WINDOW TUMBLING (ts, INTERVAL '1' SECOND)",
            trades_ddl(0)
        );
        let plan = sql::compile(&sql_text).unwrap();
        let batches = to_batches(&trades, 10_000);
        let input = Arc::new(FirstCoreOnly(move || {
            Ok(Box::new(VecSource::new(batches.clone(), 0, Some(1))) as Box<dyn Source>)
        }));
        // Results kept on the core that made them (as the benchmark keeps
        // them), so each is timed at its emission, not at a delivery.
        let kept = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = kept.clone();
        let cfg = ParallelConfig {
            core_sink: Some(Arc::new(move |_, b: &RecordBatch| {
                count.fetch_add(b.num_rows(), std::sync::atomic::Ordering::Relaxed);
                Ok(())
            })),
            ..ParallelConfig::new(2)
        };
        let stats = run_parallel(&plan, input, &cfg, &mut |_| Ok(()))
            .unwrap_or_else(|f| panic!("{}", f.error));
        // 40 windows of 1,000 rows, one group each.
        assert_eq!(stats.records_out, 40, "{key}");
        assert_eq!(kept.load(std::sync::atomic::Ordering::Relaxed), 40, "{key}");
        let l = &stats.latency_us;
        assert_eq!(l.count, 40, "{key}");
        assert!(
            l.p50 >= 50,
            "key {key}: windows timed from their emission, not from the ingest: {l:?}"
        );
    }
}

/// A source that says when its batches' rows arrived (a live feed's rows
/// that waited before the core took them): latency counts from then, not
/// from when the core read the batch.
#[test]
fn latency_counts_from_when_a_sources_rows_arrived() {
    use percore::runtime::FirstCoreOnly;
    use std::time::{Duration, Instant};

    struct Arrived {
        batches: std::vec::IntoIter<RecordBatch>,
        arrived: Instant,
    }
    impl Source for Arrived {
        fn next_batch(&mut self) -> percore::operators::Result<Option<RecordBatch>> {
            Ok(self.batches.next())
        }
        fn arrived(&self) -> Option<Instant> {
            Some(self.arrived)
        }
    }

    let trades: Vec<Trade> = (0..200)
        .map(|i| Trade {
            symbol: Some(format!("S{}", i % 3)),
            trader: Some(i % 7),
            price: Some(100 + i as i128),
            qty: Some(1),
            ts: Some(i),
            fprice: Some(1.5),
        })
        .collect();
    let plan = sql::compile(&format!(
        "{}SELECT symbol, price FROM trades WHERE qty > 0",
        trades_ddl(10)
    ))
    .unwrap();
    for cores in [1, 2] {
        let batches = to_batches(&trades, 50);
        // Rows that arrived 200 ms before the run started.
        let arrived = Instant::now() - Duration::from_millis(200);
        let input = Arc::new(FirstCoreOnly(move || {
            Ok(Box::new(Arrived {
                batches: batches.clone().into_iter(),
                arrived,
            }) as Box<dyn Source>)
        }));
        let stats = run_parallel(&plan, input, &ParallelConfig::new(cores), &mut |_| Ok(()))
            .unwrap_or_else(|f| panic!("{}", f.error));
        assert_eq!(stats.records_out, 200);
        assert!(
            stats.latency_us.p50 >= 200_000,
            "{cores} cores: {:?}",
            stats.latency_us
        );
    }
}

/// Partitions far apart in event time (the second core's share starts where
/// the first's ends, and the first core's source is slow): the second core
/// runs ahead, and every row it reads waits for the first core's watermark.
/// Under `align_rows` a core stops reading once it has read that many rows
/// past the slowest core's watermark, so the cores hold about that many;
/// without it they hold most of the leading core's share. The rows are
/// those of one core either way.
#[test]
fn a_core_ahead_stops_reading_at_the_rows_bound() {
    use std::time::Duration;

    /// [`Split`]'s contiguous shares, the first core's batches slowly.
    struct Skewed(Split);
    struct Slow(Box<dyn Source>);
    impl Source for Slow {
        fn next_batch(&mut self) -> percore::operators::Result<Option<RecordBatch>> {
            std::thread::sleep(Duration::from_millis(2));
            self.0.next_batch()
        }
    }
    impl PartitionedSource for Skewed {
        fn open(&self, part: usize, parts: usize) -> percore::operators::Result<Option<Partition>> {
            Ok(self.0.open(part, parts)?.map(|p| match part {
                0 => Partition {
                    source: Box::new(Slow(p.source)),
                    ..p
                },
                _ => p,
            }))
        }
    }

    // One row a millisecond for 20 s: the second half is 10 s ahead, well
    // inside the 60 s event-time alignment.
    let trades: Vec<Trade> = (0..20_000i64)
        .map(|i| Trade {
            symbol: Some(format!("S{}", i % 16)),
            trader: Some(i % 5),
            price: Some((1_000 + (i * 7919) % 500).into()),
            qty: Some(1 + i % 9),
            ts: Some(i),
            fprice: Some(0.5),
        })
        .collect();
    let batch_size = 250;
    let w = "OVER (PARTITION BY symbol ORDER BY ts ROWS BETWEEN 9 PRECEDING AND CURRENT ROW)";
    let sql_text = format!(
        "{}SELECT symbol, price, AVG(price) {w} AS a, MAX(price) {w} AS mx FROM trades",
        trades_ddl(LATENESS)
    );
    let plan = sql::compile(&sql_text).unwrap();
    let (want, late) = run_engine(&sql_text, &to_batches(&trades, batch_size)).unwrap();
    assert_eq!(late, 0);
    let run = |align_rows: usize| {
        let input = Arc::new(Skewed(Split {
            trades: trades.clone(),
            batch_size,
            ranged: Some(3),
        }));
        let cfg = ParallelConfig {
            align_rows,
            ..ParallelConfig::new(2)
        };
        let mut out = Vec::new();
        let stats = run_parallel(&plan, input, &cfg, &mut |b| {
            out.push(b.clone());
            Ok(())
        })
        .unwrap_or_else(|f| panic!("{}", f.error));
        assert_eq!(stats.late_rows, 0);
        assert_eq!(
            sorted_text(&common::batches_to_rows(&out)),
            sorted_text(&want),
            "align_rows {align_rows}: two cores vs one"
        );
        for c in &stats.cores {
            assert!(
                0.0 <= c.held_back_secs
                    && c.held_back_secs <= c.idle_secs
                    && c.idle_secs <= stats.elapsed_secs,
                "align_rows {align_rows}: {c:?} in {} s",
                stats.elapsed_secs
            );
        }
        // The second core, not slowed, is the one that waits. (The first
        // can be held back too, briefly, when a busy machine stops the
        // second: its figures are not added in.)
        let leader = &stats.cores[1];
        (
            stats.cores.iter().map(|c| c.peak_held_rows).max().unwrap(),
            leader.idle_secs,
            leader.held_back_secs,
        )
    };
    let bound = 1_000;
    let (bounded, idle, held_back) = run(bound);
    let (unbounded, idle_unbounded, held_back_unbounded) = run(usize::MAX);
    // The first core sleeps 2 ms before each of its 40 batches: under the
    // bound the second waits for it at almost every one of them, held back;
    // without it, it is held back only until the first core's first
    // watermark (one sleep), then reads on and waits for that core's end.
    assert!(
        held_back >= 0.02,
        "held back {held_back} s, idle {idle} s under the bound"
    );
    assert!(
        held_back_unbounded * 4.0 < held_back,
        "held back {held_back_unbounded} s without a bound, {held_back} s with"
    );
    assert!(
        idle_unbounded >= 0.02,
        "the leading core waited only {idle_unbounded} s for the slow one"
    );
    // What a core may hold besides: the rows lateness holds, the batch
    // that took it past the bound.
    assert!(
        bounded <= 2 * bound + 4 * batch_size,
        "held {bounded} rows under a bound of {bound}"
    );
    assert!(
        unbounded >= 4 * bound,
        "the leading core held only {unbounded} rows without a bound"
    );
}
