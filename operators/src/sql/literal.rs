//! SQL literals to typed expressions (a number is BIGINT, DECIMAL or DOUBLE
//! by its text; strings, booleans, NULL), and the type names of a stream's
//! columns to SQL types. Every error names its line and column.

use sqlparser::ast::{self, DataType, ExactNumberInfo};

use crate::error::{Error, Pos, Result};
use crate::expr::Expr;
use crate::types::{SqlType, MAX_DECIMAL_PRECISION};
use crate::value::Scalar;

pub(super) fn literal(v: &ast::Value, at: Pos) -> Result<Expr> {
    Ok(match v {
        ast::Value::Number(s, _) => number_literal(s, at)?,
        ast::Value::SingleQuotedString(s) | ast::Value::DoubleQuotedString(s) => Expr::Literal {
            value: Scalar::Varchar(s.clone()),
            ty: SqlType::Varchar,
        },
        ast::Value::Boolean(b) => Expr::Literal {
            value: Scalar::Boolean(*b),
            ty: SqlType::Boolean,
        },
        ast::Value::Null => Expr::Literal {
            value: Scalar::Null,
            ty: SqlType::BigInt,
        },
        other => {
            return Err(Error::sql(
                at,
                format!("literal `{other}` is not supported"),
            ))
        }
    })
}

/// `42` is BIGINT, `1.50` is DECIMAL(3,2) (exact), `1e3` is DOUBLE.
fn number_literal(s: &str, at: Pos) -> Result<Expr> {
    let bad = || Error::sql(at, format!("invalid number `{s}`"));
    if s.contains(['e', 'E']) {
        let v: f64 = s.parse().map_err(|_| bad())?;
        return Ok(Expr::Literal {
            value: Scalar::Double(v),
            ty: SqlType::Double,
        });
    }
    if !s.contains('.') {
        if let Ok(v) = s.parse::<i64>() {
            return Ok(Expr::Literal {
                value: Scalar::BigInt(v),
                ty: SqlType::BigInt,
            });
        }
    }
    let scale = s.find('.').map_or(0, |i| s.len() - i - 1) as u8;
    let digits = s.bytes().filter(|b| b.is_ascii_digit()).count() as u8;
    if scale > MAX_DECIMAL_PRECISION || digits > MAX_DECIMAL_PRECISION {
        return Err(Error::sql(
            at,
            format!("number `{s}` has more than 38 digits"),
        ));
    }
    let v = crate::decimal::parse(s, scale).map_err(|_| bad())?;
    Ok(Expr::Literal {
        value: Scalar::Decimal(v, scale),
        ty: SqlType::decimal(digits.max(scale).max(1), scale),
    })
}

/// Maps a SQL type name to a percore type.
pub(crate) fn sql_type(dt: &DataType, at: Pos) -> Result<SqlType> {
    Ok(match dt {
        DataType::BigInt(_)
        | DataType::Int(_)
        | DataType::Integer(_)
        | DataType::Int8(_)
        | DataType::Int4(_)
        | DataType::Int64
        | DataType::Int32
        | DataType::SmallInt(_)
        | DataType::TinyInt(_) => SqlType::BigInt,
        DataType::Double(_)
        | DataType::DoublePrecision
        | DataType::Float(_)
        | DataType::Float8
        | DataType::Float64
        | DataType::Real => SqlType::Double,
        DataType::Decimal(info) | DataType::Numeric(info) | DataType::Dec(info) => {
            let (p, s) = match info {
                ExactNumberInfo::None => (38, 0),
                ExactNumberInfo::Precision(p) => (*p, 0),
                ExactNumberInfo::PrecisionAndScale(p, s) => (*p, (*s).max(-1) as u64),
            };
            if !(1..=38).contains(&p) || s > p {
                return Err(Error::sql(
                    at,
                    format!("DECIMAL({p},{s}) is out of range: precision 1..=38, 0 <= scale <= precision"),
                ));
            }
            SqlType::decimal(p as u8, s as u8)
        }
        DataType::Varchar(_)
        | DataType::Text
        | DataType::String(_)
        | DataType::Char(_)
        | DataType::CharacterVarying(_)
        | DataType::Nvarchar(_) => SqlType::Varchar,
        DataType::Boolean | DataType::Bool => SqlType::Boolean,
        DataType::Timestamp(_, _) | DataType::Datetime(_) => SqlType::Timestamp,
        other => {
            return Err(Error::sql(
                at,
                format!("type `{other}` is not supported; use BIGINT, DOUBLE, DECIMAL(p,s), VARCHAR, BOOLEAN or TIMESTAMP"),
            ))
        }
    })
}
