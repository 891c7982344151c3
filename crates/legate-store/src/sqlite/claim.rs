//! Claiming queued tasks within the caps.

use std::collections::BTreeMap;

use legate_domain::{EventKind, Status, TaskId};
use serde_json::json;
use sqlx::{Row, SqliteConnection};

use crate::rows::{COLUMNS, built, env_from_row, task_from_row};
use crate::sql;
use crate::{ClaimRequest, Claimed, Lease, StoreError, now_ms};

/// Claims up to `req.max_claims` tasks in one transaction. The running counts are read in the
/// same transaction as the updates, and the single writer connection serialises claimers, so
/// no interleaving can exceed a cap. A running parent lends its slot to one child at a time
/// (see [`ClaimRequest`]): the statements below share that rule with the Postgres backend.
pub(crate) async fn claim(
    conn: &mut SqliteConnection,
    req: &ClaimRequest,
) -> Result<Vec<Claimed>, StoreError> {
    let mut claimed = Vec::new();
    let now = now_ms();
    let expires = now + req.lease_ttl.as_millis() as i64;
    let mut running = counted(conn).await?;
    while (claimed.len() as u32) < req.max_claims {
        let total: u32 = running.values().sum();
        let saturated: Vec<&String> = req
            .agent_caps
            .iter()
            .filter(|(agent, cap)| running.get(*agent).copied().unwrap_or(0) >= **cap)
            .map(|(agent, _)| agent)
            .collect();
        let mut id = None;
        if total < req.max_running {
            id = pick(conn, NEXT, &saturated, req.agents.as_ref()).await?;
        }
        if id.is_none() {
            id = pick(conn, NEXT_LENT, &saturated, req.agents.as_ref()).await?;
        }
        let Some(id) = id else {
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
        if task.parent.is_some() {
            // A child may have stopped its parent counting: count again.
            running = counted(conn).await?;
        } else {
            *running.entry(task.agent.clone()).or_insert(0) += 1;
        }
        let env = env_from_row(&row)?;
        let event = sql::append(
            conn,
            &id,
            EventKind::Started,
            now,
            json!({"attempt": task.attempt, "worker": req.owner}),
        )
        .await?;
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

/// [`COUNTED`], by agent.
async fn counted(conn: &mut SqliteConnection) -> Result<BTreeMap<String, u32>, StoreError> {
    let mut running = BTreeMap::new();
    for r in sqlx::query(COUNTED).fetch_all(&mut *conn).await? {
        running.insert(r.try_get("agent")?, r.try_get::<i64, _>("n")? as u32);
    }
    Ok(running)
}

/// Running tasks per agent that hold a slot: a running task with a running child has lent its
/// slot to that child and does not count.
const COUNTED: &str = "SELECT agent, COUNT(*) AS n FROM tasks WHERE status = 'running' \
     AND id NOT IN (SELECT parent FROM tasks WHERE status = 'running' AND parent IS NOT NULL) \
     GROUP BY agent";

/// The next queued task in priority then FIFO order, of an agent with room (`{saturated}`:
/// the agents at their caps; `{only}`: the agents this claimer serves). Used while the global
/// cap has room.
const NEXT: &str = "SELECT id FROM tasks c WHERE status = 'queued'{saturated}{only} \
     ORDER BY priority DESC, seq LIMIT 1";

/// The next queued child of a running task that has no running child: it takes its parent's
/// slot, so it needs no room in the global cap, and no room in its agent's cap when it is its
/// parent's agent. Driven from the few running tasks through `tasks_queued_children`.
const NEXT_LENT: &str = "SELECT c.id FROM tasks p JOIN tasks c ON c.parent = p.id \
     AND c.status = 'queued' WHERE p.status = 'running' \
     AND p.id NOT IN (SELECT parent FROM tasks WHERE status = 'running' AND parent IS NOT NULL)\
     {saturated_unless_parents}{only} ORDER BY c.priority DESC, c.seq LIMIT 1";

/// Runs one of the pick statements with the saturated agents and the claimer's agents bound.
async fn pick(
    conn: &mut SqliteConnection,
    statement: &str,
    saturated: &[&String],
    only: Option<&std::collections::BTreeSet<String>>,
) -> Result<Option<String>, StoreError> {
    let marks = |n: usize| vec!["?"; n.max(1)].join(", ");
    let (sat, sat_unless) = if saturated.is_empty() {
        (String::new(), String::new())
    } else {
        let m = marks(saturated.len());
        (
            format!(" AND c.agent NOT IN ({m})"),
            format!(" AND (c.agent = p.agent OR c.agent NOT IN ({m}))"),
        )
    };
    let only_sql = match only {
        Some(o) => format!(" AND c.agent IN ({})", marks(o.len())),
        None => String::new(),
    };
    let sql = statement
        .replace("{saturated}", &sat)
        .replace("{saturated_unless_parents}", &sat_unless)
        .replace("{only}", &only_sql);
    let mut q = sqlx::query_scalar::<_, String>(built(sql));
    for a in saturated {
        q = q.bind(a.as_str());
    }
    if let Some(only) = only {
        if only.is_empty() {
            q = q.bind("");
        }
        for a in only {
            q = q.bind(a.as_str());
        }
    }
    Ok(q.fetch_optional(&mut *conn).await?)
}
