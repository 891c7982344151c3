//! The inbox: finished tasks their origin has not acknowledged yet.

use legate_domain::api::SCOPE_KEY;
use legate_domain::{Task, TaskId, Timestamp};

use super::{Sql, args};
use crate::rows::{COLUMNS, TERMINAL, parse_id};
use crate::{StoreError, now_ms};

/// Unread entries of the origin bound to `$1`.
const UNREAD: &str = "origin = $1 AND acked_at IS NULL AND finished_at IS NOT NULL \
    AND status IN ('succeeded', 'failed', 'canceled', 'timed_out', 'interrupted')";

/// Up to `limit` unread entries of `origin`, in the order they finished.
pub(crate) async fn unread(
    conn: &mut impl Sql,
    origin: &str,
    limit: u32,
) -> Result<Vec<Task>, StoreError> {
    // Finishes within one millisecond keep their order: the later one's event comes later.
    let sql = format!(
        "SELECT {COLUMNS} FROM tasks WHERE {UNREAD} ORDER BY finished_at, \
         (SELECT max(e.seq) FROM events e WHERE e.task_id = tasks.id) LIMIT $2"
    );
    conn.tasks(&sql, &args![origin, limit as i64], false).await
}

/// Up to `limit` unread entries of any origin finished before `before`, of `scope` (`None`:
/// any), in the order they finished.
pub(crate) async fn orphans(
    conn: &mut impl Sql,
    scope: Option<&str>,
    before: Timestamp,
    limit: u32,
) -> Result<Vec<Task>, StoreError> {
    let field = conn.dialect().field("metadata", SCOPE_KEY);
    let sql = format!(
        "SELECT {COLUMNS} FROM tasks WHERE acked_at IS NULL AND finished_at IS NOT NULL \
         AND finished_at < $1 AND {TERMINAL} \
         AND (CAST($2 AS TEXT) IS NULL OR {field} = $2) \
         ORDER BY finished_at, seq LIMIT $3"
    );
    conn.tasks(&sql, &args![before.millis(), scope, limit as i64], false)
        .await
}

/// Acknowledges entries of `origin` (`None`: all of them); returns those acknowledged now.
/// Entries already acknowledged, unfinished tasks and other origins' tasks are left alone.
pub(crate) async fn ack(
    conn: &mut impl Sql,
    origin: &str,
    ids: Option<&[TaskId]>,
) -> Result<Vec<TaskId>, StoreError> {
    let now = now_ms();
    let acked = match ids {
        None => {
            let sql = format!("UPDATE tasks SET acked_at = $2 WHERE {UNREAD} RETURNING id");
            conn.texts(&sql, &args![origin, now]).await?
        }
        Some(ids) => {
            let sql =
                format!("UPDATE tasks SET acked_at = $2 WHERE id = $3 AND {UNREAD} RETURNING id");
            let mut out = Vec::new();
            for id in ids {
                out.extend(conn.texts(&sql, &args![origin, now, id]).await?);
            }
            out
        }
    };
    acked.iter().map(|i| parse_id(i)).collect()
}
