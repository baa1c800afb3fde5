//! Errors a user can cause, each saying what went wrong and where.
//!
//! SQL errors carry the line and column of the construct; evaluation errors
//! name the expression text; input errors name the source, row and column.

use std::fmt;

/// A position in the SQL text (1-based line and column; 0 when unknown).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    pub line: u64,
    pub column: u64,
}

impl Pos {
    pub fn new(line: u64, column: u64) -> Self {
        Pos { line, column }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// Everything the operators crate can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The SQL text is invalid or uses something percore does not support.
    #[error("SQL error at {pos}: {msg}")]
    Sql { pos: Pos, msg: String },
    /// Evaluating an expression failed (overflow, division by zero, bad cast).
    #[error("error evaluating `{expr}`: {msg}")]
    Eval { expr: String, msg: String },
    /// An input record could not be read.
    #[error("{source_name}: row {row} (line {line}), column `{column}`: {msg}")]
    Input {
        source_name: String,
        /// 1-based data row (the header is not a row).
        row: u64,
        /// 1-based line of the file.
        line: u64,
        column: String,
        msg: String,
    },
    /// A source, option or binding is invalid.
    #[error("{0}")]
    Config(String),
    /// An I/O error while reading or writing data.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn sql(pos: Pos, msg: impl Into<String>) -> Self {
        Error::Sql {
            pos,
            msg: msg.into(),
        }
    }

    pub fn eval(expr: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Eval {
            expr: expr.into(),
            msg: msg.into(),
        }
    }

    /// An input error whose row and line were counted from a later point of
    /// the input: moved on by `rows` rows and `lines` lines.
    pub fn shifted(self, rows: u64, lines: u64) -> Self {
        match self {
            Error::Input {
                source_name,
                row,
                line,
                column,
                msg,
            } => Error::Input {
                source_name,
                row: row + rows,
                line: line + lines,
                column,
                msg,
            },
            other => other,
        }
    }

    /// True when the error is the user's SQL or configuration (exit code 2 at the CLI).
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::Sql { .. } | Error::Config(_))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
