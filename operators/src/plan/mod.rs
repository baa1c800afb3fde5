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

use arrow_array::RecordBatch;

use crate::expr::Expr;
use crate::state::{AggFunc, TimeColumn};
use crate::types::{Column, SqlType};

mod explain;
mod stream;
pub use explain::expr_text;
pub use stream::{Format, KafkaOptions, StreamDef, KAFKA_SETTLE_MS};

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
