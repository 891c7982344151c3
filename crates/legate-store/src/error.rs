//! Store errors, typed so the engine can tell a lost race from a broken disk.

use std::path::PathBuf;

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
    /// The database failed (disk full, read-only, locked, I/O); [`StoreError::kind`] tells which.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The database schema could not be brought up to date.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored row could not be decoded (a bug or a hand-edited database).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database file is damaged: its integrity check failed when it was opened, or a
    /// statement found a malformed page. Nothing more is written to it.
    #[error("the task store {} is damaged: {detail}", path.display())]
    Damaged {
        /// The database file.
        path: PathBuf,
        /// What SQLite reported (the first lines of `PRAGMA quick_check`, or the error).
        detail: String,
    },
}

/// What kind of failure a [`StoreError`] is, for messages that say what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// A lost lease, a missing task or a refused transition: the caller's request, not the
    /// database, is at fault.
    Refused,
    /// No space left for the database (SQLite `SQLITE_FULL`, Postgres class 53 `53100`).
    Full,
    /// The database cannot be written (`SQLITE_READONLY`, Postgres `25006`).
    ReadOnly,
    /// Another process holds the lock too long (`SQLITE_BUSY`/`SQLITE_LOCKED`, Postgres
    /// `55P03` lock not available).
    Busy,
    /// The database server cannot be reached: the connection was refused, lost or closed by
    /// the server (Postgres SQLSTATE class `08`, `57P01`–`57P03`).
    Unreachable,
    /// The file is damaged (`SQLITE_CORRUPT`, `SQLITE_NOTADB`, a failed integrity check,
    /// Postgres `XX001`/`XX002`).
    Damaged,
    /// Anything else: file I/O errors, a closed pool, a failed migration.
    Other,
}

impl StoreError {
    /// Classifies the error. SQLite's primary result codes (sqlite.org/rescode.html) are
    /// read from the low byte of the extended code; Postgres' from the SQLSTATE.
    pub fn kind(&self) -> StoreErrorKind {
        match self {
            StoreError::LeaseLost(_) | StoreError::NotFound(_) | StoreError::Transition(_) => {
                StoreErrorKind::Refused
            }
            StoreError::Damaged { .. } => StoreErrorKind::Damaged,
            // One row legate cannot read is not a damaged file.
            StoreError::Corrupt(_) | StoreError::Migrate(_) => StoreErrorKind::Other,
            StoreError::Database(e) => database_kind(e),
        }
    }
}

fn database_kind(e: &sqlx::Error) -> StoreErrorKind {
    if let sqlx::Error::Io(io) = e {
        use std::io::ErrorKind as Io;
        // A socket's errors: the server went away (a file's I/O errors are of other kinds).
        return match io.kind() {
            Io::ConnectionRefused
            | Io::ConnectionReset
            | Io::ConnectionAborted
            | Io::NotConnected
            | Io::HostUnreachable
            | Io::NetworkUnreachable => StoreErrorKind::Unreachable,
            _ => StoreErrorKind::Other,
        };
    }
    let Some(db) = e.as_database_error() else {
        return StoreErrorKind::Other;
    };
    let Some(code) = db.code() else {
        return StoreErrorKind::Other;
    };
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        // SQLite: a numeric, possibly extended, result code; its low byte is the primary one.
        return match code.parse::<i64>().map(|n| n & 0xff) {
            Ok(13) => StoreErrorKind::Full,
            Ok(8) => StoreErrorKind::ReadOnly,
            Ok(5 | 6) => StoreErrorKind::Busy,
            Ok(11 | 26) => StoreErrorKind::Damaged,
            _ => StoreErrorKind::Other,
        };
    }
    // Postgres: a five-character SQLSTATE.
    match code.as_ref() {
        "53100" => StoreErrorKind::Full,
        "25006" => StoreErrorKind::ReadOnly,
        "55P03" | "40P01" => StoreErrorKind::Busy,
        "XX001" | "XX002" => StoreErrorKind::Damaged,
        "57P01" | "57P02" | "57P03" => StoreErrorKind::Unreachable,
        c if c.starts_with("08") => StoreErrorKind::Unreachable,
        _ => StoreErrorKind::Other,
    }
}
