//! The embedding API: executors start once per `Runtime` and serve every run
//! on it, one after another or from several threads at once.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use percore::runtime::{Partition, PartitionedSource};
use percore::{sql, Dataset, Runtime};

/// The generator, noting which thread opens each share.
struct Watched {
    inner: Arc<dyn PartitionedSource>,
    threads: Arc<Mutex<BTreeSet<String>>>,
    opened: AtomicUsize,
}

impl PartitionedSource for Watched {
    fn open(&self, part: usize, parts: usize) -> percore::operators::Result<Option<Partition>> {
        let id = format!("{:?}", std::thread::current().id());
        self.threads.lock().unwrap().insert(id);
        self.opened.fetch_add(1, Ordering::Relaxed);
        self.inner.open(part, parts)
    }
}

const Q: &str = "SELECT symbol, COUNT(*) AS n FROM market_data GROUP BY symbol EMIT FINAL";

#[test]
fn executors_start_once_and_serve_every_run() {
    let runtime = Runtime::new(2).unwrap();
    let plan = sql::compile(Q).unwrap();
    let threads = Arc::new(Mutex::new(BTreeSet::new()));
    let watched = || {
        Arc::new(Watched {
            inner: Runtime::generator(Dataset::MarketData, 20_000, 7),
            threads: threads.clone(),
            opened: AtomicUsize::new(0),
        })
    };
    let mut answers = Vec::new();
    for _ in 0..5 {
        let mut n = 0i64;
        let mut groups = 0;
        let input = watched();
        let stats = runtime
            .run(&plan, input.clone(), |b| {
                groups += b.num_rows();
                let counts = b
                    .column(1)
                    .as_any()
                    .downcast_ref::<arrow_array::Int64Array>()
                    .unwrap();
                n += counts.values().iter().sum::<i64>();
            })
            .unwrap();
        assert_eq!(
            input.opened.load(Ordering::Relaxed),
            2,
            "one share per core"
        );
        assert_eq!(stats.records_in, 20_000);
        answers.push((groups, n));
    }
    assert!(answers.iter().all(|a| *a == (100, 20_000)), "{answers:?}");
    // Five runs, two cores: the same two executor threads every time.
    assert_eq!(threads.lock().unwrap().len(), 2);

    // Runs from several threads at once take turns on the same executors.
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let rt = runtime.clone();
                let plan = plan.clone();
                let input = watched();
                s.spawn(move || {
                    let batches: Vec<_> = rt.iter(&plan, input, 2).collect();
                    batches.iter().map(|b| b.num_rows()).sum::<usize>()
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), 100);
        }
    });
    assert_eq!(threads.lock().unwrap().len(), 2);
}

/// One generator input serves runs one after another: a run's cores claim
/// its blocks afresh (a GROUP BY balances its shares), so every run reads
/// every row, and two cores answer as one core does.
#[test]
fn one_generator_input_serves_every_run() {
    let plan = sql::compile(
        "SELECT trader_id, symbol, COUNT(*) AS n, SUM(quantity) AS q FROM market_data \
         GROUP BY trader_id, symbol EMIT FINAL",
    )
    .unwrap();
    let input = Runtime::generator(Dataset::MarketData, 100_000, 11);
    let answer = |runtime: &Runtime| {
        let mut rows = Vec::new();
        let stats = runtime
            .run(&plan, input.clone(), |b| {
                let n = b
                    .column(2)
                    .as_any()
                    .downcast_ref::<arrow_array::Int64Array>()
                    .unwrap();
                for i in 0..b.num_rows() {
                    let row: Vec<String> = b
                        .columns()
                        .iter()
                        .map(|c| format!("{:?}", c.slice(i, 1)))
                        .collect();
                    rows.push((n.value(i), row));
                }
            })
            .unwrap();
        assert_eq!(stats.records_in, 100_000);
        rows.sort();
        rows
    };
    let one = answer(&Runtime::new(1).unwrap());
    let total: i64 = one.iter().map(|r| r.0).sum();
    assert_eq!(total, 100_000, "every row counted once");
    let two = Runtime::new(2).unwrap();
    for run in 0..3 {
        assert_eq!(answer(&two), one, "run {run}");
    }
}
