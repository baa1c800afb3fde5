//! Sources of input batches.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow_array::RecordBatch;
use percore_operators::codec::generator::Generator;
use percore_operators::Result;

use crate::batching::Backlog;

/// Work a source must await before it has a batch ready.
pub type Fill<'a> = Pin<Box<dyn Future<Output = Result<()>> + 'a>>;

/// Something that yields input batches until it is exhausted.
///
/// A source doing I/O on a core's executor says so through [`Source::fill`]:
/// the caller awaits every fill it returns before calling
/// [`Source::next_batch`]. Sources that compute their rows (the generator)
/// never need one; only those can run outside an executor ([`crate::run_local`]).
pub trait Source {
    /// I/O (or a wait) to await before the next batch may be ready; the
    /// caller awaits it, may do other work, and asks again. `None` when a
    /// batch is ready (or the source is exhausted).
    fn fill(&mut self) -> Option<Fill<'_>> {
        None
    }

    /// The next batch, `Ok(None)` at the end of a bounded input.
    fn next_batch(&mut self) -> Result<Option<RecordBatch>>;

    /// Rows waiting to be taken now (a live feed's rows that came due),
    /// for a source that knows: the caller then sizes each batch from it
    /// ([`crate::AdaptiveBatch`]) and asks with
    /// [`Source::next_batch_limited`]; when it also says how long the
    /// oldest has waited ([`Backlog::waited`]), the caller waits up to
    /// [`crate::LINGER`] for a full batch. `None` (the default): the source
    /// sizes its own batches.
    fn backlog(&mut self) -> Option<Backlog> {
        None
    }

    /// The next batch, of at most `max_rows` rows. The default ignores the
    /// limit: a source that reports a [`Source::backlog`] must honour it.
    fn next_batch_limited(&mut self, max_rows: usize) -> Result<Option<RecordBatch>> {
        let _ = max_rows;
        self.next_batch()
    }

    /// Malformed rows skipped so far.
    fn malformed_rows(&self) -> u64 {
        0
    }

    /// When the source numbers its own rows one by one (Kafka: by offset
    /// and partition), the numbers of the last batch's rows; `None` to
    /// number them by [`Source::row_range`] or by count.
    fn row_positions(&self) -> Option<&[i64]> {
        None
    }

    /// When the last batch's rows are numbered ascending within a range of
    /// numbers of its own — the generator's blocks (consecutive rows), a
    /// file's chunks (consecutive lines, numbered by byte position) — the
    /// numbers of its first and last row, which the caller asks first;
    /// `None` to number them by [`Source::row_positions`] or by count. The
    /// batch then carries only that range, which no other batch's may
    /// overlap (each input row is read once, in one batch) and which holds
    /// at least as many numbers as the batch has rows. A wrapper of a
    /// source must pass it on, as it passes on `row_positions`: else rows
    /// are numbered by count, and ties in event time break differently on
    /// different numbers of cores.
    fn row_range(&self) -> Option<(i64, i64)> {
        None
    }

    /// When the last batch's first row arrived, for a source that knows (a
    /// paced feed: when that row came due); `None`: when the batch was
    /// read. Latency is counted from it, so the time a row waits in the
    /// source (behind a busy core, or held to fill a batch) counts.
    fn arrived(&self) -> Option<std::time::Instant> {
        None
    }

    /// How far event time has surely come, for a source that interleaves
    /// inputs each in event-time order only on its own (Kafka partitions):
    /// the least, over the inputs still being read, of the greatest event
    /// time seen in each — `Some(None)` while one of them has shown none.
    /// The watermark is this minus the lateness. `None` (the default): the
    /// greatest event time of any row read.
    fn event_time_bound(&self) -> Option<Option<i64>> {
        None
    }

    /// Whether the source reads nothing at all for now (a Kafka consumer
    /// without partitions): its core then holds no watermark back — it
    /// follows the other cores', and rows it reads later behind that are
    /// late.
    fn idle(&self) -> bool {
        false
    }
}

/// The built-in generator as a source.
pub struct GeneratorSource(Generator);

impl GeneratorSource {
    pub fn new(g: Generator) -> Self {
        GeneratorSource(g)
    }
}

impl Source for GeneratorSource {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        Ok(self.0.next())
    }

    fn row_range(&self) -> Option<(i64, i64)> {
        made_range(&self.0)
    }
}

/// The row numbers of the last batch `g` made, as [`Source::row_range`]
/// names them.
fn made_range(g: &Generator) -> Option<(i64, i64)> {
    let (first, last) = g.last_rows()?;
    Some((first as i64, last as i64))
}

