//! Reviewing and integrating a task's worktree on request: `diff`, `merge`, `discard`.
//!
//! Each acts on the newest task of a follow-up chain that shares one worktree (a task whose
//! record names `continued_by` hands over to that task), and records the new state in every
//! task of the chain.

use std::path::Path;

use legate_domain::api::{DiffQuery, DiffReport, ErrorCode, MergeReport, MergeRequest, Overlap};
use legate_domain::{Task, TaskId, Worktree, WorktreeState};

use super::git::{Git, GitError, identity};
use crate::EngineError;
use crate::error::ServiceError;
use crate::followup::FOLLOWS_KEY;
use crate::service::Service;

/// The longest follow-up chain walked.
const CHAIN_MAX: usize = 1000;

fn refused(message: String, hint: impl Into<String>) -> ServiceError {
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

fn git_failed(e: GitError) -> ServiceError {
    refused(e.to_string(), "check the repository with `git status`")
}

impl Service {
    /// The task whose worktree `reference`'s is (the newest follow-up continuing in it), and
    /// its record. Errors: no such task; a task without a worktree.
    async fn worktree_task(&self, reference: &str) -> Result<(Task, Worktree), ServiceError> {
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

    /// Refuses work on a worktree that does not exist (any more), or whose task still runs.
    fn must_exist(task: &Task, record: &Worktree, doing: &str) -> Result<(), ServiceError> {
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
        match gone(id, record.state, doing) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// What a task's worktree changed from its base: the patch or its `--stat`, counts read
    /// live while the worktree exists; with `against`, the files both tasks changed.
    pub async fn diff(&self, reference: &str, q: DiffQuery) -> Result<DiffReport, ServiceError> {
        let (task, mut record) = self.worktree_task(reference).await?;
        let live = self.live_changes(&task, &record).await?;
        if let Some(other) = &q.against {
            let (other_task, other_record) = self.worktree_task(other).await?;
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
        let text = match live {
            Some(changes) => {
                let path = record.path.clone().unwrap_or_default();
                let to = changes.tree.clone();
                record = changes.into_record(record);
                Git::at(Path::new(&path))
                    .run(&["diff", stat, "--no-color", &record.base, &to])
                    .await
                    .map_err(git_failed)?
            }
            None => match (&record.state, &record.head) {
                (WorktreeState::Merged, Some(head)) => Git::at(Path::new(&record.repo))
                    .run(&["diff", stat, "--no-color", &record.base, head])
                    .await
                    .map_err(git_failed)?,
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
        Ok(DiffReport {
            task: task.id,
            worktree: record,
            text,
            overlap: None,
        })
    }

    /// The changes in a task's worktree now, when it exists on disk.
    async fn live_changes(
        &self,
        task: &Task,
        record: &Worktree,
    ) -> Result<Option<super::report::Changes>, ServiceError> {
        let Some(path) = record.path.as_deref().filter(|_| record.state.exists()) else {
            return Ok(None);
        };
        if !Path::new(path).is_dir() {
            return Err(refused(
                format!("task {}'s worktree {path} is gone", task.id),
                format!("discard it: legate discard {}", task.id),
            ));
        }
        self.worktree_changes(Path::new(path), &record.base)
            .await
            .map(Some)
            .map_err(git_failed)
    }

    /// Merges a finished task's work into the current branch of the checkout it was submitted
    /// in: its uncommitted changes are committed on its branch first (a message naming the
    /// task), then the branch is merged (or `--squash`ed into one commit), and worktree and
    /// branch are removed. Refused, with nothing changed, when the checkout has uncommitted
    /// changes to tracked files or the merge would conflict (the conflicting files named).
    pub async fn merge(
        &self,
        reference: &str,
        req: MergeRequest,
    ) -> Result<MergeReport, ServiceError> {
        let (task, record) = self.worktree_task(reference).await?;
        Self::must_exist(&task, &record, "merge")?;
        let _turn = self.inner.repo_locks.turn(&record.repo).await;
        let repo_dir = Path::new(&record.repo);
        let repo = Git::at(repo_dir);
        let changes = self.live_changes(&task, &record).await?.unwrap_or_default();
        if !changes.any() {
            return Err(refused(
                format!("task {}'s worktree holds no change from its base", task.id),
                format!("discard it instead: legate discard {}", task.id),
            ));
        }
        let dirty = repo
            .run(&["status", "--porcelain", "--untracked-files=no"])
            .await
            .map_err(git_failed)?;
        if !dirty.trim().is_empty() {
            let files: Vec<&str> = dirty.lines().map(|l| l.get(3..).unwrap_or(l)).collect();
            return Err(EngineError::refused(
                ErrorCode::DirtyCheckout,
                format!(
                    "the checkout {} has uncommitted changes ({}): merge needs a clean working tree",
                    record.repo,
                    files.join(", ")
                ),
                "commit or stash them (git stash), then merge again",
            ));
        }
        let id = &task.id;
        let message = format!("legate task {id}: {}", task.title);
        let who = identity(repo_dir).await;
        // What would be merged, as a commit object that changes nothing yet.
        let candidate = if changes.uncommitted {
            let args = [
                &who[..],
                &[
                    "commit-tree",
                    &changes.tree,
                    "-p",
                    &changes.head,
                    "-m",
                    &message,
                ],
            ]
            .concat();
            repo.line(&args).await.map_err(git_failed)?
        } else {
            changes.head.clone()
        };
        let probe = repo
            .run(&[
                "merge-tree",
                "--write-tree",
                "--name-only",
                "--no-messages",
                "HEAD",
                &candidate,
            ])
            .await;
        match probe {
            Ok(_) => {}
            Err(e) if e.code == Some(1) => {
                let files: Vec<&str> = e
                    .message
                    .lines()
                    .skip(1)
                    .filter(|l| !l.is_empty())
                    .collect();
                return Err(EngineError::refused(
                    ErrorCode::MergeConflict,
                    format!(
                        "merging task {id} into {} would conflict in: {}; nothing was changed",
                        record.repo,
                        files.join(", ")
                    ),
                    format!(
                        "resolve it by hand (git merge {} in the checkout), send a follow-up asking the agent to rebase onto the checkout's HEAD, or discard it",
                        record.branch.as_deref().unwrap_or("")
                    ),
                ));
            }
            Err(e) => return Err(git_failed(e)),
        }
        let path = record.path.clone().unwrap_or_default();
        if changes.uncommitted {
            // The branch takes the commit just checked; the files already match it.
            Git::at(Path::new(&path))
                .run(&["reset", "-q", "--mixed", &candidate])
                .await
                .map_err(git_failed)?;
        }
        self.merge_commit(repo_dir, &candidate, &message, req.squash, &who)
            .await?;
        let into = repo
            .line(&["symbolic-ref", "--short", "-q", "HEAD"])
            .await
            .ok();
        let commit = repo
            .line(&["rev-parse", "HEAD"])
            .await
            .map_err(git_failed)?;
        let committed_leftovers = changes.uncommitted;
        let mut record = changes.into_record(record);
        record.head = Some(candidate);
        if let Err(e) = self.remove_worktree(&record).await {
            tracing::warn!(task = %id, "removing the merged worktree failed: {e}");
        }
        record.state = WorktreeState::Merged;
        self.save_chain(&task, &record).await;
        Ok(MergeReport {
            task: task.id,
            worktree: record,
            into,
            commit,
            committed_leftovers,
        })
    }

    /// Merges (or squashes and commits) `commit` into the checkout at `repo_dir`; a failure
    /// is aborted, leaving the checkout as it was.
    async fn merge_commit(
        &self,
        repo_dir: &Path,
        commit: &str,
        message: &str,
        squash: bool,
        who: &[&str],
    ) -> Result<(), ServiceError> {
        let repo = Git::at(repo_dir);
        let merged = if squash {
            let squashed = repo.run(&["merge", "--squash", commit]).await;
            match squashed {
                Ok(_) => repo
                    .run(&[who, &["commit", "-q", "-m", message]].concat())
                    .await
                    .map(drop),
                Err(e) => Err(e),
            }
        } else {
            let args = [who, &["merge", "--no-edit", "-m", message, commit]].concat();
            repo.run(&args).await.map(drop)
        };
        if let Err(e) = merged {
            let undo: &[&str] = if squash {
                &["reset", "-q", "--merge"]
            } else {
                &["merge", "--abort"]
            };
            let _ = repo.run(undo).await;
            return Err(git_failed(e));
        }
        Ok(())
    }

    /// Throws a finished task's worktree away: worktree and branch removed, `discarded`.
    pub async fn discard(&self, reference: &str) -> Result<Task, ServiceError> {
        let (task, mut record) = self.worktree_task(reference).await?;
        Self::must_exist(&task, &record, "discard")?;
        {
            let _turn = self.inner.repo_locks.turn(&record.repo).await;
            self.remove_worktree(&record).await.map_err(git_failed)?;
        }
        record.state = WorktreeState::Discarded;
        self.save_chain(&task, &record).await;
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
