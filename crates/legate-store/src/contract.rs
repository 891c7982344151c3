//! The store contract shared by every backend.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;
use legate_domain::id::IdPrefix;
use legate_domain::{
    Event, EventFilter, EventKind, NewTask, Outcome, ProcessInfo, Status, Task, TaskEnv, TaskId,
    Timestamp,
};

use crate::StoreError;

/// The result of an insert.
#[derive(Debug, Clone)]
pub struct Inserted {
    /// The stored task (or the unfinished one sharing its dedupe key).
    pub task: Task,
    /// The `queued` event, absent when deduplicated.
    pub event: Option<Event>,
    /// Whether an existing task was returned.
    pub deduplicated: bool,
}

/// Filters for listing tasks.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    /// Any of these statuses (empty: all).
    pub statuses: Vec<Status>,
    /// Only this agent.
    pub agent: Option<String>,
    /// Only tasks carrying this label.
    pub label: Option<String>,
    /// Only this origin.
    pub origin: Option<String>,
    /// Only the tasks delegated by this task (its children).
    pub parent: Option<TaskId>,
    /// The newest `limit` tasks (returned oldest first).
    pub limit: u32,
}

/// A right to run one attempt of a task. `attempt` is the fencing token: a finish carrying an
/// older attempt is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The task.
    pub task_id: TaskId,
    /// Who holds it (a daemon or worker instance id).
    pub owner: String,
    /// The attempt it covers.
    pub attempt: u32,
}

/// What a claim may take.
///
/// The caps count the running tasks that hold a slot. A running task lends its slot to one
/// child at a time: while one of its children runs it does not count, and a queued child of a
/// running task that has no running child may start even when the caps are full (its agent's
/// cap must have room unless it is its parent's agent). So a task that waits on its own
/// children never starves them, and at most `max_running` × the delegation depth agents run.
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    /// The claiming worker's instance id.
    pub owner: String,
    /// How long the lease lasts without a heartbeat.
    pub lease_ttl: Duration,
    /// Global cap on running tasks.
    pub max_running: u32,
    /// Per-agent caps.
    pub agent_caps: BTreeMap<String, u32>,
    /// Only these agents (`None`: any).
    pub agents: Option<BTreeSet<String>>,
    /// Claim at most this many now.
    pub max_claims: u32,
}

/// One claimed task, now `running` under `lease`.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The task with its prompt.
    pub task: Task,
    /// The lease to finish it with.
    pub lease: Lease,
    /// The `started` event.
    pub event: Event,
    /// The environment its submitter gave for the agent (`None`: none was given). Only the
    /// runner reads it; it is never part of a [`Task`].
    pub env: Option<TaskEnv>,
}

/// Which running tasks have lost their runner.
#[derive(Debug, Clone)]
pub enum RescueScope {
    /// Every running task not leased by this owner (a single daemon at start: it holds the
    /// only lock, so every other lease belongs to a dead predecessor).
    NotOwnedBy(String),
    /// Every running task whose lease expired before now (many workers).
    Expired,
    /// Every running task this owner holds (a worker shutting down after ending its runs).
    OwnedBy(String),
    /// Every running task whose owner starts with this prefix: a daemon restarting on a store
    /// it shares takes back only what its own predecessors (same machine and user) left.
    OwnedByPrefix(String),
}

/// A task taken from a lost runner.
#[derive(Debug, Clone)]
pub struct Rescued {
    /// The task after rescue (`interrupted`, or `queued` again).
    pub task: Task,
    /// The process it had, whose leftovers must be killed.
    pub process: Option<ProcessInfo>,
    /// The events written.
    pub events: Vec<Event>,
}

/// What a prune removed from the store.
#[derive(Debug, Clone, Default)]
pub struct Pruned {
    /// The removed tasks (their log files go too).
    pub tasks: Vec<TaskId>,
    /// How many events went with them.
    pub events: u64,
}

