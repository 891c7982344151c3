//! At claim: the task's worktree made (or found again), before its agent starts.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use legate_domain::{ErrorKind, Outcome, Status, Task, Worktree, WorktreeState};
use tracing::{info, warn};

use super::git::{Git, GitError};
use crate::service::Service;

/// How many times creating a worktree is tried while git's lock files are taken.
const TRIES: u32 = 8;

/// The first pause between tries; it doubles.
const FIRST_PAUSE: Duration = Duration::from_millis(50);

fn failed(message: String) -> Box<Outcome> {
    Box::new(Outcome::failed(
        Status::Failed,
        ErrorKind::WorktreeFailed,
        message,
    ))
}

impl Service {
    /// The directory the task's agent runs in when it has a worktree: the worktree (created
    /// now, or the one a follow-up or an earlier attempt left), at the task's place in the
    /// repository. `None`: the task is not isolated and runs in its `cwd`. An error is the
    /// outcome of a task whose worktree could not be made: it never runs elsewhere.
    pub(crate) async fn prepare_worktree(
        &self,
        task: &Task,
    ) -> Result<Option<PathBuf>, Box<Outcome>> {
        let Some(mut record) = task.worktree.clone() else {
            return Ok(None);
        };
        if !Path::new(&record.repo).is_dir() {
            return Err(failed(format!(
                "the repository {} is gone (moved or deleted after the task was submitted); no worktree was created",
                record.repo
            )));
        }
        let path = record
            .path
            .clone()
            .map_or_else(|| self.worktree_path(&task.id), PathBuf::from);
        let branch = record
            .branch
            .clone()
            .unwrap_or_else(|| Worktree::branch_for(&task.id));
        let made = {
            let _turn = self.inner.repo_locks.turn(&record.repo).await;
            let made = self.make_worktree(&record, &path, &branch).await;
            if made.is_err() {
                self.clear_unmade(task).await;
            }
            made
        };
        if let Err(e) = made {
            return Err(failed(format!(
                "cannot create the task's worktree {} on branch {branch}: {e}",
                path.display()
            )));
        }
        record.path = Some(path.display().to_string());
        record.branch = Some(branch);
        record.state = WorktreeState::Active;
        self.save_worktree(&task.id, &record).await;
        let dir = path.join(&record.subdir);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            return Err(failed(format!(
                "cannot create {} in the task's worktree: {e}",
                dir.display()
            )));
        }
        Ok(Some(dir))
    }

    /// Makes `path` a worktree of `record.repo` on `branch` (new at the base, or the branch
    /// as it is when it exists), unless it already is one; clears what a crash left half
    /// made. Tries again while git's lock files are taken.
    pub(super) async fn make_worktree(
        &self,
        record: &Worktree,
        path: &Path,
        branch: &str,
    ) -> Result<(), GitError> {
        let repo = Git::at(Path::new(&record.repo));
        let began = std::time::Instant::now();
        let mut pause = FIRST_PAUSE;
        for attempt in 1..=TRIES {
            if is_complete_worktree(path).await {
                return Ok(());
            }
            if path.exists() && self.owns_worktree_path(path) {
                // Half made by a crash: ours to clear.
                warn!(path = %path.display(), "clearing an unfinished worktree");
            }
            self.clear_worktree(&repo, path).await;
            if let Some(parent) = path.parent() {
                let _ = std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(parent);
            }
            let p = path.display().to_string();
            let reference = format!("refs/heads/{branch}");
            let has_branch = repo
                .ok(&["rev-parse", "--verify", "--quiet", &reference])
                .await;
            let added = if has_branch {
                repo.run(&["worktree", "add", &p, branch]).await
            } else {
                repo.run(&["worktree", "add", "-b", branch, &p, &record.base])
                    .await
            };
            match added {
                Ok(_) => {
                    let ms = began.elapsed().as_millis() as u64;
                    info!(path = %p, branch, ms, "created a worktree");
                    return Ok(());
                }
                // A hook that failed after the checkout leaves a usable worktree.
                Err(_) if is_complete_worktree(path).await => return Ok(()),
                Err(e) if e.is_lock_contention() && attempt < TRIES => {
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
                Err(e) => return Err(e),
            }
        }
        Err(GitError {
            command: "git worktree add".into(),
            message: format!("git's lock files stayed taken through {TRIES} tries"),
            code: None,
        })
    }
}

