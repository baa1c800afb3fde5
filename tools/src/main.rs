//! `percore`: run continuous SQL queries, generate data, explain plans.
//!
//! Exit codes: 0 success, 1 runtime error (bad input row, overflow, I/O),
//! 2 usage or SQL error. Data goes to stdout (or `--output`); messages go to
//! stderr.

/// mimalloc: per-thread heaps that keep freed memory for reuse, instead of
/// glibc arenas that hand batch-sized buffers back to the kernel and fault
/// them in again on the next batch.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod gen;
mod input;
mod interrupt;
mod kafka;
mod output;
mod run;
mod scenarios;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(name = "percore", version, about = "Thread-per-core streaming SQL", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a query. Without --sql/--file/--scenario it runs the TUMBLING
    /// scenario (3a) on the built-in market_data generator.
    Run(RunArgs),
    /// Generate a built-in data set as CSV or JSON lines.
    Gen(GenArgs),
    /// Print the plan of a query.
    Explain(QueryArgs),
}

#[derive(Args, Clone)]
struct QueryArgs {
    /// The SQL text (CREATE STREAM statements and one SELECT, separated by `;`).
    #[arg(long, conflicts_with_all = ["file", "scenario"])]
    sql: Option<String>,
    /// A file holding the SQL.
    #[arg(long, conflicts_with = "scenario")]
    file: Option<PathBuf>,
    /// One of the built-in scenario queries (see `percore run --list-scenarios`).
    #[arg(long)]
    scenario: Option<String>,
    /// Bind a stream to a CSV or JSON-lines file, NAME=PATH, or to a Kafka
    /// topic, NAME=kafka://HOST:PORT/TOPIC?group_id=G, optionally followed by
    /// &format=csv and &kafka.KEY=V settings (repeatable; Kafka needs the
    /// `kafka` build feature).
    #[arg(long = "source", value_name = "NAME=PATH")]
    sources: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum OutFormat {
    Jsonl,
    Csv,
    Table,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum OnErrorArg {
    Fail,
    Skip,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    query: QueryArgs,
    /// Cores to run on, each a pinned executor (default: every available CPU).
    #[arg(long)]
    cores: Option<usize>,
    /// CPUs to pin the cores to, e.g. 0,2,4 (default: those the process may use).
    #[arg(long, value_delimiter = ',')]
    cpus: Option<Vec<usize>>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutFormat::Jsonl)]
    format: OutFormat,
    /// Write output here instead of stdout: a file, or a Kafka topic,
    /// kafka://HOST:PORT/TOPIC[?key=COLUMN&partitions=N&kafka.KEY=V] (one
    /// message per row).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Kafka sources: end once every partition assigned to this process is
    /// read to its end (then flush, commit offsets and exit).
    #[arg(long)]
    stop_at_end: bool,
    /// Write run statistics (JSON) here.
    #[arg(long)]
    stats: Option<PathBuf>,
    /// Rows the built-in generator produces.
    #[arg(long, default_value_t = 1_000_000)]
    rows: u64,
    /// Seed of the built-in generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Pace the built-in generator at this many records per second (over all
    /// cores), to measure latency at a given load; batches then hold the rows
    /// that came due, up to --batch-size.
    #[arg(long)]
    rate: Option<f64>,
    /// Rows per input batch.
    #[arg(long, default_value_t = 8_192)]
    batch_size: usize,
    /// What to do with a malformed input row: stop (exit 1) or count and skip it.
    #[arg(long, value_enum, default_value_t = OnErrorArg::Fail)]
    on_error: OnErrorArg,
    /// Batches each core-to-core ring holds (backpressure beyond that).
    #[arg(long, default_value_t = 16)]
    ring_capacity: usize,
    /// Rows a core may read past the slowest core's watermark before it
    /// waits for the slowest to catch up (what ROWS windows and EMIT
    /// CHANGES hold for the watermark stays bounded).
    #[arg(long, default_value_t = percore_runtime::ALIGN_ROWS)]
    align_rows: usize,
    /// Show per-core throughput on stderr while running (cores > 1).
    #[arg(long)]
    progress: bool,
    /// List the built-in scenarios and exit.
    #[arg(long)]
    list_scenarios: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum GenFormat {
    Csv,
    Jsonl,
}

#[derive(Args)]
struct GenArgs {
    /// `orders` or `market_data`.
    dataset: String,
    #[arg(long, default_value_t = 1_000_000)]
    rows: u64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, value_enum, default_value_t = GenFormat::Csv)]
    format: GenFormat,
    /// A file, or a Kafka topic: kafka://HOST:PORT/TOPIC[?key=COLUMN&partitions=N]
    /// (one message per row, keyed by COLUMN's text, partitioned by murmur2).
    #[arg(long)]
    output: Option<PathBuf>,
    /// market_data: number of symbols.
    #[arg(long, default_value_t = 100)]
    symbols: u32,
    /// market_data: number of traders.
    #[arg(long, default_value_t = 50)]
    traders: u32,
    /// market_data: rows per minute of event time.
    #[arg(long, default_value_t = 100_000)]
    rows_per_minute: u64,
    /// market_data: how far (ms) timestamps may run behind (out of order).
    #[arg(long, default_value_t = percore_operators::catalog::MARKET_DATA_DISORDER_MS)]
    disorder_ms: i64,
}

/// An error with the exit code it maps to.
pub(crate) struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: 2,
            message: message.into(),
        }
    }
    pub(crate) fn runtime(message: impl Into<String>) -> Self {
        Failure {
            code: 1,
            message: message.into(),
        }
    }
}

impl From<percore_operators::Error> for Failure {
    fn from(e: percore_operators::Error) -> Self {
        Failure {
            code: if e.is_usage() { 2 } else { 1 },
            message: e.to_string(),
        }
    }
}

fn main() -> ExitCode {
    // No 2 MiB page zeroed on a core's data path (see the function's docs).
    percore_runtime::disable_transparent_huge_pages();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(a) => run::run(a),
        Command::Gen(a) => gen::gen(a),
        Command::Explain(q) => run::explain(q),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("percore: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}
