//! Plans a SELECT with GROUP BY and aggregates: the groups, the aggregate
//! calls, HAVING, an event-time TUMBLING window and its EMIT mode.

use sqlparser::ast;

use super::bind::{bind, lookup, pos, Columns, Resolver};
use super::calls::{agg_call, agg_func, func_args, has_aggregate, is_tumble_call, item_expr};
use super::rewrite::Extracted;
use super::rows::collect_calls;
use crate::catalog::parse_duration_ms;
use crate::error::{Error, Pos, Result};
use crate::expr::Expr;
use crate::plan::{AggCall, AggPlan, Emit, StreamDef, Tumble};
use crate::state::TimeColumn;
use crate::types::{Column, SqlType};

pub(super) fn plan_aggregate(
    select: &ast::Select,
    group_by: &[ast::Expr],
    ex: &Extracted,
    source: &StreamDef,
) -> Result<AggPlan> {
    let mut keys = Vec::new();
    let mut key_names = Vec::new();
    let mut window: Option<Tumble> = None;
    let mut scope = Columns {
        cols: &source.columns,
        clause: "GROUP BY",
    };
    for g in group_by {
        if is_tumble_call(g) {
            let ast::Expr::Function(f) = g else {
                unreachable!()
            };
            if window.is_some() || ex.tumble.is_some() {
                return Err(Error::sql(pos(g), "only one window per query"));
            }
            window = Some(tumble_call(f, source, pos(g))?);
            continue;
        }
        if has_aggregate(g) {
            return Err(Error::sql(pos(g), "aggregates are not allowed in GROUP BY"));
        }
        let e = bind(g, &mut scope)?;
        key_names.push(match g {
            ast::Expr::Identifier(i) => i.value.clone(),
            other => other.to_string(),
        });
        keys.push(e);
    }
    if let Some(t) = &ex.tumble {
        let col = match &t.column {
            Some(c) => c.clone(),
            None => source.event_time.clone().ok_or_else(|| {
                Error::sql(t.pos, format!("stream `{}` has no event-time column; write WINDOW TUMBLING (column, size)", source.name))
            })?,
        };
        let time = lookup(&source.columns, &col, t.pos)?;
        window = Some(tumble(time, t.size_ms, t.pos)?);
    }
    let emit = match ex.emit {
        Some((e, _)) => e,
        None if window.is_some() => Emit::Final,
        None => Emit::Changes,
    };
    let order = match (&window, emit, &source.event_time) {
        (None, Emit::Changes, Some(c)) => {
            let e = lookup(&source.columns, c, Pos::default())?;
            matches!(e.ty(), SqlType::Timestamp | SqlType::BigInt).then_some(TimeColumn(e))
        }
        _ => None,
    };
    // Collect aggregate calls from the SELECT list and HAVING, in order.
    let mut calls = Vec::new();
    for item in &select.projection {
        if let Some(e) = item_expr(item) {
            collect_calls(e, &mut calls);
        }
    }
    if let Some(h) = &select.having {
        collect_calls(h, &mut calls);
    }
    let mut aggs: Vec<AggCall> = Vec::new();
    for f in calls {
        if let Some(func) = agg_func(f) {
            let call = agg_call(f, func, source, pos(&f.name))?;
            if !aggs.iter().any(|c| c.text == call.text) {
                aggs.push(call);
            }
        }
    }
    Ok(AggPlan {
        keys,
        key_names,
        aggs,
        window,
        emit,
        order,
    })
}

fn tumble(time: Expr, size_ms: i64, at: Pos) -> Result<Tumble> {
    if !matches!(time.ty(), SqlType::Timestamp | SqlType::BigInt) {
        return Err(Error::sql(
            at,
            format!(
                "a window's time column must be TIMESTAMP or BIGINT, found {}",
                time.ty()
            ),
        ));
    }
    Ok(Tumble {
        time: TimeColumn(time),
        size_ms,
    })
}

