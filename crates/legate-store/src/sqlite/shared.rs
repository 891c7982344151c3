//! What engines sharing a store need from it: a running task's newest output, readable from
//! any machine, and roles only one engine holds at a time. A single daemon on SQLite uses
//! them too, alone.

use std::time::Duration;

use legate_domain::TaskId;
use sqlx::SqliteConnection;

use crate::{Lease, OutputTail, StoreError, now_ms};

pub(crate) async fn put_output(
    conn: &mut SqliteConnection,
    lease: &Lease,
    total: u64,
    tail: &[u8],
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "INSERT INTO task_output (task_id, attempt, total, tail, updated_at) \
         SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM tasks WHERE id = ?1 \
         AND status = 'running' AND lease_owner = ?6 AND attempt = ?2) \
         ON CONFLICT (task_id) DO UPDATE SET attempt = excluded.attempt, total = excluded.total, \
         tail = excluded.tail, updated_at = excluded.updated_at",
    )
    .bind(lease.task_id.as_str())
    .bind(lease.attempt as i64)
    .bind(total as i64)
    .bind(tail)
    .bind(now_ms())
    .bind(&lease.owner)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::LeaseLost(lease.task_id.clone()));
    }
    Ok(())
}

pub(crate) async fn output(
    conn: &mut SqliteConnection,
    id: &TaskId,
) -> Result<Option<OutputTail>, StoreError> {
    let row: Option<(i64, i64, Vec<u8>)> =
        sqlx::query_as("SELECT attempt, total, tail FROM task_output WHERE task_id = ?")
            .bind(id.as_str())
            .fetch_optional(&mut *conn)
            .await?;
    Ok(row.map(|(attempt, total, tail)| OutputTail {
        attempt: attempt as u32,
        total: total as u64,
        tail,
    }))
}

pub(crate) async fn hold_role(
    conn: &mut SqliteConnection,
    role: &str,
    owner: &str,
    ttl: Duration,
) -> Result<bool, StoreError> {
    let now = now_ms();
    let done = sqlx::query(
        "INSERT INTO roles (name, owner, expires_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at \
         WHERE roles.owner = excluded.owner OR roles.expires_at < ?4",
    )
    .bind(role)
    .bind(owner)
    .bind(now + ttl.as_millis() as i64)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn release_role(
    conn: &mut SqliteConnection,
    role: &str,
    owner: &str,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM roles WHERE name = ? AND owner = ?")
        .bind(role)
        .bind(owner)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
