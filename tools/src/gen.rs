//! `percore gen`: the built-in data sets as CSV or JSON lines.

use std::io::Write;

use percore_operators::codec::generator::{Dataset, Generator, MarketConfig};
use percore_operators::codec::write::{write_jsonl, CsvWriter};

use crate::output::open_output;
use crate::{Failure, GenArgs, GenFormat};

pub(crate) fn gen(a: GenArgs) -> Result<(), Failure> {
    let dataset = Dataset::from_name(&a.dataset).ok_or_else(|| {
        Failure::usage(format!(
            "unknown data set `{}`; use orders or market_data",
            a.dataset
        ))
    })?;
    let config = MarketConfig {
        symbols: a.symbols,
        traders: a.traders,
        rows_per_minute: a.rows_per_minute,
        disorder_ms: a.disorder_ms,
    };
    let mut out = open_output(a.output.as_deref())?;
    let io_err = |e: std::io::Error| Failure::runtime(format!("writing output: {e}"));
    let gen = Generator::range(dataset, a.seed, 0, a.rows, 8_192, config);
    match a.format {
        GenFormat::Jsonl => {
            let mut buf = Vec::with_capacity(1 << 20);
            for batch in gen {
                buf.clear();
                write_jsonl(&batch, &mut buf);
                if let Err(e) = out.write_all(&buf) {
                    return crate::output::quiet_on_broken_pipe(e).map_err(io_err);
                }
            }
        }
        GenFormat::Csv => {
            let mut w = CsvWriter::new(&mut out);
            for batch in gen {
                if let Err(e) = w.write(&batch) {
                    return crate::output::quiet_on_broken_pipe(e).map_err(io_err);
                }
            }
            w.flush()
                .or_else(crate::output::quiet_on_broken_pipe)
                .map_err(io_err)?;
        }
    }
    out.flush()
        .or_else(crate::output::quiet_on_broken_pipe)
        .map_err(io_err)
}
