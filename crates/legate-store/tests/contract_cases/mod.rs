//! The contract cases, grouped by the part of the `Store` trait they exercise.

pub mod claims;
pub mod inbox;
pub mod inserts;
pub mod lifecycle;
pub mod listing;
pub mod log;
pub mod rescue;
pub mod shared;
pub mod submissions;
pub mod support;
