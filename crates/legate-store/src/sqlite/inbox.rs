//! The inbox: finished tasks their origin has not acknowledged yet.

use legate_domain::api::SCOPE_KEY;
use legate_domain::{Task, TaskId, Timestamp};
use sqlx::SqliteConnection;

use crate::rows::{COLUMNS, TERMINAL, built, task_from_row};
use crate::{StoreError, now_ms};

const UNREAD: &str = "origin = ? AND acked_at IS NULL AND finished_at IS NOT NULL \
    AND status IN ('succeeded', 'failed', 'canceled', 'timed_out', 'interrupted')";

/// Up to `limit` unread entries of `origin`, in the order they finished.
pub(crate) async fn unread(
    conn: &mut SqliteConnection,
    origin: &str,
    limit: u32,
) -> Result<Vec<Task>, StoreError> {
    // Finishes within one millisecond keep their order: the later one's event comes later.
    let rows = sqlx::query(built(format!(
        "SELECT {COLUMNS} FROM tasks WHERE {UNREAD} ORDER BY finished_at, \
         (SELECT max(e.seq) FROM events e WHERE e.task_id = tasks.id) LIMIT ?"
    )))
    .bind(origin)
    .bind(limit as i64)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| task_from_row(r, false)).collect()
}

/// Up to `limit` unread entries of any origin finished before `before`, of `scope` (`None`:
/// any), in the order they finished.
pub(crate) async fn orphans(
    conn: &mut SqliteConnection,
    scope: Option<&str>,
    before: Timestamp,
    limit: u32,
) -> Result<Vec<Task>, StoreError> {
    let rows = sqlx::query(built(format!(
        "SELECT {COLUMNS} FROM tasks WHERE acked_at IS NULL AND finished_at IS NOT NULL \
         AND finished_at < ? AND {TERMINAL} \
         AND (? IS NULL OR json_extract(metadata, '$.{SCOPE_KEY}') = ?) \
         ORDER BY finished_at, seq LIMIT ?"
    )))
    .bind(before.millis())
    .bind(scope)
    .bind(scope)
    .bind(limit as i64)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| task_from_row(r, false)).collect()
}

/// Acknowledges entries of `origin` (`None`: all of them); returns those acknowledged now.
/// Entries already acknowledged, unfinished tasks and other origins' tasks are left alone.
pub(crate) async fn ack(
    conn: &mut SqliteConnection,
    origin: &str,
    ids: Option<&[TaskId]>,
) -> Result<Vec<TaskId>, StoreError> {
    let now = now_ms();
    let acked: Vec<String> = match ids {
        None => {
            sqlx::query_scalar(built(format!(
                "UPDATE tasks SET acked_at = ? WHERE {UNREAD} RETURNING id"
            )))
            .bind(now)
            .bind(origin)
            .fetch_all(&mut *conn)
            .await?
        }
        Some(ids) => {
            let mut out = Vec::new();
            for id in ids {
                let one: Option<String> = sqlx::query_scalar(built(format!(
                    "UPDATE tasks SET acked_at = ? WHERE id = ? AND {UNREAD} RETURNING id"
                )))
                .bind(now)
                .bind(id.as_str())
                .bind(origin)
                .fetch_optional(&mut *conn)
                .await?;
                out.extend(one);
            }
            out
        }
    };
    acked
        .iter()
        .map(|i| TaskId::parse(i).map_err(|e| StoreError::Corrupt(e.to_string())))
        .collect()
}
