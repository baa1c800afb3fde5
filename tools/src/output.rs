//! Where results go: stdout or a file, in JSON lines, CSV or a table.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use arrow_array::RecordBatch;
use percore_operators::codec::write::{value_text, write_csv_rows, write_jsonl};
use percore_operators::{Column, SqlType};
use percore_runtime::{Encoder, Output};

use crate::{Failure, OutFormat};

/// A buffered writer to `path`, or to stdout.
pub(crate) fn open_output(path: Option<&Path>) -> Result<Box<dyn Write>, Failure> {
    Ok(match path {
        Some(p) => Box::new(BufWriter::with_capacity(
            1 << 20,
            File::create(p)
                .map_err(|e| Failure::usage(format!("cannot create {}: {e}", p.display())))?,
        )),
        None => Box::new(BufWriter::with_capacity(1 << 20, io::stdout())),
    })
}

/// A closed pipe (`percore run | head`) ends output quietly.
pub(crate) fn quiet_on_broken_pipe(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(e)
    }
}

/// Writes result batches in one format.
pub(crate) struct Sink {
    format: OutFormat,
    out: Box<dyn Write>,
    columns: Vec<Column>,
    buf: Vec<u8>,
    header_written: bool,
    /// Tables need every row before they can size columns.
    table_rows: Vec<Vec<String>>,
}

impl Sink {
    pub(crate) fn new(format: OutFormat, out: Box<dyn Write>, columns: &[Column]) -> Self {
        Sink {
            format,
            out,
            columns: columns.to_vec(),
            buf: Vec::with_capacity(1 << 16),
            header_written: false,
            table_rows: Vec::new(),
        }
    }

    /// How each core can format its own results (`None`: send batches).
    pub(crate) fn encoder(&self) -> Option<Encoder> {
        match self.format {
            OutFormat::Jsonl => Some(Arc::new(write_jsonl)),
            OutFormat::Csv => Some(Arc::new(write_csv_rows)),
            OutFormat::Table => None,
        }
    }

    /// Whether cores can write straight to the output file (formats they
    /// encode themselves; a table needs every row first).
    pub(crate) fn cores_can_write(&self) -> bool {
        self.encoder().is_some()
    }

    /// Writes what comes before the rows (a CSV header) and flushes it.
    pub(crate) fn write_preamble(&mut self) -> io::Result<()> {
        self.csv_header()?;
        self.out.flush()
    }

    fn csv_header(&mut self) -> io::Result<()> {
        if self.format == OutFormat::Csv && !self.header_written {
            let names: Vec<String> = self.columns.iter().map(|c| c.name.clone()).collect();
            let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
            w.write_record(&names)?;
            let header = w
                .into_inner()
                .map_err(|e| io::Error::other(e.to_string()))?;
            self.out.write_all(&header)?;
            self.header_written = true;
        }
        Ok(())
    }

    pub(crate) fn write_output(&mut self, o: Output<'_>) -> io::Result<()> {
        match o {
            Output::Batch(b) => self.write(b),
            Output::Encoded { bytes, .. } => {
                self.csv_header()?;
                self.out.write_all(bytes)
            }
            // A pause in the results: what is buffered goes out now.
            Output::Idle => self.out.flush(),
        }
    }

    pub(crate) fn write(&mut self, batch: &RecordBatch) -> io::Result<()> {
        match self.format {
            OutFormat::Jsonl | OutFormat::Csv => {
                self.csv_header()?;
                self.buf.clear();
                if self.format == OutFormat::Jsonl {
                    write_jsonl(batch, &mut self.buf);
                } else {
                    write_csv_rows(batch, &mut self.buf);
                }
                self.out.write_all(&self.buf)
            }
            OutFormat::Table => {
                for i in 0..batch.num_rows() {
                    self.table_rows.push(
                        batch
                            .columns()
                            .iter()
                            .zip(self.columns.iter())
                            .map(|(a, c)| {
                                value_text(a.as_ref(), c.ty, i).unwrap_or_else(|| "NULL".into())
                            })
                            .collect(),
                    );
                }
                Ok(())
            }
        }
    }

    /// Pushes what is written so far out (not a table's rows: they wait for
    /// [`Sink::finish`]).
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub(crate) fn finish(&mut self) -> io::Result<()> {
        self.csv_header()?;
        if self.format == OutFormat::Table {
            let mut t = comfy_table::Table::new();
            t.load_preset(comfy_table::presets::ASCII_MARKDOWN);
            t.set_header(self.columns.iter().map(|c| c.name.clone()));
            for (i, c) in self.columns.iter().enumerate() {
                if c.ty.is_numeric() || c.ty == SqlType::Timestamp {
                    if let Some(col) = t.column_mut(i) {
                        col.set_cell_alignment(comfy_table::CellAlignment::Right);
                    }
                }
            }
            for r in self.table_rows.drain(..) {
                t.add_row(r);
            }
            writeln!(self.out, "{t}")?;
        }
        self.out.flush()
    }
}
