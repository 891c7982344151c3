//! Reviewing a task's worktree on request (`diff`, `discard`) and what `merge` shares with
//! them: which task's worktree a reference means, whether it can be worked on, and recording
//! its new state.
//!
//! Each acts on the newest task of a follow-up chain that shares one worktree (a task whose
//! record names `continued_by` hands over to that task), and records the new state in every
//! task of the chain.

use std::path::Path;

use legate_domain::api::{DiffQuery, DiffReport, ErrorCode, Overlap};
use legate_domain::{Task, TaskId, Worktree, WorktreeState};

use super::git::{Git, GitError};
use super::report::Changes;
use crate::EngineError;
use crate::error::ServiceError;
use crate::followup::FOLLOWS_KEY;
use crate::service::Service;

/// The most bytes of a diff's text returned.
const DIFF_MAX: usize = 16 << 20;

/// The longest follow-up chain walked.
const CHAIN_MAX: usize = 1000;

/// A refusal about a worktree (code `worktree`).
pub(super) fn refused(message: String, hint: impl Into<String>) -> ServiceError {
    EngineError::refused(ErrorCode::Worktree, message, hint)
}

/// Why a worktree in `state` cannot be worked on; `None` while it exists.
fn gone(id: &TaskId, state: WorktreeState, doing: &str) -> Option<ServiceError> {
    let (why, hint) = match state {
        WorktreeState::Active | WorktreeState::Kept => return None,
        WorktreeState::Pending => ("was never created (the task did not start)", ""),
        WorktreeState::Merged => ("was already merged", "see `git log` in the repository"),
        WorktreeState::Discarded => ("was discarded", ""),
        WorktreeState::Removed => (
            "was removed: the run changed nothing",
            "there is nothing to review",
        ),
    };
    Some(refused(
        format!("cannot {doing} task {id}: its worktree {why}"),
        hint,
    ))
}

/// A git failure as a refusal.
pub(super) fn git_failed(e: GitError) -> ServiceError {
    refused(e.to_string(), "check the repository with `git status`")
}

impl Service {
    /// The task whose worktree `reference`'s is (the newest follow-up continuing in it), and
    /// its record. Errors: no such task; a task without a worktree.
    pub(crate) async fn worktree_task(
        &self,
        reference: &str,
    ) -> Result<(Task, Worktree), ServiceError> {
        let mut task = self.get(reference, false).await?;
        for _ in 0..CHAIN_MAX {
            let Some(record) = task.worktree.clone() else {
                return Err(refused(
                    format!(
                        "task {} has no worktree: it ran in its working directory",
                        task.id
                    ),
                    "only tasks submitted with --worktree (or isolation = \"worktree\") have one",
                ));
            };
            match self.successor(&record).await? {
                Some(next) => task = next,
                None => return Ok((task, record)),
            }
        }
        Err(refused(
            format!("the follow-ups of task {reference} form a chain longer than {CHAIN_MAX}"),
            "",
        ))
    }

    /// The follow-up that holds `record`'s worktree now: the one it names as `continued_by`,
    /// unless that one ended without ever running (it left the worktree where it was).
    pub(crate) async fn successor(&self, record: &Worktree) -> Result<Option<Task>, ServiceError> {
        let Some(next) = &record.continued_by else {
            return Ok(None);
        };
        let successor = self.get_by_id(next, false).await?;
        let never_ran = successor.status.is_terminal()
            && successor
                .worktree
                .as_ref()
                .is_none_or(|w| w.state == WorktreeState::Pending);
        Ok((!never_ran).then_some(successor))
    }

    /// [`Service::worktree_task`] read again with its repository's turn held, so two
    /// requests about one worktree (a merge and a discard) never both act on it.
    pub(super) async fn worktree_task_locked(
        &self,
        reference: &str,
    ) -> Result<(tokio::sync::OwnedMutexGuard<()>, Task, Worktree), ServiceError> {
        let (_, first) = self.worktree_task(reference).await?;
        let turn = self.inner.repo_locks.turn(&first.repo).await;
        let (task, record) = self.worktree_task(reference).await?;
        Ok((turn, task, record))
    }

