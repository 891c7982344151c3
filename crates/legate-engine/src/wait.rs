//! Waiting for tasks to finish, and canceling them.

use crate::EngineError;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use legate_domain::api::{
    CancelRequest, CancelResponse, ErrorCode, WaitMode, WaitRequest, WaitResponse,
};
use legate_domain::{EventKind, Status, Task, TaskId};
use legate_runner::StopReason;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use crate::error::ServiceError;
use crate::service::Service;

impl Service {
    /// Blocks until all (or any) of the tasks are terminal, or the timeout passes.
    ///
    /// Subscribes to the bus before reading the tasks, so a finish between the read and the
    /// subscription cannot be missed; a lagging subscription re-reads from the store.
    pub async fn wait(&self, req: &WaitRequest) -> Result<WaitResponse, ServiceError> {
        if req.ids.is_empty() {
            return Err(EngineError::refused(
                ErrorCode::InvalidRequest,
                "no task ids to wait for",
                "pass one or more ids, e.g. `legate wait ab12`",
            ));
        }
        let mut rx = self.inner.bus.subscribe();
        // A stopping daemon answers at once, so the waiter reconnects to the next one.
        let stopping = self.inner.stopping.clone();
        let mut ids = Vec::with_capacity(req.ids.len());
        for r in &req.ids {
            ids.push(self.resolve(r).await?);
        }
        let mut tasks: HashMap<TaskId, Task> = HashMap::new();
        for id in &ids {
            tasks.insert(id.clone(), self.get_by_id(id, false).await?);
        }
        let deadline = req
            .timeout_ms
            .map(|ms| Instant::now() + Duration::from_millis(ms));
        let watched: HashSet<TaskId> = ids.iter().cloned().collect();
        let done = |tasks: &HashMap<TaskId, Task>| match req.mode {
            WaitMode::All => tasks.values().all(|t| t.status.is_terminal()),
            WaitMode::Any => tasks.values().any(|t| t.status.is_terminal()),
        };
        let mut timed_out = false;
        // On a shared store a finish elsewhere arrives through the relay, whose notices can be
        // lost: the tasks are also re-read now and then.
        let recheck = self
            .inner
            .settings
            .work
            .shared
            .then_some(crate::shared::FALLBACK_POLL);
        while !done(&tasks) {
            if stopping.is_cancelled() {
                return Err(crate::drain::shutting_down(
                    "wait again: the next daemon goes on with the task",
                ));
            }
            let far = Instant::now() + Duration::from_secs(24 * 3600);
            let until = match (deadline, recheck) {
                (Some(d), Some(r)) => d.min(Instant::now() + r),
                (Some(d), None) => d,
                (None, Some(r)) => Instant::now() + r,
                (None, None) => far,
            };
            let next = tokio::select! {
                r = tokio::time::timeout_at(until, rx.recv()) => r,
                _ = stopping.cancelled() => continue,
            };
            let next = match next {
                Ok(r) => r,
                Err(_) if deadline.is_some_and(|d| Instant::now() >= d) => {
                    timed_out = true;
                    break;
                }
                Err(_) => {
                    for id in &ids {
                        tasks.insert(id.clone(), self.get_by_id(id, false).await?);
                    }
                    continue;
                }
            };
            match next {
                Ok(ev) if watched.contains(&ev.task_id) && ev.kind == EventKind::Finished => {
                    let t = self.get_by_id(&ev.task_id, false).await?;
                    tasks.insert(ev.task_id.clone(), t);
                }
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => {
                    for id in &ids {
                        tasks.insert(id.clone(), self.get_by_id(id, false).await?);
                    }
                }
                Err(RecvError::Closed) => {
                    return Err(crate::drain::shutting_down(
                        "wait again: the next daemon goes on with the task",
                    ));
                }
            }
        }
        let tasks: Vec<Task> = ids.iter().filter_map(|id| tasks.remove(id)).collect();
        if let Some(origin) = &req.ack_origin {
            // The waiter has seen these results: they leave its inbox.
            let seen: Vec<TaskId> = tasks
                .iter()
                .filter(|t| t.status.is_terminal() && &t.origin == origin)
                .map(|t| t.id.clone())
                .collect();
            if !seen.is_empty() {
                self.inner.store.ack(origin, Some(&seen)).await?;
            }
        }
        Ok(WaitResponse { tasks, timed_out })
    }

    /// Cancels tasks: queued ones at once, running ones by ending their process tree. Every
    /// id is checked first, so a bad or finished one cancels nothing.
    pub async fn cancel(&self, req: &CancelRequest) -> Result<CancelResponse, ServiceError> {
        if req.label.as_deref().is_some_and(|l| l.trim().is_empty()) {
            return Err(EngineError::refused(
                ErrorCode::InvalidRequest,
                "the label to cancel by is empty",
                "give the label the tasks were delegated with (`legate ls --label L` lists them)",
            ));
        }
        let ids: Vec<TaskId> = if req.all || req.label.is_some() {
            let q = legate_domain::api::ListQuery {
                status: vec![Status::Queued, Status::Running],
                label: req.label.clone(),
                limit: Some(100_000),
                ..Default::default()
            };
            self.list(&q).await?.into_iter().map(|t| t.id).collect()
        } else {
            if req.ids.is_empty() {
                return Err(EngineError::refused(
                    ErrorCode::InvalidRequest,
                    "no task ids to cancel",
                    "pass ids, --label L for the unfinished tasks with a label, or --all for every unfinished task",
                ));
            }
            let mut ids = Vec::new();
            for r in &req.ids {
                let id = self.resolve(r).await?;
                let t = self.get_by_id(&id, false).await?;
                if t.status.is_terminal() {
                    return Err(EngineError::refused(
                        ErrorCode::AlreadyFinished,
                        format!(
                            "task {id} already finished ({}); there is nothing to cancel",
                            t.status
                        ),
                        "see its result with `legate result ID`",
                    ));
                }
                ids.push(id);
            }
            ids
        };
        let mut rx = self.inner.bus.subscribe();
        let mut pending: HashSet<TaskId> = HashSet::new();
        for id in &ids {
            let queued = self.commit(|store| store.cancel_queued(id)).await?;
            if queued.is_some() {
                continue;
            }
            self.commit(|store| store.request_cancel(id)).await?;
            let stop = self
                .inner
                .running
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(id)
                .cloned();
            if let Some(s) = stop {
                let _ = s.send(Some(StopReason::Cancel));
            }
            pending.insert(id.clone());
        }
        // Give running tasks the grace period (and a margin) to end, so the answer shows them
        // canceled; a task that takes longer is reported as it is.
        let grace = self.inner.config.last_good().limits.kill_grace;
        let deadline = Instant::now() + grace + Duration::from_secs(5);
        while !pending.is_empty() {
            for id in pending.clone() {
                if self.get_by_id(&id, false).await?.status != Status::Running {
                    pending.remove(&id);
                }
            }
            if pending.is_empty() {
                break;
            }
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Err(_) => break,
                Ok(Err(RecvError::Closed)) => break,
                Ok(_) => {}
            }
        }
        let mut tasks = Vec::new();
        for id in &ids {
            tasks.push(self.get_by_id(id, false).await?);
        }
        Ok(CancelResponse { tasks })
    }
}
