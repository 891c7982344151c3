//! Service errors are API errors: a code, what went wrong, what to do.

use legate_domain::api::{ApiError, ErrorCode};
use legate_store::StoreError;

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
        other => ApiError::new(
            ErrorCode::StoreUnavailable,
            format!("the task store failed: {other}"),
            "check that the data directory is writable and the disk is not full (see `legate daemon status`)",
        ),
    }
}
