//! Durable cursors of the daemon's own event consumers.

use sqlx::SqliteConnection;

use crate::StoreError;

/// The last sequence number a named consumer fully handled (0 when it never ran).
pub(crate) async fn cursor(conn: &mut SqliteConnection, name: &str) -> Result<i64, StoreError> {
    let seq: Option<i64> = sqlx::query_scalar("SELECT seq FROM cursors WHERE name = ?")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(seq.unwrap_or(0))
}

/// Moves a named consumer's cursor.
pub(crate) async fn set_cursor(
    conn: &mut SqliteConnection,
    name: &str,
    seq: i64,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO cursors (name, seq) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET seq = excluded.seq")
        .bind(name)
        .bind(seq)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
