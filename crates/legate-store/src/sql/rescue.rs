//! Rescuing tasks whose runner was lost: each is interrupted, then queued again when its
//! agent may safely run twice, or finished `interrupted`.

use std::collections::BTreeSet;

use legate_domain::{ErrorKind, EventKind, Status};
use serde_json::json;

use super::{Arg, Sql, append, args, finished_event};
use crate::rows::COLUMNS;
use crate::{RescueScope, Rescued, StoreError, now_ms};

/// Rescues the running tasks `scope` names, requeueing those whose agent is in `requeue`;
/// `reason` goes into their events and errors. Postgres skips rows another transaction holds
/// (a claim or a finish under way): that transaction decides their fate.
pub(crate) async fn rescue(
    conn: &mut impl Sql,
    scope: &RescueScope,
    requeue: &BTreeSet<String>,
    reason: &str,
) -> Result<Vec<Rescued>, StoreError> {
    let now = now_ms();
    let (condition, value): (&str, Arg<'_>) = match scope {
        RescueScope::NotOwnedBy(owner) => ("lease_owner IS DISTINCT FROM $1", owner.into()),
        RescueScope::OwnedBy(owner) => ("lease_owner = $1", owner.into()),
        RescueScope::OwnedByPrefix(prefix) => {
            ("substr(lease_owner, 1, length($1)) = $1", prefix.into())
        }
        RescueScope::Expired => ("lease_expires_at < $1", now.into()),
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM tasks WHERE status = 'running' AND {condition}{}",
        conn.dialect().skip_locked()
    );
    let lost = conn.tasks(&sql, &[value], false).await?;
    let requeued = format!(
        "UPDATE tasks SET status = 'queued', started_at = NULL, lease_owner = NULL, \
         lease_expires_at = NULL, cancel_requested = 0 WHERE id = $1 RETURNING {COLUMNS}"
    );
    let interrupted = format!(
        "UPDATE tasks SET status = 'interrupted', finished_at = $2, error_kind = $3, \
         error_message = $4, lease_owner = NULL, lease_expires_at = NULL \
         WHERE id = $1 RETURNING {COLUMNS}"
    );
    let mut out = Vec::new();
    for before in lost {
        Status::Running.become_(Status::Interrupted)?;
        let data = json!({"reason": reason, "attempt": before.attempt});
        let mut events = vec![append(conn, &before.id, EventKind::Interrupted, now, data).await?];
        let again = requeue.contains(&before.agent);
        let updated = if again {
            Status::Interrupted.become_(Status::Queued)?;
            conn.tasks(&requeued, &args![&before.id], false).await?
        } else {
            let values = args![&before.id, now, ErrorKind::Interrupted.as_str(), reason];
            conn.tasks(&interrupted, &values, false).await?
        };
        let task = updated
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::NotFound(before.id.clone()))?;
        events.push(if again {
            let data = json!({"after_attempt": before.attempt});
            append(conn, &task.id, EventKind::Requeued, now, data).await?
        } else {
            finished_event(conn, &task, now).await?
        });
        out.push(Rescued {
            task,
            process: before.process,
            events,
        });
    }
    Ok(out)
}
