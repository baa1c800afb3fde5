//! A CSV or JSON-lines file split among cores by byte range, read through
//! glommio's io_uring file API.
//!
//! Contract:
//! - the data (after a CSV header) is cut into stripes of [`STRIPE`] bytes
//!   (less for a small file, so each core gets several);
//!   stripe `k` owns the lines that *start* in `[data + k·S, data + (k+1)·S)`,
//!   so every line belongs to exactly one stripe wherever the cuts fall;
//! - core `p` of `n` reads stripes `p, p + n, p + 2n, ...`; balanced
//!   ([`PartitionedSource::balanced`]), each core instead takes the next
//!   stripe no core has taken yet (one counter per run), so a faster core
//!   reads more. Either way all cores move through the file — and through
//!   event time, for a file in time order — together, so watermark
//!   alignment never serialises them;
//! - reads are `BufferedFile::read_at` calls of at most [`CHUNK`] bytes,
//!   awaited on the reading core's executor (never a blocking read; with
//!   a timer beside each, [`crate::io_wait`]); a
//!   chunk's whole lines are parsed there, a partial last line carried on;
//! - each row's sequence number is its byte position in the file, so ties in
//!   event time resolve as in a one-core read of the whole file; a batch
//!   (consecutive lines of one stripe) names only its first and last row's
//!   ([`Source::row_range`]);
//! - a malformed row's error names its row and line in the whole file (lines
//!   before it are counted only when there is an error to report).
//!   Rows are told apart by newlines, so a CSV field holding a newline inside
//!   quotes is not supported.

use std::collections::VecDeque;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow_array::RecordBatch;
use glommio::io::BufferedFile;
use percore_operators::codec::csv::CsvReader;
use percore_operators::codec::OnError;
use percore_operators::{Column, Error, Format, Result};

use crate::source::{Partition, PartitionedSource, Source};

mod parse;

pub(crate) use parse::parse_lines;

/// Bytes per read.
pub const CHUNK: usize = 1 << 20;

/// Bytes per stripe (the unit cores take turns at).
pub const STRIPE: u64 = 1 << 20;

/// A file every core reads its own byte range of.
#[derive(Clone, Debug)]
pub struct FileInput {
    path: PathBuf,
    name: String,
    format: Format,
    columns: Vec<Column>,
    /// Field index of each schema column (CSV).
    csv_index: Vec<usize>,
    /// The schema columns to parse (`None`: all); see [`FileInput::reading_only`].
    read: Option<Vec<usize>>,
    /// Where data rows start (after a CSV header).
    data_start: u64,
    len: u64,
    batch_size: usize,
    on_error: OnError,
    chunk: usize,
    /// Stripe size; `None`: chosen per run (see [`FileInput::stripe_for`]).
    stripe: Option<u64>,
}

impl FileInput {
    /// Checks the file (it opens; a CSV header covers `columns`) on the
    /// calling thread, before any core starts.
    pub fn new(
        path: &Path,
        format: Format,
        columns: &[Column],
        batch_size: usize,
        on_error: OnError,
    ) -> Result<Self> {
        let name = path.display().to_string();
        let io = |e: std::io::Error| Error::Config(format!("cannot open {name}: {e}"));
        let len = std::fs::metadata(path).map_err(io)?.len();
        let (csv_index, data_start) = match format {
            Format::Csv => {
                let file = std::fs::File::open(path).map_err(io)?;
                let r = CsvReader::new(&name, file, columns, 1, on_error)?;
                (r.header_index().to_vec(), r.data_start())
            }
            Format::JsonLines => (Vec::new(), 0),
        };
        Ok(FileInput {
            path: path.to_path_buf(),
            name,
            format,
            columns: columns.to_vec(),
            csv_index,
            read: None,
            data_start,
            len,
            batch_size: batch_size.max(1),
            on_error,
            chunk: CHUNK,
            stripe: None,
        })
    }

    /// The input of `plan`'s stream from `path`: its declared columns, of
    /// which only those the query reads are parsed.
    pub fn for_plan(
        path: &Path,
        format: Format,
        plan: &percore_operators::Plan,
        batch_size: usize,
        on_error: OnError,
    ) -> Result<Self> {
        Ok(
            Self::new(path, format, &plan.source.columns, batch_size, on_error)?
                .reading_only(&plan.inputs),
        )
    }

    /// Parses only the schema columns `cols` of a CSV file (the columns a
    /// query reads, [`percore_operators::Plan::inputs`]); the others are
    /// NULL in every batch and a malformed value there is no error.
    pub fn reading_only(mut self, cols: &[usize]) -> Self {
        self.read = Some(cols.to_vec());
        self
    }

    /// Reads `chunk` bytes at a time in stripes of `stripe` bytes instead of
    /// `CHUNK` and `STRIPE` (tests use tiny ones).
    pub fn with_sizes(mut self, chunk: usize, stripe: u64) -> Self {
        self.chunk = chunk.max(1);
        self.stripe = Some(stripe.max(1));
        self
    }

