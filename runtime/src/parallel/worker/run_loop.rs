//! A core's loop: read its input share, route and run the rows, take
//! what the other cores send, advance the watermark, until every input
//! and every sender has ended.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use arrow_array::{ArrayRef, Int64Array};
use percore_operators::ops::{Filter, Operator};
use percore_operators::state::rows_in_range;
use percore_shuffle::{reclaim, Message};

use crate::batching::{AdaptiveBatch, MIN_BATCH_ROWS};
use crate::sink::CoreFile;
use crate::source::PartitionedSource;
use crate::RunError;

use super::super::{CoreReport, Payload, EXCHANGE_WAIT};
use super::{numbered, numbered_rows, per_row, wire, with_seq, Worker};

impl Worker<'_> {
    pub(in crate::parallel) async fn run(
        mut self,
        input: &dyn PartitionedSource,
    ) -> Result<CoreReport, RunError> {
        if let Some(out) = &self.file_output {
            self.file = Some(CoreFile::open(out).await?);
        }
        let lateness = self.plan.source.lateness_ms;
        let time = self.plan.watermark_time().cloned();
        let ordered = numbered_rows(self.plan, self.n);
        let mut filter = self.plan.filter.clone().map(Filter::new);
        let mut source = input.open(self.core, self.n)?;
        let mut seq = source.as_ref().map_or(0, |p| p.first_seq);
        let stride = source.as_ref().map_or(1, |p| p.seq_stride);
        let mut max_seen: Option<i64> = None;
        let mut sent_wm = i64::MIN;
        let mut malformed = 0;
        if source.is_none() && self.keys.is_some() {
            self.end_input()?;
        }
        loop {
            if self.ep.mesh().is_aborted() {
                return Err(RunError::Aborted);
            }
            let mut busy = false;
            // Watermark alignment: a core ahead of the slowest waits for it
            // before reading on, once it is `align_ms` of event time ahead
            // or has read `align_rows` rows past the slowest core's
            // watermark (the slowest core, whose watermark is the least,
            // always reads on).
            let held = self.post.held_rows();
            self.stats.peak_held_rows = self.stats.peak_held_rows.max(held);
            self.lead.passed(self.wm);
            let ahead = time.is_some()
                && self.keys.is_some()
                && sent_wm > self.wm
                && (sent_wm > self.wm.saturating_add(self.align_ms)
                    || self.lead.rows() > self.align_rows);
            if let Some(part) = source.as_mut().filter(|_| !ahead) {
                // I/O (a file's next chunk, a paced source's wait) is
                // awaited here, on this core; then the inbox gets its turn.
                let ready = match part.source.fill() {
                    Some(fill) => {
                        fill.await?;
                        busy = true;
                        false
                    }
                    None => true,
                };
                // Rows due but not yet a full batch wait up to LINGER for
                // more: the core spins on its inbox meanwhile (busy).
                let mut lingering = false;
                let next = match (ready, part.source.backlog()) {
                    (false, _) => None,
                    (true, None) => part.source.next_batch()?,
                    (true, Some(b)) => {
                        let ctl = self
                            .batching
                            .get_or_insert_with(|| AdaptiveBatch::new(MIN_BATCH_ROWS, b.max_batch));
                        if ctl.ready(&b) {
                            let n = ctl.take(b.rows);
                            part.source.next_batch_limited(n)?
                        } else {
                            lingering = true;
                            busy = true;
                            None
                        }
                    }
                };
                let exhausted = ready && next.is_none() && !lingering;
                match next {
                    Some(batch) => {
                        busy = true;
                        // Latency counts from when the batch's rows arrived
                        // (a paced feed's rows wait while the core is busy).
                        let ingest = part.source.arrived().unwrap_or_else(Instant::now);
                        let rows = batch.num_rows();
                        // Columns the query never reads go no further.
                        let batch = self.plan.read(&batch);
                        self.stats.records_in += rows as u64;
                        self.counter
                            .records_in
                            .store(self.stats.records_in, Ordering::Relaxed);
                        let source = &part.source;
                        let batch = match (source.row_range(), source.row_positions()) {
                            _ if !ordered => batch,
                            // Rows in a range of their own (the generator's
                            // blocks, a file's chunks): the range alone, no
                            // number per row.
                            (Some((first, last)), _) => {
                                with_seq(batch, rows_in_range(first, last, rows))
                            }
                            (None, Some(pos)) => {
                                with_seq(batch, per_row(Int64Array::from(pos.to_vec())))
                            }
                            (None, None) => with_seq(batch, per_row(numbered(seq, stride, rows))),
                        };
                        seq += rows as i64 * stride;
                        match &self.keys {
                            None => {
                                let out = self.post.push(batch)?;
                                self.emit(out, ingest).await?;
                            }
                            Some(_) => {
                                if let Some(t) = &time {
                                    max_seen = max_seen.max(t.latest(&batch)?);
                                }
                                // WHERE runs here, before the exchange.
                                let mut kept = Vec::with_capacity(1);
                                match filter.as_mut() {
                                    Some(f) => f.on_batch(batch, &mut kept)?,
                                    None => kept.push(batch),
                                }
                                // A batch WHERE emptied still moves the watermark.
                                if let Some(batch) = kept.pop() {
                                    match self.partial.as_mut() {
                                        Some(p) => {
                                            p.push(&batch)?;
                                            if p.is_full() {
                                                self.send_partials(None, ingest)?;
                                            }
                                        }
                                        None => {
                                            // A core that keeps its rows routes nothing: no key values needed.
                                            let key_cols: Vec<ArrayRef> = self
                                                .keys
                                                .iter()
                                                .flatten()
                                                .filter(|_| !self.local)
                                                .map(|k| k.eval(&batch))
                                                .collect::<Result<_, _>>()?;
                                            self.route(&batch, &key_cols, ingest)?;
                                        }
                                    }
                                }
                                // A source of several inputs (Kafka partitions)
                                // bounds event time by its slowest input.
                                let seen = part.source.event_time_bound().unwrap_or(max_seen);
                                if let Some(m) = seen {
                                    self.announce(
                                        m.saturating_sub(lateness),
                                        &mut sent_wm,
                                        ingest,
                                    )?;
                                }
                                if self.align_rows < usize::MAX {
                                    self.lead.read(sent_wm, rows);
                                }
                            }
                        }
                    }
                    None if !exhausted => {
                        // Waiting on the source: a source of several inputs
                        // may still move its bound (an input read to its
                        // end), and one that reads nothing at all (no Kafka
                        // partitions here) must not hold the others back.
                        if self.keys.is_some() && time.is_some() {
                            let w = if part.source.idle() {
                                self.from_wm
                                    .iter()
                                    .enumerate()
                                    .filter(|(d, w)| *d != self.core && **w < i64::MAX)
                                    .map(|(_, w)| *w)
                                    .max()
                            } else {
                                part.source
                                    .event_time_bound()
                                    .flatten()
                                    .map(|m| m.saturating_sub(lateness))
                            };
                            if let Some(w) = w {
                                self.announce(w, &mut sent_wm, Instant::now())?;
                            }
                        }
                    }
                    None => {
                        malformed = part.source.malformed_rows();
                        source = None;
                        if self.keys.is_some() {
                            self.end_input()?;
                        }
                    }
                }
            }
            while let Some((from, msg)) = self.inbox.pop_front().or_else(|| self.ep.try_recv_any())
            {
                busy = true;
                match msg {
                    Message::Data((Payload::Rows(b), ingest)) => {
                        self.last_ingest[from] = Some(ingest);
                        // A core that keeps its rows gathers nothing: its
                        // source's buffers go straight back to the allocator
                        // for the next batch (pooled for gathers that never
                        // come, they were held idle while every batch took
                        // fresh memory).
                        let mine = (!self.local).then(|| b.clone());
                        let b = match &self.eager {
                            Some(cols) => wire::widen_only(b, cols),
                            None => wire::widen(b),
                        };
                        let out = self.post.push(b)?;
                        self.emit(out, ingest).await?;
                        // Buffers the pipeline let go of go back to their maker.
                        let pool = mine.map(reclaim).unwrap_or_default();
                        if !pool.is_empty() {
                            if from == self.core {
                                self.exchange.recycle(pool);
                            } else {
                                // A full ring: the vectors are simply freed.
                                let back = Message::Data((Payload::Recycled(pool), ingest));
                                let _ = self.ep.try_send(from, back);
                            }
                        }
                    }
                    Message::Data((Payload::Selected(b, rows), ingest)) => {
                        self.last_ingest[from] = Some(ingest);
                        let out = self.post.push_rows(b, rows)?;
                        self.emit(out, ingest).await?;
                    }
                    Message::Data((Payload::Recycled(pool), _)) => self.exchange.recycle(pool),
                    Message::Data((Payload::Bytes(..), _)) => {
                        unreachable!("cores exchange rows; only the output thread gets bytes")
                    }
                    Message::Watermark(w, at) => {
                        self.from_wm[from] = self.from_wm[from].max(w);
                        self.advance(at).await?;
                    }
                    Message::End => {
                        self.from_wm[from] = i64::MAX;
                        self.ended += 1;
                        let at = self.last_ingest[from].unwrap_or_else(Instant::now);
                        self.advance(at).await?;
                    }
                }
            }
            let done = match self.keys {
                Some(_) => self.ended == self.n,
                None => source.is_none(),
            };
            if done {
                let out = self.post.finish()?;
                self.emit(out, Instant::now()).await?;
                self.flush_output().await?;
                break;
            }
            if self
                .pending_since
                .is_some_and(|t| !busy || t.elapsed() >= EXCHANGE_WAIT)
            {
                self.flush_exchange()?;
            }
            if !busy {
                // Nothing to do: what is collected goes out before waiting.
                self.flush_output().await?;
                let waited = Instant::now();
                self.ep.park(Duration::from_millis(1));
                let waited = waited.elapsed().as_secs_f64();
                self.stats.idle_secs += waited;
                if ahead && source.is_some() {
                    self.stats.held_back_secs += waited;
                }
            }
        }
        self.stats.buffers_reused = self.exchange.reused();
        self.stats.blocked_secs = self.ep.blocked().as_secs_f64();
        Ok(CoreReport {
            late: self.post.stats().late_rows + self.partial.as_ref().map_or(0, |p| p.late_rows()),
            stats: self.stats,
            malformed,
            latency: self.latency,
        })
    }
}
