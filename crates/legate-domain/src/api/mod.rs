//! The shapes of the daemon API's requests and responses, shared by the server, the client and
//! the engine so the three cannot drift apart. Requests refuse unknown fields: a misspelt
//! option is an error, not a silent no-op.

use serde::{Deserialize, Serialize};

use crate::{NotifyTarget, Status, Task, TaskEnv, Timestamp};

mod error;
mod results;
mod worktrees;

pub use error::{ApiError, ErrorCode};
pub use results::{
    AckRequest, AckResponse, EventsQuery, InboxQuery, InboxResponse, SCOPE_KEY, StopGateRequest,
    StopGateResponse,
};
pub use worktrees::{DiffQuery, DiffReport, MergeReport, MergeRequest, Overlap};

/// The largest prompt legate accepts (8 MiB).
pub const MAX_PROMPT_BYTES: usize = 8 << 20;

/// `POST /v1/tasks`: delegate a task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    /// Agent name.
    pub agent: String,
    /// Prompt (at most [`MAX_PROMPT_BYTES`]).
    pub prompt: String,
    /// Title; defaults to the prompt's first line.
    #[serde(default)]
    pub title: Option<String>,
    /// Working directory (absolute), chosen explicitly: it wins over the agent's `cwd`.
    #[serde(default)]
    pub cwd: Option<String>,
    /// The submitter's own directory (absolute): the working directory only when neither
    /// `cwd` nor the agent's configured `cwd` is given. Precedence: `cwd` > the agent's `cwd` >
    /// `caller_cwd` (> the daemon's directory when none is given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_cwd: Option<String>,
    /// Labels.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Priority: higher first.
    #[serde(default)]
    pub priority: i32,
    /// Timeout in milliseconds; 0 means none; absent means the agent's or the global default.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Dedupe key.
    #[serde(default)]
    pub key: Option<String>,
    /// Origin; defaults to the API client's identity.
    #[serde(default)]
    pub origin: Option<String>,
    /// The delegating task (a child's `LEGATE_TASK_ID`).
    #[serde(default)]
    pub parent: Option<String>,
    /// The submitter's own depth (a child's `LEGATE_DEPTH`; 0 for a person).
    #[serde(default)]
    pub depth: u32,
    /// Free-form JSON object kept with the task.
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
    /// Where to announce this task when it finishes (besides the inbox).
    #[serde(default)]
    pub notify: Vec<NotifyTarget>,
    /// The submitting client's environment, which the agent inherits (see
    /// [`crate::env`]); absent: a minimal fallback. Stored with the task, never shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<TaskEnv>,
    /// Makes a retried submission safe: while a task of the same origin with this key is
    /// stored (whatever its status), submitting the key again returns that task instead of
    /// creating another. Clients draw a fresh one per submission ([`new_idempotency_key`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Where the agent runs (absent: the agent's `isolation`); `worktree` needs a working
    /// directory inside a git repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<crate::Isolation>,
    /// The commit (any git revision) a worktree starts from; absent: the repository's `HEAD`
    /// at submit. Only with worktree isolation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
}

/// A fresh idempotency key: 128 random bits as 32 hex digits.
pub fn new_idempotency_key() -> String {
    use rand::Rng;
    format!("{:032x}", rand::rng().random::<u128>())
}

/// The request header carrying the moment (milliseconds since the Unix epoch) after which the
/// client no longer waits for the answer: a submission arriving later is refused rather than
/// creating a task its client was told had failed.
pub const DEADLINE_HEADER: &str = "legate-deadline-ms";

/// The response header of a task's log stream naming the attempt whose log it starts with
/// (each attempt writes its log anew): a follower resuming after a daemon restart sends it
/// back with its byte offset, which counts only in that attempt.
pub const ATTEMPT_HEADER: &str = "legate-attempt";

/// A follow-up: a new task that continues a finished task's agent session.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// The follow-up prompt.
    pub prompt: String,
    /// Title; defaults to the prompt's first line.
    #[serde(default)]
    pub title: Option<String>,
    /// Origin; defaults to the predecessor's, so the result goes back to the same place.
    #[serde(default)]
    pub origin: Option<String>,
    /// Timeout in milliseconds; absent means the predecessor's.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// The submitting client's environment, as for [`SubmitRequest::env`] (a follow-up takes
    /// its own submitter's, not its predecessor's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<TaskEnv>,
    /// As [`SubmitRequest::idempotency_key`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

/// Answer to a submission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmitResponse {
    /// The task, durable by the time this is sent.
    pub task: Task,
    /// True when an existing task was returned instead of a new one: an unfinished task with
    /// the same dedupe key, or the task of the same idempotency key (a retried submission).
    pub deduplicated: bool,
}

/// The longest origin, in bytes.
pub const MAX_ORIGIN_BYTES: usize = 1024;

/// What is wrong with `origin` as an origin, and what to do: `(problem, hint)`; `None` when it
/// can be one. An origin is non-empty, printable (no control character) and at most
/// [`MAX_ORIGIN_BYTES`] bytes; a submission or a read naming another is refused.
pub fn origin_problem(origin: &str) -> Option<(String, &'static str)> {
    if origin.trim().is_empty() {
        Some((
            "the origin is empty".into(),
            "pass a non-empty --origin (it names whose inbox gets the result), or none",
        ))
    } else if origin.chars().any(char::is_control) {
        Some((
            "the origin holds a control character (a newline, tab or escape)".into(),
            "pass an origin of printable characters, e.g. --origin cli:ann",
        ))
    } else if origin.len() > MAX_ORIGIN_BYTES {
        Some((
            format!("the origin is over {MAX_ORIGIN_BYTES} bytes"),
            "pass a short origin: it names whose inbox gets the result, e.g. --origin cli:ann",
        ))
    } else {
        None
    }
}

