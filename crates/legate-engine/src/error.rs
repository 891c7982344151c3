//! Service errors are API errors: a code, what went wrong, what to do.

use legate_domain::api::{ApiError, ErrorCode};
use legate_store::{StoreError, StoreErrorKind};

/// The error every service call returns.
pub type ServiceError = ApiError;

/// Maps a store failure to an API error that tells the user where to look.
pub fn from_store(e: StoreError) -> ServiceError {
    match e {
        StoreError::NotFound(id) => ApiError::new(
            ErrorCode::NotFound,
            format!("no task {id}"),
            "list tasks with `legate ls`",
        ),
        other => {
            let (what, hint) = match other.kind() {
                StoreErrorKind::Full => (
                    "the disk holding the task store is full; nothing was changed",
                    "free space on that disk (see `legate daemon status` for the store's path); legate goes on by itself once there is room",
                ),
                StoreErrorKind::ReadOnly => (
                    "the task store cannot be written; nothing was changed",
                    "make the data directory and its database writable (see `legate daemon status`), or set LEGATE_HOME",
                ),
                StoreErrorKind::Busy => (
                    "the task store is locked by another process; nothing was changed",
                    "find the process holding the database open (`fuser` on the file in `legate daemon status`) and end it, then try again",
                ),
                StoreErrorKind::Damaged => (
                    "the task store is damaged; legate writes nothing more to it",
                    "stop the daemon (`legate daemon stop`), then restore the database file from a backup, or move it aside to start with an empty store",
                ),
                StoreErrorKind::Refused | StoreErrorKind::Other => (
                    "the task store failed",
                    "check that the data directory is writable and the disk is not full (see `legate daemon status`)",
                ),
            };
            ApiError::new(
                ErrorCode::StoreUnavailable,
                format!("{what} ({other})"),
                hint,
            )
        }
    }
}
