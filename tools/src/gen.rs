//! `percore gen`: the built-in data sets as CSV or JSON lines.

use percore_operators::catalog::builtin_stream;
use percore_operators::codec::generator::{Dataset, Generator, MarketConfig};

use crate::output::{open_output, quiet_on_broken_pipe, Sink};
use crate::{Failure, GenArgs, GenFormat, OutFormat};

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
    let format = match a.format {
        GenFormat::Jsonl => OutFormat::Jsonl,
        GenFormat::Csv => OutFormat::Csv,
    };
    let columns = builtin_stream(&a.dataset)
        .expect("a built-in data set")
        .columns;
    let mut gen = Generator::range(dataset, a.seed, 0, a.rows, 8_192, config);
    if let Some(url) = a
        .output
        .as_deref()
        .and_then(|p| p.to_str())
        .filter(|u| crate::kafka::is_kafka(u))
    {
        let out = crate::kafka::output(&crate::kafka::parse_url(url)?, &columns, 1)?;
        let sink = Sink::new(format, Box::new(std::io::sink()), &columns);
        let encode = sink.encoder().expect("CSV and JSON lines encode per core");
        let lines = format == OutFormat::Jsonl;
        for batch in gen.by_ref() {
            crate::kafka::send(&out, 0, &batch, &*encode, lines)
                .map_err(|e| Failure::runtime(e.to_string()))?;
        }
        return crate::kafka::flush(&out);
    }
    let mut sink = Sink::new(format, open_output(a.output.as_deref())?, &columns);
    let written = gen
        .try_for_each(|batch| sink.write(&batch))
        .and_then(|()| sink.finish());
    written
        .or_else(quiet_on_broken_pipe)
        .map_err(|e| Failure::runtime(format!("writing output: {e}")))
}
