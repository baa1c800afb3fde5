//! # percore-shuffle
//!
//! Moves data between cores and knows nothing of SQL:
//!
//! - [`Owners`]: which core owns a key hash (by key group, each group given
//!   on first sight to the core owning the fewest, so few keys split
//!   evenly); [`Owners::split`]: a batch's rows listed per owning core, for
//!   receivers that hold rows by reference ([`Owners::split_two`] for two
//!   cores, sixteen rows a step through each core's own [`Sides`]);
//! - [`Exchange`]: rows gathered per destination from several batches into
//!   pooled buffers, which the receiver hands back ([`reclaim`]) for reuse;
//! - [`Mesh`] / [`Endpoint`]: one bounded lock-free SPSC ring per ordered pair
//!   of cores (N×N), carrying [`Message`]s — batches and the watermarks that
//!   follow them. A full ring is backpressure; a sender waiting on one keeps
//!   draining its own inbound rings, so no cycle of full rings can deadlock.
//!   An idle core parks its thread and is unparked when a message arrives.
//!
//! ```
//! use percore_shuffle::{Mesh, Message};
//!
//! let mesh = Mesh::<u32>::new(2, 4);
//! let a = mesh.endpoint(0);
//! let b = mesh.endpoint(1);
//! a.try_send(1, Message::Data(7)).unwrap();
//! a.try_send(1, Message::End).unwrap();
//! assert!(matches!(b.try_recv(0), Some(Message::Data(7))));
//! assert!(matches!(b.try_recv(0), Some(Message::End)));
//! ```

#![deny(unsafe_op_in_unsafe_fn)]

mod exchange;
mod mesh;
mod owners;
mod sides;

pub use exchange::Exchange;
pub use mesh::{Endpoint, Mesh, Message};
pub use owners::{Owners, KEY_GROUPS};
use percore_operators::gather::split_rows;
pub use percore_operators::gather::{reclaim, Pool};
pub use sides::Sides;
