//! The values of one aggregate for a list of groups, collected before
//! they become an Arrow column: exact values widened to `i128`, floats,
//! strings, and which are valid.

use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray};
use arrow_buffer::NullBuffer;

use crate::decimal;
use crate::error::{Error, Result};
use crate::types::SqlType;

/// Output values of one aggregate, typed by its SQL output type.
pub(crate) struct Out {
    pub(super) exact: Vec<i128>,
    float: Vec<f64>,
    strs: Vec<Option<String>>,
    /// Which values are valid: left empty while all are (filled in at the
    /// first NULL), so a NULL-free result pushes one vector, not two.
    valid: Vec<bool>,
}

impl Out {
    pub(crate) fn new(n: usize, ty: SqlType) -> Self {
        let (e, f) = match ty {
            SqlType::Double => (0, n),
            SqlType::Varchar => (0, 0),
            _ => (n, 0),
        };
        Out {
            exact: Vec::with_capacity(e),
            float: Vec::with_capacity(f),
            strs: Vec::new(),
            valid: Vec::new(),
        }
    }
    #[inline(always)]
    pub(crate) fn push_exact(&mut self, v: i128) {
        self.exact.push(v);
    }
    #[inline(always)]
    pub(crate) fn push_float(&mut self, v: f64) {
        self.float.push(v);
    }
    pub(crate) fn push_null(&mut self) {
        // Values so far: a NULL goes to every vector, a value to its own.
        let n = self.exact.len().max(self.float.len()).max(self.strs.len());
        self.valid.resize(n, true);
        self.valid.push(false);
        self.exact.push(0);
        self.float.push(0.0);
        self.strs.push(None);
    }
    pub(crate) fn push_str(&mut self, v: Option<&str>) {
        match v {
            Some(v) => self.strs.push(Some(v.to_string())),
            None => self.push_null(),
        }
    }

    pub(crate) fn finish(self, ty: SqlType, text: &str) -> Result<ArrayRef> {
        self.finish_fitting(ty, text, false)
    }

    /// [`Self::finish`]; `fit` true when every value is known to fit `ty`
    /// already (then not checked again).
    pub(crate) fn finish_fitting(mut self, ty: SqlType, text: &str, fit: bool) -> Result<ArrayRef> {
        let n = match ty {
            SqlType::Double => self.float.len(),
            SqlType::Varchar => self.strs.len(),
            _ => self.exact.len(),
        };
        let nulls = if self.valid.is_empty() {
            None
        } else {
            self.valid.resize(n, true);
            Some(NullBuffer::from(std::mem::take(&mut self.valid)))
        };
        Ok(match ty {
            SqlType::BigInt | SqlType::Timestamp => {
                // Checked in one branch-free pass, then narrowed in another.
                if !fit && !decimal::fits_i64(&self.exact) {
                    return Err(Error::eval(text, "result overflows BIGINT"));
                }
                let v: Vec<i64> = self.exact.iter().map(|&x| x as i64).collect();
                if ty == SqlType::BigInt {
                    Arc::new(Int64Array::new(v.into(), nulls))
                } else {
                    Arc::new(arrow_array::TimestampMillisecondArray::new(v.into(), nulls))
                }
            }
            SqlType::Decimal { precision, scale } => {
                if !fit && !decimal::all_fit(&self.exact, precision) {
                    let bad = self.exact.iter().find(|x| !decimal::fits(**x, precision));
                    let bad = bad.expect("a value that does not fit");
                    return Err(Error::eval(
                        text,
                        format!("{} does not fit {ty}", decimal::format(*bad, scale)),
                    ));
                }
                Arc::new(
                    arrow_array::Decimal128Array::new(self.exact.into(), nulls)
                        .with_precision_and_scale(precision, scale as i8)
                        .expect("valid decimal type"),
                )
            }
            SqlType::Double => Arc::new(Float64Array::new(self.float.into(), nulls)),
            SqlType::Boolean => Arc::new(BooleanArray::new(
                self.exact.iter().map(|x| *x != 0).collect(),
                nulls,
            )),
            SqlType::Varchar => Arc::new(StringArray::from(self.strs)),
        })
    }
}
