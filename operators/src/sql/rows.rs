//! Plans a SELECT with ROWS window functions (`... OVER (PARTITION BY k
//! ORDER BY t ROWS BETWEEN n PRECEDING AND CURRENT ROW)`, or the original
//! engine's `ROWS WINDOW BUFFER n ROWS`): the frame, its partitioning and
//! order, and the functions over it.

use sqlparser::ast::{self, WindowFrameBound, WindowFrameUnits, WindowType};

use super::bind::{bind, lookup, pos, Columns, Resolver};
use super::calls::{agg_call, agg_func, item_expr};
use crate::error::{Error, Pos, Result};
use crate::expr::Expr;
use crate::plan::{AggCall, RowsPlan, StreamDef};
use crate::state::{AggFunc, TimeColumn};
use crate::types::{Column, SqlType};

pub(super) struct RowsScope<'a> {
    pub(super) cols: &'a [Column],
    pub(super) source: &'a StreamDef,
    pub(super) rows: &'a RowsPlan,
}

impl Resolver for RowsScope<'_> {
    fn column(&mut self, name: &str, pos: Pos) -> Result<Expr> {
        lookup(&self.cols[..self.source.columns.len()], name, pos)
    }
    fn function(&mut self, f: &ast::Function, at: Pos) -> Result<Expr> {
        if f.over.is_none() {
            return Err(Error::sql(
                at,
                format!("function `{}` is not supported here", f.name),
            ));
        }
        let func = window_func(f, at)?;
        let call = agg_call(f, func, self.source, at)?;
        let i = self
            .rows
            .funcs
            .iter()
            .position(|c| c.text == call.text)
            .expect("collected while planning the window");
        let idx = self.source.columns.len() + i;
        Ok(Expr::column(idx, self.cols[idx].ty, call.text))
    }
}

/// A window spec reduced to comparable text: (partition, order, frame rows).
struct Spec {
    partition_by: Vec<ast::Expr>,
    order_by: ast::Expr,
    frame: Option<u64>,
    key: String,
}

fn window_spec(f: &ast::Function, at: Pos) -> Result<Spec> {
    let spec = match &f.over {
        Some(WindowType::WindowSpec(s)) => s,
        Some(WindowType::NamedWindow(n)) => {
            return Err(Error::sql(
                super::bind::ident_pos(n),
                "named windows are not supported; write OVER (...)",
            ))
        }
        None => unreachable!("called for OVER calls"),
    };
    if spec.window_name.is_some() {
        return Err(Error::sql(at, "named windows are not supported"));
    }
    let [order] = spec.order_by.as_slice() else {
        return Err(Error::sql(
            at,
            "OVER needs exactly one ORDER BY column (the event time)",
        ));
    };
    if matches!(
        order.options.sort,
        Some(ast::OrderBySort::Desc | ast::OrderBySort::Using(_))
    ) {
        return Err(Error::sql(
            pos(order),
            "ORDER BY in OVER must be ascending event time",
        ));
    }
    let frame = spec.window_frame.as_ref().ok_or_else(|| {
        Error::sql(at, "OVER needs a ROWS frame: ROWS BETWEEN n PRECEDING AND CURRENT ROW, or ROWS WINDOW BUFFER n ROWS")
    })?;
    if frame.units != WindowFrameUnits::Rows {
        return Err(Error::sql(
            at,
            format!("{} frames are not supported; use ROWS", frame.units),
        ));
    }
    if !matches!(frame.end_bound, None | Some(WindowFrameBound::CurrentRow)) {
        return Err(Error::sql(at, "the frame must end at CURRENT ROW"));
    }
    let rows = match &frame.start_bound {
        WindowFrameBound::CurrentRow => Some(1),
        WindowFrameBound::Preceding(None) => None,
        WindowFrameBound::Preceding(Some(n)) => {
            let v = match n.as_ref() {
                ast::Expr::Value(v) => match &v.value {
                    ast::Value::Number(s, _) => s.parse::<u64>().ok(),
                    _ => None,
                },
                _ => None,
            };
            let v = v.ok_or_else(|| {
                Error::sql(pos(n.as_ref()), "PRECEDING needs a non-negative integer")
            })?;
            Some(v.checked_add(1).ok_or_else(|| {
                Error::sql(
                    pos(n.as_ref()),
                    "PRECEDING is too large; use UNBOUNDED PRECEDING",
                )
            })?)
        }
        WindowFrameBound::Following(_) => {
            return Err(Error::sql(
                at,
                "FOLLOWING frames are not supported on a stream",
            ))
        }
    };
    let key = format!(
        "{:?}|{}|{:?}",
        spec.partition_by
            .iter()
            .map(|e| e.to_string().to_ascii_lowercase())
            .collect::<Vec<_>>(),
        order.expr.to_string().to_ascii_lowercase(),
        rows
    );
    Ok(Spec {
        partition_by: spec.partition_by.clone(),
        order_by: order.expr.clone(),
        frame: rows,
        key,
    })
}

