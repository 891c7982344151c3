//! Finding and removing finished tasks that retention no longer keeps.

use legate_domain::{TaskId, Timestamp};
use sqlx::SqliteConnection;

use crate::rows::{TERMINAL, built};
use crate::{PruneCandidates, Pruned, StoreError};

fn parse_id(s: &str) -> Result<TaskId, StoreError> {
    TaskId::parse(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) async fn candidates(
    conn: &mut SqliteConnection,
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
        "SELECT id, finished_at FROM tasks WHERE finished_at IS NOT NULL AND finished_at < ? \
         AND {TERMINAL}{acked} ORDER BY finished_at, seq"
    )))
    .bind(cutoff)
    .fetch_all(&mut *conn)
    .await?;
    let kept_unacked: i64 = if unacked {
        0
    } else {
        sqlx::query_scalar(built(format!(
            "SELECT COUNT(*) FROM tasks WHERE finished_at IS NOT NULL AND finished_at < ? \
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
        kept_unacked: kept_unacked as u64,
    })
}

/// Removes the given tasks and their events, skipping any that is not finished (any more) and,
/// unless `unacked`, any still unacknowledged.
pub(crate) async fn remove(
    conn: &mut SqliteConnection,
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
            "DELETE FROM tasks WHERE id = ? AND finished_at IS NOT NULL AND {TERMINAL}{acked}"
        )))
        .bind(id.as_str())
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if gone == 0 {
            continue;
        }
        sqlx::query("DELETE FROM task_output WHERE task_id = ?")
            .bind(id.as_str())
            .execute(&mut *conn)
            .await?;
        out.events += sqlx::query("DELETE FROM events WHERE task_id = ?")
            .bind(id.as_str())
            .execute(&mut *conn)
            .await?
            .rows_affected();
        out.tasks.push(id.clone());
    }
    Ok(out)
}
