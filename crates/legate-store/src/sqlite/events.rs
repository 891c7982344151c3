//! Appending to and reading the event log.

use legate_domain::{Event, EventKind, TaskId, Timestamp};
use sqlx::{Row, SqliteConnection};

use crate::StoreError;

/// Appends one event inside the caller's transaction and returns it with its sequence number.
pub(crate) async fn append(
    conn: &mut SqliteConnection,
    task_id: &TaskId,
    kind: EventKind,
    at: i64,
    data: serde_json::Value,
) -> Result<Event, StoreError> {
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO events (task_id, kind, at, data) VALUES (?, ?, ?, ?) RETURNING seq",
    )
    .bind(task_id.as_str())
    .bind(kind.as_str())
    .bind(at)
    .bind(data.to_string())
    .fetch_one(&mut *conn)
    .await?;
    Ok(Event {
        seq,
        task_id: task_id.clone(),
        kind,
        at: Timestamp(at),
        data,
    })
}

/// Events after `after`, oldest first.
pub(crate) async fn after(
    conn: &mut SqliteConnection,
    after: i64,
    limit: u32,
    task: Option<&TaskId>,
) -> Result<Vec<Event>, StoreError> {
    let rows = match task {
        Some(t) => {
            sqlx::query(
                "SELECT seq, task_id, kind, at, data FROM events WHERE task_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            )
            .bind(t.as_str())
            .bind(after)
            .bind(limit as i64)
            .fetch_all(&mut *conn)
            .await?
        }
        None => {
            sqlx::query("SELECT seq, task_id, kind, at, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?")
                .bind(after)
                .bind(limit as i64)
                .fetch_all(&mut *conn)
                .await?
        }
    };
    rows.iter()
        .map(|r| {
            let kind: String = r.try_get("kind")?;
            let task_id: String = r.try_get("task_id")?;
            let data: String = r.try_get("data")?;
            Ok(Event {
                seq: r.try_get("seq")?,
                task_id: TaskId::parse(&task_id)
                    .map_err(|e| StoreError::Corrupt(format!("event task id: {e}")))?,
                kind: EventKind::parse(&kind)
                    .ok_or_else(|| StoreError::Corrupt(format!("event kind '{kind}'")))?,
                at: Timestamp(r.try_get("at")?),
                data: serde_json::from_str(&data)
                    .map_err(|e| StoreError::Corrupt(format!("event data: {e}")))?,
            })
        })
        .collect()
}
