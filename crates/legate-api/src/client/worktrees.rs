//! The worktree routes: diff, merge and discard a task's worktree.

use std::time::Duration;

use hyper::Method;
use legate_domain::Task;
use legate_domain::api::{DiffQuery, DiffReport, MergeReport, MergeRequest};

use super::{Client, ClientError};
use crate::routes::{self, for_task, with_query};

/// How long a worktree call may take: git on a large repository is slow, and nothing is
/// retried.
const GIT_TIME: Duration = Duration::from_secs(600);

impl Client {
    /// `GET /v1/tasks/{id}/diff`: what task `id`'s worktree changed from its base (the patch,
    /// or its stat), or with `q.against` the files two tasks both changed.
    ///
    /// Errors: those of every call ([module docs](super)); `not_found`, `ambiguous_id`,
    /// `worktree` (no worktree, or one discarded or gone).
    pub async fn diff(&self, id: &str, q: &DiffQuery) -> Result<DiffReport, ClientError> {
        let path = with_query(&for_task(routes::DIFF, id)?, q)?;
        self.call_within::<(), _>(Method::GET, &path, None, GIT_TIME)
            .await
    }

    /// `POST /v1/tasks/{id}/merge`: merges finished task `id`'s worktree into the current
    /// branch of the checkout it was submitted in.
    ///
    /// Errors: those of every call ([module docs](super)); `not_found`, `ambiguous_id`,
    /// `not_finished`, `worktree`, `dirty_checkout`, `merge_conflict` (nothing changed).
    pub async fn merge(&self, id: &str, req: &MergeRequest) -> Result<MergeReport, ClientError> {
        let path = for_task(routes::MERGE, id)?;
        self.call_within(Method::POST, &path, Some(req), GIT_TIME)
            .await
    }

    /// `POST /v1/tasks/{id}/discard`: removes finished task `id`'s worktree and branch.
    ///
    /// Errors: those of every call ([module docs](super)); `not_found`, `ambiguous_id`,
    /// `not_finished`, `worktree` (none, or already merged or discarded).
    pub async fn discard(&self, id: &str) -> Result<Task, ClientError> {
        let path = for_task(routes::DISCARD, id)?;
        self.call_within(Method::POST, &path, Some(&()), GIT_TIME)
            .await
    }
}
