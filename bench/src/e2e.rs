//! The end-to-end row: what `percore run --source X=file.csv --output
//! out.jsonl` does — a CSV file read by every core through io_uring, the
//! engine, JSON lines encoded and written by every core — timed as a whole.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use anyhow::Result;
use percore_operators::codec::generator::Generator;
use percore_operators::codec::write::{write_jsonl, CsvWriter};
use percore_operators::codec::OnError;
use percore_operators::{sql, Format};
use percore_runtime::{run_parallel_with, FileInput, FileOutput, ParallelConfig};

use crate::measure::Run;
use crate::scenarios::Scenario;

/// Generates `rows` rows of the scenario's data into a CSV file (not timed)
/// and runs the scenario from it into a JSON-lines file on `cores` cores.
pub fn run(s: &Scenario, rows: u64, cores: usize) -> Result<Run> {
    let dir = tempfile::tempdir()?;
    let csv = dir.path().join("input.csv");
    {
        let file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&csv)?);
        let mut w = CsvWriter::new(file);
        for b in Generator::new(s.dataset, 42, rows, 8_192) {
            w.write(&b)?;
        }
        w.flush()?;
    }
    let plan = sql::compile(s.sql)?;
    let input = FileInput::for_plan(&csv, Format::Csv, &plan, 8_192, OnError::Fail)?;
    let out = dir.path().join("out.jsonl");
    std::fs::File::create(&out)?;
    let cfg = ParallelConfig {
        file_output: Some(FileOutput {
            path: out.clone(),
            next: Arc::new(AtomicU64::new(0)),
        }),
        ..ParallelConfig::new(cores)
    };
    let stats = run_parallel_with(
        &plan,
        Arc::new(input),
        &cfg,
        Some(Arc::new(write_jsonl)),
        &mut |_| Ok(()),
    )
    .map_err(|f| anyhow::anyhow!("{}", f.error))?;
    let idle_share = stats.idle_share();
    let preempted_share = stats.preempted_share();
    Ok(Run {
        records: stats.records_in,
        output_rows: stats.records_out,
        late_rows: stats.late_rows,
        secs: stats.elapsed_secs,
        latency: stats.latency_us,
        peak_rss: None,
        cpu_secs: None,
        idle_share,
        preempted_share,
    })
}
