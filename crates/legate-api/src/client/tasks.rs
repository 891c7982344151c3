//! The task routes: submit, follow up, read, list, cancel, wait, and stream a log.

use std::sync::Mutex;
use std::time::Duration;

use legate_domain::Task;
use legate_domain::api::{
    ATTEMPT_HEADER, CancelRequest, CancelResponse, ListQuery, QueueState, SendRequest,
    SubmitRequest, SubmitResponse, WaitRequest, WaitResponse,
};
use serde::{Deserialize, Serialize};

use super::{Client, ClientError};
use crate::routes::{self, TaskQuery, for_task, with_query};

/// What a log read includes and where it starts (`GET /v1/tasks/ID/log`, whose query string
/// it is: every field may be left out); [`Client::log`] moves it along as output arrives, so
/// reading again with it resumes where the last read stopped (after a daemon restart).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogRead {
    /// Keep sending new output until the task ends.
    pub follow: bool,
    /// Only stdout (the output log interleaves stdout and stderr).
    pub stdout: bool,
    /// Skip the first this many bytes of the log of `attempt`.
    pub from: u64,
    /// The attempt whose log was being read (each attempt writes its log anew; a later one is
    /// read from its start). `None`: the current one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
}

impl Client {
    /// `POST /v1/tasks`: delegates a task; returns it (durable by then) and whether an
    /// existing one was returned instead (`deduplicated`). Sent again once, with the same
    /// idempotency key, when the first attempt missed its deadline or lost its connection, so
    /// a slow or restarting daemon still yields one task.
    ///
    /// Errors: those of every call ([module docs](super)); refusals such as `unknown_agent`,
    /// `agent_unavailable`, `depth_exceeded`, `prompt_too_large`, `draining`;
    /// [`ClientError::Timeout`] or [`ClientError::Dropped`] only when the retry failed too.
    pub async fn submit(&self, req: &SubmitRequest) -> Result<SubmitResponse, ClientError> {
        self.submit_to(routes::TASKS, req).await
    }

    /// `POST /v1/tasks/{id}/send`: a follow-up continuing finished task `id`'s agent session
    /// (an id or unique prefix); returns the new task, retried as [`Client::submit`] is.
    ///
    /// Errors: those of [`Client::submit`]; `not_found`, `ambiguous_id`, `not_finished`,
    /// `not_resumable`.
    pub async fn send(&self, id: &str, req: &SendRequest) -> Result<SubmitResponse, ClientError> {
        self.submit_to(&for_task(routes::SEND, id)?, req).await
    }

    /// `GET /v1/tasks/{id}`: task `id` (an id or unique prefix) as it is now; its prompt only
    /// `with_prompt`.
    ///
    /// Errors: those of every call ([module docs](super)); `not_found`, `ambiguous_id`.
    pub async fn task(&self, id: &str, with_prompt: bool) -> Result<Task, ClientError> {
        let q = TaskQuery {
            prompt: with_prompt,
        };
        self.get(&with_query(&for_task(routes::TASK, id)?, &q)?)
            .await
    }

    /// `GET /v1/tasks`: the tasks `q` selects, oldest first (the newest `q.limit`, 100 unless
    /// given).
    ///
    /// Errors: those of every call ([module docs](super)).
    pub async fn tasks(&self, q: &ListQuery) -> Result<Vec<Task>, ClientError> {
        self.get(&with_query(routes::TASKS, q)?).await
    }

    /// `GET /v1/tasks/{id}/queue`: why queued task `id` has not started (how many are ahead,
    /// what it waits for).
    ///
    /// Errors: those of every call ([module docs](super)); `not_found`, `ambiguous_id`.
    pub async fn queue_state(&self, id: &str) -> Result<QueueState, ClientError> {
        self.get(&for_task(routes::QUEUE, id)?).await
    }

    /// `POST /v1/tasks/cancel`: cancels the tasks `req` names (or all unfinished ones, or
    /// those with a label); returns them as they ended.
    ///
    /// Errors: those of every call ([module docs](super)); `not_found`, `ambiguous_id`,
    /// `already_finished` (a task named by id that already ended).
    pub async fn cancel(&self, req: &CancelRequest) -> Result<CancelResponse, ClientError> {
        self.post(routes::CANCEL, req).await
    }

    /// `POST /v1/wait`, held by the daemon for up to `slice` (the request's `timeout_ms`):
    /// the tasks as they are once the condition held or the slice passed (`timed_out`). The
    /// answer may take `slice` plus the request timeout (at most 5 s more).
    ///
    /// Errors: those of every call ([module docs](super)); `not_found`, `ambiguous_id`;
    /// `shutting_down` from a stopping daemon (wait again at the next one, see
    /// [`ClientError::daemon_went_away`]).
    pub async fn wait(
        &self,
        req: &WaitRequest,
        slice: Duration,
    ) -> Result<WaitResponse, ClientError> {
        self.post_waiting(routes::WAIT, req, slice).await
    }

    /// `GET /v1/tasks/{id}/log`: streams task `id`'s log into `sink` as it arrives, from where
    /// `read` says, moving `read` along (see [`LogRead`]).
    ///
    /// Errors: those of every call ([module docs](super)); `not_found`, `ambiguous_id`; a stream that breaks off (the daemon stopped) fails with
    /// [`ClientError::Dropped`]; an error of `sink` comes back as [`ClientError::Protocol`].
    pub async fn log(
        &self,
        id: &str,
        read: &mut LogRead,
        mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<(), ClientError> {
        let path = with_query(&for_task(routes::LOG, id)?, &*read)?;
        let attempt = |h: &hyper::HeaderMap| {
            h.get(ATTEMPT_HEADER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u32>().ok())
        };
        // (attempt, bytes of its log read), shared by the two callbacks; a lock rather than a
        // cell, so the call can run on any thread (the MCP server's reads do).
        let cursor = Mutex::new((read.attempt, read.from));
        let at = || cursor.lock().unwrap_or_else(|p| p.into_inner());
        let streamed = self
            .stream_with(
                &path,
                |head| {
                    let now = attempt(head);
                    let mut at = at();
                    if now != at.0 {
                        // Another attempt's log: the daemon sends it from its start.
                        *at = (now, 0);
                    }
                },
                |chunk| {
                    sink(chunk)?;
                    at().1 += chunk.len() as u64;
                    Ok(())
                },
            )
            .await;
        (read.attempt, read.from) = *at();
        streamed
    }
}
