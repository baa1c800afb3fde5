//! # percore-operators
//!
//! Everything a query needs on one core, with no knowledge of cores: the data
//! model (Arrow batches, [`SqlType`]), exact decimals ([`decimal`]), typed
//! expressions ([`expr`]), operator state ([`state`]), the operators
//! ([`ops`]), the SQL front end ([`sql`]) that plans a query into a [`Plan`],
//! and the readers, writers and generator of record batches ([`codec`]).
//!
//! ```text
//! SQL ──sql::compile──► Plan ──Pipeline::new──► [Filter → stage → Filter → Project]
//!                                                  ▲ batches in        batches out ▼
//! ```
//!
//! ```
//! use percore_operators::{codec::generator::Generator, sql, Pipeline};
//!
//! let plan = sql::compile(
//!     "SELECT symbol, COUNT(*) AS n FROM market_data GROUP BY symbol EMIT FINAL",
//! ).unwrap();
//! let mut pipeline = Pipeline::new(&plan);
//! for batch in Generator::market_data(1, 10_000, 4_096) {
//!     pipeline.push(batch).unwrap();
//! }
//! let out = pipeline.finish().unwrap();
//! assert_eq!(out.iter().map(|b| b.num_rows()).sum::<usize>(), 100);
//! ```

#![deny(unsafe_op_in_unsafe_fn)]

pub mod catalog;
pub mod codec;
pub mod column;
mod cpu;
pub mod decimal;
pub mod error;
pub mod expr;
pub mod gather;
pub mod ops;
pub mod plan;
pub mod sql;
pub mod state;
pub mod types;
pub mod value;

pub use error::{Error, Pos, Result};
pub use ops::{Pipeline, PipelineOptions, PipelineStats};
pub use plan::{Emit, Format, Plan, Stage, StreamDef};
pub use types::{Column, SqlType};
pub use value::Scalar;
