//! Reads, the inbox, pruning and cursors.

use legate_domain::id::{ALPHABET, ID_LEN, IdPrefix};
use legate_domain::{Status, Task, TaskId, Timestamp};
use sqlx::{PgConnection, Row};

use super::Marks;
use crate::rows::{COLUMNS, TERMINAL, built, task_from_row};
use crate::{PruneCandidates, Pruned, StoreError, TaskFilter, now_ms};

fn parse_id(s: &str) -> Result<TaskId, StoreError> {
    TaskId::parse(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) async fn get(
    conn: &mut PgConnection,
    id: &TaskId,
    with_prompt: bool,
) -> Result<Option<Task>, StoreError> {
    let extra = if with_prompt { ", prompt" } else { "" };
    let row = sqlx::query(built(format!(
        "SELECT {COLUMNS}{extra} FROM tasks WHERE id = $1"
    )))
    .bind(id.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| task_from_row(&r, with_prompt)).transpose()
}

pub(crate) async fn ids_with_prefix(
    conn: &mut PgConnection,
    prefix: &IdPrefix,
    max: u32,
) -> Result<Vec<TaskId>, StoreError> {
    let last = ALPHABET[ALPHABET.len() - 1] as char;
    let upper: String = prefix
        .as_str()
        .chars()
        .chain(std::iter::repeat_n(last, ID_LEN - prefix.as_str().len()))
        .collect();
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT id FROM tasks WHERE id >= $1 AND id <= $2 ORDER BY id LIMIT $3")
            .bind(prefix.as_str())
            .bind(upper)
            .bind(max as i64)
            .fetch_all(&mut *conn)
            .await?;
    ids.iter().map(|i| parse_id(i)).collect()
}

pub(crate) async fn list(
    conn: &mut PgConnection,
    filter: &TaskFilter,
) -> Result<Vec<Task>, StoreError> {
    let mut m = Marks::default();
    let mut sql = format!("SELECT {COLUMNS} FROM tasks WHERE TRUE");
    if !filter.statuses.is_empty() {
        sql.push_str(&format!(
            " AND status IN ({})",
            m.list(filter.statuses.len())
        ));
    }
    if filter.agent.is_some() {
        sql.push_str(&format!(" AND agent = {}", m.next()));
    }
    if filter.label.is_some() {
        sql.push_str(&format!(
            " AND labels::jsonb @> jsonb_build_array({}::text)",
            m.next()
        ));
    }
    if filter.origin.is_some() {
        sql.push_str(&format!(" AND origin = {}", m.next()));
    }
    if filter.parent.is_some() {
        sql.push_str(&format!(" AND parent = {}", m.next()));
    }
    sql.push_str(&format!(" ORDER BY seq DESC LIMIT {}", m.next()));
    let mut q = sqlx::query(built(sql));
    for st in &filter.statuses {
        q = q.bind(st.as_str());
    }
    if let Some(a) = &filter.agent {
        q = q.bind(a);
    }
    if let Some(l) = &filter.label {
        q = q.bind(l);
    }
    if let Some(o) = &filter.origin {
        q = q.bind(o);
    }
    if let Some(p) = &filter.parent {
        q = q.bind(p.to_string());
    }
    let rows = q.bind(filter.limit as i64).fetch_all(&mut *conn).await?;
    let mut tasks = rows
        .iter()
        .map(|r| task_from_row(r, false))
        .collect::<Result<Vec<_>, _>>()?;
    tasks.reverse();
    Ok(tasks)
}

pub(crate) async fn counts(conn: &mut PgConnection) -> Result<Vec<(Status, u64)>, StoreError> {
    let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM tasks GROUP BY status")
        .fetch_all(&mut *conn)
        .await?;
    let mut out = Vec::new();
    for st in Status::ALL {
        let n = rows
            .iter()
            .find(|r| r.try_get::<String, _>("status").ok().as_deref() == Some(st.as_str()))
            .map(|r| r.try_get::<i64, _>("n"))
            .transpose()?
            .unwrap_or(0);
        out.push((st, n as u64));
    }
    Ok(out)
}

const UNREAD: &str = "origin = $1 AND acked_at IS NULL AND finished_at IS NOT NULL \
    AND status IN ('succeeded', 'failed', 'canceled', 'timed_out', 'interrupted')";

pub(crate) async fn unread(
    conn: &mut PgConnection,
    origin: &str,
    limit: u32,
) -> Result<Vec<Task>, StoreError> {
    // Finishes within one millisecond keep their order: the later one's event comes later.
    let rows = sqlx::query(built(format!(
        "SELECT {COLUMNS} FROM tasks WHERE {UNREAD} ORDER BY finished_at, \
         (SELECT max(e.seq) FROM events e WHERE e.task_id = tasks.id) LIMIT $2"
    )))
    .bind(origin)
    .bind(limit as i64)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| task_from_row(r, false)).collect()
}

