//! What the tools take and give, with the JSON schemas models see. Field docs become the
//! schema descriptions, so they are written for a model choosing arguments.

use rmcp::model::{ContentBlock, IntoContents};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A tool's answer as the model reads it: its JSON, once, as the result's only text block.
/// No `structuredContent` (and so no output schema) beside it, because hosts disagree on which
/// they pass on: Hermes gives the model both (every result would come twice), Codex gives it
/// only `structuredContent` when there is one (a short text would then never be seen), and
/// Gemini CLI and OpenCode give it only the text blocks (a short text would be all it gets).
/// One text block is the only form every host passes to the model exactly once. Its size is
/// bounded by `[mcp] result_chars` per result; the whole result stays a resource
/// (`legate://tasks/ID`).
#[derive(Debug)]
pub struct Answer<T>(pub T);

impl<T: Serialize> IntoContents for Answer<T> {
    fn into_contents(self) -> Vec<ContentBlock> {
        let text = serde_json::to_string(&self.0)
            .unwrap_or_else(|e| format!("legate could not encode its answer: {e}"));
        vec![ContentBlock::text(text)]
    }
}

/// What an answer shows of tasks, so `finished_since_last_call` does not repeat it.
pub trait Shows {
    /// The ids of the tasks whose result this answer carries.
    fn shown(&self) -> Vec<&str> {
        Vec::new()
    }
}

/// The tasks of `views` shown with their result (a view without one, such as task_status's,
/// leaves the news to carry it).
fn shown_of<'a>(views: impl IntoIterator<Item = &'a TaskView>) -> Vec<&'a str> {
    views
        .into_iter()
        .filter(|v| v.result.is_some())
        .map(|v| v.task_id.as_str())
        .collect()
}

impl Shows for Delegated {
    fn shown(&self) -> Vec<&str> {
        shown_of([&self.task])
    }
}

impl Shows for OneTask {
    fn shown(&self) -> Vec<&str> {
        shown_of([&self.task])
    }
}

impl Shows for Tasks {
    fn shown(&self) -> Vec<&str> {
        shown_of(&self.tasks)
    }
}

impl Shows for Listed {
    fn shown(&self) -> Vec<&str> {
        shown_of(&self.tasks)
    }
}

impl Shows for Agents {}

/// `delegate`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DelegateArgs {
    /// The agent that does the work; call list_agents to see them.
    pub agent: String,
    /// The whole task for the agent. It starts with no other context: say what to do, where,
    /// and what to report back.
    pub prompt: String,
    /// A short title for listings (default: the prompt's first line).
    #[serde(default)]
    pub title: Option<String>,
    /// Absolute working directory for the agent (default: the agent's own, else the server's).
    #[serde(default)]
    pub cwd: Option<String>,
    /// Give up on the task after this many seconds (default: the agent's timeout, else 1 hour).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// false (default): return the task id at once and keep working; the result arrives in
    /// `finished_since_last_call` of a later response. true: wait (up to 600 s) and return the
    /// result, only when there is nothing else to do meanwhile; the same call repeated after a
    /// timeout (same arguments, within 30 minutes) returns that task while it runs or its
    /// result is unread, never a second task.
    #[serde(default)]
    pub wait: bool,
    /// Deduplication key: while a task with this key is unfinished, delegating it again returns
    /// that task instead of starting another (with or without wait).
    #[serde(default)]
    pub key: Option<String>,
    /// "worktree": the agent works in a git worktree of its own, on a new branch from the
    /// repository's HEAD (cwd must be inside a git repository), so agents sent at once into one
    /// repository never edit the same files; review with task_diff, integrate with task_merge.
    /// "none": in cwd itself. Default: the agent's configuration (normally "none").
    #[serde(default)]
    pub isolation: Option<IsolationArg>,
    /// With isolation "worktree": the branch, tag or commit to start from (default: HEAD).
    #[serde(default)]
    pub base: Option<String>,
}

/// Where a delegated agent works.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IsolationArg {
    /// In the working directory itself.
    None,
    /// In a git worktree of its own.
    Worktree,
}

impl From<IsolationArg> for legate_domain::Isolation {
    fn from(i: IsolationArg) -> Self {
        match i {
            IsolationArg::None => legate_domain::Isolation::None,
            IsolationArg::Worktree => legate_domain::Isolation::Worktree,
        }
    }
}

/// `task_diff`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiffArgs {
    /// The task (delegated with isolation "worktree").
    pub task_id: String,
    /// true: only a summary of changed files and line counts instead of the patch.
    #[serde(default)]
    pub stat: bool,
    /// Another task of the same repository: answer with the files both changed instead (merging
    /// both may conflict there).
    #[serde(default)]
    pub against_task_id: Option<String>,
}

/// `task_merge`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeArgs {
    /// The finished task whose worktree to merge.
    pub task_id: String,
    /// true: one commit with all of the task's changes; false (default): merge its branch.
    #[serde(default)]
    pub squash: bool,
}

/// Where a task's work is: its git worktree and what it changed.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct WorktreeView {
    /// pending (not created yet), active (the agent works in it), kept (changes to review),
    /// merged, discarded, or removed (the run changed nothing).
    pub state: String,
    /// Its directory, while it exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Its branch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The commit it started from.
    pub base: String,
    /// The branch's commit when the run ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    /// Files changed from the base, committed or not.
    pub files_changed: u64,
    /// Lines added.
    pub insertions: u64,
    /// Lines removed.
    pub deletions: u64,
    /// The changed files (the first 500).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
}

