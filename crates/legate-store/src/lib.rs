//! legate's durable store.
//!
//! [`Store`] is the contract every backend fulfils; [`sqlite::SqliteStore`] is the embedded
//! one-machine backend and [`postgres::PgStore`] the shared one. The contract is shaped for
//! many workers: a run is *claimed* with a lease (owner, expiry, fencing token = the task's
//! attempt number), kept alive by heartbeats, and its finish is accepted only from the current
//! lease holder. Every state change and the
//! events that announce it commit in one transaction, and the events come back to the caller,
//! which publishes them only after that commit.

mod change;
mod contract;
mod error;
pub mod postgres;
mod rows;
mod sql;
pub mod sqlite;

pub use change::Change;
pub use contract::{
    ClaimRequest, Claimed, Inserted, Lease, OutputTail, PruneCandidates, Pruned, RescueScope,
    Rescued, Store, TaskFilter,
};
pub use error::{StoreError, StoreErrorKind};

/// Milliseconds since the Unix epoch, from the system clock.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
