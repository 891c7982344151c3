//! The event log: appending and reading.

use legate_domain::{Event, EventFilter, EventKind, TaskId};

use super::{Arg, Marks, Sql, args};
use crate::StoreError;

/// Appends one event inside the caller's transaction and returns it with its sequence number.
/// The task's origin and labels are copied onto it, for filtering without a join. Errors:
/// [`StoreError::NotFound`] when the task is not stored.
pub(crate) async fn append(
    conn: &mut impl Sql,
    task_id: &TaskId,
    kind: EventKind,
    at: i64,
    data: serde_json::Value,
) -> Result<Event, StoreError> {
    let sql = "INSERT INTO events (task_id, kind, at, data, origin, labels) \
         SELECT $1, $2, $3, $4, origin, labels FROM tasks WHERE id = $1 \
         RETURNING seq, task_id, kind, at, data, origin, labels";
    let data = data.to_string();
    let event = conn
        .events(sql, &args![task_id, kind.as_str(), at, &data])
        .await?
        .pop()
        .ok_or_else(|| StoreError::NotFound(task_id.clone()))?;
    conn.announce(kind).await?;
    Ok(event)
}

/// Up to `limit` events after `after` that pass `filter`, oldest first.
pub(crate) async fn events_after(
    conn: &mut impl Sql,
    after: i64,
    limit: u32,
    filter: &EventFilter,
) -> Result<Vec<Event>, StoreError> {
    let mut m = Marks::default();
    let mut sql = format!(
        "SELECT seq, task_id, kind, at, data, origin, labels FROM events WHERE seq > {}",
        m.next()
    );
    let mut values: Vec<Arg<'_>> = vec![after.into()];
    if let Some(t) = &filter.task {
        sql.push_str(&format!(" AND task_id = {}", m.next()));
        values.push(t.into());
    }
    if let Some(o) = &filter.origin {
        sql.push_str(&format!(" AND origin = {}", m.next()));
        values.push(o.into());
    }
    if let Some(l) = &filter.label {
        let holds = conn.dialect().array_holds("events.labels", &m.next());
        sql.push_str(&format!(" AND {holds}"));
        values.push(l.into());
    }
    if !filter.kinds.is_empty() {
        sql.push_str(&format!(" AND kind IN ({})", m.list(filter.kinds.len())));
        values.extend(filter.kinds.iter().map(|k| Arg::from(k.as_str())));
    }
    sql.push_str(&format!(" ORDER BY seq LIMIT {}", m.next()));
    values.push((limit as i64).into());
    conn.events(&sql, &values).await
}

/// The newest event's sequence number (0 when there is none).
pub(crate) async fn last_seq(conn: &mut impl Sql) -> Result<i64, StoreError> {
    let seq = conn
        .ints("SELECT COALESCE(MAX(seq), 0) FROM events", &[])
        .await?;
    Ok(seq.first().copied().flatten().unwrap_or(0))
}
