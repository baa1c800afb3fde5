//! Plans one SELECT into `source → WHERE → stage → HAVING → SELECT list`.

use sqlparser::ast::{self, GroupByExpr, SelectItem, SetExpr, TableFactor};

use super::aggregate::{plan_aggregate, AggScope};
use super::bind::{bind, pos, Columns, Resolver};
use super::calls::{has_aggregate, has_window_fn, is_tumble_call, item_expr};
use super::rewrite::Extracted;
use super::rows::{plan_rows, RowsScope};
use crate::error::{Error, Pos, Result};
use crate::expr::Expr;
use crate::plan::{stage_columns, AggPlan, Plan, Stage, StreamDef};
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
