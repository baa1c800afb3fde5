//! SQL types and their Arrow representation.
//!
//! | SQL            | Arrow                          |
//! |----------------|--------------------------------|
//! | BIGINT         | Int64                          |
//! | DOUBLE         | Float64                        |
//! | DECIMAL(p,s)   | Decimal128(p, s) (scaled i128) |
//! | VARCHAR        | Utf8                           |
//! | BOOLEAN        | Boolean                        |
//! | TIMESTAMP      | Timestamp(Millisecond), UTC    |

use std::fmt;

use arrow_schema::{DataType, TimeUnit};

/// Largest precision a DECIMAL may have (digits that fit an i128).
pub const MAX_DECIMAL_PRECISION: u8 = 38;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SqlType {
    BigInt,
    Double,
    Decimal { precision: u8, scale: u8 },
    Varchar,
    Boolean,
    Timestamp,
}

impl SqlType {
    pub fn decimal(precision: u8, scale: u8) -> Self {
        SqlType::Decimal { precision, scale }
    }

    pub fn to_arrow(self) -> DataType {
        match self {
            SqlType::BigInt => DataType::Int64,
            SqlType::Double => DataType::Float64,
            SqlType::Decimal { precision, scale } => DataType::Decimal128(precision, scale as i8),
            SqlType::Varchar => DataType::Utf8,
            SqlType::Boolean => DataType::Boolean,
            SqlType::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, None),
        }
    }

    pub fn from_arrow(dt: &DataType) -> Option<Self> {
        Some(match dt {
            DataType::Int64 => SqlType::BigInt,
            DataType::Float64 => SqlType::Double,
            DataType::Decimal128(p, s) if *s >= 0 => SqlType::decimal(*p, *s as u8),
            DataType::Utf8 => SqlType::Varchar,
            DataType::Boolean => SqlType::Boolean,
            DataType::Timestamp(TimeUnit::Millisecond, _) => SqlType::Timestamp,
            _ => return None,
        })
    }

    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            SqlType::BigInt | SqlType::Double | SqlType::Decimal { .. }
        )
    }

    /// Scale of an exact numeric type (BIGINT is scale 0), `None` otherwise.
    pub fn exact_scale(self) -> Option<u8> {
        match self {
            SqlType::BigInt => Some(0),
            SqlType::Decimal { scale, .. } => Some(scale),
            _ => None,
        }
    }

    /// Precision of an exact numeric type (BIGINT counts as 19 digits).
    pub fn exact_precision(self) -> Option<u8> {
        match self {
            SqlType::BigInt => Some(19),
            SqlType::Decimal { precision, .. } => Some(precision),
            _ => None,
        }
    }
}

impl fmt::Display for SqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SqlType::BigInt => write!(f, "BIGINT"),
            SqlType::Double => write!(f, "DOUBLE"),
            SqlType::Decimal { precision, scale } => write!(f, "DECIMAL({precision},{scale})"),
            SqlType::Varchar => write!(f, "VARCHAR"),
            SqlType::Boolean => write!(f, "BOOLEAN"),
            SqlType::Timestamp => write!(f, "TIMESTAMP"),
        }
    }
}

/// A named, typed column of a stream or of a plan's output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub ty: SqlType,
}

impl Column {
    pub fn new(name: impl Into<String>, ty: SqlType) -> Self {
        Column {
            name: name.into(),
            ty,
        }
    }
}

/// Builds an Arrow schema (all columns nullable) from SQL columns.
pub fn arrow_schema(cols: &[Column]) -> arrow_schema::SchemaRef {
    let fields: Vec<arrow_schema::Field> = cols
        .iter()
        .map(|c| arrow_schema::Field::new(&c.name, c.ty.to_arrow(), true))
        .collect();
    std::sync::Arc::new(arrow_schema::Schema::new(fields))
}