    /// The stripe size for `parts` cores: [`STRIPE`], or less for a small
    /// file, so that every core still gets about eight stripes.
    fn stripe_for(&self, parts: usize) -> u64 {
        self.stripe.unwrap_or_else(|| {
            let per = (self.len - self.data_start.min(self.len)) / (parts as u64 * 8);
            per.clamp(4096, STRIPE)
        })
    }
}

impl PartitionedSource for FileInput {
    fn balanced(&self) -> Option<Arc<dyn PartitionedSource>> {
        Some(Arc::new(BalancedFile {
            input: self.clone(),
            next: Arc::new(AtomicU64::new(0)),
        }))
    }

    fn open(&self, part: usize, parts: usize) -> Result<Option<Partition>> {
        Ok(Some(self.share(part, parts, None)))
    }
}

/// One run of a file whose cores claim its stripes from `next`.
struct BalancedFile {
    input: FileInput,
    /// The next stripe no core has taken.
    next: Arc<AtomicU64>,
}

impl PartitionedSource for BalancedFile {
    fn open(&self, part: usize, parts: usize) -> Result<Option<Partition>> {
        Ok(Some(self.input.share(part, parts, Some(self.next.clone()))))
    }
}

impl FileInput {
    /// Share `part` of `parts`: stripes `part, part + parts, ...`, or
    /// those claimed from `claims`.
    fn share(&self, part: usize, parts: usize, claims: Option<Arc<AtomicU64>>) -> Partition {
        Partition {
            source: Box::new(FileShare {
                input: self.clone(),
                stripe: self.stripe_for(parts),
                next_stripe: part as u64,
                step: parts.max(1) as u64,
                claims,
                pos: 0,
                limit: 0,
                in_stripe: false,
                skip_partial: false,
                file: None,
                tail: Vec::new(),
                tail_pos: 0,
                ready: VecDeque::new(),
                range: None,
                done: false,
                malformed: 0,
            }),
            // Rows are numbered by their byte position instead.
            first_seq: 0,
            seq_stride: 0,
        }
    }
}

/// The byte positions of a batch's first and last row.
type Range = (i64, i64);

/// One core's stripes of the file; lives on that core.
struct FileShare {
    input: FileInput,
    stripe: u64,
    /// The next stripe to take, and the distance between this core's stripes.
    next_stripe: u64,
    step: u64,
    /// The run's stripe counter, when the cores claim stripes.
    claims: Option<Arc<AtomicU64>>,
    /// Next byte to read; lines starting at or after `limit` are not ours.
    pos: u64,
    limit: u64,
    in_stripe: bool,
    /// Bytes before the stripe's first line start are still to be skipped.
    skip_partial: bool,
    file: Option<BufferedFile>,
    /// Bytes read but not parsed, starting at file position `tail_pos`.
    tail: Vec<u8>,
    tail_pos: u64,
    /// Parsed batches, each with its rows' first and last byte position.
    ready: VecDeque<Result<(RecordBatch, Option<Range>)>>,
    /// The byte positions of the last batch handed out (see `row_range`).
    range: Option<Range>,
    done: bool,
    malformed: u64,
}

impl FileShare {
    /// Where stripe `k` nominally starts (clamped to the file's end).
    fn stripe_start(&self, k: u64) -> u64 {
        let i = &self.input;
        i.data_start
            .saturating_add(k.saturating_mul(self.stripe))
            .min(i.len)
    }

    fn io(&self, e: impl std::fmt::Display) -> Error {
        Error::Config(format!("reading {}: {e}", self.input.name))
    }

    async fn read(&self, pos: u64, size: usize) -> Result<glommio::io::ReadResult> {
        let file = self.file.as_ref().expect("opened");
        crate::io_wait::rechecked(file.read_at(pos, size))
            .await
            .map_err(|e| self.io(e))
    }

    /// Newlines in `[0, to)` and non-blank lines in `[from, to)`.
    async fn count_lines(&self, from: u64, to: u64) -> Result<(u64, u64)> {
        let (mut lines, mut rows, mut at, mut blank) = (0, 0, 0u64, true);
        while at < to {
            let r = self.read(at, CHUNK.min((to - at) as usize)).await?;
            if r.is_empty() {
                break;
            }
            for (i, &b) in r.iter().enumerate() {
                if b == b'\n' {
                    lines += 1;
                    if !blank && at + i as u64 >= from {
                        rows += 1;
                    }
                    blank = true;
                } else if !b.is_ascii_whitespace() {
                    blank = false;
                }
            }
            at += r.len() as u64;
        }
        Ok((lines, rows))
    }

