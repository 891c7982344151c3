//! Inserting tasks, with idempotency and dedupe keys.

use legate_domain::{EventKind, NewTask, Status, TaskId};
use serde_json::json;
use sqlx::SqliteConnection;

use super::{events, reads};
use crate::rows::{COLUMNS, built, env_text, task_from_row};
use crate::{Inserted, StoreError, now_ms};

/// The stored task a submission's keys point to: the one of its origin with its idempotency
/// key, else an unfinished one with its dedupe key.
async fn existing(
    conn: &mut SqliteConnection,
    new: &NewTask,
) -> Result<Option<Inserted>, StoreError> {
    let mut found: Option<String> = None;
    if let Some(key) = &new.idempotency_key {
        found = sqlx::query_scalar("SELECT id FROM tasks WHERE origin = ? AND idempotency_key = ?")
            .bind(&new.origin)
            .bind(key)
            .fetch_optional(&mut *conn)
            .await?;
    }
    if let (None, Some(key)) = (&found, &new.dedupe_key) {
        found = sqlx::query_scalar(
            "SELECT id FROM tasks WHERE dedupe_key = ? AND status IN ('queued', 'running')",
        )
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?;
    }
    let Some(id) = found else { return Ok(None) };
    let id = TaskId::parse(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let task = reads::get(conn, &id, false)
        .await?
        .ok_or(StoreError::NotFound(id))?;
    Ok(Some(Inserted {
        task,
        event: None,
        deduplicated: true,
    }))
}

pub(crate) async fn insert(
    conn: &mut SqliteConnection,
    new: NewTask,
) -> Result<Inserted, StoreError> {
    if let Some(found) = existing(conn, &new).await? {
        return Ok(found);
    }
    let now = now_ms();
    // A fresh id collides with a stored one about once in a trillion at a million tasks; the
    // unique index catches it and another id is drawn.
    let (id, task) = loop {
        let id = TaskId::generate();
        let row = sqlx::query(built(format!(
            "INSERT INTO tasks (id, agent, title, prompt, cwd, labels, priority, timeout_ms, dedupe_key, \
             parent, origin, depth, status, created_at, metadata, notify, env, idempotency_key) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (id) DO NOTHING RETURNING {COLUMNS}"
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
    };
    let event = events::append(
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
