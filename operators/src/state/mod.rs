//! Operator state, kept apart from the operators that drive it.
//!
//! - [`GroupTable`]: group keys to dense group ids, keys stored once in an arena.
//! - [`Acc`]: one vectorised accumulator per aggregate, indexed by group id.
//! - [`Sliding`]: per-partition ROWS-frame state (running sums, block-wise MIN/MAX).
//! - [`EventTimeBuffer`]: holds rows until the watermark passes them, then
//!   releases them in event-time order.

mod accumulators;
mod event_time;
mod group_table;
mod keep;
mod packed;
mod route_simd;
mod sliding;

pub(crate) use accumulators::assert_ids_below;
pub use accumulators::{Acc, AggFunc, GroupIds};
pub use event_time::{rows_in_range, time_range, EventTimeBuffer, Prepare, Released, TimeColumn};
pub use group_table::{hash_keys, split_keys, GroupTable};
pub(crate) use keep::KeepMask;
pub use route_simd::vectorised as hashes_vectorised;
pub use sliding::Sliding;

use crate::types::SqlType;

/// The SQL type an aggregate produces for an input of type `input`
/// (`None` for `COUNT(*)`), or why the combination is not allowed.
pub fn agg_output_type(func: AggFunc, input: Option<SqlType>) -> Result<SqlType, String> {
    use AggFunc::*;
    let Some(t) = input else {
        return match func {
            CountStar => Ok(SqlType::BigInt),
            f => Err(format!("{f} needs an argument")),
        };
    };
    match (func, t) {
        (CountStar | Count, _) => Ok(SqlType::BigInt),
        (Sum, SqlType::BigInt) => Ok(SqlType::BigInt),
        (Sum, SqlType::Decimal { scale, .. }) => Ok(SqlType::decimal(38, scale)),
        (Sum, SqlType::Double) => Ok(SqlType::Double),
        (Avg, SqlType::BigInt | SqlType::Double) => Ok(SqlType::Double),
        (Avg, SqlType::Decimal { scale, .. }) => Ok(SqlType::decimal(38, scale.max(6))),
        (Min | Max, t) => Ok(t),
        (f, t) => Err(format!("{f} is not defined for {t}")),
    }
}