    /// Starts this core's next stripe; false when there is none.
    fn next_stripe(&mut self) -> bool {
        let k = match &self.claims {
            // Only the claim is shared: nothing is ordered by it.
            Some(c) => c.fetch_add(1, Ordering::Relaxed),
            None => self.next_stripe,
        };
        let start = self.stripe_start(k);
        if start >= self.input.len {
            return false;
        }
        self.next_stripe = k + self.step;
        self.limit = self.stripe_start(k + 1);
        // A line starts at `start` if the byte before it ends a line.
        self.skip_partial = k > 0;
        self.pos = if k > 0 { start - 1 } else { start };
        self.tail.clear();
        self.tail_pos = self.pos;
        self.in_stripe = true;
        true
    }

    async fn fill(&mut self) -> Result<()> {
        if self.file.is_none() {
            let f = crate::io_wait::rechecked(BufferedFile::open(&self.input.path))
                .await
                .map_err(|e| self.io(e))?;
            self.file = Some(f);
        }
        if !self.in_stripe && !self.next_stripe() {
            self.done = true;
            return Ok(());
        }
        let len = self.input.len;
        let eof = self.pos >= len;
        if !eof {
            // Up to the limit in chunks; past it, only enough to end the last line.
            let want = if self.pos < self.limit {
                self.input.chunk.min((self.limit - self.pos) as usize)
            } else {
                self.input.chunk.min(4096)
            };
            let r = self.read(self.pos, want).await?;
            self.pos = if r.is_empty() {
                len
            } else {
                self.pos + r.len() as u64
            };
            self.tail.extend_from_slice(&r);
        }
        let eof = self.pos >= len;
        if self.skip_partial {
            match memchr::memchr(b'\n', &self.tail) {
                Some(i) => {
                    self.tail.drain(..=i);
                    self.tail_pos += i as u64 + 1;
                    self.skip_partial = false;
                }
                None => {
                    self.tail_pos += self.tail.len() as u64;
                    self.tail.clear();
                    // No newline before `tail_pos`: the next line starts
                    // past it, so none starts in this stripe once it
                    // reaches the limit.
                    if eof || self.tail_pos >= self.limit {
                        self.in_stripe = false;
                    }
                    return Ok(());
                }
            }
        }
        // Our lines: those starting before `limit`. The line that starts
        // last before it may end past it.
        let (whole, stripe_ends) = if self.tail_pos >= self.limit {
            (0, true)
        } else {
            let from = (self.limit - self.tail_pos - 1) as usize;
            match self.tail.get(from..).and_then(|t| memchr::memchr(b'\n', t)) {
                Some(i) => (from + i + 1, true),
                None if eof => (self.tail.len(), true),
                None => (
                    memchr::memrchr(b'\n', &self.tail).map_or(0, |i| i + 1),
                    false,
                ),
            }
        };
        if whole > 0 {
            let base = self.tail_pos;
            // Parsed where they were read to (no copy of the lines), then
            // dropped from the front of the tail.
            let tail = std::mem::take(&mut self.tail);
            let parsed = self.parse(&tail[..whole], base);
            self.tail = tail;
            self.tail.drain(..whole);
            self.tail_pos += whole as u64;
            if let Err(e) = parsed {
                // Name the row and line in the whole file.
                let (lines, rows) = self.count_lines(self.input.data_start, base).await?;
                self.ready.push_back(Err(e.shifted(rows, lines)));
                self.done = true;
                return Ok(());
            }
        }
        if stripe_ends {
            self.in_stripe = false;
        }
        Ok(())
    }

    /// Parses whole lines at file position `base` into ready batches; an
    /// error (after the batches before it) is returned with its row and line
    /// counted from `base`.
    fn parse(&mut self, chunk: &[u8], base: u64) -> Result<()> {
        let i = &self.input;
        let mut push = |b: RecordBatch, pos: &[i64]| {
            // The batch's lines are consecutive: the first and last
            // positions bound them.
            let range = Option::zip(pos.first(), pos.last());
            let range = range.map(|(f, l)| (f + base as i64, l + base as i64));
            self.ready.push_back(Ok((b, range)));
        };
        let (malformed, result) = parse_lines(
            i.format,
            &i.name,
            chunk,
            &i.columns,
            i.csv_index.clone(),
            i.read.as_deref(),
            i.batch_size,
            i.on_error,
            &mut push,
        );
        self.malformed += malformed;
        result
    }
}

impl Source for FileShare {
    fn fill(&mut self) -> Option<Pin<Box<dyn Future<Output = Result<()>> + '_>>> {
        if !self.ready.is_empty() || self.done {
            return None;
        }
        Some(Box::pin(FileShare::fill(self)))
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        match self.ready.pop_front() {
            Some(Ok((b, range))) => {
                self.range = range;
                Ok(Some(b))
            }
            Some(Err(e)) => Err(e),
            None if self.done => Ok(None),
            None => Err(Error::Config(format!(
                "{}: read without awaiting fill() first (a file source runs on a core's executor)",
                self.input.name
            ))),
        }
    }

    fn malformed_rows(&self) -> u64 {
        self.malformed
    }

    fn row_range(&self) -> Option<(i64, i64)> {
        self.range
    }
}

#[cfg(test)]
mod tests;
