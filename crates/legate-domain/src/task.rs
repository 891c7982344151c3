//! A task: one delegation, from acceptance to its result.

use serde::{Deserialize, Serialize};
use strum::{EnumString, IntoStaticStr, VariantArray};

use crate::{NotifyTarget, Status, TaskEnv, TaskId, Timestamp};

/// Everything a task is. The prompt is omitted (`None`) in listings, where it could be megabytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Short unique id.
    pub id: TaskId,
    /// The agent that runs it.
    pub agent: String,
    /// A human label; defaults to the prompt's first line.
    pub title: String,
    /// The prompt, when the caller asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// Working directory for the agent process.
    pub cwd: Option<String>,
    /// Free-form labels to filter by.
    pub labels: Vec<String>,
    /// Higher runs first; ties run in submission order.
    pub priority: i32,
    /// Wall-clock limit in milliseconds (`None`: no limit).
    pub timeout_ms: Option<u64>,
    /// Dedupe key: while a task with this key is unfinished, submitting the key again returns it.
    pub dedupe_key: Option<String>,
    /// The task that delegated this one (set when submitted from inside an agent).
    pub parent: Option<TaskId>,
    /// Who delegated it (CLI user, MCP session, HTTP client): results go back there.
    pub origin: String,
    /// Delegation depth: 1 for a task submitted by a person, parent's depth + 1 below.
    pub depth: u32,
    /// Where it is in its life.
    pub status: Status,
    /// When it was accepted.
    pub created_at: Timestamp,
    /// When its current attempt started running.
    pub started_at: Option<Timestamp>,
    /// When it reached a terminal status.
    pub finished_at: Option<Timestamp>,
    /// The agent process's exit code, when it exited.
    pub exit_code: Option<i32>,
    /// The signal that ended the agent process, when one did.
    pub signal: Option<i32>,
    /// The result text the agent's output parser produced.
    pub result: Option<String>,
    /// Why it did not succeed.
    pub error: Option<TaskError>,
    /// How many times it has been claimed to run (also the lease's fencing token).
    pub attempt: u32,
    /// Whether a cancel was asked for while it ran.
    pub cancel_requested: bool,
    /// The running process, for killing leftovers of a crashed daemon safely.
    pub process: Option<ProcessInfo>,
    /// Free-form JSON object for frontends and parsers (session ids, usage, truncation notes).
    pub metadata: serde_json::Value,
    /// The git worktree it runs in, when it was submitted with `isolation = "worktree"`
    /// (kept in the stores under `metadata.worktree`, shown here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree: Option<crate::Worktree>,
    /// Where it is announced when it finishes (besides its origin's inbox). Serialized
    /// without the credentials of their URLs ([`NotifyTarget::redacted`]), so task JSON can
    /// be shown, logged and sent anywhere; the engine reads the targets from the store.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "crate::notify::serialize_redacted"
    )]
    pub notify: Vec<NotifyTarget>,
    /// When its origin acknowledged its result (`None`: still in the inbox once finished).
    #[serde(default)]
    pub acked_at: Option<Timestamp>,
}

/// Why a task did not succeed: a machine-readable kind and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskError {
    /// What went wrong, for scripts.
    pub kind: ErrorKind,
    /// What went wrong, for people.
    pub message: String,
}

/// The kinds of task failure, stable for scripts.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    IntoStaticStr,
    EnumString,
    VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(
    serialize_all = "snake_case",
    parse_err_ty = String,
    parse_err_fn = unknown_error_kind
)]
pub enum ErrorKind {
    /// The agent process could not be started.
    SpawnFailed,
    /// It exited with a non-zero code.
    ExitNonzero,
    /// A signal not sent by legate ended it.
    Signaled,
    /// It ran past its timeout.
    TimedOut,
    /// Someone canceled it.
    Canceled,
    /// Its runner was lost (daemon crash, lapsed lease).
    Interrupted,
    /// It wrote more than the output cap and its agent's policy says to fail.
    OutputTooLarge,
    /// Its output could not be written to the log (e.g. a full disk).
    LogWriteFailed,
    /// The agent could not authenticate with its model provider (log in, or set its key).
    AuthFailed,
    /// The model provider refused for rate or quota limits; retry later.
    RateLimited,
    /// The model declined the request.
    Refused,
    /// The agent reported another error of its own.
    AgentError,
    /// It printed and reported nothing for its agent's `stall_timeout`, and the agent's
    /// policy is to cancel stalled tasks.
    Stalled,
    /// Its git worktree could not be created (the repository is gone, git failed, or its
    /// locks stayed taken); it never ran in a shared directory instead.
    WorktreeFailed,
}