pub(super) fn collect_calls<'a>(e: &'a ast::Expr, out: &mut Vec<&'a ast::Function>) {
    match e {
        ast::Expr::Function(f) => out.push(f),
        ast::Expr::BinaryOp { left, right, .. } => {
            collect_calls(left, out);
            collect_calls(right, out);
        }
        ast::Expr::UnaryOp { expr, .. }
        | ast::Expr::Nested(expr)
        | ast::Expr::IsNull(expr)
        | ast::Expr::IsNotNull(expr)
        | ast::Expr::Cast { expr, .. } => collect_calls(expr, out),
        ast::Expr::Between {
            expr, low, high, ..
        } => {
            collect_calls(expr, out);
            collect_calls(low, out);
            collect_calls(high, out);
        }
        _ => {}
    }
}

pub(super) fn plan_rows(select: &ast::Select, source: &StreamDef) -> Result<RowsPlan> {
    let mut calls = Vec::new();
    for item in &select.projection {
        if let Some(e) = item_expr(item) {
            collect_calls(e, &mut calls);
        }
    }
    let mut spec: Option<Spec> = None;
    let mut funcs: Vec<AggCall> = Vec::new();
    for f in calls.into_iter().filter(|f| f.over.is_some()) {
        let at = pos(&f.name);
        let s = window_spec(f, at)?;
        match &spec {
            Some(prev) if prev.key != s.key => {
                return Err(Error::sql(
                    at,
                    "all window functions of a query must share one OVER (...) specification",
                ))
            }
            Some(_) => {}
            None => spec = Some(s),
        }
        let func = window_func(f, at)?;
        let call = agg_call(f, func, source, at)?;
        let numeric = call
            .arg
            .as_ref()
            .map(Expr::ty)
            .is_some_and(SqlType::is_numeric);
        if matches!(
            func,
            AggFunc::Min | AggFunc::Max | AggFunc::Sum | AggFunc::Avg
        ) && !numeric
        {
            return Err(Error::sql(
                at,
                format!("{func} OVER a ROWS window needs a numeric argument"),
            ));
        }
        if !funcs.iter().any(|c| c.text == call.text) {
            funcs.push(call);
        }
    }
    let spec = spec.expect("has_window_fn found an OVER call");
    let mut scope = Columns {
        cols: &source.columns,
        clause: "PARTITION BY / ORDER BY",
    };
    let partition_by = spec
        .partition_by
        .iter()
        .map(|e| bind(e, &mut scope))
        .collect::<Result<Vec<_>>>()?;
    let order = bind(&spec.order_by, &mut scope)?;
    if !matches!(order.ty(), SqlType::Timestamp | SqlType::BigInt) {
        return Err(Error::sql(
            pos(&spec.order_by),
            format!(
                "ORDER BY in OVER must be the event time (TIMESTAMP or BIGINT), found {}",
                order.ty()
            ),
        ));
    }
    Ok(RowsPlan {
        partition_by,
        order_by: TimeColumn(order),
        frame: spec.frame,
        funcs,
    })
}

/// The aggregate a window function call names, or an error naming the
/// ones a ROWS frame takes.
fn window_func(f: &ast::Function, at: Pos) -> Result<AggFunc> {
    agg_func(f).ok_or_else(|| {
        Error::sql(
            at,
            format!(
                "window function `{}` is not supported; use AVG, MIN, MAX, SUM or COUNT",
                f.name
            ),
        )
    })
}
