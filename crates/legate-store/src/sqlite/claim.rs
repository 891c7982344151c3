//! Claiming queued tasks within the caps.

use std::collections::BTreeMap;

use legate_domain::{EventKind, Status, TaskId};
use serde_json::json;
use sqlx::{Row, SqliteConnection};

use super::events;
use crate::rows::{COLUMNS, built, env_from_row, task_from_row};
use crate::{ClaimRequest, Claimed, Lease, StoreError, now_ms};

/// Claims up to `req.max_claims` tasks in one transaction. The running counts are read in the
/// same transaction as the updates, and the single writer connection serialises claimers, so
/// no interleaving can exceed a cap.
pub(crate) async fn claim(
    conn: &mut SqliteConnection,
    req: &ClaimRequest,
) -> Result<Vec<Claimed>, StoreError> {
    let rows = sqlx::query(
        "SELECT agent, COUNT(*) AS n FROM tasks WHERE status = 'running' GROUP BY agent",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut running: BTreeMap<String, u32> = BTreeMap::new();
    for r in &rows {
        running.insert(r.try_get("agent")?, r.try_get::<i64, _>("n")? as u32);
    }
    let mut total: u32 = running.values().sum();
    let mut claimed = Vec::new();
    let now = now_ms();
    let expires = now + req.lease_ttl.as_millis() as i64;
    while total < req.max_running && (claimed.len() as u32) < req.max_claims {
        let saturated: Vec<&String> = req
            .agent_caps
            .iter()
            .filter(|(agent, cap)| running.get(*agent).copied().unwrap_or(0) >= **cap)
            .map(|(agent, _)| agent)
            .collect();
        let mut sql = String::from("SELECT id FROM tasks WHERE status = 'queued'");
        if !saturated.is_empty() {
            let marks = vec!["?"; saturated.len()].join(", ");
            sql.push_str(&format!(" AND agent NOT IN ({marks})"));
        }
        if let Some(only) = &req.agents {
            let marks = vec!["?"; only.len().max(1)].join(", ");
            sql.push_str(&format!(" AND agent IN ({marks})"));
        }
        sql.push_str(" ORDER BY priority DESC, seq LIMIT 1");
        let mut q = sqlx::query_scalar::<_, String>(built(sql));
        for a in &saturated {
            q = q.bind(a.as_str());
        }
        if let Some(only) = &req.agents {
            if only.is_empty() {
                q = q.bind("");
            }
            for a in only {
                q = q.bind(a.as_str());
            }
        }
        let Some(id) = q.fetch_optional(&mut *conn).await? else {
            break;
        };
        let id = TaskId::parse(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Status::Queued.become_(Status::Running)?;
        let row = sqlx::query(built(format!(
            "UPDATE tasks SET status = 'running', attempt = attempt + 1, started_at = ?, \
             lease_owner = ?, lease_expires_at = ?, cancel_requested = 0, acked_at = NULL, pid = NULL, pgid = NULL, \
             proc_start = NULL WHERE id = ? AND status = 'queued' RETURNING {COLUMNS}, prompt, env"
        )))
        .bind(now)
        .bind(&req.owner)
        .bind(expires)
        .bind(id.as_str())
        .fetch_one(&mut *conn)
        .await?;
        let task = task_from_row(&row, true)?;
        let env = env_from_row(&row)?;
        let event = events::append(
            conn,
            &id,
            EventKind::Started,
            now,
            json!({"attempt": task.attempt, "worker": req.owner}),
        )
        .await?;
        *running.entry(task.agent.clone()).or_insert(0) += 1;
        total += 1;
        claimed.push(Claimed {
            lease: Lease {
                task_id: id,
                owner: req.owner.clone(),
                attempt: task.attempt,
            },
            task,
            event,
            env,
        });
    }
    Ok(claimed)
}