/// One core's share of the input, opened on that core.
pub struct Partition {
    pub source: Box<dyn Source>,
    /// Global sequence number of the share's first row. Rows are numbered in
    /// input order, so sequence numbers break event-time ties the same way on
    /// any number of cores. These two count rows for a source that numbers
    /// them neither by [`Source::row_positions`] nor by [`Source::row_range`].
    pub first_seq: i64,
    /// Distance between the sequence numbers of consecutive rows of the share
    /// (1 for a contiguous share, `parts` for an interleaved one).
    pub seq_stride: i64,
}

/// An input that can be split among cores. It is shared by every core (so
/// `Send + Sync`); each core opens its own share, which never leaves it.
pub trait PartitionedSource: Send + Sync {
    /// Share `part` of `parts`, or `None` when that core reads nothing.
    fn open(&self, part: usize, parts: usize) -> Result<Option<Partition>>;

    /// This input for one run whose shares balance the work among
    /// themselves (the generator's cores claiming blocks from one counter,
    /// so a faster core reads more), or `None` (the default) when its
    /// shares are fixed. The runtime asks once per run, before any core
    /// opens its share (so every run starts afresh), and only for a query
    /// that holds no rows for the watermark (a SELECT, an EMIT FINAL
    /// aggregate: where rows wait, a core that reads ahead has its rows
    /// held longer on the others). A wrapper of an input passes it on, as
    /// it passes on its shares.
    fn balanced(&self) -> Option<Arc<dyn PartitionedSource>> {
        None
    }
}

/// The built-in generator split among cores in blocks of `batch_size`
/// consecutive rows: core `p` of `n` generates blocks `p, p + n, p + 2n,
/// ...`, so every core moves through event time together (a block apart)
/// and watermarks (the minimum over cores) keep up. Balanced
/// ([`PartitionedSource::balanced`]), each core takes the next block no
/// core has taken yet instead (one shared counter, a block a claim): a
/// faster core reads more, and the cores still move through event time
/// together. Each batch is consecutive rows, numbered by
/// [`Source::row_range`]: held batches then sit in ranges of sequence
/// numbers of their own, and an event-time release orders time ties
/// without sorting by sequence. A paced share interleaves single rows
/// instead (core `p` makes rows `p, p + n, ...`): a block apart in event
/// time would hold its watermark back by a block's worth of wall time.
#[derive(Clone)]
pub struct GeneratorPartitions {
    pub dataset: percore_operators::codec::generator::Dataset,
    pub seed: u64,
    pub rows: u64,
    pub batch_size: usize,
    pub config: percore_operators::codec::generator::MarketConfig,
    /// Paced: records per second over all cores (`None`: as fast as the
    /// cores take them). A paced share hands out the rows that have come
    /// due since it was last asked — a small batch at a low rate, up to
    /// `batch_size` at a high one — and reports them as its backlog, so a
    /// core caps its batches while it keeps up ([`crate::AdaptiveBatch`]).
    pub rate: Option<f64>,
    /// The schema columns to make values in (a query's
    /// [`percore_operators::Plan::inputs`]); the others are NULL
    /// ([`Generator::reading_only`]). `None`: every column.
    pub columns: Option<Vec<usize>>,
}

impl GeneratorPartitions {
    /// The generator from row `first` on.
    fn generator(&self, first: u64) -> Generator {
        let g = Generator::range(
            self.dataset,
            self.seed,
            first,
            self.rows,
            self.batch_size,
            self.config,
        );
        match &self.columns {
            Some(cols) => g.reading_only(cols),
            None => g,
        }
    }
}

impl PartitionedSource for GeneratorPartitions {
    fn balanced(&self) -> Option<Arc<dyn PartitionedSource>> {
        // A paced run interleaves single rows, each core at its rate.
        self.rate.is_none().then(|| {
            Arc::new(ClaimedBlocks {
                generator: self.clone(),
                next: Arc::new(AtomicU64::new(0)),
            }) as Arc<dyn PartitionedSource>
        })
    }

    fn open(&self, part: usize, parts: usize) -> Result<Option<Partition>> {
        let (part, parts, block) = (part as u64, parts as u64, self.batch_size.max(1) as u64);
        let source: Box<dyn Source> = match self.rate {
            Some(rate) => Box::new(Paced {
                gen: self.generator(part).with_stride(parts),
                per_sec: (rate / parts as f64).max(1e-3),
                start: None,
                made: 0,
                max_batch: self.batch_size.max(1),
                first_due: None,
            }),
            None => Box::new(GeneratorSource::new(
                self.generator(part * block).with_blocks(block, parts),
            )),
        };
        Ok(Some(Partition {
            source,
            first_seq: part as i64,
            seq_stride: parts as i64,
        }))
    }
}

