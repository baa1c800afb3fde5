//! Plans one SELECT into `source → WHERE → stage → HAVING → SELECT list`.

use sqlparser::ast::{
    self, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, SelectItem, SetExpr,
    TableFactor, WindowFrameBound, WindowFrameUnits, WindowType,
};

use super::bind::{bind, lookup, pos, Columns, Resolver};
use super::rewrite::Extracted;
use crate::catalog::parse_duration_ms;
use crate::error::{Error, Pos, Result};
use crate::expr::Expr;
use crate::plan::{
    stage_columns, AggCall, AggPlan, Emit, Plan, RowsPlan, Stage, StreamDef, Tumble,
};
use crate::state::{agg_output_type, AggFunc, TimeColumn};
use crate::types::{Column, SqlType};

/// Plans a SELECT whose source streams are found by `streams`.
pub fn plan_select(sql: &str, streams: &dyn Fn(&str) -> Option<StreamDef>) -> Result<Plan> {
    let script = super::parse(sql)?;
    let (q, ex) = script
        .query
        .as_ref()
        .ok_or_else(|| Error::sql(Pos::default(), "the SQL has no SELECT query"))?;
    plan_query(q, ex, &|n| script.stream(n).or_else(|| streams(n)))
}

pub(crate) fn plan_query(
    q: &ast::Query,
    ex: &Extracted,
    streams: &dyn Fn(&str) -> Option<StreamDef>,
) -> Result<Plan> {
    let at = pos(q);
    if q.with.is_some() {
        return Err(Error::sql(
            at,
            "WITH (common table expressions) is not supported",
        ));
    }
    if let Some(o) = &q.order_by {
        return Err(Error::sql(
            pos(o),
            "ORDER BY on a continuous query is not supported (rows are emitted as they are produced)",
        ));
    }
    if let Some(l) = &q.limit_clause {
        return Err(Error::sql(
            pos(l),
            "LIMIT is not supported on a continuous query",
        ));
    }
    let select = match q.body.as_ref() {
        SetExpr::Select(s) => s,
        other => {
            return Err(Error::sql(
                pos(other),
                "only a plain SELECT is supported (no UNION, VALUES or subqueries)",
            ))
        }
    };
    let sat = pos(select.as_ref());
    if select.distinct.is_some() {
        return Err(Error::sql(sat, "SELECT DISTINCT is not supported"));
    }
    if !select.named_window.is_empty() {
        return Err(Error::sql(
            sat,
            "named WINDOW definitions are not supported",
        ));
    }
    if select.qualify.is_some() {
        return Err(Error::sql(sat, "QUALIFY is not supported"));
    }
    let source = source_of(select, streams)?;
    let filter = match &select.selection {
        Some(w) => {
            let e = bind(
                w,
                &mut Columns {
                    cols: &source.columns,
                    clause: "WHERE",
                },
            )?;
            if e.ty() != SqlType::Boolean {
                return Err(Error::sql(
                    pos(w),
                    format!("WHERE needs a BOOLEAN condition, found {}", e.ty()),
                ));
            }
            Some(e)
        }
        None => None,
    };
    let group_by = match &select.group_by {
        GroupByExpr::Expressions(exprs, mods) if mods.is_empty() => exprs.clone(),
        _ => {
            return Err(Error::sql(
                sat,
                "GROUP BY ALL / ROLLUP / CUBE are not supported",
            ))
        }
    };
    let has_over = select
        .projection
        .iter()
        .any(|i| item_expr(i).is_some_and(has_window_fn));
    let has_agg = select
        .projection
        .iter()
        .any(|i| item_expr(i).is_some_and(has_aggregate))
        || select.having.as_ref().is_some_and(has_aggregate);
    let windowed = ex.tumble.is_some() || group_by.iter().any(is_tumble_call);

    if has_over && (has_agg || !group_by.is_empty() || windowed) {
        return Err(Error::sql(
            sat,
            "window functions (OVER) cannot be combined with GROUP BY or aggregates",
        ));
    }
    if let Some((_, p)) = ex.emit {
        if group_by.is_empty() && !has_agg {
            return Err(Error::sql(
                p,
                "EMIT CHANGES / EMIT FINAL apply to GROUP BY queries only",
            ));
        }
    }
    if let Some(t) = &ex.tumble {
        if group_by.is_empty() {
            return Err(Error::sql(t.pos, "WINDOW TUMBLING needs a GROUP BY"));
        }
    }
    if select.having.is_some() && group_by.is_empty() && !has_agg {
        return Err(Error::sql(sat, "HAVING needs a GROUP BY or aggregates"));
    }

    let stage = if has_over {
        Stage::Rows(plan_rows(select, &source)?)
    } else if has_agg || !group_by.is_empty() {
        Stage::Aggregate(plan_aggregate(select, &group_by, ex, &source)?)
    } else {
        Stage::Select
    };

    let stage_cols = stage_columns(&source.columns, &stage);
    let mut projection = Vec::new();
    let mut output = Vec::new();
    let mut having = None;
    match &stage {
        Stage::Aggregate(agg) => {
            let mut r = AggScope::new(&source, agg, &group_by, &stage_cols);
            for item in &select.projection {
                project_item(item, &mut r, &stage_cols, &mut projection, &mut output)?;
            }
            if let Some(h) = &select.having {
                let e = bind(h, &mut r)?;
                if e.ty() != SqlType::Boolean {
                    return Err(Error::sql(pos(h), "HAVING needs a BOOLEAN condition"));
                }
                having = Some(e);
            }
        }
        Stage::Rows(rows) => {
            let mut r = RowsScope {
                cols: &stage_cols,
                source: &source,
                rows,
            };
            for item in &select.projection {
                project_item(item, &mut r, &stage_cols, &mut projection, &mut output)?;
            }
        }
        Stage::Select => {
            let mut r = Columns {
                cols: &stage_cols,
                clause: "a plain SELECT",
            };
            for item in &select.projection {
                project_item(item, &mut r, &stage_cols, &mut projection, &mut output)?;
            }
        }
    }
    // A windowed aggregate always says which window a row belongs to.
    if let Stage::Aggregate(AggPlan {
        window: Some(_), ..
    }) = &stage
    {
        for (i, name) in ["window_start", "window_end"].into_iter().enumerate().rev() {
            if !output.iter().any(|c| c.name.eq_ignore_ascii_case(name)) {
                projection.insert(0, Expr::column(i, SqlType::Timestamp, name));
                output.insert(0, Column::new(name, SqlType::Timestamp));
            }
        }
    }
    for (i, c) in output.iter().enumerate() {
        if output[..i]
            .iter()
            .any(|o: &Column| o.name.eq_ignore_ascii_case(&c.name))
        {
            return Err(Error::sql(
                sat,
                format!("output column `{}` appears twice; name one with AS", c.name),
            ));
        }
    }
    Ok(Plan::new(source, filter, stage, having, projection, output))
}

