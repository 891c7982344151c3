//! Store errors, typed so the engine can tell a lost race from a broken disk.

use legate_domain::{TaskId, TransitionError};

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The caller's lease is no longer current (the task was rescued or finished elsewhere):
    /// its write was refused and nothing changed.
    #[error("the lease on task {0} is no longer held; the write was refused")]
    LeaseLost(TaskId),
    /// The task does not exist.
    #[error("no task {0}")]
    NotFound(TaskId),
    /// The change would break the status machine.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// The database failed (disk full, read-only, locked, I/O).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The database schema could not be brought up to date.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored row could not be decoded (a bug or a hand-edited database).
    #[error("corrupt row: {0}")]
    Corrupt(String),
}
