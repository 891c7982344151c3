//! Whether the database file can be trusted: checked when it is opened, and watched while it
//! is used. A damaged file is never written to: legate says which file, what is wrong and
//! what to do, instead of adding tasks to a database that may lose them.

use std::path::Path;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use super::SqliteStore;
use crate::{StoreError, StoreErrorKind};

/// How many of `quick_check`'s lines a report quotes.
const REPORT_LINES: usize = 3;

/// Checks an existing database file before anything opens it for writing: a read-only
/// connection (which never checkpoints into the file) runs `PRAGMA quick_check`
/// (sqlite.org/pragma.html#pragma_quick_check: every page and b-tree is read and checked,
/// indexes are not cross-checked against their tables; linear in the file's size). A missing
/// or empty file passes: it becomes a new store.
///
/// Errors: [`StoreError::Damaged`] naming the file and quoting the check's first lines.
pub(super) async fn check(path: &Path) -> Result<(), StoreError> {
    if std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) == 0 {
        return Ok(());
    }
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .busy_timeout(super::BUSY_TIMEOUT);
    let mut conn = opts
        .connect()
        .await
        .map_err(|e| damaged_or(path, e.into()))?;
    let lines: Result<Vec<String>, _> = sqlx::query_scalar("PRAGMA quick_check")
        .fetch_all(&mut conn)
        .await;
    let _ = conn.close().await;
    let lines = lines.map_err(|e| damaged_or(path, e.into()))?;
    if lines.len() == 1 && lines[0] == "ok" {
        return Ok(());
    }
    let mut detail = lines
        .iter()
        .take(REPORT_LINES)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if lines.len() > REPORT_LINES {
        detail.push_str(&format!(
            " (and {} more problems)",
            lines.len() - REPORT_LINES
        ));
    }
    Err(StoreError::Damaged {
        path: path.to_path_buf(),
        detail: format!("the integrity check failed: {detail}"),
    })
}

/// `e` as [`StoreError::Damaged`] when it says the file is damaged or not a database; else `e`.
pub(super) fn damaged_or(path: &Path, e: StoreError) -> StoreError {
    match e.kind() {
        StoreErrorKind::Damaged if !matches!(e, StoreError::Damaged { .. }) => {
            StoreError::Damaged {
                path: path.to_path_buf(),
                detail: e.to_string(),
            }
        }
        _ => e,
    }
}

impl SqliteStore {
    /// Remembers that the file is damaged (every later write is refused) and returns the
    /// error to report.
    pub(super) fn mark_damaged(&self, e: StoreError) -> StoreError {
        let e = damaged_or(&self.path, e);
        if let StoreError::Damaged { detail, .. } = &e {
            tracing::error!(
                "the task store {} is damaged: {detail}; legate writes nothing more to it",
                self.path.display()
            );
            *self.damaged.lock().unwrap_or_else(|p| p.into_inner()) = Some(detail.clone());
        }
        e
    }

    /// Refuses a write once the file was found damaged.
    pub(super) fn refuse_if_damaged(&self) -> Result<(), StoreError> {
        match &*self.damaged.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(detail) => Err(StoreError::Damaged {
                path: self.path.clone(),
                detail: detail.clone(),
            }),
            None => Ok(()),
        }
    }
}