    /// Refuses work on a worktree that does not exist (any more), whose task still runs, or
    /// whose repository is gone.
    pub(super) fn must_exist(
        task: &Task,
        record: &Worktree,
        doing: &str,
    ) -> Result<(), ServiceError> {
        let id = &task.id;
        if !task.status.is_terminal() {
            return Err(EngineError::refused(
                ErrorCode::NotFinished,
                format!(
                    "task {id} is {}: its agent may still change the worktree",
                    task.status
                ),
                format!("wait for it first (legate wait {id}), or cancel it"),
            ));
        }
        Self::present(id, record, doing)
    }

    /// Refuses work on a worktree that does not exist (any more), or whose repository is gone.
    fn present(id: &TaskId, record: &Worktree, doing: &str) -> Result<(), ServiceError> {
        if let Some(e) = gone(id, record.state, doing) {
            return Err(e);
        }
        if !Path::new(&record.repo).is_dir() {
            return Err(refused(
                format!(
                    "cannot {doing} task {id}: its repository {} is gone (moved or deleted since the task ran)",
                    record.repo
                ),
                format!(
                    "move the repository back to {}, then try again",
                    record.repo
                ),
            ));
        }
        Ok(())
    }

    /// The task's worktree directory, made again from its branch when it was deleted by hand
    /// (its committed work is on the branch). Call with the repository's turn held.
    pub(super) async fn restored(
        &self,
        task: &Task,
        record: &Worktree,
    ) -> Result<String, ServiceError> {
        let (Some(path), Some(branch)) = (&record.path, &record.branch) else {
            return Err(refused(
                format!("task {}'s worktree was never made", task.id),
                "",
            ));
        };
        if !Path::new(path).is_dir() {
            let reference = format!("refs/heads/{branch}");
            let repo = Git::at(Path::new(&record.repo));
            if !repo
                .ok(&["rev-parse", "--verify", "--quiet", &reference])
                .await
            {
                return Err(refused(
                    format!(
                        "task {}'s worktree {path} and its branch {branch} are both gone: there is nothing left to review",
                        task.id
                    ),
                    format!("record that: legate discard {}", task.id),
                ));
            }
            self.make_worktree(record, Path::new(path), branch)
                .await
                .map_err(git_failed)?;
        }
        Ok(path.clone())
    }

    /// The changes in a task's worktree now, when it exists (made again from its branch when
    /// its directory was deleted); `None` for one merged, discarded or removed.
    async fn live_changes(
        &self,
        task: &Task,
        record: &Worktree,
    ) -> Result<Option<Changes>, ServiceError> {
        if !record.state.exists() {
            return Ok(None);
        }
        Self::present(&task.id, record, "read")?;
        let path = match &record.path {
            Some(p) if Path::new(p).is_dir() => p.clone(),
            _ => {
                let _turn = self.inner.repo_locks.turn(&record.repo).await;
                self.restored(task, record).await?
            }
        };
        let branch = record.branch.clone().unwrap_or_default();
        self.worktree_changes(Path::new(&path), &record.base, &branch)
            .await
            .map(Some)
            .map_err(|e| {
                refused(
                    format!("cannot read task {}'s worktree {path}: {e}", task.id),
                    format!(
                        "if its repository was moved or replaced, move it back to {}",
                        record.repo
                    ),
                )
            })
    }