/// `TUMBLE(col, INTERVAL '1' MINUTE)` in GROUP BY.
fn tumble_call(f: &ast::Function, source: &StreamDef, at: Pos) -> Result<Tumble> {
    let args = func_args(f, at)?;
    let [col, size] = args.as_slice() else {
        return Err(Error::sql(at, "TUMBLE takes (time column, INTERVAL size)"));
    };
    let time = bind(
        col,
        &mut Columns {
            cols: &source.columns,
            clause: "TUMBLE",
        },
    )?;
    let text = match size {
        ast::Expr::Interval(iv) => {
            let v = match iv.value.as_ref() {
                ast::Expr::Value(v) => match &v.value {
                    ast::Value::SingleQuotedString(s) => s.clone(),
                    other => other.to_string(),
                },
                other => other.to_string(),
            };
            match &iv.leading_field {
                Some(unit) => format!("{v} {unit}"),
                None => v,
            }
        }
        ast::Expr::Value(v) => match &v.value {
            ast::Value::SingleQuotedString(s) => s.clone(),
            other => other.to_string(),
        },
        other => other.to_string(),
    };
    let ms = parse_duration_ms(&text).filter(|m| *m > 0).ok_or_else(|| {
        Error::sql(
            pos(*size),
            format!("invalid window size `{text}`; use INTERVAL '1' MINUTE"),
        )
    })?;
    tumble(time, ms, at)
}

/// Binds the SELECT list and HAVING of a GROUP BY query against the stage's columns.
pub(super) struct AggScope<'a> {
    source: &'a StreamDef,
    agg: &'a AggPlan,
    group_by: Vec<String>,
    cols: &'a [Column],
    offset_keys: usize,
}

impl<'a> AggScope<'a> {
    pub(super) fn new(
        source: &'a StreamDef,
        agg: &'a AggPlan,
        group_by: &[ast::Expr],
        cols: &'a [Column],
    ) -> Self {
        AggScope {
            source,
            agg,
            group_by: group_by
                .iter()
                .filter(|g| !is_tumble_call(g))
                .map(|g| g.to_string().to_ascii_lowercase())
                .collect(),
            cols,
            offset_keys: if agg.window.is_some() { 2 } else { 0 },
        }
    }
}

impl Resolver for AggScope<'_> {
    fn resolve(&mut self, e: &ast::Expr) -> Result<Option<Expr>> {
        let text = e.to_string().to_ascii_lowercase();
        if let Some(k) = self.group_by.iter().position(|g| *g == text) {
            let i = self.offset_keys + k;
            return Ok(Some(Expr::column(
                i,
                self.cols[i].ty,
                self.cols[i].name.clone(),
            )));
        }
        Ok(None)
    }

    fn column(&mut self, name: &str, at: Pos) -> Result<Expr> {
        if self.agg.window.is_some()
            && (name.eq_ignore_ascii_case("window_start")
                || name.eq_ignore_ascii_case("window_end"))
        {
            return lookup(&self.cols[..2], name, at);
        }
        let keys = &self.cols[self.offset_keys..self.offset_keys + self.agg.keys.len()];
        if let Ok(e) = lookup(keys, name, at) {
            let Expr::Column { index, ty, name } = e else {
                unreachable!()
            };
            return Ok(Expr::column(index + self.offset_keys, ty, name));
        }
        if self.source.column_index(name).is_some() {
            return Err(Error::sql(
                at,
                format!("column `{name}` must appear in GROUP BY or be used in an aggregate"),
            ));
        }
        lookup(self.source.columns.as_slice(), name, at)
    }

    fn function(&mut self, f: &ast::Function, at: Pos) -> Result<Expr> {
        let func = agg_func(f)
            .ok_or_else(|| Error::sql(at, format!("function `{}` is not supported", f.name)))?;
        if f.over.is_some() {
            return Err(Error::sql(
                at,
                "window functions (OVER) cannot be combined with GROUP BY",
            ));
        }
        let call = agg_call(f, func, self.source, at)?;
        let k = self
            .agg
            .aggs
            .iter()
            .position(|c| c.text == call.text)
            .expect("collected while planning the aggregate");
        let i = self.offset_keys + self.agg.keys.len() + k;
        Ok(Expr::column(i, self.cols[i].ty, call.text))
    }
}
