//! Results coming back to their origin: the inbox, acknowledgements, and the stop gate that
//! keeps an orchestrator from ending before its children.

use crate::EngineError;
use legate_domain::api::{
    AckRequest, AckResponse, ErrorCode, InboxQuery, InboxResponse, StopGateRequest,
    StopGateResponse,
};
use legate_domain::{Status, Task, TaskId, Timestamp};
use legate_store::TaskFilter;

use crate::error::ServiceError;
use crate::service::Service;

fn need_origin(origin: &str) -> Result<(), ServiceError> {
    if origin.trim().is_empty() {
        return Err(EngineError::refused(
            ErrorCode::InvalidRequest,
            "no origin given",
            "name the inbox's origin, e.g. `cli:ann` or `claude-code:SESSION`",
        ));
    }
    Ok(())
}

impl Service {
    /// An origin's unread results; with `ack`, they are acknowledged as they are returned.
    pub async fn inbox(&self, q: &InboxQuery) -> Result<InboxResponse, ServiceError> {
        need_origin(&q.origin)?;
        let limit = q.limit.unwrap_or(100).clamp(1, 10_000);
        let store = &self.inner.store;
        // Most reads find nothing new: a read-only look first keeps them off the writer.
        let mut tasks = store.inbox(&q.origin, limit).await?;
        if q.ack && !tasks.is_empty() {
            tasks = store.take_inbox(&q.origin, limit).await?;
        }
        let orphans = if q.scope.is_some() || q.orphans {
            self.orphans(q, limit).await?
        } else {
            Vec::new()
        };
        Ok(InboxResponse {
            origin: q.origin.clone(),
            tasks,
            acked: q.ack,
            orphans,
        })
    }

    /// Other origins' results unread for longer than `[retention] orphan_after`: of the
    /// query's scope, or (with `orphans`) of every scope. With `ack`, each is acknowledged in
    /// its own origin's inbox, and only those acknowledged by this read are returned, so two
    /// sessions reading at once never both get one.
    async fn orphans(&self, q: &InboxQuery, limit: u32) -> Result<Vec<Task>, ServiceError> {
        let age = self.inner.config.last_good().retention.orphan_after;
        let before = Timestamp(crate::service::chrono_now() - age.as_millis() as i64);
        let scope = if q.orphans { None } else { q.scope.as_deref() };
        let store = &self.inner.store;
        let found = store.orphans(scope, before, limit).await?;
        // The caller's own results came as its inbox.
        let found: Vec<Task> = found.into_iter().filter(|t| t.origin != q.origin).collect();
        if !q.ack {
            return Ok(found);
        }
        let mut taken = Vec::new();
        for t in found {
            let acked = store
                .ack(&t.origin, Some(std::slice::from_ref(&t.id)))
                .await?;
            if !acked.is_empty() {
                taken.push(t);
            }
        }
        Ok(taken)
    }

    /// Acknowledges inbox entries. Every id is checked first (it exists, it is this origin's,
    /// it has finished), so a bad one acknowledges nothing; acknowledging twice is harmless.
    pub async fn ack(&self, req: &AckRequest) -> Result<AckResponse, ServiceError> {
        need_origin(&req.origin)?;
        if req.all {
            let acked = self.inner.store.ack(&req.origin, None).await;
            return Ok(AckResponse { acked: acked? });
        }
        if req.ids.is_empty() {
            return Err(EngineError::refused(
                ErrorCode::InvalidRequest,
                "no task ids to acknowledge",
                "pass ids, or --all to acknowledge the whole inbox",
            ));
        }
        let mut ids: Vec<TaskId> = Vec::new();
        for r in &req.ids {
            let t = self.get(r, false).await?;
            if t.origin != req.origin {
                return Err(EngineError::refused(
                    ErrorCode::InvalidRequest,
                    format!(
                        "task {} was delegated by '{}', not '{}'",
                        t.id, t.origin, req.origin
                    ),
                    "acknowledge it from its own origin's inbox (--origin)",
                ));
            }
            if !t.status.is_terminal() {
                return Err(EngineError::refused(
                    ErrorCode::InvalidRequest,
                    format!(
                        "task {} has not finished ({}): there is nothing to acknowledge yet",
                        t.id, t.status
                    ),
                    "wait for it with `legate wait ID`",
                ));
            }
            ids.push(t.id);
        }
        let acked = self.inner.store.ack(&req.origin, Some(&ids)).await;
        Ok(AckResponse { acked: acked? })
    }

    /// Decides whether an orchestrator may stop: not while tasks it delegated are unfinished
    /// or their results unread — at most `max_blocks` times in a row, so nothing loops forever.
    /// Unread results are acknowledged when the stop is blocked (the answer carries them).
    pub async fn stop_gate(&self, req: &StopGateRequest) -> Result<StopGateResponse, ServiceError> {
        need_origin(&req.origin)?;
        let max_blocks = req
            .max_blocks
            .unwrap_or(self.inner.config.last_good().hooks.max_stop_blocks);
        let unfinished = self.unfinished_of(&req.origin).await?;
        let unread = self.inner.store.inbox(&req.origin, 100).await?;
        let blocks = {
            let mut counts = self
                .inner
                .stop_blocks
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let n = counts.entry(req.origin.clone()).or_insert(0);
            let wants_block = !unfinished.is_empty() || !unread.is_empty();
            if wants_block && *n < max_blocks {
                *n += 1;
                Some(*n)
            } else {
                counts.remove(&req.origin);
                None
            }
        };
        let Some(blocks) = blocks else {
            return Ok(StopGateResponse {
                block: false,
                unfinished,
                unread,
                blocks: 0,
                max_blocks,
            });
        };
        let ids: Vec<TaskId> = unread.iter().map(|t| t.id.clone()).collect();
        self.inner.store.ack(&req.origin, Some(&ids)).await?;
        Ok(StopGateResponse {
            block: true,
            unfinished,
            unread,
            blocks,
            max_blocks,
        })
    }

    async fn unfinished_of(&self, origin: &str) -> Result<Vec<Task>, ServiceError> {
        let filter = TaskFilter {
            statuses: vec![Status::Queued, Status::Running],
            origin: Some(origin.to_string()),
            limit: 1000,
            ..TaskFilter::default()
        };
        self.inner
            .store
            .list(&filter)
            .await
            .map_err(EngineError::from)
    }
}
