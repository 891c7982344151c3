//! State changes: inserts, process records, heartbeats, finishes, cancels, progress.

use std::time::Duration;

use legate_domain::{
    ErrorKind, Event, EventKind, NewTask, Outcome, ProcessInfo, Status, Task, TaskId,
};
use serde_json::json;
use sqlx::PgConnection;

use super::events::{self, append};
use crate::rows::{COLUMNS, built, env_text, finished_data, task_from_row};
use crate::{Inserted, Lease, StoreError, now_ms};

/// The stored task a submission's keys point to: the one of its origin with its idempotency
/// key, else an unfinished one with its dedupe key.
async fn existing(conn: &mut PgConnection, new: &NewTask) -> Result<Option<Inserted>, StoreError> {
    let mut found: Option<String> = None;
    if let Some(key) = &new.idempotency_key {
        found =
            sqlx::query_scalar("SELECT id FROM tasks WHERE origin = $1 AND idempotency_key = $2")
                .bind(&new.origin)
                .bind(key)
                .fetch_optional(&mut *conn)
                .await?;
    }
    if let (None, Some(key)) = (&found, &new.dedupe_key) {
        found = sqlx::query_scalar(
            "SELECT id FROM tasks WHERE dedupe_key = $1 AND status IN ('queued', 'running')",
        )
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?;
    }
    let Some(id) = found else { return Ok(None) };
    let id = TaskId::parse(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let task = super::reads::get(conn, &id, false)
        .await?
        .ok_or(StoreError::NotFound(id))?;
    Ok(Some(Inserted {
        task,
        event: None,
        deduplicated: true,
    }))
}

pub(crate) async fn insert(conn: &mut PgConnection, new: NewTask) -> Result<Inserted, StoreError> {
    if let Some(found) = existing(conn, &new).await? {
        return Ok(found);
    }
    let now = now_ms();
    // Another engine may insert the same keys concurrently: the unique indexes make one of the
    // two wait for the other's commit and then skip its row, and the keys are looked up again.
    // A skipped row whose keys are still free collided on its id: another id is drawn.
    let (id, task) = loop {
        let id = TaskId::generate();
        let row = sqlx::query(built(format!(
            "INSERT INTO tasks (id, agent, title, prompt, cwd, labels, priority, timeout_ms, dedupe_key, \
             parent, origin, depth, status, created_at, metadata, notify, env, idempotency_key) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
             ON CONFLICT DO NOTHING RETURNING {COLUMNS}"
        )))
        .bind(id.as_str())
        .bind(&new.agent)
        .bind(&new.title)
        .bind(&new.prompt)
        .bind(&new.cwd)
        .bind(serde_json::to_string(&new.labels).unwrap_or_else(|_| "[]".into()))
        .bind(new.priority as i64)
        .bind(new.timeout_ms.map(|v| v as i64))
        .bind(&new.dedupe_key)
        .bind(new.parent.as_ref().map(|p| p.as_str()))
        .bind(&new.origin)
        .bind(new.depth as i64)
        .bind(Status::Queued.as_str())
        .bind(now)
        .bind(new.metadata.to_string())
        .bind(serde_json::to_string(&new.notify).unwrap_or_else(|_| "[]".into()))
        .bind(env_text(new.env.as_ref()))
        .bind(&new.idempotency_key)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(row) = row {
            break (id, task_from_row(&row, false)?);
        }
        if let Some(found) = existing(conn, &new).await? {
            return Ok(found);
        }
    };
    let event = append(
        conn,
        &id,
        EventKind::Queued,
        now,
        json!({"agent": new.agent, "title": new.title}),
    )
    .await?;
    Ok(Inserted {
        task,
        event: Some(event),
        deduplicated: false,
    })
}

pub(crate) async fn record_process(
    conn: &mut PgConnection,
    lease: &Lease,
    p: ProcessInfo,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE tasks SET pid = $1, pgid = $2, proc_start = $3 \
         WHERE id = $4 AND status = 'running' AND lease_owner = $5 AND attempt = $6",
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
    conn: &mut PgConnection,
    owner: &str,
    ttl: Duration,
) -> Result<u64, StoreError> {
    Ok(sqlx::query(
        "UPDATE tasks SET lease_expires_at = $1 WHERE status = 'running' AND lease_owner = $2",
    )
    .bind(now_ms() + ttl.as_millis() as i64)
    .bind(owner)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

pub(crate) async fn finish(
    conn: &mut PgConnection,
    lease: &Lease,
    outcome: Outcome,
) -> Result<(Task, Event), StoreError> {
    Status::Running.become_(outcome.status)?;
    let now = now_ms();
    let row = sqlx::query(built(format!(
        "UPDATE tasks SET status = $1, finished_at = $2, exit_code = $3, signal = $4, result = $5, \
         error_kind = $6, error_message = $7, lease_owner = NULL, lease_expires_at = NULL, \
         metadata = (metadata::jsonb || $8::jsonb)::text \
         WHERE id = $9 AND status = 'running' AND lease_owner = $10 AND attempt = $11 \
         RETURNING {COLUMNS}"
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
        let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM tasks WHERE id = $1")
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
    conn: &mut PgConnection,
    task: &Task,
    at: i64,
) -> Result<Event, StoreError> {
    append(conn, &task.id, EventKind::Finished, at, finished_data(task)).await
}

pub(crate) async fn cancel_queued(
    conn: &mut PgConnection,
    id: &TaskId,
) -> Result<Option<(Task, Event)>, StoreError> {
    Status::Queued.become_(Status::Canceled)?;
    let now = now_ms();
    let row = sqlx::query(built(format!(
        "UPDATE tasks SET status = 'canceled', finished_at = $1, error_kind = $2, error_message = $3 \
         WHERE id = $4 AND status = 'queued' RETURNING {COLUMNS}"
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
    conn: &mut PgConnection,
    id: &TaskId,
) -> Result<Option<Event>, StoreError> {
    let done = sqlx::query(
        "UPDATE tasks SET cancel_requested = 1 \
         WHERE id = $1 AND status = 'running' AND cancel_requested = 0",
    )
    .bind(id.as_str())
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    Ok(Some(
        append(conn, id, EventKind::CancelRequested, now_ms(), json!({})).await?,
    ))
}

/// A progress or output event, fenced on the lease.
pub(crate) async fn record_event(
    conn: &mut PgConnection,
    lease: &Lease,
    kind: EventKind,
    data: serde_json::Value,
) -> Result<Event, StoreError> {
    let held: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM tasks WHERE id = $1 AND status = 'running' AND lease_owner = $2 AND attempt = $3",
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
