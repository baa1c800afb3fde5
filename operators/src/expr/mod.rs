//! Bound, typed scalar expressions evaluated a whole column at a time.
//!
//! The planner resolves names and types once; [`Expr::eval`] then runs typed
//! kernels over a batch's columns. Exact numerics never pass through floating
//! point and never wrap: overflow and division by zero are errors that name
//! the expression as it was written.

mod cast;
mod kernels;

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch};
use arrow_buffer::NullBuffer;

use crate::error::Result;
use crate::types::SqlType;
use crate::value::Scalar;

pub use cast::cast_array;
pub use kernels::scalar_to_array;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
}

impl CmpOp {
    /// The operator with its sides swapped: `a op b` is `b op.flipped() a`.
    pub fn flipped(self) -> CmpOp {
        match self {
            CmpOp::Eq => CmpOp::Eq,
            CmpOp::NotEq => CmpOp::NotEq,
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::LtEq => CmpOp::GtEq,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::GtEq => CmpOp::LtEq,
        }
    }
}

/// A bound expression over the columns of one schema.
#[derive(Clone, Debug)]
pub enum Expr {
    Column {
        index: usize,
        ty: SqlType,
        name: String,
    },
    Literal {
        value: Scalar,
        ty: SqlType,
    },
    Arith {
        op: ArithOp,
        left: Box<Expr>,
        right: Box<Expr>,
        ty: SqlType,
        text: String,
    },
    Cmp {
        op: CmpOp,
        left: Box<Expr>,
        right: Box<Expr>,
        text: String,
    },
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Neg {
        expr: Box<Expr>,
        text: String,
    },
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    Cast {
        expr: Box<Expr>,
        to: SqlType,
        text: String,
    },
}

impl Expr {
    pub fn column(index: usize, ty: SqlType, name: impl Into<String>) -> Self {
        Expr::Column {
            index,
            ty,
            name: name.into(),
        }
    }

    /// The SQL type of the value this expression produces.
    pub fn ty(&self) -> SqlType {
        match self {
            Expr::Column { ty, .. } | Expr::Literal { ty, .. } | Expr::Arith { ty, .. } => *ty,
            Expr::Cmp { .. }
            | Expr::And(..)
            | Expr::Or(..)
            | Expr::Not(_)
            | Expr::IsNull { .. } => SqlType::Boolean,
            Expr::Neg { expr, .. } => expr.ty(),
            Expr::Cast { to, .. } => *to,
        }
    }

    /// The values of this exact (DECIMAL, BIGINT) expression for an
    /// aggregate that reads only their numbers (SUM, AVG): what
    /// [`Expr::eval`] gives, except that a DECIMAL column times a BIGINT
    /// column whose every product fits 64 bits comes as a BIGINT column
    /// of the unscaled products (half the bytes; see
    /// [`crate::state::Acc`], which reads either).
    pub fn eval_exact_arg(&self, batch: &RecordBatch) -> Result<ArrayRef> {
        if let Expr::Arith {
            op: op @ ArithOp::Mul,
            left,
            right,
            ty: ty @ SqlType::Decimal { .. },
            text,
        } = self
        {
            if matches!(
                (left.ty(), right.ty()),
                (SqlType::Decimal { .. }, SqlType::BigInt)
                    | (SqlType::BigInt, SqlType::Decimal { .. })
            ) {
                let l = left.operand(batch)?;
                let r = right.operand(batch)?;
                if let Some(a) = kernels::narrow_product(&l, &r) {
                    return Ok(a);
                }
                return kernels::arith(
                    *op,
                    &l,
                    left.ty(),
                    &r,
                    right.ty(),
                    *ty,
                    batch.num_rows(),
                    text,
                );
            }
        }
        self.eval(batch)
    }

