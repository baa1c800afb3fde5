//! A planned query: where rows come from, and the operators they pass through.
//!
//! Every query has the same shape: `source → WHERE → stage → HAVING → SELECT list`,
//! where the stage is nothing (filter/projection), a ROWS window, or a GROUP BY
//! (with or without a TUMBLING window). The stage's output columns are:
//!
//! - `Select`: the source's columns;
//! - `Rows`: the source's columns, then one column per window function;
//! - `Aggregate`: `window_start, window_end` (when windowed), the group keys,
//!   then one column per aggregate.
//!
//! HAVING and the SELECT list are bound against the stage's output columns.

use std::fmt;

use arrow_array::RecordBatch;

use crate::expr::Expr;
use crate::state::{AggFunc, TimeColumn};
use crate::types::{Column, SqlType};

/// The input file format of a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    JsonLines,
}

impl Format {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "jsonl" | "json" | "ndjson" | "jsonlines" => Some(Format::JsonLines),
            _ => None,
        }
    }
}

/// A declared source stream: its schema and how to read it.
#[derive(Clone, Debug)]
pub struct StreamDef {
    pub name: String,
    pub columns: Vec<Column>,
    pub path: Option<String>,
    pub format: Option<Format>,
    /// Allowed lateness in milliseconds (watermark = max event time − lateness).
    pub lateness_ms: i64,
    /// The column that carries event time, when the stream has one.
    pub event_time: Option<String>,
    /// Read from a Kafka topic instead of a file (`connector = 'kafka'`).
    pub kafka: Option<KafkaOptions>,
}

/// Where a Kafka stream reads from. Its rows carry the hidden columns
/// [`crate::catalog::KAFKA_HIDDEN`] after the declared ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KafkaOptions {
    /// `host:port[,host:port...]`.
    pub brokers: String,
    pub topic: String,
    /// The consumer group every core of every process joins.
    pub group_id: String,
    /// Other client settings, passed to librdkafka as they are
    /// (`kafka.session.timeout.ms = '6000'` becomes `session.timeout.ms`).
    pub client: Vec<(String, String)>,
    /// The column whose text keys every message (`key = 'symbol'`): rows
    /// with equal values share a partition, so when the query's keys include
    /// it each core owns the keys of what it reads and no exchange is needed.
    pub key: Option<String>,
    /// How long a new consumer waits, with its partitions paused, for the
    /// group to settle before it reads (so processes started together split
    /// the partitions before any state is built).
    pub settle_ms: u64,
}

/// Default of [`KafkaOptions::settle_ms`]: longer than Kafka's own
/// `group.initial.rebalance.delay.ms` (3 s), which some brokers also apply
/// to every member joining after the first.
pub const KAFKA_SETTLE_MS: u64 = 5_000;

impl KafkaOptions {
    /// Sets one option by name (`brokers`, `topic`, `group_id`, `settle_ms`,
    /// or `kafka.*`); `Ok(false)` if the name is not a Kafka option.
    pub fn set(&mut self, key: &str, value: &str) -> std::result::Result<bool, String> {
        match key {
            "brokers" | "bootstrap_servers" => self.brokers = value.to_string(),
            "topic" => self.topic = value.to_string(),
            "group_id" | "group" => self.group_id = value.to_string(),
            "key" => self.key = Some(value.to_string()),
            "settle_ms" => {
                self.settle_ms = value
                    .parse()
                    .map_err(|_| format!("settle_ms must be a number of ms, got '{value}'"))?
            }
            k => match k.strip_prefix("kafka.") {
                Some(name) if !name.is_empty() => {
                    self.client.push((name.to_string(), value.to_string()))
                }
                _ => return Ok(false),
            },
        }
        Ok(true)
    }

    /// The first required option that is missing.
    pub fn missing(&self) -> Option<&'static str> {
        [
            ("brokers", &self.brokers),
            ("topic", &self.topic),
            ("group_id", &self.group_id),
        ]
        .into_iter()
        .find(|(_, v)| v.is_empty())
        .map(|(k, _)| k)
    }
}