/// `GET /v1/tasks` filters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only these statuses (empty: any); comma-separated in the query string
    /// (`status=queued,running`).
    #[serde(
        default,
        with = "crate::status::comma_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub status: Vec<Status>,
    /// Only this agent.
    #[serde(default)]
    pub agent: Option<String>,
    /// Only tasks with this label.
    #[serde(default)]
    pub label: Option<String>,
    /// Only this origin.
    #[serde(default)]
    pub origin: Option<String>,
    /// Only the tasks delegated by this task (an id or unique prefix).
    #[serde(default)]
    pub parent: Option<String>,
    /// At most this many (the newest); default 100.
    #[serde(default)]
    pub limit: Option<u32>,
}

/// `GET /v1/agents`: the configured agents, whether their programs are found, and their
/// versions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentsQuery {
    /// Run each found agent's version command again.
    #[serde(default)]
    pub check: bool,
    /// Include versions (asked once per program file, then remembered).
    #[serde(default)]
    pub versions: bool,
    /// The `PATH` programs are looked up in: the asking client's, as a task it submits would
    /// have it (absent: the daemon's). An agent's own `env.PATH` wins over both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// Whether a wait returns when all tasks are done or when the first is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitMode {
    /// Return when every task is terminal.
    #[default]
    All,
    /// Return when any task is terminal.
    Any,
}

/// `POST /v1/wait`: block until tasks finish (or the timeout passes).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitRequest {
    /// Task ids or unique prefixes.
    pub ids: Vec<String>,
    /// All or any.
    #[serde(default)]
    pub mode: WaitMode,
    /// Give up after this many milliseconds (absent: wait as long as it takes).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// The waiter's origin: finished tasks it delegated are acknowledged in its inbox as they
    /// are returned, since the waiter has now seen them.
    #[serde(default)]
    pub ack_origin: Option<String>,
}

/// Answer to a wait.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaitResponse {
    /// The tasks, in the order asked, as they are now.
    pub tasks: Vec<Task>,
    /// True when the timeout passed before the condition held.
    pub timed_out: bool,
}

/// `POST /v1/tasks/cancel`: cancel some tasks, or all unfinished ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// Task ids or prefixes (ignored with `all` or `label`).
    #[serde(default)]
    pub ids: Vec<String>,
    /// Cancel every queued or running task.
    #[serde(default)]
    pub all: bool,
    /// Cancel every queued or running task with this label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// Answer to a cancel: the tasks as they ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CancelResponse {
    /// The canceled tasks.
    pub tasks: Vec<Task>,
}

/// `POST /v1/prune`: remove finished tasks older than a cutoff.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruneRequest {
    /// Remove tasks that finished more than this many milliseconds ago.
    pub older_than_ms: u64,
    /// Also remove finished tasks still unacknowledged in their origin's inbox.
    #[serde(default)]
    pub unacked: bool,
    /// Also remove tasks whose worktree still holds changes nobody merged or discarded
    /// (worktree and branch go with them).
    #[serde(default)]
    pub force: bool,
}

/// What a prune removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PruneReport {
    /// Tasks deleted.
    pub tasks: u64,
    /// Events deleted.
    pub events: u64,
    /// Bytes of log files deleted.
    pub log_bytes: u64,
    /// Finished tasks that were old enough but kept because their inbox entry is unread.
    #[serde(default)]
    pub kept_unacked: u64,
    /// Finished tasks that were old enough but kept because their worktree holds changes not
    /// merged or discarded (`prune --force` removes them).
    #[serde(default)]
    pub kept_worktrees: Vec<crate::TaskId>,
}

/// `GET /v1/daemon`: who is serving and how busy it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaemonStatus {
    /// The daemon's pid.
    pub pid: u32,
    /// legate's version.
    pub version: String,
    /// When it started.
    pub started_at: Timestamp,
    /// Its API socket.
    pub socket: String,
    /// The store it uses.
    pub store: String,
    /// How many tasks have each status: an object with every status as a key
    /// (`{"queued": 0, "running": 2, …}`).
    pub counts: std::collections::BTreeMap<Status, u64>,
    /// The daemon is draining (`legate daemon stop --drain`): it accepts no new task and
    /// exits once the tasks it holds have finished.
    #[serde(default)]
    pub draining: bool,
}

/// A task id or prefix as it appears in a URL path or request, checked before any lookup.
pub fn parse_task_ref(s: &str) -> Result<crate::id::IdPrefix, ApiError> {
    crate::id::IdPrefix::parse(s).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidRequest,
            e.to_string(),
            "list tasks with `legate ls`",
        )
    })
}

/// `GET /v1/tasks/{id}/queue`: why a queued task has not started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueState {
    /// Queued tasks that will be claimed before it (higher priority, or submitted earlier).
    pub ahead: u64,
    /// What it waits for, in words (a full cap and what holds it, its parent's lent slot…).
    pub reason: String,
}
