//! Binds the query's stream to its input: a `--source` file, the stream's
//! declared `path`, or (for `orders` / `market_data`) the built-in generator.

use std::path::Path;
use std::sync::Arc;

use percore_operators::codec::generator::{Dataset, MarketConfig};
use percore_operators::codec::OnError;
use percore_operators::{Format, Plan};
use percore_runtime::{FileInput, GeneratorPartitions, PartitionedSource};

use crate::Failure;

/// How the built-in generator and file readers are set up.
#[derive(Clone)]
pub(crate) struct InputOptions {
    pub rows: u64,
    pub seed: u64,
    pub rate: Option<f64>,
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

/// Applies `--source` bindings to the script's streams before planning: a
/// path to read from, or a `kafka://` topic (which adds the hidden columns).
pub(crate) fn bind(
    script: &mut percore_operators::sql::Script,
    bindings: &[(String, String)],
) -> std::result::Result<(), Failure> {
    for (name, target) in bindings {
        let mut def = script.stream(name).ok_or_else(|| {
            Failure::usage(format!(
                "--source {name}=...: no stream `{name}` (declare it with CREATE STREAM)"
            ))
        })?;
        if crate::kafka::is_kafka(target) {
            let url = crate::kafka::parse_url(target)?;
            let (options, format) = crate::kafka::source_options(&url)?;
            def.make_kafka(options).map_err(Failure::usage)?;
            if format.is_some() {
                def.format = format;
            }
        } else {
            if def.kafka.is_some() {
                return Err(Failure::usage(format!(
                    "--source {name}=...: stream `{name}` is a Kafka stream; bind it to kafka://..."
                )));
            }
            def.path = Some(target.clone());
        }
        script
            .streams
            .retain(|s| !s.name.eq_ignore_ascii_case(name));
        script.streams.push(def);
    }
    Ok(())
}

/// Checks every binding names the stream the planned query reads.
pub(crate) fn check_bound(
    plan: &Plan,
    bindings: &[(String, String)],
) -> std::result::Result<(), Failure> {
    for (name, _) in bindings {
        if !name.eq_ignore_ascii_case(&plan.source.name) {
            return Err(Failure::usage(format!(
                "--source {name}=...: the query reads stream `{}`, not `{name}`",
                plan.source.name
            )));
        }
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

/// The plan's input split among the cores: the generator by row, a file by
/// byte range (checked here, before the run: it opens, its header fits).
pub(crate) fn partitioned(
    plan: &Plan,
    opt: &InputOptions,
) -> std::result::Result<Arc<dyn PartitionedSource>, Failure> {
    let src = &plan.source;
    let Some(path) = &src.path else {
        let dataset = Dataset::from_name(&src.name).ok_or_else(|| {
            Failure::usage(format!(
                "stream `{}` has no input: bind one with --source {}=PATH or WITH (path = '...')",
                src.name, src.name
            ))
        })?;
        return Ok(Arc::new(GeneratorPartitions {
            dataset,
            seed: opt.seed,
            rows: opt.rows,
            batch_size: opt.batch_size,
            config: MarketConfig::default(),
            rate: opt.rate,
            columns: Some(plan.inputs.clone()),
        }));
    };
    if opt.rate.is_some() {
        return Err(Failure::usage(
            "--rate paces the built-in generator; it does not apply to a file",
        ));
    }
    let format = format_of(plan, path)?;
    let file = FileInput::for_plan(Path::new(path), format, plan, opt.batch_size, opt.on_error)
        .map_err(Failure::from)?;
    Ok(Arc::new(file))
}
