//! Binds sqlparser expressions to typed [`Expr`]s over a scope of columns.
//!
//! Names resolve case-insensitively; types are checked and coerced here, once,
//! so evaluation never meets a type it does not expect. Every error points at
//! the line and column of the offending construct.

use sqlparser::ast::{self, BinaryOperator, Spanned, UnaryOperator};

use super::literal::{literal, sql_type};
use crate::error::{Error, Pos, Result};
use crate::expr::{ArithOp, CmpOp, Expr};
use crate::types::{Column, SqlType, MAX_DECIMAL_PRECISION};
use crate::value::{parse_timestamp, Scalar};

pub(crate) fn ident_pos(i: &ast::Ident) -> Pos {
    Pos::new(i.span.start.line, i.span.start.column)
}

pub(crate) fn pos(node: &impl Spanned) -> Pos {
    let s = node.span();
    Pos::new(s.start.line, s.start.column)
}

/// Resolves what plain binding cannot: names, functions, group keys.
pub(crate) trait Resolver {
    /// Takes over a whole expression (an aggregate call, a GROUP BY key), or
    /// returns `None` to bind it normally.
    fn resolve(&mut self, _e: &ast::Expr) -> Result<Option<Expr>> {
        Ok(None)
    }
    /// A column reference.
    fn column(&mut self, name: &str, pos: Pos) -> Result<Expr>;
    /// A function call that `resolve` did not take.
    fn function(&mut self, f: &ast::Function, pos: Pos) -> Result<Expr> {
        Err(Error::sql(
            pos,
            format!("function `{}` is not supported here", f.name),
        ))
    }
}