/// One run of the generator flat out: each share claims the next block
/// from `next` (see [`GeneratorPartitions`]).
struct ClaimedBlocks {
    generator: GeneratorPartitions,
    /// The number of the next block no share has claimed.
    next: Arc<AtomicU64>,
}

impl PartitionedSource for ClaimedBlocks {
    fn open(&self, part: usize, parts: usize) -> Result<Option<Partition>> {
        let block = self.generator.batch_size.max(1) as u64;
        Ok(Some(Partition {
            source: Box::new(Claiming {
                generator: self.generator.generator(0).with_blocks(block, 1),
                block,
                next: self.next.clone(),
            }),
            // Unused: every batch is numbered by its first row.
            first_seq: part as i64,
            seq_stride: parts as i64,
        }))
    }
}

/// A core's share of a [`ClaimedBlocks`] run: a batch per block claimed.
/// Each share's claims ascend, so its rows come in input order as a
/// striped share's do (the watermark a share announces never passes a row
/// of a block it claims later).
struct Claiming {
    generator: Generator,
    block: u64,
    next: Arc<AtomicU64>,
}

impl Source for Claiming {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        // Only the claim is shared: nothing is ordered by it.
        let first = self
            .next
            .fetch_add(1, Ordering::Relaxed)
            .saturating_mul(self.block);
        // Past the last row the generator makes none.
        self.generator.seek(first);
        Ok(self.generator.next_rows(self.block as usize))
    }

    fn row_range(&self) -> Option<(i64, i64)> {
        made_range(&self.generator)
    }
}

/// An input read whole by the first core (one that cannot be split); the
/// other cores only take their share of the keyed work.
pub struct FirstCoreOnly<F>(pub F);

impl<F> PartitionedSource for FirstCoreOnly<F>
where
    F: Fn() -> Result<Box<dyn Source>> + Send + Sync,
{
    fn open(&self, part: usize, _parts: usize) -> Result<Option<Partition>> {
        if part != 0 {
            return Ok(None);
        }
        Ok(Some(Partition {
            source: (self.0)()?,
            first_seq: 0,
            seq_stride: 1,
        }))
    }
}

/// A generator share that makes rows at a fixed rate (see
/// [`GeneratorPartitions::rate`]); it waits on the core's executor timer.
struct Paced {
    gen: Generator,
    per_sec: f64,
    start: Option<std::time::Instant>,
    made: u64,
    max_batch: usize,
    /// When the last batch's first row came due.
    first_due: Option<std::time::Instant>,
}

impl Paced {
    fn due(&mut self) -> u64 {
        let start = *self.start.get_or_insert_with(std::time::Instant::now);
        (start.elapsed().as_secs_f64() * self.per_sec) as u64
    }

    /// When row `k` (counting from 1) comes due: `due()` reaches `k` then.
    fn due_at(&self, k: u64) -> std::time::Instant {
        let start = self.start.expect("set by due()");
        start + std::time::Duration::from_secs_f64(k as f64 / self.per_sec)
    }
}

