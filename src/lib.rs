//! # percore
//!
//! A thread-per-core, shared-nothing streaming SQL runtime. This crate
//! re-exports the public API of the workspace:
//!
//! - [`operators`]: data model, exact decimals, expressions, operators and the
//!   SQL front end ([`operators::sql::compile`] turns SQL into a [`Plan`]);
//! - [`runtime`]: drives a plan from a source to a sink ([`run_local`]);
//! - [`shuffle`]: moving data between cores.

pub use percore_operators as operators;
pub use percore_runtime as runtime;
pub use percore_shuffle as shuffle;

pub use percore_operators::{sql, Error, Pipeline, Plan, SqlType};
pub use percore_runtime::{run_local, RunStats, Source};
