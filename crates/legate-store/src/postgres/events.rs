//! Appending to and reading the event log.

use legate_domain::{Event, EventFilter, EventKind, TaskId};
use sqlx::PgConnection;

use super::Marks;
use crate::StoreError;
use crate::rows::{built, event_from_row};

/// Appends one event inside the caller's transaction, with its task's origin and labels.
pub(crate) async fn append(
    conn: &mut PgConnection,
    task_id: &TaskId,
    kind: EventKind,
    at: i64,
    data: serde_json::Value,
) -> Result<Event, StoreError> {
    let row = sqlx::query(
        "INSERT INTO events (task_id, kind, at, data, origin, labels) \
         SELECT $1, $2, $3, $4, origin, labels FROM tasks WHERE id = $1 \
         RETURNING seq, task_id, kind, at, data, origin, labels",
    )
    .bind(task_id.as_str())
    .bind(kind.as_str())
    .bind(at)
    .bind(data.to_string())
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| StoreError::NotFound(task_id.clone()))?;
    // Delivered at commit, to every worker listening (see `PgStore::changes`).
    sqlx::query("SELECT pg_notify(current_setting('legate.channel', true), $1)")
        .bind(kind.as_str())
        .execute(&mut *conn)
        .await?;
    event_from_row(&row)
}

/// Events after `after` that pass `filter`, oldest first.
pub(crate) async fn after(
    conn: &mut PgConnection,
    after: i64,
    limit: u32,
    filter: &EventFilter,
) -> Result<Vec<Event>, StoreError> {
    let mut m = Marks::default();
    let mut sql = format!(
        "SELECT seq, task_id, kind, at, data, origin, labels FROM events WHERE seq > {}",
        m.next()
    );
    if filter.task.is_some() {
        sql.push_str(&format!(" AND task_id = {}", m.next()));
    }
    if filter.origin.is_some() {
        sql.push_str(&format!(" AND origin = {}", m.next()));
    }
    if filter.label.is_some() {
        sql.push_str(&format!(
            " AND labels::jsonb @> jsonb_build_array({}::text)",
            m.next()
        ));
    }
    if !filter.kinds.is_empty() {
        sql.push_str(&format!(" AND kind IN ({})", m.list(filter.kinds.len())));
    }
    sql.push_str(&format!(" ORDER BY seq LIMIT {}", m.next()));
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