impl StreamDef {
    /// Turns this stream into one read from Kafka: the hidden columns are
    /// appended (an error if a declared column already uses one's name).
    pub fn make_kafka(&mut self, options: KafkaOptions) -> std::result::Result<(), String> {
        if let Some(k) = &options.key {
            if self.column_index(k).is_none() || crate::catalog::is_hidden(k) {
                return Err(format!(
                    "key column `{k}` is not a declared column of stream `{}`",
                    self.name
                ));
            }
        }
        if self.kafka.is_none() {
            for c in crate::catalog::kafka_hidden_columns() {
                if self.column_index(&c.name).is_some() {
                    return Err(format!(
                        "column `{}` is reserved in a Kafka stream (it carries the message's {})",
                        c.name,
                        c.name.trim_start_matches('_')
                    ));
                }
                self.columns.push(c);
            }
        }
        self.path = None;
        self.kafka = Some(options);
        Ok(())
    }

    /// The columns a reader fills from the data (without Kafka's hidden ones).
    pub fn data_columns(&self) -> &[Column] {
        let hidden = if self.kafka.is_some() {
            crate::catalog::KAFKA_HIDDEN.len()
        } else {
            0
        };
        &self.columns[..self.columns.len() - hidden]
    }

    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emit {
    /// One changelog row per input row, carrying its group's updated values.
    Changes,
    /// One row per group when its window closes (or when a bounded input ends).
    Final,
}

/// One aggregate or window function call.
#[derive(Clone, Debug)]
pub struct AggCall {
    pub func: AggFunc,
    pub arg: Option<Expr>,
    pub output: SqlType,
    /// The call as written, for error messages and EXPLAIN.
    pub text: String,
}

#[derive(Clone, Debug)]
pub struct RowsPlan {
    pub partition_by: Vec<Expr>,
    pub order_by: TimeColumn,
    /// Rows in the frame including the current row; `None` is unbounded.
    pub frame: Option<u64>,
    pub funcs: Vec<AggCall>,
}

#[derive(Clone, Debug)]
pub struct Tumble {
    pub time: TimeColumn,
    pub size_ms: i64,
}

#[derive(Clone, Debug)]
pub struct AggPlan {
    pub keys: Vec<Expr>,
    pub key_names: Vec<String>,
    pub aggs: Vec<AggCall>,
    pub window: Option<Tumble>,
    pub emit: Emit,
    /// Event-time order for EMIT CHANGES without a window (`None`: arrival order).
    pub order: Option<TimeColumn>,
}

#[derive(Clone, Debug)]
pub enum Stage {
    Select,
    Rows(RowsPlan),
    Aggregate(AggPlan),
}

#[derive(Clone, Debug)]
pub struct Plan {
    /// The stream as declared: what its readers parse.
    pub source: StreamDef,
    /// The source columns the query reads, in source order. Every expression
    /// of the plan indexes into this list, and the query's input batches hold
    /// exactly these columns ([`Plan::read`]): columns no part of the query
    /// uses are dropped as rows come in, before any operator, exchange or
    /// buffer copies them.
    pub inputs: Vec<usize>,
    pub filter: Option<Expr>,
    pub stage: Stage,
    pub having: Option<Expr>,
    pub projection: Vec<Expr>,
    pub output: Vec<Column>,
}

impl Plan {
    /// A plan whose expressions are bound to all of `source`'s columns, made
    /// to read only the columns it uses (at least one, so batches keep their
    /// row count in a column).
    pub(crate) fn new(
        source: StreamDef,
        filter: Option<Expr>,
        stage: Stage,
        having: Option<Expr>,
        projection: Vec<Expr>,
        output: Vec<Column>,
    ) -> Self {
        let width = source.columns.len();
        let mut plan = Plan {
            inputs: (0..width).collect(),
            source,
            filter,
            stage,
            having,
            projection,
            output,
        };
        // HAVING and the SELECT list see the source's columns first when the
        // stage passes them through.
        let passes = !matches!(plan.stage, Stage::Aggregate(_));
        let mut used = vec![false; width];
        let mut mark = |e: &Expr| {
            let mut cols = Vec::new();
            e.columns(&mut cols);
            cols.into_iter()
                .filter(|c| *c < width)
                .for_each(|c| used[c] = true);
        };
        for e in plan.source_exprs_mut() {
            mark(e);
        }
        if passes {
            plan.having
                .iter()
                .chain(&plan.projection)
                .for_each(&mut mark);
        }
        if !used.iter().any(|u| *u) && width > 0 {
            used[0] = true;
        }
        plan.inputs = (0..width).filter(|c| used[*c]).collect();
        let mut new_index = vec![usize::MAX; width];
        for (new, &old) in plan.inputs.iter().enumerate() {
            new_index[old] = new;
        }
        let read = plan.inputs.len();
        // Columns past the source's (a ROWS window's functions) move down.
        let to = |c: usize| {
            if c < width {
                new_index[c]
            } else {
                c - width + read
            }
        };
        for e in plan.source_exprs_mut() {
            e.remap_columns(&to);
        }
        if passes {
            for e in plan.having.iter_mut().chain(&mut plan.projection) {
                e.remap_columns(&to);
            }
        }
        plan
    }

