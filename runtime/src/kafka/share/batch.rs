//! A core's collected Kafka messages into one batch: parsed as the file
//! source parses lines, the hidden columns (key, partition, offset,
//! timestamp) appended, each message's key checked against the key column,
//! the per-partition event time noted, and a reader's error traced to the
//! message it came from.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use percore_operators::codec::write::value_text;
use percore_operators::types::arrow_schema;
use percore_operators::Error;

use super::KafkaSource;

impl KafkaSource {
    /// Checks each row's message key is the text of the key column.
    fn check_keys(&mut self, batch: &RecordBatch, idx: &[usize]) {
        let Some(col) = self.opts.key else { return };
        let ty = self.opts.columns[col].ty;
        let values = batch.column(col);
        for (row, i) in idx.iter().enumerate() {
            let m = &self.msgs[*i];
            let text = value_text(values.as_ref(), ty, row);
            if m.key != text {
                self.pending.get_or_insert_with(|| {
                    Error::Config(format!(
                        "Kafka topic {} partition {} offset {}: the message key is {:?} but column `{}` is {:?}: \
                         the topic is not keyed by `{}` (drop key = '...' from the stream)",
                        self.opts.kafka.topic,
                        m.partition,
                        m.offset,
                        m.key,
                        self.opts.columns[col].name,
                        text,
                        self.opts.columns[col].name
                    ))
                });
                return;
            }
        }
    }

    /// Parses the collected messages into one batch (hidden columns last).
    pub(super) fn build(&mut self) {
        let hidden = percore_operators::catalog::KAFKA_HIDDEN.len();
        let data_cols = &self.opts.columns[..self.opts.columns.len() - hidden];
        let name = format!("kafka topic {}", self.opts.kafka.topic);
        let mut batches = Vec::new();
        let mut positions: Vec<i64> = Vec::new();
        let (malformed, result) = crate::file::parse_lines(
            self.opts.format,
            &name,
            &self.buf,
            data_cols,
            (0..data_cols.len()).collect(),
            None,
            self.msgs.len().max(1),
            self.opts.on_error,
            &mut |b, pos| {
                batches.push(b);
                positions.extend_from_slice(pos);
            },
        );
        self.malformed += malformed;
        self.pending = result.err().map(|e| self.locate(e));
        let mut data: Vec<RecordBatch> = batches;
        let data = match data.len() {
            0 => None,
            1 => data.pop(),
            _ => Some(
                arrow_select::concat::concat_batches(&data[0].schema(), &data)
                    .expect("batches of one schema"),
            ),
        };
        self.ready = data.map(|d| self.with_hidden(d, &positions));
        // Every message of the batch counts as read (malformed ones skipped
        // included): the next offset of each partition goes out with it.
        for m in &self.msgs {
            let o = self.handed.entry(m.partition).or_insert(0);
            *o = (*o).max(m.offset + 1);
        }
        self.buf.clear();
        self.msgs.clear();
    }

    /// Appends the hidden columns to `data`, whose rows start at byte
    /// `positions` of the buffer; records each row's order key.
    fn with_hidden(&mut self, data: RecordBatch, positions: &[i64]) -> RecordBatch {
        let idx: Vec<usize> = positions
            .iter()
            .map(|p| {
                self.msgs
                    .partition_point(|m| m.start as i64 <= *p)
                    .saturating_sub(1)
            })
            .collect();
        let m = |i: &usize| &self.msgs[*i];
        let key: ArrayRef = Arc::new(StringArray::from_iter(idx.iter().map(|i| m(i).key.clone())));
        let part: ArrayRef = Arc::new(Int64Array::from_iter_values(
            idx.iter().map(|i| m(i).partition as i64),
        ));
        let off: ArrayRef = Arc::new(Int64Array::from_iter_values(
            idx.iter().map(|i| m(i).offset),
        ));
        let ts: ArrayRef = Arc::new(TimestampMillisecondArray::from_iter(
            idx.iter().map(|i| m(i).timestamp),
        ));
        self.positions = idx
            .iter()
            .map(|i| (m(i).offset << 12) | (m(i).partition as i64 & 0xfff))
            .collect();
        let mut cols = data.columns().to_vec();
        cols.extend([key, part, off, ts]);
        let batch = RecordBatch::try_new(arrow_schema(&self.opts.columns), cols)
            .expect("declared columns, then the hidden ones");
        self.check_keys(&batch, &idx);
        if let Some(t) = &self.opts.time {
            // A bad time value fails the run where the pipeline evaluates it.
            if let Ok((times, nulls)) = t.eval(&batch) {
                for (row, (time, i)) in times.iter().zip(&idx).enumerate() {
                    if nulls.as_ref().is_none_or(|n| n.is_valid(row)) {
                        let m = self
                            .max_time
                            .entry(self.msgs[*i].partition)
                            .or_insert(*time);
                        *m = (*m).max(*time);
                    }
                }
            }
        }
        batch
    }

    /// Names the message a reader's error came from.
    fn locate(&self, e: Error) -> Error {
        let Error::Input {
            line, column, msg, ..
        } = &e
        else {
            return e;
        };
        let i = self
            .msgs
            .partition_point(|m| m.lines_before < *line)
            .saturating_sub(1);
        match self.msgs.get(i) {
            Some(m) => Error::Config(format!(
                "Kafka topic {} partition {} offset {}: column `{column}`: {msg}",
                self.opts.kafka.topic, m.partition, m.offset
            )),
            None => e,
        }
    }
}