    /// Evaluates over every row of `batch`, giving a column of `batch.num_rows()` values.
    pub fn eval(&self, batch: &RecordBatch) -> Result<ArrayRef> {
        let n = batch.num_rows();
        match self {
            Expr::Column { index, .. } => Ok(batch.column(*index).clone()),
            Expr::Literal { value, ty } => Ok(scalar_to_array(value, *ty, n)),
            Expr::Arith {
                op,
                left,
                right,
                ty,
                text,
            } => {
                let l = left.operand(batch)?;
                let r = right.operand(batch)?;
                kernels::arith(*op, &l, left.ty(), &r, right.ty(), *ty, n, text)
            }
            Expr::Cmp {
                op,
                left,
                right,
                text,
            } => {
                let l = left.operand(batch)?;
                let r = right.operand(batch)?;
                let out = kernels::compare(*op, &l, left.ty(), &r, right.ty(), n, text)?;
                Ok(Arc::new(out))
            }
            Expr::And(a, b) => {
                let a = as_bool(&a.eval(batch)?);
                let b = as_bool(&b.eval(batch)?);
                Ok(Arc::new(kernels::and_kleene(&a, &b)))
            }
            Expr::Or(a, b) => {
                let a = as_bool(&a.eval(batch)?);
                let b = as_bool(&b.eval(batch)?);
                Ok(Arc::new(kernels::or_kleene(&a, &b)))
            }
            Expr::Not(e) => {
                let a = as_bool(&e.eval(batch)?);
                let values = !a.values();
                Ok(Arc::new(BooleanArray::new(values, a.nulls().cloned())))
            }
            Expr::Neg { expr, text } => {
                let a = expr.eval(batch)?;
                kernels::negate(&a, expr.ty(), text)
            }
            Expr::IsNull { expr, negated } => {
                let a = expr.eval(batch)?;
                let nulls = a.logical_nulls();
                let out: BooleanArray = (0..n)
                    .map(|i| {
                        let is_null = nulls.as_ref().is_some_and(|nb: &NullBuffer| nb.is_null(i));
                        Some(is_null != *negated)
                    })
                    .collect();
                Ok(Arc::new(out))
            }
            Expr::Cast { expr, to, text } => {
                let a = expr.eval(batch)?;
                cast_array(&a, expr.ty(), *to, text)
            }
        }
    }

    fn operand(&self, batch: &RecordBatch) -> Result<Operand> {
        Ok(match self {
            Expr::Literal { value, .. } => Operand::Scalar(value.clone()),
            other => Operand::Array(other.eval(batch)?),
        })
    }

    /// Indices of the input columns this expression reads.
    pub fn columns(&self, out: &mut Vec<usize>) {
        match self {
            Expr::Column { index, .. } => out.push(*index),
            Expr::Literal { .. } => {}
            Expr::Arith { left, right, .. } | Expr::Cmp { left, right, .. } => {
                left.columns(out);
                right.columns(out);
            }
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.columns(out);
                b.columns(out);
            }
            Expr::Not(e)
            | Expr::Neg { expr: e, .. }
            | Expr::IsNull { expr: e, .. }
            | Expr::Cast { expr: e, .. } => e.columns(out),
        }
    }

    /// Rebinds every column reference: column `i` becomes `to(i)`.
    pub fn remap_columns(&mut self, to: &impl Fn(usize) -> usize) {
        match self {
            Expr::Column { index, .. } => *index = to(*index),
            Expr::Literal { .. } => {}
            Expr::Arith { left, right, .. } | Expr::Cmp { left, right, .. } => {
                left.remap_columns(to);
                right.remap_columns(to);
            }
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.remap_columns(to);
                b.remap_columns(to);
            }
            Expr::Not(e)
            | Expr::Neg { expr: e, .. }
            | Expr::IsNull { expr: e, .. }
            | Expr::Cast { expr: e, .. } => e.remap_columns(to),
        }
    }
}

/// An argument to a kernel: a column, or a literal broadcast to every row.
#[derive(Debug)]
pub(crate) enum Operand {
    Array(ArrayRef),
    Scalar(Scalar),
}

pub(crate) fn as_bool(a: &ArrayRef) -> BooleanArray {
    a.as_any()
        .downcast_ref::<BooleanArray>()
        .expect("planner guarantees a BOOLEAN operand")
        .clone()
}
