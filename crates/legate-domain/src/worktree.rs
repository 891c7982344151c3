//! Isolation: a task that runs in a git worktree of its own, on a branch of its own.
//!
//! The record travels in the task's metadata under [`WORKTREE_KEY`] (both stores keep it
//! without a schema change) and is shown as the task's `worktree`. Every field is always
//! written (absent ones as `null`), so merging a new record into the stored metadata gives
//! the same result on both stores.

use serde::{Deserialize, Serialize};
use strum::{EnumString, IntoStaticStr, VariantArray};

use crate::TaskId;

/// Metadata key holding a task's [`Worktree`].
pub const WORKTREE_KEY: &str = "worktree";

/// The prefix of every task branch: `legate/<task id>`.
pub const BRANCH_PREFIX: &str = "legate/";

/// How many changed file names and commit ids a record keeps (the counts stay exact).
pub const LISTED_MAX: usize = 500;

/// The variables with which git works on another repository than the one its directory is
/// in (git exports them to hooks and `rebase -x` commands, from which `legate run` may be
/// called): never given to a worktree task's agent, nor to the git legate runs.
pub const REPOSITORY_VARIABLES: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
];

/// Where a task's agent runs.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    EnumString,
    IntoStaticStr,
    VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case", parse_err_ty = String, parse_err_fn = unknown_isolation)]
pub enum Isolation {
    /// In the task's working directory itself (the default).
    #[default]
    None,
    /// In a git worktree of the working directory's repository, created for the task under
    /// legate's data directory on a new branch `legate/<id>`.
    Worktree,
}

fn unknown_isolation(s: &str) -> String {
    format!(
        "unknown isolation '{s}'; use one of: {}",
        crate::names::joined::<Isolation>(", ")
    )
}

/// Where a task's worktree is in its life.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    EnumString,
    IntoStaticStr,
    VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum WorktreeState {
    /// Asked for and its base recorded; created when the task is claimed.
    Pending,
    /// It exists and an agent runs (or ran, until the finish is recorded) in it.
    Active,
    /// The run ended with changes: worktree and branch kept for review.
    Kept,
    /// Merged into the repository's branch; worktree and branch removed.
    Merged,
    /// Thrown away on request; worktree and branch removed.
    Discarded,
    /// The run changed nothing: worktree and branch removed at once.
    Removed,
}

impl WorktreeState {
    /// The states in which the worktree and its branch exist.
    pub const EXISTING: [WorktreeState; 2] = [WorktreeState::Active, WorktreeState::Kept];

    /// The name used in JSON (`pending`, `active`, …).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether the worktree and its branch still exist (so it can be diffed, merged or
    /// discarded).
    pub fn exists(self) -> bool {
        WorktreeState::EXISTING.contains(&self)
    }
}

/// A task's worktree: where it is, what it started from and what the agent changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Worktree {
    /// The top directory of the user's checkout the task was submitted in (merges go there).
    pub repo: String,
    /// The task's working directory relative to `repo` (`""`: the top); the agent runs in the
    /// same place in the worktree.
    pub subdir: String,
    /// The commit the worktree starts from: `--base`, else the checkout's `HEAD` at submit.
    pub base: String,
    /// The worktree's directory (`DATA/worktrees/<id>`); `None` until it is created.
    #[serde(default)]
    pub path: Option<String>,
    /// Its branch (`legate/<id>`, a follow-up keeps its predecessor's); `None` until created.
    #[serde(default)]
    pub branch: Option<String>,
    /// The branch's commit when the run ended.
    #[serde(default)]
    pub head: Option<String>,
    /// The commits the agent made (`base..head`, newest first, at most [`LISTED_MAX`]).
    #[serde(default)]
    pub commits: Vec<String>,
    /// The files changed from `base`, committed or not (at most [`LISTED_MAX`] names).
    #[serde(default)]
    pub files: Vec<String>,
    /// How many files changed from `base`, committed or not.
    #[serde(default)]
    pub files_changed: u64,
    /// Lines added.
    #[serde(default)]
    pub insertions: u64,
    /// Lines removed.
    #[serde(default)]
    pub deletions: u64,
    /// Where it is in its life.
    pub state: WorktreeState,
    /// The follow-up that continues in this worktree, when one was sent: merge, discard and
    /// diff act on the newest task of the chain.
    #[serde(default)]
    pub continued_by: Option<TaskId>,
}

impl Worktree {
    /// A record of a worktree still to be created.
    pub fn pending(repo: String, subdir: String, base: String) -> Worktree {
        Worktree {
            repo,
            subdir,
            base,
            path: None,
            branch: None,
            head: None,
            commits: Vec::new(),
            files: Vec::new(),
            files_changed: 0,
            insertions: 0,
            deletions: 0,
            state: WorktreeState::Pending,
            continued_by: None,
        }
    }

    /// The branch a new worktree of task `id` gets.
    pub fn branch_for(id: &TaskId) -> String {
        format!("{BRANCH_PREFIX}{id}")
    }

    /// The record as metadata to merge into a task's: `{"worktree": {...}}`.
    pub fn as_metadata(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        m.insert(
            WORKTREE_KEY.into(),
            serde_json::to_value(self).unwrap_or_default(),
        );
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_survives_a_shallow_and_a_deep_merge_alike() {
        let mut w = Worktree::pending("/r".into(), "".into(), "abc".into());
        w.state = WorktreeState::Kept;
        let json = serde_json::to_value(&w).unwrap();
        // Every field is written, so a merge replaces all of them whichever way it merges.
        for key in ["path", "branch", "head", "continued_by", "files", "commits"] {
            assert!(json.get(key).is_some(), "{key} missing from {json}");
        }
        // A store that drops null fields (SQLite's json_patch) reads back the same record.
        let mut dropped = json.clone();
        dropped.as_object_mut().unwrap().retain(|_, v| !v.is_null());
        assert_eq!(serde_json::from_value::<Worktree>(dropped).unwrap(), w);
    }

    #[test]
    fn names_round_trip() {
        crate::names::assert_round_trips::<Isolation>();
        crate::names::assert_round_trips::<WorktreeState>();
    }

    #[test]
    fn isolation_names_parse_and_an_unknown_one_lists_them() {
        assert_eq!("worktree".parse::<Isolation>(), Ok(Isolation::Worktree));
        let e = "sandbox".parse::<Isolation>().unwrap_err();
        assert!(e.contains("none, worktree"), "{e}");
    }
}
