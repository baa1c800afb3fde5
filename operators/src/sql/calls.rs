//! Function calls in a SELECT: which aggregate a call names and its bound
//! arguments, and whether an expression holds an aggregate, a window
//! function or `TUMBLE(...)`.

use sqlparser::ast::{self, FunctionArg, FunctionArgExpr, FunctionArguments, SelectItem};

use super::bind::{bind, pos, Columns};
use crate::error::{Error, Pos, Result};
use crate::expr::Expr;
use crate::plan::{AggCall, StreamDef};
use crate::state::{agg_output_type, AggFunc};

pub(super) fn item_expr(i: &SelectItem) -> Option<&ast::Expr> {
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

pub(super) fn agg_func(f: &ast::Function) -> Option<AggFunc> {
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

pub(super) fn has_window_fn(e: &ast::Expr) -> bool {
    any_call(e, &|f| f.over.is_some())
}

pub(super) fn has_aggregate(e: &ast::Expr) -> bool {
    any_call(e, &|f| f.over.is_none() && agg_func(f).is_some())
}

pub(super) fn is_tumble_call(e: &ast::Expr) -> bool {
    matches!(e, ast::Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("TUMBLE"))
}

pub(super) fn func_args(f: &ast::Function, at: Pos) -> Result<Vec<&ast::Expr>> {
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
pub(super) fn agg_call(
    f: &ast::Function,
    func: AggFunc,
    source: &StreamDef,
    at: Pos,
) -> Result<AggCall> {
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
