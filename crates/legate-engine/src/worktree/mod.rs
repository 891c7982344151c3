//! Worktree isolation: a task that asked for it runs in a git worktree of its own, on a branch
//! `legate/<id>` at the commit its submitter had, under `DATA/worktrees/<id>`.
//!
//! The life of one: [`locate`] at submit (the repository and base, recorded as `pending`);
//! [`Service::prepare_worktree`] at claim (created, or reused by a follow-up or a requeued
//! run: `active`); [`Service::report_worktree`] at the end of the run (what changed: `kept`,
//! or `removed` at once when nothing did); then `diff`, `merge` (`merged`) and `discard`
//! (`discarded`) on request (`review.rs`, `merge.rs`). Every change to a repository's worktrees takes that
//! repository's turn ([`RepoLocks`]), and worktrees are removed with `git worktree remove`,
//! never by deleting a directory legate did not create.

mod create;
mod git;
mod locate;
mod merge;
mod report;
mod review;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use legate_domain::{TaskId, Worktree};

use crate::service::Service;

pub(crate) use locate::locate;

/// One turn per repository (by its top directory) to change its worktrees: git serialises
/// only part of `worktree add` with its own lock files, so legate does not race itself.
#[derive(Default)]
pub(crate) struct RepoLocks(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl RepoLocks {
    /// Waits for `repo`'s turn; held until the guard drops.
    pub async fn turn(&self, repo: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(repo.to_string())
            .or_default()
            .clone();
        lock.lock_owned().await
    }
}

impl Service {
    /// Where task worktrees live ([`crate::EngineSettings::worktrees_dir`]).
    pub fn worktrees_dir(&self) -> PathBuf {
        self.inner.settings.worktrees_dir.clone()
    }

    /// The path a new worktree of task `id` gets.
    pub(crate) fn worktree_path(&self, id: &TaskId) -> PathBuf {
        self.worktrees_dir().join(id.as_str())
    }

    /// Whether `path` is one legate creates (directly under [`Service::worktrees_dir`]), so
    /// it may delete what is left of it.
    pub(crate) fn owns_worktree_path(&self, path: &std::path::Path) -> bool {
        path.parent() == Some(self.worktrees_dir().as_path())
    }

    /// Runs `job` to its end even when the request that started it is dropped (its client
    /// went away, or the daemon began to stop, which waits for it): a merge stopped half way
    /// would leave the checkout half merged.
    pub(crate) async fn to_the_end<T: Send + 'static>(
        &self,
        job: impl std::future::Future<Output = Result<T, crate::ServiceError>> + Send + 'static,
    ) -> Result<T, crate::ServiceError> {
        self.inner.supervisors.spawn(job).await.unwrap_or_else(|e| {
            Err(crate::EngineError::refused(
                legate_domain::api::ErrorCode::Internal,
                format!("the worktree operation failed inside legate: {e}"),
                "",
            ))
        })
    }

    /// Writes a task's worktree record (whole) into its metadata.
    pub(crate) async fn save_worktree(&self, id: &TaskId, record: &Worktree) {
        if let Err(e) = self
            .inner
            .store
            .patch_metadata(id, record.as_metadata())
            .await
        {
            tracing::warn!(task = %id, "recording the task's worktree failed: {e}");
        }
    }
}
