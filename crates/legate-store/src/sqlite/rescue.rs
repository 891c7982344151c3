//! Rescuing tasks whose runner was lost.

use std::collections::BTreeSet;

use legate_domain::{ErrorKind, EventKind, Status};
use serde_json::json;
use sqlx::SqliteConnection;

use super::events;
use super::lifecycle::finished_event;
use crate::rows::{COLUMNS, built, task_from_row};
use crate::{RescueScope, Rescued, StoreError, now_ms};

pub(crate) async fn rescue(
    conn: &mut SqliteConnection,
    scope: &RescueScope,
    requeue: &BTreeSet<String>,
    reason: &str,
) -> Result<Vec<Rescued>, StoreError> {
    let now = now_ms();
    let (condition, value) = match scope {
        RescueScope::NotOwnedBy(owner) => ("lease_owner IS NOT ?", owner.clone()),
        RescueScope::OwnedBy(owner) => ("lease_owner = ?", owner.clone()),
        RescueScope::OwnedByPrefix(prefix) => {
            ("substr(lease_owner, 1, length(?1)) = ?1", prefix.clone())
        }
        RescueScope::Expired => ("lease_expires_at < ?", now.to_string()),
    };
    // SQLite compares the text bound for `Expired` with the integer column numerically,
    // thanks to the column's INTEGER affinity.
    let rows = sqlx::query(built(format!(
        "SELECT {COLUMNS} FROM tasks WHERE status = 'running' AND {condition}"
    )))
    .bind(value)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::new();
    for row in rows {
        let before = task_from_row(&row, false)?;
        Status::Running.become_(Status::Interrupted)?;
        let mut evs = vec![
            events::append(
                conn,
                &before.id,
                EventKind::Interrupted,
                now,
                json!({"reason": reason, "attempt": before.attempt}),
            )
            .await?,
        ];
        let again = requeue.contains(&before.agent);
        let sql = if again {
            Status::Interrupted.become_(Status::Queued)?;
            format!(
                "UPDATE tasks SET status = 'queued', started_at = NULL, lease_owner = NULL, \
                 lease_expires_at = NULL, cancel_requested = 0 WHERE id = ? RETURNING {COLUMNS}"
            )
        } else {
            format!(
                "UPDATE tasks SET status = 'interrupted', finished_at = ?2, error_kind = ?3, \
                 error_message = ?4, lease_owner = NULL, lease_expires_at = NULL \
                 WHERE id = ?1 RETURNING {COLUMNS}"
            )
        };
        let row = sqlx::query(built(sql))
            .bind(before.id.as_str())
            .bind(now)
            .bind(ErrorKind::Interrupted.as_str())
            .bind(reason)
            .fetch_one(&mut *conn)
            .await?;
        let task = task_from_row(&row, false)?;
        if again {
            evs.push(
                events::append(
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
