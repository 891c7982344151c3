//! State changes of a claimed or queued task: process records, heartbeats, progress, finish,
//! cancel. Each write to a running task is fenced on its lease: the WHERE clause names the
//! owner and the attempt (the fencing token), so a stale or foreign lease changes nothing.

use std::time::Duration;

use legate_domain::{ErrorKind, Event, EventKind, Outcome, ProcessInfo, Status, Task, TaskId};
use serde_json::json;

use super::{Sql, append, args};
use crate::rows::{COLUMNS, finished_data};
use crate::{Lease, StoreError, now_ms};

/// The lease condition on `tasks`, its three values bound at `$first` and the two after it.
fn held(first: usize) -> String {
    format!(
        "id = ${first} AND status = 'running' AND lease_owner = ${} AND attempt = ${}",
        first + 1,
        first + 2
    )
}

/// The error for a write whose lease no longer holds: lost, or the task is gone.
async fn not_held(conn: &mut impl Sql, lease: &Lease) -> Result<StoreError, StoreError> {
    let found = conn
        .texts("SELECT id FROM tasks WHERE id = $1", &args![&lease.task_id])
        .await?;
    Ok(match found.is_empty() {
        false => StoreError::LeaseLost(lease.task_id.clone()),
        true => StoreError::NotFound(lease.task_id.clone()),
    })
}

/// Records the process running a leased task. Errors: [`StoreError::LeaseLost`].
pub(crate) async fn record_process(
    conn: &mut impl Sql,
    lease: &Lease,
    p: ProcessInfo,
) -> Result<(), StoreError> {
    let sql = format!(
        "UPDATE tasks SET pid = $1, pgid = $2, proc_start = $3 WHERE {}",
        held(4)
    );
    let values = args![
        p.pid as i64,
        p.pgid as i64,
        p.start_time as i64,
        &lease.task_id,
        &lease.owner,
        lease.attempt as i64,
    ];
    if conn.execute(&sql, &values).await? == 0 {
        return Err(StoreError::LeaseLost(lease.task_id.clone()));
    }
    Ok(())
}

/// Extends every lease `owner` holds by `ttl` from now; how many there were.
pub(crate) async fn heartbeat(
    conn: &mut impl Sql,
    owner: &str,
    ttl: Duration,
) -> Result<u64, StoreError> {
    let sql =
        "UPDATE tasks SET lease_expires_at = $1 WHERE status = 'running' AND lease_owner = $2";
    conn.execute(sql, &args![now_ms() + ttl.as_millis() as i64, owner])
        .await
}

/// Finishes a leased task with `outcome` and appends its `finished` event. Errors:
/// [`StoreError::LeaseLost`], [`StoreError::NotFound`], or a transition the status machine
/// refuses.
pub(crate) async fn finish(
    conn: &mut impl Sql,
    lease: &Lease,
    outcome: Outcome,
) -> Result<(Task, Event), StoreError> {
    Status::Running.become_(outcome.status)?;
    let now = now_ms();
    let merged = conn.dialect().merged("metadata", "$8");
    let sql = format!(
        "UPDATE tasks SET status = $1, finished_at = $2, exit_code = $3, signal = $4, \
         result = $5, error_kind = $6, error_message = $7, lease_owner = NULL, \
         lease_expires_at = NULL, metadata = {merged} WHERE {} RETURNING {COLUMNS}",
        held(9)
    );
    let metadata = serde_json::Value::Object(outcome.metadata).to_string();
    let values = args![
        outcome.status.as_str(),
        now,
        outcome.exit_code.map(i64::from),
        outcome.signal.map(i64::from),
        &outcome.result,
        outcome.error.as_ref().map(|e| e.kind.as_str()),
        outcome.error.as_ref().map(|e| e.message.as_str()),
        &metadata,
        &lease.task_id,
        &lease.owner,
        lease.attempt as i64,
    ];
    let Some(task) = conn.tasks(&sql, &values, false).await?.pop() else {
        return Err(not_held(conn, lease).await?);
    };
    let event = finished_event(conn, &task, now).await?;
    Ok((task, event))
}

/// The `finished` event announcing a task's terminal status.
pub(crate) async fn finished_event(
    conn: &mut impl Sql,
    task: &Task,
    at: i64,
) -> Result<Event, StoreError> {
    append(conn, &task.id, EventKind::Finished, at, finished_data(task)).await
}

/// Cancels a task that has not started; `None` when it is not queued (any more).
pub(crate) async fn cancel_queued(
    conn: &mut impl Sql,
    id: &TaskId,
) -> Result<Option<(Task, Event)>, StoreError> {
    Status::Queued.become_(Status::Canceled)?;
    let now = now_ms();
    let sql = format!(
        "UPDATE tasks SET status = 'canceled', finished_at = $1, error_kind = $2, \
         error_message = $3 WHERE id = $4 AND status = 'queued' RETURNING {COLUMNS}"
    );
    let values = args![
        now,
        ErrorKind::Canceled.as_str(),
        "canceled before it started",
        id
    ];
    let Some(task) = conn.tasks(&sql, &values, false).await?.pop() else {
        return Ok(None);
    };
    let event = finished_event(conn, &task, now).await?;
    Ok(Some((task, event)))
}

/// Marks a running task's cancel as requested (its runner ends it); `None` when it is not
/// running or was asked already.
pub(crate) async fn request_cancel(
    conn: &mut impl Sql,
    id: &TaskId,
) -> Result<Option<Event>, StoreError> {
    let sql = "UPDATE tasks SET cancel_requested = 1 \
         WHERE id = $1 AND status = 'running' AND cancel_requested = 0";
    if conn.execute(sql, &args![id]).await? == 0 {
        return Ok(None);
    }
    let ev = append(conn, id, EventKind::CancelRequested, now_ms(), json!({})).await?;
    Ok(Some(ev))
}

/// Appends a progress or output event for a running task, fenced on its lease: a runner that
/// lost the task cannot speak for it any more. Errors: [`StoreError::LeaseLost`].
pub(crate) async fn record_event(
    conn: &mut impl Sql,
    lease: &Lease,
    kind: EventKind,
    data: serde_json::Value,
) -> Result<Event, StoreError> {
    let sql = format!("SELECT id FROM tasks WHERE {}", held(1));
    let values = args![&lease.task_id, &lease.owner, lease.attempt as i64];
    if conn.texts(&sql, &values).await?.is_empty() {
        return Err(StoreError::LeaseLost(lease.task_id.clone()));
    }
    append(conn, &lease.task_id, kind, now_ms(), data).await
}
