//! Appending to and reading the event log.

use legate_domain::{Event, EventFilter, EventKind, TaskId};
use sqlx::SqliteConnection;

use crate::StoreError;
use crate::rows::{built, event_from_row};

/// Appends one event inside the caller's transaction and returns it with its sequence number.
/// The task's origin and labels are copied onto it, for filtering without a join.
pub(crate) async fn append(
    conn: &mut SqliteConnection,
    task_id: &TaskId,
    kind: EventKind,
    at: i64,
    data: serde_json::Value,
) -> Result<Event, StoreError> {
    let row = sqlx::query(
        "INSERT INTO events (task_id, kind, at, data, origin, labels) \
         SELECT ?1, ?2, ?3, ?4, origin, labels FROM tasks WHERE id = ?1 \
         RETURNING seq, task_id, kind, at, data, origin, labels",
    )
    .bind(task_id.as_str())
    .bind(kind.as_str())
    .bind(at)
    .bind(data.to_string())
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| StoreError::NotFound(task_id.clone()))?;
    event_from_row(&row)
}

/// Events after `after` that pass `filter`, oldest first.
pub(crate) async fn after(
    conn: &mut SqliteConnection,
    after: i64,
    limit: u32,
    filter: &EventFilter,
) -> Result<Vec<Event>, StoreError> {
    let mut sql = String::from(
        "SELECT seq, task_id, kind, at, data, origin, labels FROM events WHERE seq > ?",
    );
    if filter.task.is_some() {
        sql.push_str(" AND task_id = ?");
    }
    if filter.origin.is_some() {
        sql.push_str(" AND origin = ?");
    }
    if filter.label.is_some() {
        sql.push_str(" AND EXISTS (SELECT 1 FROM json_each(events.labels) WHERE value = ?)");
    }
    if !filter.kinds.is_empty() {
        let marks = vec!["?"; filter.kinds.len()].join(", ");
        sql.push_str(&format!(" AND kind IN ({marks})"));
    }
    sql.push_str(" ORDER BY seq LIMIT ?");
    let mut q = sqlx::query(built(sql)).bind(after);
    if let Some(t) = &filter.task {
        q = q.bind(t.as_str());
    }
    if let Some(o) = &filter.origin {
        q = q.bind(o);
    }
    if let Some(l) = &filter.label {
        q = q.bind(l);
    }
    for k in &filter.kinds {
        q = q.bind(k.as_str());
    }
    let rows = q.bind(limit as i64).fetch_all(&mut *conn).await?;
    rows.iter().map(event_from_row).collect()
}
