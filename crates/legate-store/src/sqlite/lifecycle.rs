//! State changes of a claimed or queued task: process records, heartbeats, finish, cancel.

use std::time::Duration;

use legate_domain::{ErrorKind, Event, EventKind, Outcome, ProcessInfo, Status, Task, TaskId};
use serde_json::json;
use sqlx::SqliteConnection;

use super::events;
use crate::rows::{COLUMNS, built, finished_data, task_from_row};
use crate::{Lease, StoreError, now_ms};

pub(crate) async fn record_process(
    conn: &mut SqliteConnection,
    lease: &Lease,
    p: ProcessInfo,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE tasks SET pid = ?, pgid = ?, proc_start = ? \
         WHERE id = ? AND status = 'running' AND lease_owner = ? AND attempt = ?",
    )
    .bind(p.pid as i64)
    .bind(p.pgid as i64)
    .bind(p.start_time as i64)
    .bind(lease.task_id.as_str())
    .bind(&lease.owner)
    .bind(lease.attempt as i64)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::LeaseLost(lease.task_id.clone()));
    }
    Ok(())
}

pub(crate) async fn heartbeat(
    conn: &mut SqliteConnection,
    owner: &str,
    ttl: Duration,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE tasks SET lease_expires_at = ? WHERE status = 'running' AND lease_owner = ?",
    )
    .bind(now_ms() + ttl.as_millis() as i64)
    .bind(owner)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

pub(crate) async fn finish(
    conn: &mut SqliteConnection,
    lease: &Lease,
    outcome: Outcome,
) -> Result<(Task, Event), StoreError> {
    Status::Running.become_(outcome.status)?;
    let now = now_ms();
    // The lease check is the WHERE clause: a stale or foreign lease updates nothing.
    let row = sqlx::query(built(format!(
        "UPDATE tasks SET status = ?, finished_at = ?, exit_code = ?, signal = ?, result = ?, \
         error_kind = ?, error_message = ?, lease_owner = NULL, lease_expires_at = NULL, \
         metadata = json_patch(metadata, ?) \
         WHERE id = ? AND status = 'running' AND lease_owner = ? AND attempt = ? RETURNING {COLUMNS}"
    )))
    .bind(outcome.status.as_str())
    .bind(now)
    .bind(outcome.exit_code.map(i64::from))
    .bind(outcome.signal.map(i64::from))
    .bind(&outcome.result)
    .bind(outcome.error.as_ref().map(|e| e.kind.as_str()))
    .bind(outcome.error.as_ref().map(|e| e.message.as_str()))
    .bind(serde_json::Value::Object(outcome.metadata).to_string())
    .bind(lease.task_id.as_str())
    .bind(&lease.owner)
    .bind(lease.attempt as i64)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM tasks WHERE id = ?")
            .bind(lease.task_id.as_str())
            .fetch_optional(&mut *conn)
            .await?;
        return Err(match exists {
            Some(_) => StoreError::LeaseLost(lease.task_id.clone()),
            None => StoreError::NotFound(lease.task_id.clone()),
        });
    };
    let task = task_from_row(&row, false)?;
    let event = finished_event(conn, &task, now).await?;
    Ok((task, event))
}

/// The `finished` event announcing a task's terminal status.
pub(crate) async fn finished_event(
    conn: &mut SqliteConnection,
    task: &Task,
    at: i64,
) -> Result<Event, StoreError> {
    events::append(conn, &task.id, EventKind::Finished, at, finished_data(task)).await
}

pub(crate) async fn cancel_queued(
    conn: &mut SqliteConnection,
    id: &TaskId,
) -> Result<Option<(Task, Event)>, StoreError> {
    Status::Queued.become_(Status::Canceled)?;
    let now = now_ms();
    let row = sqlx::query(built(format!(
        "UPDATE tasks SET status = 'canceled', finished_at = ?, error_kind = ?, error_message = ? \
         WHERE id = ? AND status = 'queued' RETURNING {COLUMNS}"
    )))
    .bind(now)
    .bind(ErrorKind::Canceled.as_str())
    .bind("canceled before it started")
    .bind(id.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let task = task_from_row(&row, false)?;
    let event = finished_event(conn, &task, now).await?;
    Ok(Some((task, event)))
}

pub(crate) async fn request_cancel(
    conn: &mut SqliteConnection,
    id: &TaskId,
) -> Result<Option<Event>, StoreError> {
    let done = sqlx::query(
        "UPDATE tasks SET cancel_requested = 1 WHERE id = ? AND status = 'running' AND cancel_requested = 0",
    )
    .bind(id.as_str())
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    let ev = events::append(conn, id, EventKind::CancelRequested, now_ms(), json!({})).await?;
    Ok(Some(ev))
}

/// Appends a progress or output event for a running task, fenced on its lease: a runner that
/// lost the task cannot speak for it any more.
pub(crate) async fn record_event(
    conn: &mut SqliteConnection,
    lease: &Lease,
    kind: EventKind,
    data: serde_json::Value,
) -> Result<Event, StoreError> {
    let held: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM tasks WHERE id = ? AND status = 'running' AND lease_owner = ? AND attempt = ?",
    )
    .bind(lease.task_id.as_str())
    .bind(&lease.owner)
    .bind(lease.attempt as i64)
    .fetch_optional(&mut *conn)
    .await?;
    if held.is_none() {
        return Err(StoreError::LeaseLost(lease.task_id.clone()));
    }
    events::append(conn, &lease.task_id, kind, now_ms(), data).await
}