impl Source for Paced {
    fn fill(&mut self) -> Option<Fill<'_>> {
        if self.gen.remaining() == 0 || self.due() > self.made {
            return None;
        }
        let next = self.due_at(self.made + 1);
        let wait = next
            .saturating_duration_since(std::time::Instant::now())
            .min(std::time::Duration::from_millis(1));
        Some(Box::pin(async move {
            glommio::timer::sleep(wait).await;
            Ok(())
        }))
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        self.next_batch_limited(self.max_batch)
    }

    fn backlog(&mut self) -> Option<Backlog> {
        let rows = self.due().saturating_sub(self.made);
        Some(Backlog {
            rows,
            max_batch: self.max_batch,
            waited: (rows > 0).then(|| self.due_at(self.made + 1).elapsed()),
        })
    }

    fn next_batch_limited(&mut self, max_rows: usize) -> Result<Option<RecordBatch>> {
        let n = self
            .due()
            .saturating_sub(self.made)
            .clamp(1, max_rows.clamp(1, self.max_batch) as u64);
        let b = self.gen.next_rows(n as usize);
        self.first_due = Some(self.due_at(self.made + 1));
        self.made += b.as_ref().map_or(0, |b| b.num_rows() as u64);
        Ok(b)
    }

    fn arrived(&self) -> Option<std::time::Instant> {
        self.first_due
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use percore_operators::codec::generator::Dataset;
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The shares of a balanced generator run, read in any
        /// interleaving, make every block once, each share its blocks in
        /// ascending order, each batch the rows the generator makes there
        /// (numbered by its first row); a second run of the same input
        /// makes every block again.
        #[test]
        fn balanced_shares_make_every_block_once(
            order in prop::collection::vec(0..4usize, 0..40),
            rows in 1u64..30_000,
            parts in 1usize..4,
        ) {
            let block = 4_096;
            let input = GeneratorPartitions {
                dataset: Dataset::MarketData,
                seed: 3,
                rows,
                batch_size: block,
                config: Default::default(),
                rate: None,
                columns: None,
            };
            // Consecutive batches of one generator: block after block.
            let whole: Vec<RecordBatch> =
                Generator::range(Dataset::MarketData, 3, 0, rows, block, Default::default()).collect();
            for _run in 0..2 {
                let run = input.balanced().expect("a generator run flat out balances");
                let mut shares: Vec<Partition> =
                    (0..parts).map(|p| run.open(p, parts).unwrap().unwrap()).collect();
                let mut got: Vec<Option<RecordBatch>> = vec![None; whole.len()];
                let mut last: Vec<Option<i64>> = vec![None; parts];
                let mut live: Vec<usize> = (0..parts).collect();
                let mut turns = order.iter().chain(std::iter::repeat(&0));
                while !live.is_empty() {
                    let i = turns.next().unwrap() % live.len();
                    let p = live[i];
                    let Some(b) = shares[p].source.next_batch().unwrap() else {
                        live.remove(i);
                        continue;
                    };
                    let (first, end) = shares[p].source.row_range().unwrap();
                    prop_assert_eq!(end - first + 1, b.num_rows() as i64);
                    prop_assert!(last[p].is_none_or(|l| l < first), "share {p}: {last:?} then {first}");
                    last[p] = Some(first);
                    prop_assert_eq!(first % block as i64, 0);
                    let k = first as usize / block;
                    prop_assert!(got[k].is_none(), "block {k} twice");
                    got[k] = Some(b);
                }
                for (k, (g, w)) in got.iter().zip(&whole).enumerate() {
                    prop_assert_eq!(g.as_ref(), Some(w), "block {}", k);
                }
            }
        }
    }

    /// A paced generator's shares interleave rows at their rate: not
    /// balanced.
    #[test]
    fn a_paced_generator_is_not_balanced() {
        let input = GeneratorPartitions {
            dataset: Dataset::MarketData,
            seed: 1,
            rows: 10,
            batch_size: 4,
            config: Default::default(),
            rate: Some(1_000.0),
            columns: None,
        };
        assert!(input.balanced().is_none());
    }

    /// A paced share's batch says when its first row came due, so the
    /// time its rows waited for the core to take them counts as latency.
    #[test]
    fn a_paced_batch_arrived_when_its_first_row_came_due() {
        let input = GeneratorPartitions {
            dataset: Dataset::MarketData,
            seed: 1,
            rows: 10_000,
            batch_size: 1_024,
            config: Default::default(),
            rate: Some(1_000.0),
            columns: None,
        };
        let mut part = input.open(0, 1).unwrap().unwrap();
        let src = &mut part.source;
        let before = Instant::now();
        // The clock starts at the first look; a row comes due each ms.
        assert_eq!(src.backlog().unwrap().rows, 0);
        std::thread::sleep(Duration::from_millis(30));
        let b = src.next_batch_limited(1_024).unwrap().unwrap();
        assert!(b.num_rows() >= 29, "{}", b.num_rows());
        let first = src.arrived().unwrap();
        // Row 1 came due 1 ms after the start, more than 20 ms ago.
        assert!(first >= before, "not before the clock started");
        assert!(first.elapsed() >= Duration::from_millis(20));
        // The backlog says how long its oldest row has waited: rows came
        // due during the 5 ms slept, the first of them over 3 ms ago.
        std::thread::sleep(Duration::from_millis(5));
        let backlog = src.backlog().unwrap();
        assert!(backlog.rows >= 4, "{backlog:?}");
        let waited = backlog.waited.unwrap();
        assert!(waited >= Duration::from_millis(3), "{waited:?}");
        // The next batch's first row came due after this one's last.
        src.next_batch_limited(1_024).unwrap().unwrap();
        assert!(src.arrived().unwrap() > first + Duration::from_millis(b.num_rows() as u64 - 1));
        // Nothing due: no wait to report.
        let left = src.backlog().unwrap();
        assert!(left.rows > 0 || left.waited.is_none(), "{left:?}");
    }
}
