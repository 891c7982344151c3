//! Rescuing tasks whose runner was lost.

use std::collections::BTreeSet;

use legate_domain::{ErrorKind, EventKind, Status};
use serde_json::json;
use sqlx::PgConnection;

use super::events::append;
use super::writes::finished_event;
use crate::rows::{COLUMNS, built, task_from_row};
use crate::{RescueScope, Rescued, StoreError, now_ms};

pub(crate) async fn rescue(
    conn: &mut PgConnection,
    scope: &RescueScope,
    requeue: &BTreeSet<String>,
    reason: &str,
) -> Result<Vec<Rescued>, StoreError> {
    let now = now_ms();
    let q = match scope {
        RescueScope::NotOwnedBy(owner) => sqlx::query(built(format!(
            "SELECT {COLUMNS} FROM tasks WHERE status = 'running' \
             AND lease_owner IS DISTINCT FROM $1 FOR UPDATE SKIP LOCKED"
        )))
        .bind(owner.clone()),
        RescueScope::OwnedBy(owner) => sqlx::query(built(format!(
            "SELECT {COLUMNS} FROM tasks WHERE status = 'running' AND lease_owner = $1 \
             FOR UPDATE SKIP LOCKED"
        )))
        .bind(owner.clone()),
        RescueScope::OwnedByPrefix(prefix) => sqlx::query(built(format!(
            "SELECT {COLUMNS} FROM tasks WHERE status = 'running' \
             AND left(lease_owner, length($1)) = $1 FOR UPDATE SKIP LOCKED"
        )))
        .bind(prefix.clone()),
        RescueScope::Expired => sqlx::query(built(format!(
            "SELECT {COLUMNS} FROM tasks WHERE status = 'running' AND lease_expires_at < $1 \
             FOR UPDATE SKIP LOCKED"
        )))
        .bind(now),
    };
    let rows = q.fetch_all(&mut *conn).await?;
    let mut out = Vec::new();
    for row in rows {
        let before = task_from_row(&row, false)?;
        Status::Running.become_(Status::Interrupted)?;
        let mut evs = vec![
            append(
                conn,
                &before.id,
                EventKind::Interrupted,
                now,
                json!({"reason": reason, "attempt": before.attempt}),
            )
            .await?,
        ];
        let again = requeue.contains(&before.agent);
        let row = if again {
            Status::Interrupted.become_(Status::Queued)?;
            sqlx::query(built(format!(
                "UPDATE tasks SET status = 'queued', started_at = NULL, lease_owner = NULL, \
                 lease_expires_at = NULL, cancel_requested = 0 WHERE id = $1 RETURNING {COLUMNS}"
            )))
            .bind(before.id.as_str())
            .fetch_one(&mut *conn)
            .await?
        } else {
            sqlx::query(built(format!(
                "UPDATE tasks SET status = 'interrupted', finished_at = $2, error_kind = $3, \
                 error_message = $4, lease_owner = NULL, lease_expires_at = NULL \
                 WHERE id = $1 RETURNING {COLUMNS}"
            )))
            .bind(before.id.as_str())
            .bind(now)
            .bind(ErrorKind::Interrupted.as_str())
            .bind(reason)
            .fetch_one(&mut *conn)
            .await?
        };
        let task = task_from_row(&row, false)?;
        if again {
            evs.push(
                append(
                    conn,
                    &task.id,
                    EventKind::Requeued,
                    now,
                    json!({"after_attempt": before.attempt}),
                )
                .await?,
            );
        } else {
            evs.push(finished_event(conn, &task, now).await?);
        }
        out.push(Rescued {
            task,
            process: before.process,
            events: evs,
        });
    }
    Ok(out)
}
