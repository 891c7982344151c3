//! The engine's errors, typed: a request the engine refused (with the code, message and hint
//! it chose), or a store failure that keeps the store's own error and kind. The API turns
//! them into `{code, message, hint}` in one place ([`From<EngineError> for ApiError`]).

use std::sync::Arc;

use legate_domain::api::{ApiError, ErrorCode};
use legate_store::{StoreError, StoreErrorKind};

/// What an engine call fails with. Cheap to clone: one failed group commit answers every
/// submission in it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    /// The request cannot be done as asked: a bad input, a missing or finished task, a
    /// draining or stopping engine. The error says what and what to do.
    #[error("{0}")]
    Refused(ApiError),
    /// The store failed; nothing the call meant to change was changed.
    #[error("{0}")]
    Store(Arc<StoreError>),
}

/// The error every service call returns.
pub type ServiceError = EngineError;

impl EngineError {
    /// A refusal: `code`, what was wrong (`message`) and what to do (`hint`).
    pub fn refused(code: ErrorCode, message: impl Into<String>, hint: impl Into<String>) -> Self {
        EngineError::Refused(ApiError::new(code, message, hint))
    }

    /// The API error code this error is answered with.
    pub fn code(&self) -> ErrorCode {
        match self {
            EngineError::Refused(e) => e.code,
            EngineError::Store(e) if matches!(**e, StoreError::NotFound(_)) => ErrorCode::NotFound,
            EngineError::Store(_) => ErrorCode::StoreUnavailable,
        }
    }

    /// The store's kind of failure, when the store failed.
    pub fn store_kind(&self) -> Option<StoreErrorKind> {
        match self {
            EngineError::Store(e) => Some(e.kind()),
            EngineError::Refused(_) => None,
        }
    }
}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        EngineError::Store(Arc::new(e))
    }
}

impl From<legate_domain::argv::PromptProblem> for EngineError {
    fn from(p: legate_domain::argv::PromptProblem) -> Self {
        EngineError::Refused(p.into())
    }
}

impl From<ApiError> for EngineError {
    fn from(e: ApiError) -> Self {
        EngineError::Refused(e)
    }
}

impl From<EngineError> for ApiError {
    /// The wire form: a refusal as the engine worded it; a store failure by its kind, with
    /// what to do about that kind (on either backend: `legate daemon status` names the store).
    fn from(e: EngineError) -> ApiError {
        let store = match e {
            EngineError::Refused(api) => return api,
            EngineError::Store(store) => store,
        };
        if let StoreError::NotFound(id) = &*store {
            return ApiError::new(
                ErrorCode::NotFound,
                format!("no task {id}"),
                "list tasks with `legate ls`",
            );
        }
        let (what, hint) = match store.kind() {
            StoreErrorKind::Full => (
                "the disk holding the task store is full; nothing was changed",
                "free space there (`legate daemon status` names the store); legate goes on by itself once there is room",
            ),
            StoreErrorKind::ReadOnly => (
                "the task store cannot be written; nothing was changed",
                "make the store writable: for SQLite the data directory and its database file, for PostgreSQL a primary rather than a read-only standby (`legate daemon status` names the store)",
            ),
            StoreErrorKind::Busy => (
                "the task store is locked by someone else; nothing was changed",
                "find what holds the lock (for SQLite, `fuser` on the database file `legate daemon status` names) and end it, then try again",
            ),
            StoreErrorKind::Unreachable => (
                "the database server of the task store cannot be reached; nothing was changed",
                "check that the PostgreSQL server `legate daemon status` names is up and reachable; legate reconnects by itself",
            ),
            StoreErrorKind::Damaged => (
                "the task store is damaged; legate writes nothing more to it",
                "stop the daemon (`legate daemon stop`), then restore the database from a backup, or move it aside to start with an empty store",
            ),
            StoreErrorKind::Refused | StoreErrorKind::Other => (
                "the task store failed",
                "the daemon's log (`daemon.log`) has the cause; `legate daemon status` names the store",
            ),
        };
        ApiError::new(
            ErrorCode::StoreUnavailable,
            format!("{what} ({store})"),
            hint,
        )
    }
}
