//! Follow-ups: a new task that continues a finished task's agent session, linked to it.
//!
//! The link and the session travel in the new task's metadata (`follows`, `resume_session`,
//! and `resume_session_created_at` when the run that created the session said when), so both
//! stores keep them without a schema change and `show` can walk the chain back.

use crate::EngineError;
use legate_domain::api::{ErrorCode, SendRequest, SubmitRequest, SubmitResponse};
use legate_domain::{Isolation, Task, Worktree};
use serde_json::json;

use crate::error::ServiceError;
use crate::lineage::Caller;
use crate::service::Service;

/// Metadata key naming the task a follow-up continues.
pub const FOLLOWS_KEY: &str = "follows";
/// Metadata key holding the agent session a follow-up resumes.
pub const RESUME_KEY: &str = "resume_session";
/// Metadata key holding when that session was created (RFC 3339), copied from the
/// `session_created_at` an ACP run records when it creates a session.
pub const RESUME_CREATED_KEY: &str = "resume_session_created_at";

impl Service {
    /// Delegates `req.prompt` as a continuation of task `reference`'s agent session, with the
    /// environment of its own submitter.
    pub async fn send(
        &self,
        reference: &str,
        req: SendRequest,
        caller: &Caller,
    ) -> Result<SubmitResponse, ServiceError> {
        let before = self.get(reference, false).await?;
        // A merge or discard of its worktree under way finishes first: the follow-up then
        // sees what it left.
        let _turn = match &before.worktree {
            Some(w) => Some(self.inner.repo_locks.turn(&w.repo).await),
            None => None,
        };
        let before = self.get_by_id(&before.id, false).await?;
        let session = resumable_session(&before, self)?;
        let mut metadata = json!({FOLLOWS_KEY: before.id.as_str(), RESUME_KEY: session});
        if let Some(created) = before.metadata.get("session_created_at") {
            metadata[RESUME_CREATED_KEY] = created.clone();
        }
        // A follow-up's result, left unread, goes where the task's would have.
        if let Some(scope) = before.metadata.get(legate_domain::api::SCOPE_KEY) {
            metadata[legate_domain::api::SCOPE_KEY] = scope.clone();
        }
        // The newest task of the chain when another follow-up already continues this one.
        let held_by = match &before.worktree {
            Some(record) if self.successor(record).await?.is_some() => {
                Some(self.worktree_task(before.id.as_str()).await?.0)
            }
            _ => None,
        };
        let (inherited, isolation) = continued_worktree(&before, held_by.as_ref())?;
        let submit = SubmitRequest {
            agent: before.agent.clone(),
            prompt: req.prompt,
            title: req.title,
            cwd: before.cwd.clone(),
            caller_cwd: None,
            labels: before.labels.clone(),
            priority: before.priority,
            timeout_ms: req.timeout_ms.or(before.timeout_ms).or(Some(0)),
            key: None,
            origin: req.origin.or_else(|| Some(before.origin.clone())),
            parent: before.parent.as_ref().map(|p| p.to_string()),
            depth: before.depth.saturating_sub(1),
            metadata: Some(metadata),
            notify: before.notify.clone(),
            env: req.env,
            idempotency_key: req.idempotency_key,
            isolation,
            base: None,
        };
        let continues = inherited.is_some();
        let answer = self.submit_with_worktree(submit, caller, inherited).await?;
        if continues
            && !answer.deduplicated
            && let Some(mut record) = before.worktree.clone()
        {
            record.continued_by = Some(answer.task.id.clone());
            self.save_worktree(&before.id, &record).await;
        }
        Ok(answer)
    }
}

/// Where a follow-up of `task` runs: in its worktree when that still exists (the record the
/// follow-up takes over), in a new worktree when it had one that is gone (merged, discarded,
/// removed), else as its agent says. Refused when another follow-up already continues in it
/// (`held_by`: the newest task of that chain).
fn continued_worktree(
    task: &Task,
    held_by: Option<&Task>,
) -> Result<(Option<Worktree>, Option<Isolation>), ServiceError> {
    let Some(record) = &task.worktree else {
        return Ok((None, None));
    };
    if let Some(next) = held_by.map(|t| &t.id) {
        return Err(EngineError::refused(
            ErrorCode::Worktree,
            format!(
                "a follow-up already continues in task {}'s worktree; the newest task of that chain is {next}",
                task.id
            ),
            format!("send the follow-up to the newest task of the chain: legate send {next} …"),
        ));
    }
    if !record.state.exists() {
        return Ok((None, Some(Isolation::Worktree)));
    }
    let mut inherited = Worktree::pending(
        record.repo.clone(),
        record.subdir.clone(),
        record.base.clone(),
    );
    inherited.path = record.path.clone();
    inherited.branch = record.branch.clone();
    Ok((Some(inherited), None))
}

/// The session a follow-up of `task` would resume, or why there is none.
fn resumable_session(task: &Task, svc: &Service) -> Result<String, ServiceError> {
    let id = &task.id;
    if !task.status.is_terminal() {
        return Err(EngineError::refused(
            ErrorCode::NotFinished,
            format!(
                "task {id} is {}: a follow-up continues a finished task",
                task.status
            ),
            format!("wait for it first: legate wait {id}"),
        ));
    }
    let config = svc.inner.config.last_good();
    let resumable = config
        .agents
        .get(&task.agent)
        .is_some_and(|a| a.can_resume());
    if !resumable {
        return Err(EngineError::refused(
            ErrorCode::NotResumable,
            format!(
                "agent '{}' cannot continue a session: it has no `resume` arguments",
                task.agent
            ),
            "delegate a new task with the context it needs, or set resume = [\"--flag\", \"{session}\"] for this agent in the config",
        ));
    }
    task.metadata["session_id"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            EngineError::refused(
                ErrorCode::NotResumable,
                format!("task {id} has no agent session to continue: its agent reported none (it may have failed before starting one)"),
                "delegate a new task instead",
            )
        })
}
