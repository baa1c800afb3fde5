//! Binds the query's stream to its input: a `--source` file, the stream's
//! declared `path`, or (for `orders` / `market_data`) the built-in generator.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use arrow_array::RecordBatch;
use percore_operators::codec::csv::CsvReader;
use percore_operators::codec::generator::{Dataset, Generator, MarketConfig};
use percore_operators::codec::jsonl::JsonLinesReader;
use percore_operators::codec::OnError;
use percore_operators::{Format, Plan, Result};
use percore_runtime::{GeneratorSource, Source};

use crate::Failure;

struct CsvSource(CsvReader<BufReader<File>>);

impl Source for CsvSource {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        self.0.next_batch()
    }
    fn malformed_rows(&self) -> u64 {
        self.0.malformed_rows()
    }
}

struct JsonlSource(JsonLinesReader<BufReader<File>>);

impl Source for JsonlSource {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        self.0.next_batch()
    }
    fn malformed_rows(&self) -> u64 {
        self.0.malformed_rows()
    }
}

/// How the built-in generator and file readers are set up.
#[derive(Clone)]
pub(crate) struct InputOptions {
    pub rows: u64,
    pub seed: u64,
    pub batch_size: usize,
    pub on_error: OnError,
}

/// Parses `NAME=PATH` bindings.
pub(crate) fn parse_bindings(
    raw: &[String],
) -> std::result::Result<Vec<(String, String)>, Failure> {
    raw.iter()
        .map(|b| match b.split_once('=') {
            Some((n, p)) if !n.trim().is_empty() && !p.is_empty() => {
                Ok((n.trim().to_string(), p.to_string()))
            }
            _ => Err(Failure::usage(format!(
                "--source expects NAME=PATH, got `{b}`"
            ))),
        })
        .collect()
}

/// Applies `--source` bindings to the plan's stream (the path to read from).
pub(crate) fn bind(
    plan: &mut Plan,
    bindings: &[(String, String)],
) -> std::result::Result<(), Failure> {
    for (name, path) in bindings {
        if !name.eq_ignore_ascii_case(&plan.source.name) {
            return Err(Failure::usage(format!(
                "--source {name}=...: the query reads stream `{}`, not `{name}`",
                plan.source.name
            )));
        }
        plan.source.path = Some(path.clone());
    }
    Ok(())
}

fn format_of(plan: &Plan, path: &str) -> std::result::Result<Format, Failure> {
    if let Some(f) = plan.source.format {
        return Ok(f);
    }
    let ext = Path::new(path)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    Format::parse(&ext).ok_or_else(|| {
        Failure::usage(format!(
            "cannot tell the format of {path}: name it .csv or .jsonl, or declare format = 'csv' | 'jsonl' in CREATE STREAM"
        ))
    })
}

/// The plan's input split among `cores` cores: the generator by row range;
/// a file is read by the first core (and checked here, before the run).
pub(crate) fn partitioned(
    plan: &Plan,
    opt: &InputOptions,
) -> std::result::Result<std::sync::Arc<dyn percore_runtime::PartitionedSource>, Failure> {
    let src = &plan.source;
    if src.path.is_none() {
        if let Some(dataset) = Dataset::from_name(&src.name) {
            return Ok(std::sync::Arc::new(percore_runtime::GeneratorPartitions {
                dataset,
                seed: opt.seed,
                rows: opt.rows,
                batch_size: opt.batch_size,
                config: MarketConfig::default(),
            }));
        }
    }
    drop(open(plan, opt)?);
    let (plan, opt) = (plan.clone(), opt.clone());
    Ok(std::sync::Arc::new(percore_runtime::FirstCoreOnly(
        move || open(&plan, &opt).map_err(|f| percore_operators::Error::Config(f.message)),
    )))
}

/// Opens the plan's input.
pub(crate) fn open(
    plan: &Plan,
    opt: &InputOptions,
) -> std::result::Result<Box<dyn Source>, Failure> {
    let src = &plan.source;
    let Some(path) = &src.path else {
        let dataset = Dataset::from_name(&src.name).ok_or_else(|| {
            Failure::usage(format!(
                "stream `{}` has no input: bind one with --source {}=PATH or WITH (path = '...')",
                src.name, src.name
            ))
        })?;
        return Ok(Box::new(GeneratorSource::new(Generator::range(
            dataset,
            opt.seed,
            0,
            opt.rows,
            opt.batch_size,
            MarketConfig::default(),
        ))));
    };
    let format = format_of(plan, path)?;
    let file = File::open(path).map_err(|e| Failure::usage(format!("cannot open {path}: {e}")))?;
    let reader = BufReader::with_capacity(1 << 20, file);
    Ok(match format {
        Format::Csv => Box::new(CsvSource(CsvReader::new(
            path.clone(),
            reader,
            &src.columns,
            opt.batch_size,
            opt.on_error,
        )?)),
        Format::JsonLines => Box::new(JsonlSource(JsonLinesReader::new(
            path.clone(),
            reader,
            &src.columns,
            opt.batch_size,
            opt.on_error,
        ))),
    })
}
