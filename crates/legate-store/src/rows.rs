//! What every backend shares about rows: the task columns, decoding tasks and events from any
//! backend's rows (both store the same column types), and the `finished` event's contents.

use legate_domain::{
    ErrorKind, Event, EventKind, ProcessInfo, Status, Task, TaskEnv, TaskError, TaskId, Timestamp,
};
use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::StoreError;

/// The terminal statuses, as an SQL condition both dialects read alike.
pub(crate) const TERMINAL: &str =
    "status IN ('succeeded', 'failed', 'canceled', 'timed_out', 'interrupted')";

/// Every task column but the prompt, in the order [`task_from_row`] reads them by name.
pub(crate) const COLUMNS: &str = "id, agent, title, cwd, labels, priority, timeout_ms, dedupe_key, \
    parent, origin, depth, status, created_at, started_at, finished_at, exit_code, signal, result, \
    error_kind, error_message, attempt, cancel_requested, pid, pgid, proc_start, metadata, notify, acked_at";

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// Decodes a row selected with [`COLUMNS`] (plus `prompt` when `with_prompt`).
pub(crate) fn task_from_row<R>(row: &R, with_prompt: bool) -> Result<Task, StoreError>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
{
    let id: String = row.try_get("id")?;
    let status: String = row.try_get("status")?;
    let labels: String = row.try_get("labels")?;
    let metadata: String = row.try_get("metadata")?;
    let notify: String = row.try_get("notify")?;
    let parent: Option<String> = row.try_get("parent")?;
    let error_kind: Option<String> = row.try_get("error_kind")?;
    let pid: Option<i64> = row.try_get("pid")?;
    let error = match error_kind {
        Some(k) => Some(TaskError {
            kind: k
                .parse::<ErrorKind>()
                .map_err(|e| corrupt("error_kind", e))?,
            message: row
                .try_get::<Option<String>, _>("error_message")?
                .unwrap_or_default(),
        }),
        None => None,
    };
    let process = match pid {
        Some(pid) => Some(ProcessInfo {
            pid: pid as i32,
            pgid: row.try_get::<Option<i64>, _>("pgid")?.unwrap_or(pid) as i32,
            start_time: row.try_get::<Option<i64>, _>("proc_start")?.unwrap_or(0) as u64,
        }),
        None => None,
    };
    let mut metadata: serde_json::Value =
        serde_json::from_str(&metadata).map_err(|e| corrupt("metadata", e))?;
    // The worktree record is shown as the task's own field, not inside its metadata.
    let worktree = match metadata
        .as_object_mut()
        .and_then(|m| m.remove(legate_domain::worktree::WORKTREE_KEY))
    {
        Some(w) => Some(serde_json::from_value(w).map_err(|e| corrupt("metadata.worktree", e))?),
        None => None,
    };
    Ok(Task {
        id: TaskId::parse(&id).map_err(|e| corrupt("id", e))?,
        agent: row.try_get("agent")?,
        title: row.try_get("title")?,
        prompt: if with_prompt {
            Some(row.try_get("prompt")?)
        } else {
            None
        },
        cwd: row.try_get("cwd")?,
        labels: serde_json::from_str(&labels).map_err(|e| corrupt("labels", e))?,
        priority: row.try_get::<i64, _>("priority")? as i32,
        timeout_ms: row
            .try_get::<Option<i64>, _>("timeout_ms")?
            .map(|v| v as u64),
        dedupe_key: row.try_get("dedupe_key")?,
        parent: parent
            .map(|p| TaskId::parse(&p))
            .transpose()
            .map_err(|e| corrupt("parent", e))?,
        origin: row.try_get("origin")?,
        depth: row.try_get::<i64, _>("depth")? as u32,
        status: status.parse::<Status>().map_err(|e| corrupt("status", e))?,
        created_at: Timestamp(row.try_get("created_at")?),
        started_at: row.try_get::<Option<i64>, _>("started_at")?.map(Timestamp),
        finished_at: row.try_get::<Option<i64>, _>("finished_at")?.map(Timestamp),
        exit_code: row
            .try_get::<Option<i64>, _>("exit_code")?
            .map(|v| v as i32),
        signal: row.try_get::<Option<i64>, _>("signal")?.map(|v| v as i32),
        result: row.try_get("result")?,
        error,
        attempt: row.try_get::<i64, _>("attempt")? as u32,
        cancel_requested: row.try_get::<i64, _>("cancel_requested")? != 0,
        process,
        metadata,
        worktree,
        notify: serde_json::from_str(&notify).map_err(|e| corrupt("notify", e))?,
        acked_at: row.try_get::<Option<i64>, _>("acked_at")?.map(Timestamp),
    })
}

/// A task's environment as stored: a JSON object, or NULL when it was submitted without one.
pub(crate) fn env_text(env: Option<&TaskEnv>) -> Option<String> {
    env.and_then(|e| serde_json::to_string(e).ok())
}

/// Decodes the `env` column of a claimed task's row.
pub(crate) fn env_from_row<R>(row: &R) -> Result<Option<TaskEnv>, StoreError>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> Option<String>: Decode<'r, R::Database> + Type<R::Database>,
{
    let text: Option<String> = row.try_get("env")?;
    text.map(|t| serde_json::from_str(&t).map_err(|e| corrupt("env", e)))
        .transpose()
}

/// Marks SQL built at run time as safe. Every such statement in this backend is assembled
/// only from constant fragments ([`COLUMNS`], fixed clauses) and `?` placeholders; values are
/// always bound, never formatted in.
pub(crate) fn built(sql: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql)
}

/// Decodes an event row (`seq, task_id, kind, at, data, origin, labels`).
pub(crate) fn event_from_row<R>(r: &R) -> Result<Event, StoreError>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
{
    let corrupt =
        |what: &str, e: &dyn std::fmt::Display| StoreError::Corrupt(format!("event {what}: {e}"));
    let kind: String = r.try_get("kind")?;
    let task_id: String = r.try_get("task_id")?;
    let data: String = r.try_get("data")?;
    let labels: String = r.try_get("labels")?;
    Ok(Event {
        seq: r.try_get("seq")?,
        task_id: TaskId::parse(&task_id).map_err(|e| corrupt("task id", &e))?,
        kind: EventKind::parse(&kind).ok_or_else(|| corrupt("kind", &kind))?,
        at: Timestamp(r.try_get("at")?),
        origin: r.try_get("origin")?,
        labels: serde_json::from_str(&labels).map_err(|e| corrupt("labels", &e))?,
        data: serde_json::from_str(&data).map_err(|e| corrupt("data", &e))?,
    })
}

/// What a `finished` event says: enough for followers, hooks and the notifier to act without
/// reading the task.
pub(crate) fn finished_data(task: &Task) -> serde_json::Value {
    serde_json::json!({
        "status": task.status,
        "title": task.title,
        "attempt": task.attempt,
        "exit_code": task.exit_code,
        "signal": task.signal,
        "error": task.error,
        "agent": task.agent,
        "notify": !task.notify.is_empty(),
    })
}

/// A stored task id, checked.
pub(crate) fn parse_id(s: &str) -> Result<TaskId, StoreError> {
    TaskId::parse(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_names_every_terminal_status() {
        let names: Vec<String> = Status::ALL
            .iter()
            .filter(|s| s.is_terminal())
            .map(|s| format!("'{s}'"))
            .collect();
        assert_eq!(TERMINAL, format!("status IN ({})", names.join(", ")));
    }
}
