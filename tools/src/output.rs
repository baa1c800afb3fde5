//! Where results go: stdout or a file, in JSON lines, CSV or a table.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use arrow_array::RecordBatch;
use percore_operators::codec::write::{value_text, write_jsonl, CsvWriter};
use percore_operators::{Column, SqlType};

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
pub(crate) enum Sink {
    Jsonl {
        out: Box<dyn Write>,
        buf: Vec<u8>,
    },
    Csv(Box<CsvWriter<Box<dyn Write>>>, Vec<String>),
    /// Tables need every row before they can size columns.
    Table {
        out: Box<dyn Write>,
        columns: Vec<Column>,
        rows: Vec<Vec<String>>,
    },
}

impl Sink {
    pub(crate) fn new(format: OutFormat, out: Box<dyn Write>, columns: &[Column]) -> Self {
        match format {
            OutFormat::Jsonl => Sink::Jsonl {
                out,
                buf: Vec::with_capacity(1 << 16),
            },
            OutFormat::Csv => Sink::Csv(
                Box::new(CsvWriter::new(out)),
                columns.iter().map(|c| c.name.clone()).collect(),
            ),
            OutFormat::Table => Sink::Table {
                out,
                columns: columns.to_vec(),
                rows: Vec::new(),
            },
        }
    }

    pub(crate) fn write(&mut self, batch: &RecordBatch) -> io::Result<()> {
        match self {
            Sink::Jsonl { out, buf } => {
                buf.clear();
                write_jsonl(batch, buf);
                out.write_all(buf)
            }
            Sink::Csv(w, _) => w.write(batch),
            Sink::Table { columns, rows, .. } => {
                for i in 0..batch.num_rows() {
                    rows.push(
                        batch
                            .columns()
                            .iter()
                            .zip(columns.iter())
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

    pub(crate) fn finish(&mut self) -> io::Result<()> {
        match self {
            Sink::Jsonl { out, .. } => out.flush(),
            Sink::Csv(w, names) => {
                w.header(names)?;
                w.flush()
            }
            Sink::Table { out, columns, rows } => {
                let mut t = comfy_table::Table::new();
                t.load_preset(comfy_table::presets::ASCII_MARKDOWN);
                t.set_header(columns.iter().map(|c| c.name.clone()));
                for (i, c) in columns.iter().enumerate() {
                    if c.ty.is_numeric() || c.ty == SqlType::Timestamp {
                        if let Some(col) = t.column_mut(i) {
                            col.set_cell_alignment(comfy_table::CellAlignment::Right);
                        }
                    }
                }
                for r in rows.drain(..) {
                    t.add_row(r);
                }
                writeln!(out, "{t}")?;
                out.flush()
            }
        }
    }
}
