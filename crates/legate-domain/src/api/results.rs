//! The shapes of the API that brings results back: the event stream, the inbox and the stop
//! gate that hooks use.

use serde::{Deserialize, Serialize};

use crate::{Task, TaskId};

/// `GET /v1/events`: history as a JSON array, or a live Server-Sent Events stream when the
/// client accepts `text/event-stream` (resumable with `Last-Event-ID`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Start after this sequence number (0: from the beginning).
    #[serde(default)]
    pub after: i64,
    /// Only this task (id or unique prefix).
    #[serde(default)]
    pub task: Option<String>,
    /// Only tasks from this origin.
    #[serde(default)]
    pub origin: Option<String>,
    /// Only tasks with this label.
    #[serde(default)]
    pub label: Option<String>,
    /// Only these kinds, comma-separated.
    #[serde(default)]
    pub kind: Option<String>,
    /// At most this many (history only; default 1000).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// `GET /v1/inbox`: an origin's finished tasks not yet acknowledged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboxQuery {
    /// Whose inbox.
    pub origin: String,
    /// Acknowledge what is returned, in the same transaction (ack on read).
    #[serde(default)]
    pub ack: bool,
    /// At most this many, oldest finish first (default 100).
    #[serde(default)]
    pub limit: Option<u32>,
    /// Also the orphans of this scope: results of other origins whose tasks name this scope
    /// in their metadata ([`SCOPE_KEY`]), unread for longer than `[retention] orphan_after`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Also every orphan, whatever its scope (for a person looking at the whole inbox).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub orphans: bool,
}

/// The task metadata key that names a task's scope: the project or host whose later
/// sessions receive the task's result when its own origin has not read it for
/// `[retention] orphan_after` (see [`InboxQuery::scope`]). A string.
pub const SCOPE_KEY: &str = "scope";

/// An inbox read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxResponse {
    /// Whose inbox.
    pub origin: String,
    /// The entries, in the order they finished.
    pub tasks: Vec<Task>,
    /// Whether they are now acknowledged.
    pub acked: bool,
    /// Orphans asked for ([`InboxQuery::scope`], [`InboxQuery::orphans`]): other origins'
    /// results unread for longer than `[retention] orphan_after`, in the order they finished.
    /// With `acked`, each is now acknowledged in its own origin's inbox.
    #[serde(default)]
    pub orphans: Vec<Task>,
}

/// `POST /v1/inbox/ack`: acknowledge entries explicitly. Acknowledging twice is harmless.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    /// Whose inbox.
    pub origin: String,
    /// Ids or unique prefixes; empty with `all` acknowledges the whole inbox.
    #[serde(default)]
    pub ids: Vec<String>,
    /// Acknowledge every entry.
    #[serde(default)]
    pub all: bool,
}

/// Answer to an acknowledgement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AckResponse {
    /// The entries acknowledged now (earlier acknowledgements are not repeated here).
    pub acked: Vec<TaskId>,
}

/// `POST /v1/stop-gate`: may an orchestrator stop now, or must it wait for its children?
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopGateRequest {
    /// The orchestrator's origin.
    pub origin: String,
    /// Block at most this many times in a row (absent: the configured `hooks.max_stop_blocks`).
    #[serde(default)]
    pub max_blocks: Option<u32>,
}

/// The verdict. Unread results are acknowledged as they are returned here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopGateResponse {
    /// Whether the stop should be blocked.
    pub block: bool,
    /// Tasks from this origin still queued or running.
    pub unfinished: Vec<Task>,
    /// Results the orchestrator has not seen yet (now acknowledged).
    pub unread: Vec<Task>,
    /// How many times in a row the stop has been blocked, this one included.
    pub blocks: u32,
    /// The limit that applied.
    pub max_blocks: u32,
}
