//! What engines sharing a store need from it besides tasks: a running task's newest output,
//! readable from any machine; roles only one engine holds at a time; and the durable cursors
//! of the engine's own event consumers. A single daemon on SQLite uses them too, alone.

use std::time::Duration;

use legate_domain::TaskId;

use super::{Sql, args};
use crate::{Lease, OutputTail, StoreError, now_ms};

/// Stores the newest `tail` of a leased task's output (`total` bytes so far). Errors:
/// [`StoreError::LeaseLost`].
pub(crate) async fn put_output(
    conn: &mut impl Sql,
    lease: &Lease,
    total: u64,
    tail: &[u8],
) -> Result<(), StoreError> {
    let sql = "INSERT INTO task_output (task_id, attempt, total, tail, updated_at) \
         SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM tasks WHERE id = $1 \
         AND status = 'running' AND lease_owner = $6 AND attempt = $2) \
         ON CONFLICT (task_id) DO UPDATE SET attempt = excluded.attempt, total = excluded.total, \
         tail = excluded.tail, updated_at = excluded.updated_at";
    let values = args![
        &lease.task_id,
        lease.attempt as i64,
        total as i64,
        tail,
        now_ms(),
        &lease.owner,
    ];
    if conn.execute(sql, &values).await? == 0 {
        return Err(StoreError::LeaseLost(lease.task_id.clone()));
    }
    Ok(())
}

/// The stored output tail of task `id`, if any.
pub(crate) async fn output(
    conn: &mut impl Sql,
    id: &TaskId,
) -> Result<Option<OutputTail>, StoreError> {
    let sql = "SELECT attempt, total, tail FROM task_output WHERE task_id = $1";
    let row = conn.int_int_bytes(sql, &args![id]).await?.pop();
    Ok(row.map(|(attempt, total, tail)| OutputTail {
        attempt: attempt as u32,
        total: total as u64,
        tail,
    }))
}

/// Takes or keeps `role` for `owner` for `ttl`; false while another owner holds it.
pub(crate) async fn hold_role(
    conn: &mut impl Sql,
    role: &str,
    owner: &str,
    ttl: Duration,
) -> Result<bool, StoreError> {
    let now = now_ms();
    let sql = "INSERT INTO roles (name, owner, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at \
         WHERE roles.owner = excluded.owner OR roles.expires_at < $4";
    let values = args![role, owner, now + ttl.as_millis() as i64, now];
    Ok(conn.execute(sql, &values).await? == 1)
}

/// Gives `role` up if `owner` holds it.
pub(crate) async fn release_role(
    conn: &mut impl Sql,
    role: &str,
    owner: &str,
) -> Result<(), StoreError> {
    let sql = "DELETE FROM roles WHERE name = $1 AND owner = $2";
    conn.execute(sql, &args![role, owner]).await?;
    Ok(())
}

/// The last sequence number a named consumer fully handled (0 when it never ran).
pub(crate) async fn cursor(conn: &mut impl Sql, name: &str) -> Result<i64, StoreError> {
    let seq = conn
        .ints("SELECT seq FROM cursors WHERE name = $1", &args![name])
        .await?;
    Ok(seq.first().copied().flatten().unwrap_or(0))
}

/// Moves a named consumer's cursor.
pub(crate) async fn set_cursor(
    conn: &mut impl Sql,
    name: &str,
    seq: i64,
) -> Result<(), StoreError> {
    let sql = "INSERT INTO cursors (name, seq) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET seq = excluded.seq";
    conn.execute(sql, &args![name, seq]).await?;
    Ok(())
}