impl ErrorKind {
    /// The name used in JSON and the store (`spawn_failed`, `exit_nonzero`, …); parsed back
    /// by `FromStr`, whose error names every kind.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The error of `ErrorKind::from_str`: the name given and every valid one.
fn unknown_error_kind(s: &str) -> String {
    format!(
        "unknown error kind '{s}'; use one of: {}",
        crate::names::joined::<ErrorKind>(", ")
    )
}

/// The agent process of a running task: enough to find and kill its leftovers after a crash
/// without hitting an unrelated process that reused the pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// Process id of the agent.
    pub pid: i32,
    /// Its process group (the agent leads its own group, so normally equal to `pid`).
    pub pgid: i32,
    /// Its start time in clock ticks since boot (`/proc/PID/stat` field 22).
    pub start_time: u64,
}

/// A validated submission, ready to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    /// Agent name (known to the config).
    pub agent: String,
    /// Prompt text.
    pub prompt: String,
    /// Title.
    pub title: String,
    /// Working directory.
    pub cwd: Option<String>,
    /// Labels.
    pub labels: Vec<String>,
    /// Priority.
    pub priority: i32,
    /// Timeout in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Dedupe key.
    pub dedupe_key: Option<String>,
    /// Parent task.
    pub parent: Option<TaskId>,
    /// Origin.
    pub origin: String,
    /// Depth.
    pub depth: u32,
    /// Metadata object.
    pub metadata: serde_json::Value,
    /// Notification targets.
    pub notify: Vec<NotifyTarget>,
    /// The submitter's environment for the agent (`None`: the fallback); stored, never shown.
    pub env: Option<TaskEnv>,
    /// Idempotency key, unique per origin among stored tasks.
    pub idempotency_key: Option<String>,
}

/// How a run ended, as the runner reports it to the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The terminal status to move to.
    pub status: Status,
    /// Exit code, if the process exited.
    pub exit_code: Option<i32>,
    /// Signal, if one ended the process.
    pub signal: Option<i32>,
    /// Result text from the output parser.
    pub result: Option<String>,
    /// The error, for every status but `succeeded`.
    pub error: Option<TaskError>,
    /// Keys to merge into the task's metadata (e.g. `output_truncated`).
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

impl Outcome {
    /// A failure of the given kind with no process details.
    pub fn failed(status: Status, kind: ErrorKind, message: impl Into<String>) -> Self {
        Outcome {
            status,
            exit_code: None,
            signal: None,
            result: None,
            error: Some(TaskError {
                kind,
                message: message.into(),
            }),
            metadata: serde_json::Map::new(),
        }
    }
}

/// The last `max` characters of a result, with a note of how many came before (agents
/// conclude last, so the end is what to keep); and whether anything was left out.
pub fn result_tail(text: &str, max: usize) -> (String, bool) {
    let count = text.chars().count();
    if count <= max {
        return (text.to_string(), false);
    }
    let kept: String = text.chars().skip(count - max).collect();
    (
        format!("[…{} earlier characters left out]\n{kept}", count - max),
        true,
    )
}

/// The default title: the prompt's first non-empty line, cut to 80 characters.
pub fn default_title(prompt: &str) -> String {
    let line = prompt
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut title: String = line.chars().take(80).collect();
    if line.chars().count() > 80 {
        title.push('…');
    }
    title
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_title_takes_first_line_and_caps_it() {
        assert_eq!(default_title("\n  fix the bug \nmore"), "fix the bug");
        let long = "x".repeat(200);
        assert_eq!(default_title(&long).chars().count(), 81);
    }

    #[test]
    fn result_tail_keeps_the_end_and_says_so() {
        assert_eq!(result_tail("short", 10), ("short".to_string(), false));
        let (t, cut) = result_tail("abcdefghij", 4);
        assert!(cut);
        assert!(t.ends_with("\nghij") && t.contains("6 earlier"), "{t}");
    }

    #[test]
    fn error_kinds_serialise_as_their_names() {
        crate::names::assert_round_trips::<ErrorKind>();
        // Scripts and the store read these names: they never change.
        assert_eq!(
            crate::names::joined::<ErrorKind>(","),
            "spawn_failed,exit_nonzero,signaled,timed_out,canceled,interrupted,\
             output_too_large,log_write_failed,auth_failed,rate_limited,refused,agent_error,\
             stalled,worktree_failed"
        );
        let e = "oops".parse::<ErrorKind>().unwrap_err();
        assert!(e.contains("'oops'") && e.contains("agent_error"), "{e}");
    }
}
