//! How a parallel run is laid out: cores and the CPUs they are pinned to,
//! ring and I/O memory sizes, and where results go.

use std::sync::Arc;

use arrow_array::RecordBatch;

use crate::sink::FileOutput;

/// [`ParallelConfig::align_rows`]'s default: 32 full batches (about 16 MiB
/// of market data), more than cores reading one stream together read past
/// each other (the bench's two cores: up to seven 8,192-row batches, where
/// `align_ms` stops them; bounds of one to four batches left their speed
/// within the run-to-run spread).
pub const ALIGN_ROWS: usize = 1 << 18;

/// How a parallel run is laid out.
#[derive(Clone)]
pub struct ParallelConfig {
    pub cores: usize,
    /// CPUs to pin cores to, in order; cores beyond the list run unpinned.
    /// `None`: the CPUs `core_affinity` finds.
    pub cpus: Option<Vec<usize>>,
    /// Messages per ring.
    pub ring_capacity: usize,
    /// Bytes of I/O memory glommio registers per executor (kept small so a
    /// low `ulimit -l` suffices).
    pub io_memory: usize,
    /// Print per-core throughput to stderr about once a second.
    pub progress: bool,
    /// Watermark alignment: a core stops reading its input while its own
    /// watermark is more than this far (event-time ms) ahead of the slowest
    /// core's, so state for windows far in the future cannot pile up.
    pub align_ms: i64,
    /// Watermark alignment in rows: a core also stops reading once it has
    /// read this many rows past the slowest core's watermark (rows read
    /// while its own watermark was ahead, until the slowest core's reaches
    /// where its was). Those rows wait for the slowest core, on whichever
    /// core owns their keys (ROWS windows and EMIT CHANGES hold them, see
    /// [`RunStats`]'s per-core `peak_held_rows`), so this bounds what
    /// cores hold beyond what lateness makes them hold anyway. Event time
    /// alone (`align_ms`) bounds it only as far as the input's rate allows:
    /// a fast stream whose partitions run apart (Kafka partitions read
    /// from different offsets, say) would hold `align_ms` of every leading
    /// core's rows. The slowest core never stops, so the watermark always
    /// moves.
    ///
    /// [`RunStats`]: crate::RunStats
    pub align_rows: usize,
    /// With an encoder: every core writes its encoded results to this file
    /// itself (through io_uring) instead of sending them to the caller.
    pub file_output: Option<FileOutput>,
    /// Every core hands its result batches to this function itself, on its
    /// own thread (nothing reaches the caller's sink): results never cross
    /// cores. Takes precedence over an encoder and `file_output`.
    pub core_sink: Option<CoreSink>,
    /// The input is already split by key: all rows with equal keys reach
    /// one core (a Kafka topic keyed by a key column, each core reading its
    /// own partitions), so every core keeps its rows and nothing is
    /// exchanged but watermarks. Wrong if the input is not split so.
    pub local_keys: bool,
    /// Where the operator holds rows until the watermark passes (ROWS
    /// windows, EMIT CHANGES), a core's own rows always stay in the batch
    /// they came in, as a list of rows, and are copied once, at release.
    /// Rows bound for another core travel the same way when this is set;
    /// otherwise (the default) the sender gathers them into a batch of
    /// their own. The two differ only in speed, which depends on what a
    /// core pays to write memory another core has read: by reference was
    /// faster on a host whose cores share a cache cheaply (an Intel
    /// Sapphire Rapids VM), gathering is on one where such a write costs
    /// several times a local one (an AMD EPYC VM): see bench/HISTORY.md,
    /// session 15.
    pub rows_by_reference: bool,
    /// Rows the sender gathers for another core (see `rows_by_reference`)
    /// cross narrowed when this is set (the default): numbers as offsets
    /// of 1, 2 or 4 bytes from their batch's least value, a DECIMAL(≤ 18)
    /// in at most 8 bytes, strings of one length without their offsets
    /// (an EMIT CHANGES row of the market data 47 → 12 bytes), held so
    /// until released (only their time and sequence widened on arrival)
    /// and widened by the receiver before any operator reads the rest. Like
    /// `rows_by_reference`, it changes only the speed, which depends on
    /// what a line read from another core's cache costs: two cores, EMIT
    /// CHANGES took 0.74–0.88 of the time narrowed where a cache line's
    /// round trip between them took ~300–340 ns, 1.04 where it took ~65
    /// ns (the extra passes over local memory not repaid): see
    /// bench/HISTORY.md, sessions 42 and 43.
    pub narrow_rows: bool,
}

/// A sink every core calls with its own results: `(core, batch)`.
pub type CoreSink = Arc<dyn Fn(usize, &RecordBatch) -> std::io::Result<()> + Send + Sync>;

impl std::fmt::Debug for ParallelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParallelConfig")
            .field("cores", &self.cores)
            .field("cpus", &self.cpus)
            .field("ring_capacity", &self.ring_capacity)
            .field("io_memory", &self.io_memory)
            .field("progress", &self.progress)
            .field("align_ms", &self.align_ms)
            .field("align_rows", &self.align_rows)
            .field("file_output", &self.file_output)
            .field("core_sink", &self.core_sink.as_ref().map(|_| "<fn>"))
            .field("local_keys", &self.local_keys)
            .field("rows_by_reference", &self.rows_by_reference)
            .field("narrow_rows", &self.narrow_rows)
            .finish()
    }
}

impl ParallelConfig {
    pub fn new(cores: usize) -> Self {
        ParallelConfig {
            cores,
            cpus: None,
            ring_capacity: 64,
            io_memory: 256 << 10,
            progress: false,
            align_ms: 60_000,
            align_rows: ALIGN_ROWS,
            file_output: None,
            core_sink: None,
            local_keys: false,
            rows_by_reference: false,
            narrow_rows: true,
        }
    }
}

/// The CPUs this process may run on.
pub fn available_cpus() -> Vec<usize> {
    core_affinity::get_core_ids()
        .map(|ids| ids.into_iter().map(|c| c.id).collect())
        .unwrap_or_default()
}