/// `task_diff`'s answer.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Diffed {
    /// The task whose worktree it is (a follow-up may have continued the one asked about).
    pub task_id: String,
    /// The worktree, counts read now.
    pub worktree: WorktreeView,
    /// The patch (or stat) from the base to the worktree's files, committed or not; its end is
    /// cut when long.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// With against_task_id: the files both tasks changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_by_both: Option<Vec<String>>,
}

/// `task_merge`'s answer.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Merged {
    /// The task whose worktree was merged.
    pub task_id: String,
    /// The branch of the checkout it went into (absent: a detached HEAD).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<String>,
    /// The checkout's HEAD commit now.
    pub commit: String,
    /// The worktree (merged, removed).
    pub worktree: WorktreeView,
}

impl Shows for Diffed {}
impl Shows for Merged {}

/// `task_send`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendArgs {
    /// The finished task whose conversation to continue (its agent must be resumable; see
    /// list_agents).
    pub task_id: String,
    /// The follow-up. The agent remembers the earlier turns of this conversation.
    pub prompt: String,
    /// Give up after this many seconds (default: the earlier task's timeout).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// true: wait for the result (up to 600 s); false (default): return the new task id at once
    /// (the result arrives in `finished_since_last_call`).
    #[serde(default)]
    pub wait: bool,
}

/// `task_status`, `task_cancel`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskRef {
    /// The task id `delegate` returned (a unique prefix works too).
    pub task_id: String,
}

/// `task_result`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResultArgs {
    /// The task id `delegate` returned.
    pub task_id: String,
    /// Wait up to this many seconds (at most 600) for the task to finish; 0 or absent: answer
    /// at once with its current status.
    #[serde(default)]
    pub wait_secs: Option<u64>,
}

/// How `task_wait` gathers.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GatherMode {
    /// Return when every task has finished.
    #[default]
    All,
    /// Return when the first one finishes.
    Any,
}

/// `task_wait`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitArgs {
    /// The task ids to wait for.
    pub task_ids: Vec<String>,
    /// "all" (default) or "any".
    #[serde(default)]
    pub mode: GatherMode,
    /// Give up after this many seconds (at most 600; default 600) and report where they are.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

/// `task_list`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// Only these statuses, comma-separated: queued, running, succeeded, failed, canceled,
    /// timed_out, interrupted.
    #[serde(default)]
    pub status: Option<String>,
    /// At most this many, the newest (default 50).
    #[serde(default)]
    pub limit: Option<u32>,
    /// true: tasks from every origin; false (default): only the ones this session delegated.
    #[serde(default)]
    pub all: bool,
}

/// A task as a model needs it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TaskView {
    /// Its id.
    pub task_id: String,
    /// The agent running it.
    pub agent: String,
    /// Its title.
    pub title: String,
    /// queued, running, succeeded, failed, canceled, timed_out or interrupted.
    pub status: String,
    /// The result text (the end of it when long), once finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// Why it did not succeed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Set when the result was cut: how to read all of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_result: Option<String>,
    /// When it was delegated (RFC 3339).
    pub created_at: String,
    /// When it finished (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Where its work is, when it was delegated with isolation "worktree".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree: Option<WorktreeView>,
}

/// A task of this session that finished since the previous response.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Finished {
    /// Its id.
    pub task_id: String,
    /// Its title.
    pub title: String,
    /// How it ended.
    pub status: String,
    /// The start of its result (call task_result for all of it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// Why it did not succeed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What every tool answers with: its own payload and the session's news.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Reply<T> {
    /// The answer to this call.
    #[serde(flatten)]
    pub body: T,
    /// Tasks this session delegated that finished since its previous call, each reported once.
    pub finished_since_last_call: Vec<Finished>,
}

/// `delegate`'s answer.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Delegated {
    /// The task, as it is now (with its result when `wait` was true and it finished).
    pub task: TaskView,
    /// true when an existing task was returned instead of a new one: an unfinished one with the
    /// same key, or the task of the same wait=true call made before.
    pub deduplicated: bool,
    /// true while the task has not finished (queued or running): its result comes later, in
    /// `finished_since_last_call` or from task_wait / task_result.
    pub still_running: bool,
}

/// One task's answer.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct OneTask {
    /// The task.
    pub task: TaskView,
}

/// `task_list`'s answer.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Listed {
    /// The tasks, newest last.
    pub tasks: Vec<TaskView>,
}

/// `task_wait`'s answer.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Tasks {
    /// The tasks.
    pub tasks: Vec<TaskView>,
    /// true when the wait gave up before the condition held.
    pub timed_out: bool,
}

/// One agent as offered to models.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AgentInfo {
    /// The name to pass to delegate.
    pub name: String,
    /// What it is good for.
    pub description: String,
    /// Whether its program was found on this machine.
    pub available: bool,
    /// How many of its tasks may run at once, if limited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_running: Option<u32>,
    /// Whether its finished tasks can be continued with task_send.
    #[serde(default)]
    pub resumable: bool,
}

/// `list_agents`' answer.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Agents {
    /// The agents that can be delegated to.
    pub agents: Vec<AgentInfo>,
}
