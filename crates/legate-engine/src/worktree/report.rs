//! What a worktree holds compared with its base: at the end of each run (recorded in the
//! task), and for `diff` and `merge` (read live). Uncommitted and untracked files count: the
//! worktree's state is written as a tree through a scratch copy of its index, so neither its
//! index nor its files change.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use legate_domain::worktree::LISTED_MAX;
use legate_domain::{Task, Worktree, WorktreeState};
use tracing::warn;

use super::git::{Git, GitError};
use crate::service::Service;

/// Numbers scratch index files, so reads of one worktree at once do not share one.
static SCRATCH: AtomicU64 = AtomicU64::new(0);

/// A worktree's content against its base.
#[derive(Debug, Clone, Default)]
pub(crate) struct Changes {
    /// The commit checked out in it.
    pub head: String,
    /// The tree of everything in it now (committed or not; ignored files excepted).
    pub tree: String,
    /// Whether `tree` differs from `head`'s: changes not committed yet.
    pub uncommitted: bool,
    /// Commits after the base (`base..head`), newest first, at most [`LISTED_MAX`].
    pub commits: Vec<String>,
    /// Changed files (every one, for comparisons).
    pub files: Vec<String>,
    /// Lines added and removed.
    pub insertions: u64,
    /// Lines removed.
    pub deletions: u64,
    /// Whether its `HEAD` is still its branch (an agent may have checked out another).
    pub on_branch: bool,
}

impl Changes {
    /// Whether the worktree differs from its base at all (or left its branch, which may hold
    /// commits of its own: kept, to be safe).
    pub fn any(&self) -> bool {
        !self.files.is_empty() || !self.commits.is_empty() || !self.on_branch
    }

    /// `record` with these changes written in.
    pub fn into_record(self, mut record: Worktree) -> Worktree {
        record.head = Some(self.head);
        record.commits = self.commits;
        record.files_changed = self.files.len() as u64;
        record.files = self.files.into_iter().take(LISTED_MAX).collect();
        record.insertions = self.insertions;
        record.deletions = self.deletions;
        record
    }
}

impl Service {
    /// The changes in the worktree at `path` since `base`; `branch` is the one it should
    /// be on.
    pub(crate) async fn worktree_changes(
        &self,
        path: &Path,
        base: &str,
        branch: &str,
    ) -> Result<Changes, GitError> {
        let git = Git::at(path);
        let head = git.line(&["rev-parse", "HEAD"]).await?;
        let on = git.line(&["symbolic-ref", "-q", "HEAD"]).await.ok();
        let tree = self.snapshot(path).await?;
        let head_tree = git.line(&["rev-parse", "HEAD^{tree}"]).await?;
        let range = format!("{base}..{head}");
        let max = format!("--max-count={LISTED_MAX}");
        let commits = git.run(&["rev-list", &max, &range]).await?;
        let numstat = git
            .run(&["diff", "--numstat", "-z", "--no-renames", base, &tree])
            .await?;
        let mut changes = Changes {
            on_branch: on.as_deref() == Some(format!("refs/heads/{branch}").as_str()),
            uncommitted: tree != head_tree,
            head,
            tree,
            commits: commits.lines().map(str::to_string).collect(),
            ..Changes::default()
        };
        for entry in numstat.split('\0').filter(|e| !e.is_empty()) {
            let mut parts = entry.splitn(3, '\t');
            let (added, removed, name) = (parts.next(), parts.next(), parts.next());
            changes.insertions += added.and_then(|n| n.parse().ok()).unwrap_or(0);
            changes.deletions += removed.and_then(|n| n.parse().ok()).unwrap_or(0);
            if let Some(n) = name {
                changes.files.push(n.to_string());
            }
        }
        Ok(changes)
    }

    /// The tree of the worktree's files as they are now, written through a scratch copy of
    /// its index (kept in the worktrees directory, which only the user can read).
    pub(crate) async fn snapshot(&self, path: &Path) -> Result<String, GitError> {
        let git = Git::at(path);
        let index = git.line(&["rev-parse", "--git-path", "index"]).await?;
        let index = path.join(index);
        let n = SCRATCH.fetch_add(1, Ordering::Relaxed);
        let scratch: PathBuf = self
            .worktrees_dir()
            .join(format!(".index-{}-{n}", std::process::id()));
        let made = match std::fs::copy(&index, &scratch) {
            Ok(_) => Ok(()),
            // A worktree whose index was never written: start from its HEAD.
            Err(_) => Git::at(path)
                .env("GIT_INDEX_FILE", scratch.as_os_str())
                .run(&["read-tree", "HEAD"])
                .await
                .map(drop),
        };
        let tree = async {
            made?;
            let with = Git::at(path).env("GIT_INDEX_FILE", scratch.as_os_str());
            with.run(&["add", "-A", "--", "."]).await?;
            with.line(&["write-tree"]).await
        }
        .await;
        let _ = std::fs::remove_file(&scratch);
        tree
    }