    /// What a task's worktree changed from its base: the patch or its `--stat`, counts read
    /// live while the worktree exists; with `against`, the files both tasks changed.
    pub async fn diff(&self, reference: &str, q: DiffQuery) -> Result<DiffReport, ServiceError> {
        let (task, mut record) = self.worktree_task(reference).await?;
        let live = self.live_changes(&task, &record).await?;
        if let Some(other) = &q.against {
            let (other_task, other_record) = self.worktree_task(other).await?;
            if other_task.id == task.id {
                return Err(refused(
                    format!(
                        "{reference} and {other} share one worktree (that of task {}, the newest of their follow-up chain)",
                        task.id
                    ),
                    "compare two tasks that ran in worktrees of their own",
                ));
            }
            if other_record.repo != record.repo {
                return Err(refused(
                    format!(
                        "tasks {} and {} ran in different repositories ({} and {})",
                        task.id, other_task.id, record.repo, other_record.repo
                    ),
                    "compare two tasks of the same repository",
                ));
            }
            let theirs = self.live_changes(&other_task, &other_record).await?;
            let mine = live.as_ref().map_or(&record.files, |c| &c.files);
            let theirs = theirs.as_ref().map_or(&other_record.files, |c| &c.files);
            let mut files: Vec<String> = mine
                .iter()
                .filter(|f| theirs.contains(f))
                .cloned()
                .collect();
            files.sort();
            return Ok(DiffReport {
                task: task.id,
                worktree: record,
                text: String::new(),
                overlap: Some(Overlap {
                    other: other_task.id,
                    files,
                }),
            });
        }
        let stat = if q.stat { "--stat" } else { "--patch" };
        let (dir, to) = match live {
            Some(changes) => {
                let to = changes.tree.clone();
                record = changes.into_record(record);
                (record.path.clone().unwrap_or_default(), to)
            }
            None => match (&record.state, &record.head) {
                // A merged worktree's commits are in the repository.
                (WorktreeState::Merged, Some(head)) => (record.repo.clone(), head.clone()),
                (state, _) => {
                    return Err(gone(&task.id, *state, "diff").unwrap_or_else(|| {
                        refused(
                            format!("task {}'s worktree is not there to read", task.id),
                            "",
                        )
                    }));
                }
            },
        };
        let args = [
            "-c",
            "core.quotePath=false",
            "diff",
            stat,
            "--no-renames",
            "--no-color",
            &record.base,
            &to,
        ];
        let (mut text, cut) = Git::at(Path::new(&dir))
            .run_capped(&args, DIFF_MAX)
            .await
            .map_err(git_failed)?;
        if cut {
            text.push_str(&format!(
                "\n… (cut at {} MiB: for all of it, run `git diff {} {to}` in {dir})\n",
                DIFF_MAX >> 20,
                record.base
            ));
        }
        Ok(DiffReport {
            task: task.id,
            worktree: record,
            text,
            overlap: None,
        })
    }

    /// Throws a finished task's worktree away: worktree and branch removed, `discarded`.
    pub async fn discard(&self, reference: &str) -> Result<Task, ServiceError> {
        let (svc, reference) = (self.clone(), reference.to_string());
        self.to_the_end(async move { svc.discard_now(&reference).await })
            .await
    }

    async fn discard_now(&self, reference: &str) -> Result<Task, ServiceError> {
        let (turn, task, mut record) = self.worktree_task_locked(reference).await?;
        Self::must_exist(&task, &record, "discard")?;
        self.remove_worktree(&record).await.map_err(git_failed)?;
        record.state = WorktreeState::Discarded;
        // Recorded before the turn passes on, so the next request reads the new state.
        self.save_chain(&task, &record).await;
        drop(turn);
        self.get_by_id(&task.id, false).await
    }

    /// Records `record`'s state in `task` (the whole record) and in each predecessor sharing
    /// its worktree (their own counts kept).
    pub(crate) async fn save_chain(&self, task: &Task, record: &Worktree) {
        self.save_worktree(&task.id, record).await;
        let mut at = task.clone();
        for _ in 0..CHAIN_MAX {
            let Some(prev) = at.metadata[FOLLOWS_KEY]
                .as_str()
                .and_then(|p| TaskId::parse(p).ok())
            else {
                return;
            };
            let Ok(before) = self.get_by_id(&prev, false).await else {
                return;
            };
            let Some(mut theirs) = before.worktree.clone().filter(|w| w.path == record.path) else {
                return;
            };
            theirs.state = record.state;
            self.save_worktree(&before.id, &theirs).await;
            at = before;
        }
    }
}