fn source_of(
    select: &ast::Select,
    streams: &dyn Fn(&str) -> Option<StreamDef>,
) -> Result<StreamDef> {
    let at = pos(select);
    let [from] = select.from.as_slice() else {
        return Err(Error::sql(
            at,
            "exactly one stream is needed in FROM (joins are not supported)",
        ));
    };
    if !from.joins.is_empty() {
        return Err(Error::sql(pos(&from.joins[0]), "JOIN is not supported"));
    }
    match &from.relation {
        TableFactor::Table { name, .. } => {
            let n = name.0.last().map(|p| p.to_string()).unwrap_or_default();
            let n = n.trim_matches('"');
            streams(n).ok_or_else(|| {
                Error::sql(
                    pos(name),
                    format!("unknown stream `{n}`; declare it with CREATE STREAM, or use the built-in `orders` or `market_data`"),
                )
            })
        }
        other => Err(Error::sql(pos(other), "FROM must name a stream")),
    }
}

fn item_expr(i: &SelectItem) -> Option<&ast::Expr> {
    match i {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => Some(e),
        _ => None,
    }
}

/// Visits `e` and its sub-expressions (not inside function arguments).
fn any_call(e: &ast::Expr, pred: &dyn Fn(&ast::Function) -> bool) -> bool {
    match e {
        ast::Expr::Function(f) => pred(f),
        ast::Expr::BinaryOp { left, right, .. } => any_call(left, pred) || any_call(right, pred),
        ast::Expr::UnaryOp { expr, .. }
        | ast::Expr::Nested(expr)
        | ast::Expr::IsNull(expr)
        | ast::Expr::IsNotNull(expr)
        | ast::Expr::Cast { expr, .. } => any_call(expr, pred),
        ast::Expr::Between {
            expr, low, high, ..
        } => any_call(expr, pred) || any_call(low, pred) || any_call(high, pred),
        _ => false,
    }
}

fn agg_func(f: &ast::Function) -> Option<AggFunc> {
    let name = f.name.to_string().to_ascii_uppercase();
    Some(match name.as_str() {
        "COUNT" => {
            let star = matches!(&f.args, FunctionArguments::List(l)
                if matches!(l.args.as_slice(), [FunctionArg::Unnamed(FunctionArgExpr::Wildcard)]));
            if star {
                AggFunc::CountStar
            } else {
                AggFunc::Count
            }
        }
        "SUM" => AggFunc::Sum,
        "AVG" => AggFunc::Avg,
        "MIN" => AggFunc::Min,
        "MAX" => AggFunc::Max,
        _ => return None,
    })
}

fn has_window_fn(e: &ast::Expr) -> bool {
    any_call(e, &|f| f.over.is_some())
}

fn has_aggregate(e: &ast::Expr) -> bool {
    any_call(e, &|f| f.over.is_none() && agg_func(f).is_some())
}

fn is_tumble_call(e: &ast::Expr) -> bool {
    matches!(e, ast::Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("TUMBLE"))
}

