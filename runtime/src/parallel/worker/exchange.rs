//! A core's side of the exchange: rows routed to their owners by key hash
//! (whole batches, selections or gathered parts), partial aggregates and
//! closed windows sent on, and the messages' sending itself.

use std::time::Instant;

use arrow_array::{ArrayRef, RecordBatch};
use percore_operators::gather::take_batch;
use percore_operators::ops::{Closed, PartialAgg, Route};
use percore_operators::state::{hash_keys, hashes_vectorised, split_keys};
use percore_shuffle::Message;

use crate::RunError;

use super::super::{Batch, Payload};
use super::{wire, Worker};

impl Worker<'_> {
    pub(super) fn send(&mut self, to: usize, msg: Message<Batch>) -> Result<(), RunError> {
        let inbox = &mut self.inbox;
        self.ep
            .send(to, msg, &mut |from, m| inbox.push_back((from, m)))
            .map_err(|_| RunError::Aborted)
    }

    /// Sends each row of `batch` to the core owning its key (`key_cols`
    /// evaluated on `batch`).
    pub(super) fn route(
        &mut self,
        batch: &RecordBatch,
        key_cols: &[ArrayRef],
        ingest: Instant,
    ) -> Result<(), RunError> {
        if self.local {
            // This core owns every key it reads: no hashing, no gathering.
            return self.send(0, Message::Data((Payload::Rows(batch.clone()), ingest)));
        }
        let n = batch.num_rows();
        if self.holds_rows {
            // The lists travel with the batch: fresh ones for each batch.
            let mut lists = vec![Vec::new(); self.n];
            let owners = self.exchange.owners();
            if let [a, b] = &mut lists[..] {
                if hashes_vectorised() {
                    // Hashed, then split, each several rows a step.
                    hash_keys(key_cols, &self.key_types, n, &mut self.hashes);
                    owners.split_two(&self.hashes, &mut self.sides, a, b);
                } else {
                    // Hashed and split in one pass.
                    let second = owners.second_of_two();
                    split_keys(key_cols, &self.key_types, n, &mut self.hashes, second, a, b);
                }
            } else {
                hash_keys(key_cols, &self.key_types, n, &mut self.hashes);
                owners.split(&self.hashes, &mut lists);
            }
            for (d, rows) in lists.into_iter().enumerate() {
                if rows.is_empty() {
                    continue;
                }
                let payload = if d == self.core || self.by_reference {
                    Payload::Selected(batch.clone(), rows)
                } else if self.narrow_rows {
                    Payload::Rows(wire::narrow(take_batch(batch, &rows)))
                } else {
                    Payload::Rows(take_batch(batch, &rows))
                };
                self.send(d, Message::Data((payload, ingest)))?;
            }
            return Ok(());
        }
        hash_keys(key_cols, &self.key_types, n, &mut self.hashes);
        self.pending_since.get_or_insert(ingest);
        let mut full = std::mem::take(&mut self.parts);
        self.exchange.push(batch, &self.hashes, &mut full);
        self.send_parts(full)
    }

    /// Sends everything the exchange's builders hold: before a watermark or
    /// End (which must follow the rows they cover), when idle, and when the
    /// oldest row held has waited [`super::super::EXCHANGE_WAIT`].
    pub(super) fn flush_exchange(&mut self) -> Result<(), RunError> {
        let mut all = std::mem::take(&mut self.parts);
        self.exchange.flush(&mut all);
        self.send_parts(all)?;
        self.pending_since = None;
        Ok(())
    }

    pub(super) fn send_parts(
        &mut self,
        mut parts: Vec<(usize, RecordBatch)>,
    ) -> Result<(), RunError> {
        // Latency is counted from the oldest row's ingest.
        let ingest = self.pending_since.unwrap_or_else(Instant::now);
        for (d, b) in parts.drain(..) {
            self.send(d, Message::Data((Payload::Rows(b), ingest)))?;
        }
        self.parts = parts;
        Ok(())
    }

    /// Sends the partials of every window through `w` (all of them: `None`)
    /// to the cores that own their keys, as [`Self::route`] would route
    /// their rows; with `w`, each core's pieces are followed by
    /// `Watermark(w)`, other cores first (their emission waits on this
    /// core's watermark, not on the pieces it keeps), this core last.
    pub(super) fn send_partials(
        &mut self,
        w: Option<i64>,
        ingest: Instant,
    ) -> Result<(), RunError> {
        let n = self.n;
        let owners = self.exchange.owners();
        let route = Route {
            cores: n,
            owner: &|h| owners.owner(h),
        };
        let Some(mut p) = self.partial.take() else {
            if let Some(w) = w {
                for d in 0..n {
                    self.send(d, Message::Watermark(w, ingest))?;
                }
            }
            return Ok(());
        };
        let mut closed = match w {
            Some(w) => p.close_through(w, &route),
            None => p.close_all(&route),
        };
        let sent = self.send_closed(&p, &mut closed, w, ingest);
        p.recycle(closed);
        self.partial = Some(p);
        sent
    }

    /// [`Self::send_partials`]'s sends: each core's pieces of `closed`, then
    /// `Watermark(w)` (with `w`), this core last. This core's own share of
    /// windows closed by a watermark is adopted whole by its pipeline when
    /// it can (no pieces built or merged), after every other core's pieces.
    pub(super) fn send_closed(
        &mut self,
        p: &PartialAgg,
        closed: &mut Closed,
        w: Option<i64>,
        ingest: Instant,
    ) -> Result<(), RunError> {
        for k in 1..=self.n {
            let d = (self.core + k) % self.n;
            if let (Some(w), true) = (w, d == self.core) {
                if self.post.adopt(w, closed, d)? {
                    self.send(d, Message::Watermark(w, ingest))?;
                    continue;
                }
            }
            for b in p.pieces(closed, d, self.exchange.pool_mut())? {
                self.send(d, Message::Data((Payload::Rows(b), ingest)))?;
            }
            if let Some(w) = w {
                self.send(d, Message::Watermark(w, ingest))?;
            }
        }
        Ok(())
    }
}
