//! paysync's pure core: the rules, with no I/O and no clock reads (time is always an argument).
//!
//! Everything here is deterministic so that it can be property-tested: given the same inputs in any
//! order, the same answer.

pub mod config;
pub mod contact;
pub mod csv;
pub mod dates;
pub mod event;
pub mod mapping;
pub mod object;
pub mod ops;
pub mod profile;
pub mod reconcile;
pub mod report;
pub mod segments;
pub mod two_way;
pub mod version;

pub use event::{EventEnvelope, EventError};
pub use object::{Attribution, ObjectKind, Snapshot};
pub use version::{ObjectVersion, Source};

/// Milliseconds since the Unix epoch. Every timestamp paysync stores is one of these.
pub type UnixMs = i64;