/// Looks a name up in a list of columns.
pub(crate) fn lookup(cols: &[Column], name: &str, pos: Pos) -> Result<Expr> {
    match cols.iter().position(|c| c.name.eq_ignore_ascii_case(name)) {
        Some(i) => Ok(Expr::column(i, cols[i].ty, cols[i].name.clone())),
        None => Err(Error::sql(
            pos,
            format!(
                "unknown column `{name}`; available: {}",
                cols.iter()
                    .filter(|c| !c.name.starts_with("__"))
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// A scope of plain columns where functions are not allowed (WHERE, keys, arguments).
pub(crate) struct Columns<'a> {
    pub cols: &'a [Column],
    pub clause: &'a str,
}

impl Resolver for Columns<'_> {
    fn column(&mut self, name: &str, pos: Pos) -> Result<Expr> {
        lookup(self.cols, name, pos)
    }
    fn function(&mut self, f: &ast::Function, pos: Pos) -> Result<Expr> {
        Err(Error::sql(
            pos,
            format!("function `{}` is not allowed in {}", f.name, self.clause),
        ))
    }
}

pub(crate) fn bind(e: &ast::Expr, r: &mut dyn Resolver) -> Result<Expr> {
    if let Some(x) = r.resolve(e)? {
        return Ok(x);
    }
    let at = pos(e);
    let text = e.to_string();
    match e {
        ast::Expr::Identifier(id) => r.column(&id.value, at),
        ast::Expr::CompoundIdentifier(parts) => {
            let last = parts.last().expect("non-empty identifier");
            r.column(&last.value, at)
        }
        ast::Expr::Nested(inner) => bind(inner, r),
        ast::Expr::Value(v) => literal(&v.value, at),
        ast::Expr::TypedString(ts) => {
            let ty = sql_type(&ts.data_type, at)?;
            let s = match &ts.value.value {
                ast::Value::SingleQuotedString(s) => s.clone(),
                other => other.to_string(),
            };
            let value = crate::value::parse_text(&s, ty).map_err(|m| Error::sql(at, m))?;
            Ok(Expr::Literal { value, ty })
        }
        ast::Expr::UnaryOp { op, expr } => {
            let inner = bind(expr, r)?;
            match op {
                UnaryOperator::Plus => Ok(inner),
                UnaryOperator::Minus => {
                    if !inner.ty().is_numeric() {
                        return Err(Error::sql(at, format!("cannot negate {}", inner.ty())));
                    }
                    Ok(match inner {
                        Expr::Literal {
                            value: Scalar::BigInt(v),
                            ty,
                        } if v != i64::MIN => Expr::Literal {
                            value: Scalar::BigInt(-v),
                            ty,
                        },
                        Expr::Literal {
                            value: Scalar::Decimal(v, s),
                            ty,
                        } => Expr::Literal {
                            value: Scalar::Decimal(-v, s),
                            ty,
                        },
                        other => Expr::Neg {
                            expr: Box::new(other),
                            text,
                        },
                    })
                }
                UnaryOperator::Not => {
                    expect_bool(&inner, at, "NOT")?;
                    Ok(Expr::Not(Box::new(inner)))
                }
                other => Err(Error::sql(
                    at,
                    format!("operator `{other}` is not supported"),
                )),
            }
        }
        ast::Expr::IsNull(inner) => Ok(Expr::IsNull {
            expr: Box::new(bind(inner, r)?),
            negated: false,
        }),
        ast::Expr::IsNotNull(inner) => Ok(Expr::IsNull {
            expr: Box::new(bind(inner, r)?),
            negated: true,
        }),
        ast::Expr::Between {
            expr,
            negated,
            low,
            high,
        } => {
            let x = bind(expr, r)?;
            let lo = bind(low, r)?;
            let hi = bind(high, r)?;
            let ge = compare(CmpOp::GtEq, x.clone(), lo, at, text.clone())?;
            let le = compare(CmpOp::LtEq, x, hi, at, text)?;
            let both = Expr::And(Box::new(ge), Box::new(le));
            Ok(if *negated {
                Expr::Not(Box::new(both))
            } else {
                both
            })
        }
        ast::Expr::Cast {
            expr, data_type, ..
        } => {
            let inner = bind(expr, r)?;
            let to = sql_type(data_type, at)?;
            Ok(Expr::Cast {
                expr: Box::new(inner),
                to,
                text,
            })
        }
        ast::Expr::BinaryOp { left, op, right } => {
            let l = bind(left, r)?;
            let rr = bind(right, r)?;
            binary(op, l, rr, at, text)
        }
        ast::Expr::Function(f) => r.function(f, at),
        other => Err(Error::sql(
            at,
            format!("expression `{other}` is not supported"),
        )),
    }
}

fn expect_bool(e: &Expr, at: Pos, what: &str) -> Result<()> {
    if e.ty() != SqlType::Boolean {
        return Err(Error::sql(
            at,
            format!("{what} needs a BOOLEAN operand, found {}", e.ty()),
        ));
    }
    Ok(())
}

fn binary(op: &BinaryOperator, l: Expr, r: Expr, at: Pos, text: String) -> Result<Expr> {
    let arith = |op| arith(op, l.clone(), r.clone(), at, text.clone());
    match op {
        BinaryOperator::Plus => arith(ArithOp::Add),
        BinaryOperator::Minus => arith(ArithOp::Sub),
        BinaryOperator::Multiply => arith(ArithOp::Mul),
        BinaryOperator::Divide => arith(ArithOp::Div),
        BinaryOperator::Modulo => arith(ArithOp::Mod),
        BinaryOperator::Eq => compare(CmpOp::Eq, l, r, at, text),
        BinaryOperator::NotEq => compare(CmpOp::NotEq, l, r, at, text),
        BinaryOperator::Lt => compare(CmpOp::Lt, l, r, at, text),
        BinaryOperator::LtEq => compare(CmpOp::LtEq, l, r, at, text),
        BinaryOperator::Gt => compare(CmpOp::Gt, l, r, at, text),
        BinaryOperator::GtEq => compare(CmpOp::GtEq, l, r, at, text),
        BinaryOperator::And => {
            expect_bool(&l, at, "AND")?;
            expect_bool(&r, at, "AND")?;
            Ok(Expr::And(Box::new(l), Box::new(r)))
        }
        BinaryOperator::Or => {
            expect_bool(&l, at, "OR")?;
            expect_bool(&r, at, "OR")?;
            Ok(Expr::Or(Box::new(l), Box::new(r)))
        }
        other => Err(Error::sql(
            at,
            format!("operator `{other}` is not supported"),
        )),
    }
}

fn is_null_literal(e: &Expr) -> bool {
    matches!(
        e,
        Expr::Literal {
            value: Scalar::Null,
            ..
        }
    )
}

/// The result type of `l op r`, or why there is none.
pub(crate) fn arith_type(op: ArithOp, l: SqlType, r: SqlType) -> Result<SqlType, String> {
    if !l.is_numeric() || !r.is_numeric() {
        return Err(format!("cannot apply arithmetic to {l} and {r}"));
    }
    if l == SqlType::Double || r == SqlType::Double {
        return Ok(SqlType::Double);
    }
    if l == SqlType::BigInt && r == SqlType::BigInt {
        return Ok(SqlType::BigInt);
    }
    let (p1, s1) = (l.exact_precision().unwrap(), l.exact_scale().unwrap());
    let (p2, s2) = (r.exact_precision().unwrap(), r.exact_scale().unwrap());
    let cap = |p: u32| p.min(MAX_DECIMAL_PRECISION as u32) as u8;
    Ok(match op {
        ArithOp::Add | ArithOp::Sub | ArithOp::Mod => {
            let s = s1.max(s2);
            let int = (p1 - s1).max(p2 - s2) as u32;
            SqlType::decimal(cap(int + s as u32 + (op != ArithOp::Mod) as u32), s)
        }
        ArithOp::Mul => {
            let s = s1 as u32 + s2 as u32;
            if s > MAX_DECIMAL_PRECISION as u32 {
                return Err(format!(
                    "the product of {l} and {r} needs scale {s}, above 38"
                ));
            }
            SqlType::decimal(cap(p1 as u32 + p2 as u32).max(s as u8), s as u8)
        }
        ArithOp::Div => SqlType::decimal(MAX_DECIMAL_PRECISION, s1.max(s2).max(6)),
    })
}

fn arith(op: ArithOp, l: Expr, r: Expr, at: Pos, text: String) -> Result<Expr> {
    let (lt, rt) = (l.ty(), r.ty());
    let (lt, rt) = match (is_null_literal(&l), is_null_literal(&r)) {
        (true, _) => (rt, rt),
        (_, true) => (lt, lt),
        _ => (lt, rt),
    };
    let ty = arith_type(op, lt, rt).map_err(|m| Error::sql(at, format!("{m} in `{text}`")))?;
    Ok(Expr::Arith {
        op,
        left: Box::new(l),
        right: Box::new(r),
        ty,
        text,
    })
}

/// Coerces a string literal compared with a TIMESTAMP into a timestamp literal.
fn coerce_literal(e: Expr, other: SqlType, at: Pos) -> Result<Expr> {
    match (&e, other) {
        (
            Expr::Literal {
                value: Scalar::Varchar(s),
                ..
            },
            SqlType::Timestamp,
        ) => {
            let ms = parse_timestamp(s)
                .ok_or_else(|| Error::sql(at, format!("'{s}' is not a timestamp")))?;
            Ok(Expr::Literal {
                value: Scalar::Timestamp(ms),
                ty: SqlType::Timestamp,
            })
        }
        (
            Expr::Literal {
                value: Scalar::Null,
                ..
            },
            t,
        ) => Ok(Expr::Literal {
            value: Scalar::Null,
            ty: t,
        }),
        _ => Ok(e),
    }
}

fn compare(op: CmpOp, l: Expr, r: Expr, at: Pos, text: String) -> Result<Expr> {
    let (lt, rt) = (l.ty(), r.ty());
    let l = coerce_literal(l, rt, at)?;
    let r = coerce_literal(r, lt, at)?;
    let (lt, rt) = (l.ty(), r.ty());
    let ok = (lt.is_numeric() && rt.is_numeric()) || lt == rt;
    if !ok {
        return Err(Error::sql(
            at,
            format!("cannot compare {lt} with {rt} in `{text}`"),
        ));
    }
    Ok(Expr::Cmp {
        op,
        left: Box::new(l),
        right: Box::new(r),
        text,
    })
}
