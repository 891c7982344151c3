//! A `delegate` call with `wait=true` that a host timed out and the model made again finds the
//! task of the first call instead of starting a duplicate.
//!
//! Hosts give up on a tool call before legate stops waiting (Hermes after 300 s by default;
//! legate waits up to [`MAX_WAIT_SECS`]), and a model then usually repeats the call word for
//! word. Each such call carries an implicit key, kept in the task's metadata under
//! [`CALL_KEY`]: a hash of the call's arguments (agent, prompt, title, cwd, timeout_secs, key).
//! A later call with the same key from the same origin gets the newest task that has it, when
//! that task was delegated within [`REPEAT_WINDOW`] and is unfinished, or finished with its
//! result still unread (a result a tool has shown is read, so the same call made after reading
//! it starts a new task). Calls without `wait` return at once, so nothing times them out: each
//! starts its own task, as before.
//!
//! The store's own keys do not fit: an idempotency key returns its task whatever its status
//! and however old (it guards a resent request, and each submission draws a fresh one), and a
//! dedupe key (`key`) is shared by every origin and matches only unfinished tasks.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use legate_domain::Task;
use legate_domain::api::ListQuery;
use sha2::{Digest, Sha256};

use crate::server::{LegateMcp, ToolError};
use crate::shapes::DelegateArgs;
use crate::tools::MAX_WAIT_SECS;

/// The metadata field holding a waiting delegation's implicit key.
pub const CALL_KEY: &str = "mcp_call";

/// How long after a task was delegated an identical waiting call still finds it: three of the
/// longest waits, so a call retried after each of two timed-out waits (and the model's time in
/// between) still finds its task.
pub const REPEAT_WINDOW: Duration = Duration::from_secs(3 * MAX_WAIT_SECS);

/// How many of the origin's newest tasks are searched for an earlier call.
const SEARCHED: u32 = 200;

/// The implicit key of a `delegate` call: 32 hex digits of the SHA-256 of its arguments (each
/// length-prefixed, so no two different calls share an encoding). `wait` is left out: the same
/// call made without waiting is the same task.
pub fn call_key(args: &DelegateArgs) -> String {
    let mut h = Sha256::new();
    let mut field = |v: Option<&[u8]>| match v {
        None => h.update([0u8]),
        Some(bytes) => {
            h.update([1u8]);
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        }
    };
    field(Some(args.agent.as_bytes()));
    field(Some(args.prompt.as_bytes()));
    field(args.title.as_deref().map(str::as_bytes));
    field(args.cwd.as_deref().map(str::as_bytes));
    let timeout = args.timeout_secs.map(u64::to_le_bytes);
    field(timeout.as_ref().map(|t| t.as_slice()));
    field(args.key.as_deref().map(str::as_bytes));
    let isolation: Option<&'static str> = args
        .isolation
        .map(|i| legate_domain::Isolation::from(i).into());
    field(isolation.map(str::as_bytes));
    field(args.base.as_deref().map(str::as_bytes));
    h.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `t` is the task of an earlier call with key `key`, made `now_ms` (milliseconds
/// since the Unix epoch): delegated within the window, and unfinished or unread.
fn is_earlier_call(t: &Task, key: &str, now_ms: i64) -> bool {
    let window = REPEAT_WINDOW.as_millis() as i64;
    t.metadata.get(CALL_KEY).and_then(|k| k.as_str()) == Some(key)
        && now_ms.saturating_sub(t.created_at.millis()) <= window
        && (!t.status.is_terminal() || t.acked_at.is_none())
}

impl LegateMcp {
    /// The task an earlier identical waiting call of `origin` delegated, if one still counts
    /// (see the module docs).
    pub(crate) async fn earlier_call(
        &self,
        origin: &str,
        key: &str,
    ) -> Result<Option<Task>, ToolError> {
        let q = ListQuery {
            origin: Some(origin.to_string()),
            limit: Some(SEARCHED),
            ..ListQuery::default()
        };
        let tasks = self.client.tasks(&q).await?;
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        // The list is oldest first: the newest match wins.
        Ok(tasks
            .into_iter()
            .rev()
            .find(|t| is_earlier_call(t, key, now_ms)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(prompt: &str) -> DelegateArgs {
        DelegateArgs {
            agent: "fake".into(),
            prompt: prompt.into(),
            title: None,
            cwd: None,
            timeout_secs: None,
            wait: true,
            key: None,
            isolation: None,
            base: None,
        }
    }

    #[test]
    fn the_window_is_the_thirty_minutes_the_tool_description_promises() {
        assert_eq!(REPEAT_WINDOW, Duration::from_secs(30 * 60));
        let schema = serde_json::to_string(&schemars::schema_for!(DelegateArgs)).unwrap();
        assert!(schema.contains("within 30 minutes"), "{schema}");
    }

    #[test]
    fn the_same_call_has_the_same_key_and_any_difference_another() {
        let base = call_key(&args("print x"));
        assert_eq!(base.len(), 32);
        assert_eq!(base, call_key(&args("print x")));
        let unwaited = DelegateArgs {
            wait: false,
            ..args("print x")
        };
        assert_eq!(base, call_key(&unwaited), "wait is not part of the call");
        let others = [
            args("print y"),
            DelegateArgs {
                agent: "other".into(),
                ..args("print x")
            },
            DelegateArgs {
                title: Some(String::new()),
                ..args("print x")
            },
            DelegateArgs {
                cwd: Some("/tmp".into()),
                ..args("print x")
            },
            DelegateArgs {
                timeout_secs: Some(0),
                ..args("print x")
            },
            DelegateArgs {
                key: Some("k".into()),
                ..args("print x")
            },
            DelegateArgs {
                isolation: Some(crate::shapes::IsolationArg::Worktree),
                ..args("print x")
            },
            DelegateArgs {
                isolation: Some(crate::shapes::IsolationArg::None),
                ..args("print x")
            },
            DelegateArgs {
                base: Some("main".into()),
                ..args("print x")
            },
        ];
        for o in &others {
            assert_ne!(base, call_key(o), "{o:?}");
        }
        // Lengths are part of the encoding: moving a byte between fields changes the key.
        let a = DelegateArgs {
            title: Some("ab".into()),
            cwd: Some("c".into()),
            ..args("p")
        };
        let b = DelegateArgs {
            title: Some("a".into()),
            cwd: Some("bc".into()),
            ..args("p")
        };
        assert_ne!(call_key(&a), call_key(&b));
    }
}