    /// The expressions evaluated over input rows: WHERE and the stage's.
    fn source_exprs_mut(&mut self) -> Vec<&mut Expr> {
        let mut v: Vec<&mut Expr> = self.filter.iter_mut().collect();
        match &mut self.stage {
            Stage::Select => {}
            Stage::Rows(r) => {
                v.extend(&mut r.partition_by);
                v.push(&mut r.order_by.0);
                v.extend(r.funcs.iter_mut().filter_map(|f| f.arg.as_mut()));
            }
            Stage::Aggregate(a) => {
                v.extend(&mut a.keys);
                v.extend(a.aggs.iter_mut().filter_map(|f| f.arg.as_mut()));
                v.extend(a.window.iter_mut().map(|w| &mut w.time.0));
                v.extend(a.order.iter_mut().map(|t| &mut t.0));
            }
        }
        v
    }

    /// `e` (bound to the columns the query reads) bound instead to all of
    /// the stream's declared columns, for readers that see whole rows.
    pub fn on_source(&self, e: &Expr) -> Expr {
        let mut e = e.clone();
        e.remap_columns(&|c| self.inputs[c]);
        e
    }

    /// The columns the query reads ([`Plan::inputs`]), as typed columns.
    pub fn input_columns(&self) -> Vec<Column> {
        self.inputs
            .iter()
            .map(|&c| self.source.columns[c].clone())
            .collect()
    }

    /// A batch of the stream as declared, cut to the columns the query
    /// reads: no copy, the columns are shared.
    pub fn read(&self, batch: &RecordBatch) -> RecordBatch {
        if self.inputs.len() == self.source.columns.len() {
            return batch.clone();
        }
        batch
            .project(&self.inputs)
            .expect("a batch of the declared stream")
    }

    /// The expressions whose values decide which core owns a row: the
    /// PARTITION BY or GROUP BY keys. `None` when rows need no exchange.
    pub fn exchange_keys(&self) -> Option<&[Expr]> {
        match &self.stage {
            Stage::Select => None,
            Stage::Rows(r) => Some(&r.partition_by),
            Stage::Aggregate(a) => Some(&a.keys),
        }
    }

    /// Whether rows already sit on the core that owns their keys when input
    /// is split by the source columns `cols` (rows with equal values in them
    /// on one core): true when every one of them is itself a key of the
    /// exchange, so equal keys imply equal `cols`.
    pub fn partitioned_by(&self, cols: &[usize]) -> bool {
        let Some(keys) = self.exchange_keys() else {
            return false;
        };
        !cols.is_empty()
            && cols.iter().all(|c| {
                keys.iter().any(
                |k| matches!(k, Expr::Column { index, .. } if self.inputs.get(*index) == Some(c)),
            )
            })
    }

    /// The event-time column whose watermark drives the stage, if any.
    pub fn watermark_time(&self) -> Option<&TimeColumn> {
        match &self.stage {
            Stage::Select => None,
            Stage::Rows(r) => Some(&r.order_by),
            Stage::Aggregate(a) => a.window.as_ref().map(|w| &w.time).or(a.order.as_ref()),
        }
    }

    /// Whether the stage emits rows in event-time order, so that ties in
    /// event time must be broken the same way on any number of cores (ROWS
    /// windows, EMIT CHANGES by event time). Other stages are insensitive to
    /// the order rows arrive in.
    pub fn orders_rows(&self) -> bool {
        match &self.stage {
            Stage::Select => false,
            Stage::Rows(_) => true,
            Stage::Aggregate(a) => {
                a.emit == Emit::Changes && (a.window.is_some() || a.order.is_some())
            }
        }
    }

