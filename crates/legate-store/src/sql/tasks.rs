//! Tasks: inserting them (with idempotency and dedupe keys), reading and listing them.

use legate_domain::id::{ALPHABET, ID_LEN, IdPrefix};
use legate_domain::{EventKind, NewTask, Status, Task, TaskId};
use serde_json::json;

use super::{Arg, Marks, Sql, append, args};
use crate::rows::{COLUMNS, env_text, parse_id};
use crate::{Inserted, StoreError, TaskFilter, now_ms};

/// The task `id` (with its prompt when `with_prompt`), if stored.
pub(crate) async fn get(
    conn: &mut impl Sql,
    id: &TaskId,
    with_prompt: bool,
) -> Result<Option<Task>, StoreError> {
    let extra = if with_prompt { ", prompt" } else { "" };
    let sql = format!("SELECT {COLUMNS}{extra} FROM tasks WHERE id = $1");
    Ok(conn.tasks(&sql, &args![id], with_prompt).await?.pop())
}

/// Puts the fields of `patch` into task `id`'s metadata (a field given replaces the stored
/// one whole); the task as it is now, or `None` when no task has that id.
pub(crate) async fn patch_metadata(
    conn: &mut impl Sql,
    id: &TaskId,
    patch: serde_json::Map<String, serde_json::Value>,
) -> Result<Option<Task>, StoreError> {
    let merged = conn.dialect().merged("metadata", "$1");
    let sql = format!("UPDATE tasks SET metadata = {merged} WHERE id = $2 RETURNING {COLUMNS}");
    let patch = serde_json::Value::Object(patch).to_string();
    Ok(conn.tasks(&sql, &args![&patch, id], false).await?.pop())
}

/// Up to `max` ids starting with `prefix`, in order.
pub(crate) async fn ids_with_prefix(
    conn: &mut impl Sql,
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
    let sql = "SELECT id FROM tasks WHERE id >= $1 AND id <= $2 ORDER BY id LIMIT $3";
    let ids = conn
        .texts(sql, &args![prefix.as_str(), &upper, max as i64])
        .await?;
    ids.iter().map(|i| parse_id(i)).collect()
}

/// The newest `filter.limit` tasks passing `filter`, oldest first.
pub(crate) async fn list(
    conn: &mut impl Sql,
    filter: &TaskFilter,
) -> Result<Vec<Task>, StoreError> {
    let mut m = Marks::default();
    let mut sql = format!("SELECT {COLUMNS} FROM tasks WHERE 1 = 1");
    let mut values: Vec<Arg<'_>> = Vec::new();
    if !filter.statuses.is_empty() {
        let marks = m.list(filter.statuses.len());
        sql.push_str(&format!(" AND status IN ({marks})"));
        values.extend(filter.statuses.iter().map(|s| Arg::from(s.as_str())));
    }
    if let Some(a) = &filter.agent {
        sql.push_str(&format!(" AND agent = {}", m.next()));
        values.push(a.into());
    }
    if let Some(l) = &filter.label {
        let holds = conn.dialect().array_holds("tasks.labels", &m.next());
        sql.push_str(&format!(" AND {holds}"));
        values.push(l.into());
    }
    if let Some(o) = &filter.origin {
        sql.push_str(&format!(" AND origin = {}", m.next()));
        values.push(o.into());
    }
    let parent = filter.parent.as_ref().map(|p| p.to_string());
    if let Some(p) = &parent {
        sql.push_str(&format!(" AND parent = {}", m.next()));
        values.push(p.into());
    }
    sql.push_str(&format!(" ORDER BY seq DESC LIMIT {}", m.next()));
    values.push((filter.limit as i64).into());
    let mut tasks = conn.tasks(&sql, &values, false).await?;
    tasks.reverse();
    Ok(tasks)
}

/// How many tasks have each status (every status, 0 included).
pub(crate) async fn counts(conn: &mut impl Sql) -> Result<Vec<(Status, u64)>, StoreError> {
    let rows = conn
        .text_ints(
            "SELECT status, COUNT(*) AS n FROM tasks GROUP BY status",
            &[],
        )
        .await?;
    Ok(Status::ALL
        .iter()
        .map(|&st| {
            let n = rows
                .iter()
                .find(|(s, _)| s == st.as_str())
                .map_or(0, |(_, n)| *n);
            (st, n as u64)
        })
        .collect())
}

/// The stored task a submission's keys point to: the one of its origin with its idempotency
/// key, else an unfinished one with its dedupe key.
async fn existing(conn: &mut impl Sql, new: &NewTask) -> Result<Option<Inserted>, StoreError> {
    let mut found = Vec::new();
    if let Some(key) = &new.idempotency_key {
        let sql = "SELECT id FROM tasks WHERE origin = $1 AND idempotency_key = $2";
        found = conn.texts(sql, &args![&new.origin, key]).await?;
    }
    if let (true, Some(key)) = (found.is_empty(), &new.dedupe_key) {
        let sql = "SELECT id FROM tasks WHERE dedupe_key = $1 AND status IN ('queued', 'running')";
        found = conn.texts(sql, &args![key]).await?;
    }
    let Some(id) = found.first() else {
        return Ok(None);
    };
    let id = parse_id(id)?;
    let task = get(conn, &id, false)
        .await?
        .ok_or(StoreError::NotFound(id))?;
    Ok(Some(Inserted {
        task,
        event: None,
        deduplicated: true,
    }))
}

/// Accepts a submission: the task its keys already point to, or a new queued task and its
/// `queued` event.
pub(crate) async fn insert(conn: &mut impl Sql, new: NewTask) -> Result<Inserted, StoreError> {
    if let Some(found) = existing(conn, &new).await? {
        return Ok(found);
    }
    let now = now_ms();
    let labels = serde_json::to_string(&new.labels).unwrap_or_else(|_| "[]".into());
    let metadata = new.metadata.to_string();
    let notify = serde_json::to_string(&new.notify).unwrap_or_else(|_| "[]".into());
    let env = env_text(new.env.as_ref());
    let sql = format!(
        "INSERT INTO tasks (id, agent, title, prompt, cwd, labels, priority, timeout_ms, \
         dedupe_key, parent, origin, depth, status, created_at, metadata, notify, env, \
         idempotency_key) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
         ON CONFLICT DO NOTHING RETURNING {COLUMNS}"
    );
    // Another engine may insert the same keys concurrently: the unique indexes make one of the
    // two wait for the other's commit and then skip its row, and the keys are looked up again.
    // A skipped row whose keys are still free collided on its id (about once in a trillion at
    // a million tasks): another id is drawn.
    let (id, task) = loop {
        let id = TaskId::generate();
        let values = args![
            &id,
            &new.agent,
            &new.title,
            &new.prompt,
            &new.cwd,
            &labels,
            new.priority as i64,
            new.timeout_ms.map(|v| v as i64),
            &new.dedupe_key,
            new.parent.as_ref().map(|p| p.as_str()),
            &new.origin,
            new.depth as i64,
            Status::Queued.as_str(),
            now,
            &metadata,
            &notify,
            &env,
            &new.idempotency_key,
        ];
        if let Some(task) = conn.tasks(&sql, &values, false).await?.pop() {
            break (id, task);
        }
        if let Some(found) = existing(conn, &new).await? {
            return Ok(found);
        }
    };
    let event = append(
        conn,
        &id,
        EventKind::Queued,
        now,
        json!({"agent": new.agent, "title": new.title}),
    )
    .await?;
    Ok(Inserted {
        task,
        event: Some(event),
        deduplicated: false,
    })
}
