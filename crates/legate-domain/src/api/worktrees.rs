//! Reviewing and integrating a task's worktree: `diff`, `merge` and `discard`.

use serde::{Deserialize, Serialize};

use crate::{TaskId, Worktree};

/// `GET /v1/tasks/{id}/diff`: what a task's worktree changed from its base.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffQuery {
    /// A diffstat instead of the patch.
    #[serde(default)]
    pub stat: bool,
    /// Another task of the same repository: also name the files both changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub against: Option<String>,
}

/// The answer to a diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffReport {
    /// The task whose worktree it is: the one asked about, or the newest follow-up that
    /// continued in its worktree.
    pub task: TaskId,
    /// The worktree's record, its counts read from the worktree now when it still exists.
    pub worktree: Worktree,
    /// `git diff` from the base to the worktree's files as they are (committed or not), or its
    /// `--stat`. Empty with `against`.
    pub text: String,
    /// With `against`: the files both tasks changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap: Option<Overlap>,
}

/// Files two tasks of one repository both changed: merging both may conflict there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overlap {
    /// The other task.
    pub other: TaskId,
    /// The files both changed, sorted.
    pub files: Vec<String>,
}

/// `POST /v1/tasks/{id}/merge`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeRequest {
    /// One commit with all of the task's changes instead of a merge of its branch.
    #[serde(default)]
    pub squash: bool,
}

/// What a merge did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeReport {
    /// The task whose worktree was merged (see [`DiffReport::task`]).
    pub task: TaskId,
    /// Its record afterwards (`merged`).
    pub worktree: Worktree,
    /// The branch of the checkout it was merged into (`None`: a detached `HEAD`).
    pub into: Option<String>,
    /// The checkout's `HEAD` after the merge.
    pub commit: String,
    /// Whether the agent's uncommitted changes were first committed on the task's branch.
    pub committed_leftovers: bool,
}
