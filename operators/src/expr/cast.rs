//! `CAST(expr AS type)`: exact where the target is exact (rounding half away
//! from zero when digits are dropped), an error naming the expression and the
//! value when a value does not fit or does not parse.

use arrow_array::{Array, ArrayRef};

use crate::column::{scalar_at, ColumnBuilder};
use crate::decimal;
use crate::error::{Error, Result};
use crate::types::SqlType;
use crate::value::{format_timestamp, parse_text, Scalar};

/// Casts column `a` from type `from` to type `to`.
pub fn cast_array(a: &ArrayRef, from: SqlType, to: SqlType, text: &str) -> Result<ArrayRef> {
    if from == to {
        return Ok(a.clone());
    }
    let mut b = ColumnBuilder::new(to, a.len());
    for i in 0..a.len() {
        let v = scalar_at(a.as_ref(), from, i);
        b.push(&cast_scalar(&v, to).map_err(|m| Error::eval(text, m))?);
    }
    Ok(b.finish())
}

/// Casts one value; the error says which value did not convert and why.
pub fn cast_scalar(v: &Scalar, to: SqlType) -> Result<Scalar, String> {
    let fail = || format!("cannot cast {v} to {to}");
    let too_big = || format!("{v} does not fit {to}");
    Ok(match (v, to) {
        (Scalar::Null, _) => Scalar::Null,
        (Scalar::Varchar(s), t) => return parse_text(s, t),
        (_, SqlType::Varchar) => Scalar::Varchar(match v {
            Scalar::Decimal(x, s) => decimal::format(*x, *s),
            Scalar::Timestamp(ms) => format_timestamp(*ms),
            Scalar::Boolean(b) => b.to_string(),
            Scalar::BigInt(x) => x.to_string(),
            Scalar::Double(x) => x.to_string(),
            _ => return Err(fail()),
        }),
        (Scalar::BigInt(x), SqlType::Double) => Scalar::Double(*x as f64),
        (Scalar::BigInt(x), SqlType::Decimal { precision, scale }) => {
            let v = decimal::rescale(*x as i128, 0, scale).ok_or_else(too_big)?;
            if !decimal::fits(v, precision) {
                return Err(too_big());
            }
            Scalar::Decimal(v, scale)
        }
        (Scalar::BigInt(x), SqlType::Timestamp) => Scalar::Timestamp(*x),
        (Scalar::BigInt(x), SqlType::Boolean) => Scalar::Boolean(*x != 0),
        (Scalar::Double(x), SqlType::BigInt) => {
            let r = x.round();
            if !r.is_finite() || r < i64::MIN as f64 || r >= i64::MAX as f64 {
                return Err(too_big());
            }
            Scalar::BigInt(r as i64)
        }
        (Scalar::Double(x), SqlType::Decimal { precision, scale }) => {
            // Through the shortest exact text of the double, so 0.1 becomes 0.1.
            let v = decimal::parse(&format!("{x:e}"), scale).map_err(|_| too_big())?;
            if !x.is_finite() || !decimal::fits(v, precision) {
                return Err(too_big());
            }
            Scalar::Decimal(v, scale)
        }
        (Scalar::Decimal(x, s), SqlType::BigInt) => {
            let r = decimal::rescale(*x, *s, 0).ok_or_else(too_big)?;
            Scalar::BigInt(i64::try_from(r).map_err(|_| too_big())?)
        }
        (Scalar::Decimal(x, s), SqlType::Double) => {
            Scalar::Double(*x as f64 / decimal::p10(*s) as f64)
        }
        (Scalar::Decimal(x, s), SqlType::Decimal { precision, scale }) => {
            let r = decimal::rescale(*x, *s, scale).ok_or_else(too_big)?;
            if !decimal::fits(r, precision) {
                return Err(too_big());
            }
            Scalar::Decimal(r, scale)
        }
        (Scalar::Timestamp(ms), SqlType::BigInt) => Scalar::BigInt(*ms),
        (Scalar::Boolean(b), SqlType::BigInt) => Scalar::BigInt(*b as i64),
        _ => return Err(fail()),
    })
}