fn func_args(f: &ast::Function, at: Pos) -> Result<Vec<&ast::Expr>> {
    match &f.args {
        FunctionArguments::List(l) => {
            if l.duplicate_treatment.is_some() {
                return Err(Error::sql(
                    at,
                    format!("{}(DISTINCT ...) is not supported", f.name),
                ));
            }
            l.args
                .iter()
                .map(|a| match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(e),
                    FunctionArg::Unnamed(FunctionArgExpr::Wildcard) => Err(Error::sql(
                        at,
                        format!("`*` is only allowed in COUNT(*), not in {}", f.name),
                    )),
                    other => Err(Error::sql(
                        at,
                        format!("argument `{other}` is not supported"),
                    )),
                })
                .collect()
        }
        FunctionArguments::None => Ok(Vec::new()),
        FunctionArguments::Subquery(_) => Err(Error::sql(at, "subqueries are not supported")),
    }
}

/// Binds an aggregate call's argument against the source columns.
fn agg_call(f: &ast::Function, func: AggFunc, source: &StreamDef, at: Pos) -> Result<AggCall> {
    if f.filter.is_some() || !f.within_group.is_empty() {
        return Err(Error::sql(
            at,
            format!("FILTER / WITHIN GROUP on {} is not supported", f.name),
        ));
    }
    let arg = if func == AggFunc::CountStar {
        None
    } else {
        let args = func_args(f, at)?;
        let [a] = args.as_slice() else {
            return Err(Error::sql(
                at,
                format!("{} takes exactly one argument", f.name),
            ));
        };
        if has_aggregate(a) || has_window_fn(a) {
            return Err(Error::sql(pos(*a), "aggregates cannot be nested"));
        }
        Some(bind(
            a,
            &mut Columns {
                cols: &source.columns,
                clause: "an aggregate's argument",
            },
        )?)
    };
    let output =
        agg_output_type(func, arg.as_ref().map(Expr::ty)).map_err(|m| Error::sql(at, m))?;
    let text = match func {
        AggFunc::CountStar => "COUNT(*)".to_string(),
        _ => {
            let mut t = ast::Function {
                over: None,
                ..f.clone()
            }
            .to_string();
            t.make_ascii_uppercase_prefix(f.name.to_string().len());
            t
        }
    };
    Ok(AggCall {
        func,
        arg,
        output,
        text,
    })
}

trait UpperPrefix {
    fn make_ascii_uppercase_prefix(&mut self, n: usize);
}

impl UpperPrefix for String {
    fn make_ascii_uppercase_prefix(&mut self, n: usize) {
        let n = n.min(self.len());
        let (head, tail) = self.split_at(n);
        *self = format!("{}{}", head.to_ascii_uppercase(), tail);
    }
}

fn output_name(item: &SelectItem, e: &ast::Expr) -> String {
    match item {
        SelectItem::ExprWithAlias { alias, .. } => alias.value.clone(),
        _ => match e {
            ast::Expr::Identifier(i) => i.value.clone(),
            ast::Expr::CompoundIdentifier(p) => {
                p.last().map(|i| i.value.clone()).unwrap_or_default()
            }
            other => other.to_string(),
        },
    }
}

fn project_item(
    item: &SelectItem,
    r: &mut dyn Resolver,
    stage_cols: &[Column],
    projection: &mut Vec<Expr>,
    output: &mut Vec<Column>,
) -> Result<()> {
    match item {
        SelectItem::Wildcard(_) => {
            for (i, c) in stage_cols.iter().enumerate() {
                if crate::catalog::is_hidden(&c.name) {
                    continue;
                }
                projection.push(Expr::column(i, c.ty, c.name.clone()));
                output.push(c.clone());
            }
            Ok(())
        }
        SelectItem::ExprWithAliases { .. } => {
            Err(Error::sql(pos(item), "multiple aliases are not supported"))
        }
        SelectItem::QualifiedWildcard(..) => Err(Error::sql(
            pos(item),
            "qualified `t.*` is not supported; use `*`",
        )),
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
            let bound = bind(e, r)?;
            output.push(Column::new(output_name(item, e), bound.ty()));
            projection.push(bound);
            Ok(())
        }
    }
}

// ---------- ROWS windows ----------

struct RowsScope<'a> {
    cols: &'a [Column],
    source: &'a StreamDef,
    rows: &'a RowsPlan,
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
        let func = agg_func(f).ok_or_else(|| {
            Error::sql(
                at,
                format!(
                    "window function `{}` is not supported; use AVG, MIN, MAX, SUM or COUNT",
                    f.name
                ),
            )
        })?;
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

fn collect_calls<'a>(e: &'a ast::Expr, out: &mut Vec<&'a ast::Function>) {
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

fn plan_rows(select: &ast::Select, source: &StreamDef) -> Result<RowsPlan> {
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
        let func = agg_func(f).ok_or_else(|| {
            Error::sql(
                at,
                format!(
                    "window function `{}` is not supported; use AVG, MIN, MAX, SUM or COUNT",
                    f.name
                ),
            )
        })?;
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

// ---------- GROUP BY ----------

fn plan_aggregate(
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
struct AggScope<'a> {
    source: &'a StreamDef,
    agg: &'a AggPlan,
    group_by: Vec<String>,
    cols: &'a [Column],
    offset_keys: usize,
}

impl<'a> AggScope<'a> {
    fn new(
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
