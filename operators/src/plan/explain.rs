//! A plan as text (EXPLAIN): the operators, top down, with their
//! expressions in short form.

use std::fmt;

use super::{Plan, Stage};
use crate::expr::Expr;

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