/// Up to `limit` unread entries of any origin finished before `before`, of `scope` (`None`:
/// any), in the order they finished.
pub(crate) async fn orphans(
    conn: &mut PgConnection,
    scope: Option<&str>,
    before: Timestamp,
    limit: u32,
) -> Result<Vec<Task>, StoreError> {
    let rows = sqlx::query(built(format!(
        "SELECT {COLUMNS} FROM tasks WHERE acked_at IS NULL AND finished_at IS NOT NULL \
         AND finished_at < $1 AND {TERMINAL} \
         AND ($2::text IS NULL OR (metadata::jsonb)->>'{}' = $2) \
         ORDER BY finished_at, seq LIMIT $3",
        legate_domain::api::SCOPE_KEY
    )))
    .bind(before.millis())
    .bind(scope)
    .bind(limit as i64)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| task_from_row(r, false)).collect()
}

pub(crate) async fn ack(
    conn: &mut PgConnection,
    origin: &str,
    ids: Option<&[TaskId]>,
) -> Result<Vec<TaskId>, StoreError> {
    let now = now_ms();
    let acked: Vec<String> = match ids {
        None => {
            sqlx::query_scalar(built(format!(
                "UPDATE tasks SET acked_at = $2 WHERE {UNREAD} RETURNING id"
            )))
            .bind(origin)
            .bind(now)
            .fetch_all(&mut *conn)
            .await?
        }
        Some(ids) => {
            let mut out = Vec::new();
            for id in ids {
                let one: Option<String> = sqlx::query_scalar(built(format!(
                    "UPDATE tasks SET acked_at = $2 WHERE id = $3 AND {UNREAD} RETURNING id"
                )))
                .bind(origin)
                .bind(now)
                .bind(id.as_str())
                .fetch_optional(&mut *conn)
                .await?;
                out.extend(one);
            }
            out
        }
    };
    acked.iter().map(|i| parse_id(i)).collect()
}

pub(crate) async fn prune_candidates(
    conn: &mut PgConnection,
    before: Option<Timestamp>,
    unacked: bool,
) -> Result<PruneCandidates, StoreError> {
    let cutoff = before.map_or(i64::MAX, |b| b.millis());
    let acked = if unacked {
        ""
    } else {
        " AND acked_at IS NOT NULL"
    };
    let rows: Vec<(String, i64)> = sqlx::query_as(built(format!(
        "SELECT id, finished_at FROM tasks WHERE finished_at IS NOT NULL AND finished_at < $1 \
         AND {TERMINAL}{acked} ORDER BY finished_at, seq"
    )))
    .bind(cutoff)
    .fetch_all(&mut *conn)
    .await?;
    let kept: i64 = if unacked {
        0
    } else {
        sqlx::query_scalar(built(format!(
            "SELECT COUNT(*) FROM tasks WHERE finished_at IS NOT NULL AND finished_at < $1 \
             AND {TERMINAL} AND acked_at IS NULL"
        )))
        .bind(cutoff)
        .fetch_one(&mut *conn)
        .await?
    };
    Ok(PruneCandidates {
        tasks: rows
            .into_iter()
            .map(|(id, at)| Ok((parse_id(&id)?, Timestamp(at))))
            .collect::<Result<_, StoreError>>()?,
        kept_unacked: kept as u64,
    })
}

pub(crate) async fn remove(
    conn: &mut PgConnection,
    ids: &[TaskId],
    unacked: bool,
) -> Result<Pruned, StoreError> {
    let acked = if unacked {
        ""
    } else {
        " AND acked_at IS NOT NULL"
    };
    let mut out = Pruned::default();
    for id in ids {
        let gone = sqlx::query(built(format!(
            "DELETE FROM tasks WHERE id = $1 AND finished_at IS NOT NULL AND {TERMINAL}{acked}"
        )))
        .bind(id.as_str())
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if gone == 0 {
            continue;
        }
        sqlx::query("DELETE FROM task_output WHERE task_id = $1")
            .bind(id.as_str())
            .execute(&mut *conn)
            .await?;
        out.events += sqlx::query("DELETE FROM events WHERE task_id = $1")
            .bind(id.as_str())
            .execute(&mut *conn)
            .await?
            .rows_affected();
        out.tasks.push(id.clone());
    }
    Ok(out)
}

pub(crate) async fn cursor(conn: &mut PgConnection, name: &str) -> Result<i64, StoreError> {
    let seq: Option<i64> = sqlx::query_scalar("SELECT seq FROM cursors WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(seq.unwrap_or(0))
}

pub(crate) async fn set_cursor(
    conn: &mut PgConnection,
    name: &str,
    seq: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO cursors (name, seq) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET seq = excluded.seq",
    )
    .bind(name)
    .bind(seq)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
