//! Where a core's results go when they do not go to the caller: a file every
//! core writes to itself, through glommio's io_uring file API.
//!
//! Contract: each core collects its encoded results and writes them in
//! pieces of about [`FILE_FLUSH`] bytes; the byte range of each piece is
//! reserved with one atomic add on the shared [`FileOutput::next`] (no lock),
//! so cores write disjoint ranges concurrently and rows of different cores
//! interleave in whole batches, a row never split. A short write (a full
//! disk) is an error, never a silent loss.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::RunError;

/// A file every core appends its encoded results to: each reserves the
/// byte range of its next write with one atomic add (no lock), then writes
/// it with `BufferedFile::write_at` on its own executor. Rows from different
/// cores interleave in whole batches; a row is never split.
#[derive(Clone, Debug)]
pub struct FileOutput {
    pub path: std::path::PathBuf,
    /// Where the next write goes (start it after any header).
    pub next: Arc<AtomicU64>,
}

/// Fails unless `path` can be opened for writing (created when missing,
/// never emptied): a file written when a run ends (statistics, a
/// benchmark's figures) is refused before the run rather than lost after
/// it.
pub fn check_writable(path: &std::path::Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map(drop)
}

/// Bytes a core collects before writing them to a [`FileOutput`].
const FILE_FLUSH: usize = 256 << 10;

/// Rows encoded at a time (a few hundred bytes each fit the buffer's
/// headroom above [`FILE_FLUSH`]).
const SLICE_ROWS: usize = 256;

/// One core's handle on the shared output file.
pub(crate) struct CoreFile {
    file: glommio::io::BufferedFile,
    next: Arc<AtomicU64>,
    buf: Vec<u8>,
}

impl CoreFile {
    pub(crate) async fn open(out: &FileOutput) -> Result<Self, RunError> {
        let mut opts = glommio::io::OpenOptions::new();
        opts.write(true);
        let file = crate::io_wait::rechecked(opts.buffered_open(&out.path))
            .await
            .map_err(|e| RunError::Sink(std::io::Error::other(e.to_string())))?;
        Ok(CoreFile {
            file,
            next: out.next.clone(),
            buf: Vec::with_capacity(FILE_FLUSH + (64 << 10)),
        })
    }

    /// Encodes `batch` into what this core holds, writing it out once it
    /// passes [`FILE_FLUSH`] bytes. The batch is encoded [`SLICE_ROWS`] rows
    /// at a time, so the buffer stays within its capacity instead of growing
    /// (and being copied) to hold a whole large batch.
    pub(crate) async fn write(
        &mut self,
        encode: &crate::Encoder,
        batch: &arrow_array::RecordBatch,
    ) -> Result<(), RunError> {
        let n = batch.num_rows();
        for at in (0..n).step_by(SLICE_ROWS) {
            encode(&batch.slice(at, SLICE_ROWS.min(n - at)), &mut self.buf);
            if self.buf.len() >= FILE_FLUSH {
                self.flush().await?;
            }
        }
        Ok(())
    }

    pub(crate) async fn flush(&mut self) -> Result<(), RunError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let len = self.buf.len();
        let at = self.next.fetch_add(len as u64, Ordering::Relaxed);
        let bytes = std::mem::replace(&mut self.buf, Vec::with_capacity(FILE_FLUSH + (64 << 10)));
        let n = crate::io_wait::rechecked(self.file.write_at(bytes, at))
            .await
            .map_err(|e| RunError::Sink(std::io::Error::other(e.to_string())))?;
        // A regular file writes short only when it cannot take more (a full
        // disk): an error, never a silent loss.
        if n < len {
            return Err(RunError::Sink(std::io::Error::new(
                std::io::ErrorKind::WriteZero,
                format!("wrote {n} of {len} bytes at offset {at}"),
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::check_writable;

    /// A file is checked without being emptied; a missing one is created;
    /// a path under a missing directory fails.
    #[test]
    fn a_writable_path_is_checked_without_emptying_it() {
        let dir = tempfile::tempdir().unwrap();
        let kept = dir.path().join("kept.json");
        std::fs::write(&kept, "{}\n").unwrap();
        check_writable(&kept).unwrap();
        assert_eq!(std::fs::read_to_string(&kept).unwrap(), "{}\n");
        let fresh = dir.path().join("fresh.json");
        check_writable(&fresh).unwrap();
        assert!(fresh.exists());
        assert!(check_writable(&dir.path().join("missing").join("s.json")).is_err());
    }
}