/// Finished tasks old enough to prune, oldest first.
#[derive(Debug, Clone, Default)]
pub struct PruneCandidates {
    /// Ids with their finish times.
    pub tasks: Vec<(TaskId, Timestamp)>,
    /// How many old enough were left out because their inbox entry is unread.
    pub kept_unacked: u64,
    /// Those old enough (and acknowledged unless asked) left out of `tasks` because their git
    /// worktree still exists ([`legate_domain::WorktreeState::exists`]): work nobody merged or
    /// discarded yet.
    pub with_worktree: Vec<TaskId>,
}

/// The newest output of a task as the engine running it last stored it: a bounded tail of its
/// log, placed in the whole output, so that a reader on another machine can tell what is new
/// since it last looked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputTail {
    /// The attempt that wrote it.
    pub attempt: u32,
    /// Bytes of output written so far in that attempt; `tail` is the last of them.
    pub total: u64,
    /// The newest output bytes.
    pub tail: Vec<u8>,
}

/// The durable store. Every write that changes a task commits its events in the same
/// transaction and returns them, so the caller can publish exactly what was committed.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores a new task as `queued`, durably, before returning — unless a task of the same
    /// origin has the same idempotency key (whatever its status), or an unfinished task has the
    /// same dedupe key: that one is returned instead.
    async fn insert(&self, new: NewTask) -> Result<Inserted, StoreError>;

    /// Stores several tasks in one durable transaction (one fsync for all: group commit), in
    /// order, as if inserted one by one; all or none are stored.
    async fn insert_batch(&self, new: Vec<NewTask>) -> Result<Vec<Inserted>, StoreError>;

    /// One task; the prompt is included only when asked for.
    async fn get(&self, id: &TaskId, with_prompt: bool) -> Result<Option<Task>, StoreError>;

    /// Puts the fields of the JSON object `patch` into task `id`'s metadata, each replacing
    /// the stored field of its name whole (nested objects are not merged: write them whole,
    /// with absent values as `null`); returns the task as it is now, `None` when there is no
    /// such task. Records no event.
    async fn patch_metadata(
        &self,
        id: &TaskId,
        patch: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Option<Task>, StoreError>;

    /// Up to `max` ids starting with `prefix`.
    async fn ids_with_prefix(&self, prefix: &IdPrefix, max: u32)
    -> Result<Vec<TaskId>, StoreError>;

    /// Tasks matching a filter, without prompts, oldest first.
    async fn list(&self, filter: &TaskFilter) -> Result<Vec<Task>, StoreError>;

    /// How many tasks are in each status.
    async fn counts(&self) -> Result<Vec<(Status, u64)>, StoreError>;

    /// Claims queued tasks by priority then FIFO, within the caps (with slots lent to
    /// children, see [`ClaimRequest`]), atomically: caps hold however many claimers race.
    async fn claim(&self, req: &ClaimRequest) -> Result<Vec<Claimed>, StoreError>;

    /// Records the process running a claimed task.
    async fn record_process(&self, lease: &Lease, process: ProcessInfo) -> Result<(), StoreError>;

    /// Extends every lease `owner` holds; returns how many.
    async fn heartbeat(&self, owner: &str, ttl: Duration) -> Result<u64, StoreError>;

    /// Ends a run, fenced on the lease.
    async fn finish(&self, lease: &Lease, outcome: Outcome) -> Result<(Task, Event), StoreError>;

    /// Cancels a task still queued; `None` when it is not queued (any more).
    async fn cancel_queued(&self, id: &TaskId) -> Result<Option<(Task, Event)>, StoreError>;

    /// Marks a running task as asked to cancel; `None` when it is not running.
    async fn request_cancel(&self, id: &TaskId) -> Result<Option<Event>, StoreError>;

    /// Interrupts running tasks whose runner is lost; those whose agent is in `requeue` go
    /// back to the queue.
    async fn rescue(
        &self,
        scope: &RescueScope,
        requeue: &BTreeSet<String>,
        reason: &str,
    ) -> Result<Vec<Rescued>, StoreError>;

    /// Appends a progress or output event for a running task, fenced on the lease.
    async fn record_event(
        &self,
        lease: &Lease,
        kind: EventKind,
        data: serde_json::Value,
    ) -> Result<Event, StoreError>;

    /// Events after `after` that pass `filter`, oldest first, at most `limit`.
    async fn events_after(
        &self,
        after: i64,
        limit: u32,
        filter: &EventFilter,
    ) -> Result<Vec<Event>, StoreError>;

    /// Up to `limit` finished tasks of `origin` not yet acknowledged, in the order they
    /// finished.
    async fn inbox(&self, origin: &str, limit: u32) -> Result<Vec<Task>, StoreError>;

    /// Acknowledges inbox entries of `origin` (`None`: all); returns those acknowledged now, so
    /// acknowledging twice is harmless. A task that runs again re-enters the inbox when it ends.
    async fn ack(&self, origin: &str, ids: Option<&[TaskId]>) -> Result<Vec<TaskId>, StoreError>;

    /// Reads the inbox and acknowledges what it returns, in one transaction (ack on read).
    async fn take_inbox(&self, origin: &str, limit: u32) -> Result<Vec<Task>, StoreError>;

    /// Up to `limit` unread inbox entries of any origin that finished before `before`, of
    /// tasks whose metadata names `scope` under [`legate_domain::api::SCOPE_KEY`] (`None`: of
    /// any scope or none), in the order they finished: results nobody has read in time.
    async fn orphans(
        &self,
        scope: Option<&str>,
        before: Timestamp,
        limit: u32,
    ) -> Result<Vec<Task>, StoreError>;

    /// Finished tasks that finished before `before` (`None`: any time), excluding unread inbox
    /// entries unless `unacked`; those whose worktree still exists are listed apart.
    async fn prune_candidates(
        &self,
        before: Option<Timestamp>,
        unacked: bool,
    ) -> Result<PruneCandidates, StoreError>;

    /// Removes finished tasks and their events; skips any not finished and, unless `unacked`,
    /// any still unread.
    async fn remove(&self, ids: &[TaskId], unacked: bool) -> Result<Pruned, StoreError>;

    /// The last event sequence number a named in-daemon consumer fully handled (0: none).
    async fn cursor(&self, name: &str) -> Result<i64, StoreError>;

    /// Moves a named consumer's cursor.
    async fn set_cursor(&self, name: &str, seq: i64) -> Result<(), StoreError>;

    /// Stores the newest output of a running task, replacing what was stored: how far its
    /// output has got (`total` bytes) and the last of those bytes. Fenced on the lease, so a
    /// stale runner cannot overwrite the output of the attempt that replaced it.
    async fn put_output(&self, lease: &Lease, total: u64, tail: &[u8]) -> Result<(), StoreError>;

    /// The output stored for a task, if the engine that ran it stored any.
    async fn output(&self, id: &TaskId) -> Result<Option<OutputTail>, StoreError>;

    /// Takes or keeps a named role (a job meant to be done by one engine at a time, like
    /// announcing finishes) for `owner` until `ttl` from now; returns whether `owner` holds it.
    /// It is free when nobody holds it or its holder let it expire.
    async fn hold_role(&self, role: &str, owner: &str, ttl: Duration) -> Result<bool, StoreError>;

    /// Gives up a role `owner` holds, so another engine can take it at once.
    async fn release_role(&self, role: &str, owner: &str) -> Result<(), StoreError>;

    /// A short description for status output (`sqlite:/path/legate.db`).
    fn describe(&self) -> String;

    /// The sequence number of the newest event (0 when there is none).
    async fn last_seq(&self) -> Result<i64, StoreError>;

    /// Notices that another process changed the store (a task queued, finished or requeued
    /// elsewhere), each the kind of event it committed, for stores shared between workers;
    /// `None` for a store only this process writes. Notices can be lost (e.g. across a
    /// reconnect, which sends [`Change::Unknown`](crate::Change::Unknown)): they speed waking
    /// up, a slow poll stays the safety net.
    async fn changes(
        &self,
    ) -> Result<Option<tokio::sync::mpsc::UnboundedReceiver<crate::Change>>, StoreError> {
        Ok(None)
    }
}
