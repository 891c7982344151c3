//! Read-only queries.

use legate_domain::id::{ALPHABET, ID_LEN, IdPrefix};
use legate_domain::{Status, Task, TaskId};
use sqlx::{Row, SqliteConnection};

use crate::rows::{COLUMNS, built, task_from_row};
use crate::{StoreError, TaskFilter};

pub(crate) async fn get(
    conn: &mut SqliteConnection,
    id: &TaskId,
    with_prompt: bool,
) -> Result<Option<Task>, StoreError> {
    let sql = if with_prompt {
        format!("SELECT {COLUMNS}, prompt FROM tasks WHERE id = ?")
    } else {
        format!("SELECT {COLUMNS} FROM tasks WHERE id = ?")
    };
    let row = sqlx::query(built(sql))
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| task_from_row(&r, with_prompt)).transpose()
}

pub(crate) async fn ids_with_prefix(
    conn: &mut SqliteConnection,
    prefix: &IdPrefix,
    max: u32,
) -> Result<Vec<TaskId>, StoreError> {
    // A range scan on the unique id index: every id starting with the prefix sorts between
    // the prefix itself and the prefix followed by the alphabet's last character.
    let last = ALPHABET[ALPHABET.len() - 1] as char;
    let upper: String = prefix
        .as_str()
        .chars()
        .chain(std::iter::repeat_n(last, ID_LEN - prefix.as_str().len()))
        .collect();
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT id FROM tasks WHERE id >= ? AND id <= ? ORDER BY id LIMIT ?")
            .bind(prefix.as_str())
            .bind(upper)
            .bind(max as i64)
            .fetch_all(&mut *conn)
            .await?;
    ids.into_iter()
        .map(|id| TaskId::parse(&id).map_err(|e| StoreError::Corrupt(e.to_string())))
        .collect()
}

pub(crate) async fn list(
    conn: &mut SqliteConnection,
    filter: &TaskFilter,
) -> Result<Vec<Task>, StoreError> {
    let mut sql = format!("SELECT {COLUMNS} FROM tasks WHERE 1 = 1");
    if !filter.statuses.is_empty() {
        let marks = vec!["?"; filter.statuses.len()].join(", ");
        sql.push_str(&format!(" AND status IN ({marks})"));
    }
    if filter.agent.is_some() {
        sql.push_str(" AND agent = ?");
    }
    if filter.label.is_some() {
        sql.push_str(" AND EXISTS (SELECT 1 FROM json_each(tasks.labels) WHERE value = ?)");
    }
    if filter.origin.is_some() {
        sql.push_str(" AND origin = ?");
    }
    if filter.parent.is_some() {
        sql.push_str(" AND parent = ?");
    }
    sql.push_str(" ORDER BY seq DESC LIMIT ?");
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

pub(crate) async fn counts(conn: &mut SqliteConnection) -> Result<Vec<(Status, u64)>, StoreError> {
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