    /// At the end of a run: the task's worktree record with what changed, `kept`, or — when
    /// the run changed nothing — `removed`, its worktree and branch deleted. Metadata to merge
    /// into the outcome; empty for a task without a worktree.
    pub(crate) async fn report_worktree(
        &self,
        task: &Task,
    ) -> serde_json::Map<String, serde_json::Value> {
        // Most tasks have none: no store read for them.
        if task.worktree.is_none() {
            return serde_json::Map::new();
        }
        let Some(record) = self.current_worktree(task).await else {
            return serde_json::Map::new();
        };
        self.summarise_worktree(task, record).await.as_metadata()
    }

    /// The record of a task's worktree after a run: read from the worktree itself.
    pub(crate) async fn summarise_worktree(&self, task: &Task, mut record: Worktree) -> Worktree {
        let Some(path) = record.path.clone().map(PathBuf::from) else {
            return record;
        };
        let branch = record.branch.clone().unwrap_or_default();
        if !path.is_dir() {
            return self.worktree_vanished(task, record, &branch).await;
        }
        match self.worktree_changes(&path, &record.base, &branch).await {
            Ok(changes) if changes.any() => {
                record = changes.into_record(record);
                record.state = WorktreeState::Kept;
            }
            Ok(changes) => {
                record = changes.into_record(record);
                let _turn = self.inner.repo_locks.turn(&record.repo).await;
                match self.remove_worktree(&record).await {
                    Ok(()) => record.state = WorktreeState::Removed,
                    Err(e) => {
                        warn!(task = %task.id, "removing the unchanged worktree failed: {e}");
                        record.state = WorktreeState::Kept;
                    }
                }
            }
            Err(e) => {
                warn!(task = %task.id, "reading the task's worktree failed: {e}; it is kept");
                record.state = WorktreeState::Kept;
            }
        }
        record
    }

    /// A run ended and its worktree directory is gone (the agent deleted it): kept when its
    /// branch holds commits (a merge makes the worktree again from it), else removed.
    async fn worktree_vanished(&self, task: &Task, mut record: Worktree, branch: &str) -> Worktree {
        warn!(task = %task.id, "the task's worktree directory is gone");
        let repo = Git::at(Path::new(&record.repo));
        let _ = repo.run(&["worktree", "prune"]).await;
        let range = format!("{}..refs/heads/{branch}", record.base);
        let max = format!("--max-count={LISTED_MAX}");
        match repo.run(&["rev-list", &max, &range]).await {
            Ok(commits) if !commits.trim().is_empty() => {
                record.commits = commits.lines().map(str::to_string).collect();
                record.head = record.commits.first().cloned();
                record.state = WorktreeState::Kept;
            }
            _ => {
                let _turn = self.inner.repo_locks.turn(&record.repo).await;
                if let Err(e) = self.remove_worktree(&record).await {
                    warn!(task = %task.id, "removing the task's branch failed: {e}");
                }
                record.state = WorktreeState::Removed;
            }
        }
        record
    }

    /// The task's worktree record as stored now (the claim may have written it after the
    /// task was read).
    pub(crate) async fn current_worktree(&self, task: &Task) -> Option<Worktree> {
        match self.inner.store.get(&task.id, false).await {
            Ok(Some(t)) => t.worktree,
            _ => task.worktree.clone(),
        }
    }

    /// Removes a worktree (`git worktree remove`) and its branch (`git branch -D`). Call with
    /// the repository's turn held. Errors: the repository is gone, or git refused.
    pub(crate) async fn remove_worktree(&self, record: &Worktree) -> Result<(), GitError> {
        let repo_dir = Path::new(&record.repo);
        if !repo_dir.is_dir() {
            return Err(GitError {
                command: "git worktree remove".into(),
                message: format!("the repository {} is gone (moved or deleted)", record.repo),
                code: None,
            });
        }
        let repo = Git::at(repo_dir);
        match record.path.as_deref().map(Path::new) {
            Some(path) if self.owns_worktree_path(path) => self.clear_worktree(&repo, path).await,
            Some(path) if path.exists() => {
                let p = path.display().to_string();
                repo.run(&["worktree", "remove", "--force", &p]).await?;
            }
            _ => {
                let _ = repo.run(&["worktree", "prune"]).await;
            }
        }
        if let Some(branch) = &record.branch {
            let reference = format!("refs/heads/{branch}");
            if repo
                .ok(&["rev-parse", "--verify", "--quiet", &reference])
                .await
            {
                repo.run(&["branch", "-D", branch]).await?;
            }
        }
        Ok(())
    }
}