    /// The columns the stage produces (what HAVING and the SELECT list see).
    pub fn stage_columns(&self) -> Vec<Column> {
        stage_columns(&self.input_columns(), &self.stage)
    }
}

pub(crate) fn stage_columns(input: &[Column], stage: &Stage) -> Vec<Column> {
    match stage {
        Stage::Select => input.to_vec(),
        Stage::Rows(r) => {
            let mut cols = input.to_vec();
            for (i, f) in r.funcs.iter().enumerate() {
                cols.push(Column::new(format!("__win{i}"), f.output));
            }
            cols
        }
        Stage::Aggregate(a) => {
            let mut cols = Vec::new();
            if a.window.is_some() {
                cols.push(Column::new("window_start", SqlType::Timestamp));
                cols.push(Column::new("window_end", SqlType::Timestamp));
            }
            for (k, name) in a.keys.iter().zip(&a.key_names) {
                cols.push(Column::new(name.clone(), k.ty()));
            }
            for (i, f) in a.aggs.iter().enumerate() {
                cols.push(Column::new(format!("__agg{i}"), f.output));
            }
            cols
        }
    }
}

fn list<T>(items: &[T], f: impl Fn(&T) -> String) -> String {
    items.iter().map(f).collect::<Vec<_>>().join(", ")
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Output [{}]",
            list(&self.output, |c| format!("{} {}", c.name, c.ty))
        )?;
        writeln!(f, "  Project [{}]", list(&self.projection, expr_text))?;
        if let Some(h) = &self.having {
            writeln!(f, "    Having {}", expr_text(h))?;
        }
        match &self.stage {
            Stage::Select => {}
            Stage::Rows(r) => {
                let frame = r
                    .frame
                    .map_or("UNBOUNDED".to_string(), |n| format!("{n} ROWS"));
                writeln!(
                    f,
                    "    RowsWindow partition=[{}] order={} frame={} funcs=[{}] (released in event-time order by watermark)",
                    list(&r.partition_by, expr_text),
                    expr_text(&r.order_by.0),
                    frame,
                    list(&r.funcs, |c| format!("{} -> {}", c.text, c.output))
                )?;
            }
            Stage::Aggregate(a) => {
                let window = match &a.window {
                    Some(t) => format!(" tumbling={}ms on {}", t.size_ms, expr_text(&t.time.0)),
                    None => String::new(),
                };
                writeln!(
                    f,
                    "    Aggregate keys=[{}] aggs=[{}]{} emit={:?}",
                    list(&a.keys, expr_text),
                    list(&a.aggs, |c| format!("{} -> {}", c.text, c.output)),
                    window,
                    a.emit
                )?;
            }
        }
        if let Some(w) = &self.filter {
            writeln!(f, "      Filter {}", expr_text(w))?;
        }
        let src = &self.source;
        write!(
            f,
            "        Source {} [{}]{} lateness={}ms{}",
            src.name,
            list(&src.columns, |c| format!("{} {}", c.name, c.ty)),
            if self.inputs.len() < src.columns.len() {
                format!(
                    " reads=[{}]",
                    list(&self.input_columns(), |c| c.name.clone())
                )
            } else {
                String::new()
            },
            src.lateness_ms,
            src.path
                .as_ref()
                .map_or(String::new(), |p| format!(" path={p}"))
        )
    }
}

/// Short text of a bound expression, for EXPLAIN.
pub fn expr_text(e: &Expr) -> String {
    match e {
        Expr::Column { name, .. } => name.clone(),
        Expr::Literal { value, .. } => value.to_string(),
        Expr::Arith { text, .. }
        | Expr::Cmp { text, .. }
        | Expr::Neg { text, .. }
        | Expr::Cast { text, .. } => text.clone(),
        Expr::And(a, b) => format!("({} AND {})", expr_text(a), expr_text(b)),
        Expr::Or(a, b) => format!("({} OR {})", expr_text(a), expr_text(b)),
        Expr::Not(a) => format!("NOT {}", expr_text(a)),
        Expr::IsNull { expr, negated } => format!(
            "{} IS {}NULL",
            expr_text(expr),
            if *negated { "NOT " } else { "" }
        ),
    }
}