/// Whether `path` is the top of a git worktree whose creation finished (git marks one it is
/// still making `locked` with the reason "initializing", and a `worktree add` killed half way
/// leaves the mark). One whose agent switched branches still is one, used as it is: never
/// cleared.
async fn is_complete_worktree(path: &Path) -> bool {
    if !path.is_dir() {
        return false;
    }
    let git = Git::at(path);
    let top = git.run(&["rev-parse", "--show-toplevel"]).await;
    let top = top.map(|t| t.strip_suffix('\n').unwrap_or(&t).to_string());
    let same =
        matches!(&top, Ok(t) if std::fs::canonicalize(t).ok() == std::fs::canonicalize(path).ok());
    if !same {
        return false;
    }
    let Ok(admin) = git.line(&["rev-parse", "--absolute-git-dir"]).await else {
        return false;
    };
    let mark = std::fs::read_to_string(Path::new(&admin).join("locked")).unwrap_or_default();
    mark.trim() != "initializing"
}

impl Service {
    /// Removes what is at `path` as a worktree of `repo` (locked or half made too), then
    /// git's record of any worktree whose directory is gone. A directory git does not know is
    /// deleted only when legate made it (under its worktrees directory).
    pub(crate) async fn clear_worktree(&self, repo: &Git<'_>, path: &Path) {
        // A git a crashed daemon started there (`worktree add` runs `reset --hard` in it)
        // would go on writing: it goes first.
        if self.owns_worktree_path(path) {
            for pid in legate_runner::procfs::processes_in(path) {
                warn!(pid, path = %path.display(), "killing a process left working in an unfinished worktree");
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        let p = path.display().to_string();
        let _ = repo.run(&["worktree", "unlock", &p]).await;
        let _ = repo
            .run(&["worktree", "remove", "--force", "--force", &p])
            .await;
        if path.exists() && self.owns_worktree_path(path) {
            let _ = std::fs::remove_dir_all(path);
        }
        let _ = repo.run(&["worktree", "prune"]).await;
    }

    /// Removes what the task's own worktree, whose making failed or was given up, left: the
    /// git still working in it, its directory and its new branch (which holds no commit: no
    /// agent ran). Nothing for a task that took over another's worktree (a follow-up). Call
    /// with the repository's turn held.
    pub(crate) async fn clear_unmade(&self, task: &Task) {
        let Some(record) = task.worktree.as_ref().filter(|w| w.path.is_none()) else {
            return;
        };
        let mut leftover = record.clone();
        leftover.path = Some(self.worktree_path(&task.id).display().to_string());
        leftover.branch = Some(Worktree::branch_for(&task.id));
        if let Err(e) = self.remove_worktree(&leftover).await {
            warn!(task = %task.id, "clearing what an unmade worktree left failed: {e}");
        }
    }

    /// After a run was interrupted (a crash, a shutdown): a task that goes back to the queue
    /// keeps its worktree for its next attempt; one that does not has its worktree reported
    /// like a finished run's (kept with its changes, removed when there are none), and a
    /// worktree its claim had only begun to create is cleared.
    pub(crate) async fn settle_worktree(&self, task: &Task) {
        let Some(record) = task.worktree.clone() else {
            return;
        };
        if task.status != Status::Interrupted {
            return;
        }
        match record.state {
            WorktreeState::Pending => {
                let _turn = self.inner.repo_locks.turn(&record.repo).await;
                self.clear_unmade(task).await;
            }
            WorktreeState::Active => {
                let record = self.summarise_worktree(task, record).await;
                self.save_worktree(&task.id, &record).await;
            }
            _ => {}
        }
    }
}
