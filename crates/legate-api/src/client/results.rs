//! The routes that bring results back: the event log, the inbox and the stop gate. (The live
//! event stream is [`Client::subscribe`].)

use legate_domain::api::{
    AckRequest, AckResponse, EventsQuery, InboxQuery, InboxResponse, StopGateRequest,
    StopGateResponse,
};
use legate_domain::{Event, Task};

use super::{Client, ClientError};
use crate::routes::{self, with_query};

impl Client {
    /// `GET /v1/events`: one page of the event log: the events after `q.after` that `q`'s
    /// filters select, oldest first, at most `q.limit` (1000 unless given, 10 000 at most).
    /// Empty once nothing follows `q.after`.
    ///
    /// Errors: those of every call ([module docs](super)); `invalid_request` for an unknown
    /// kind or a malformed task id; `not_found`, `ambiguous_id` for `q.task`.
    pub async fn events(&self, q: &EventsQuery) -> Result<Vec<Event>, ClientError> {
        self.get(&with_query(routes::EVENTS, q)?).await
    }

    /// `GET /v1/inbox`: `q.origin`'s finished tasks not yet acknowledged, oldest first (with
    /// `q.ack`, acknowledged as they are read; with `q.scope`/`q.orphans`, orphans besides).
    ///
    /// Errors: those of every call ([module docs](super)); `invalid_request` for an origin
    /// no task can have.
    pub async fn inbox(&self, q: &InboxQuery) -> Result<InboxResponse, ClientError> {
        self.get(&with_query(routes::INBOX, q)?).await
    }

    /// `POST /v1/inbox/ack`: acknowledges inbox entries; returns those acknowledged now
    /// (acknowledging twice is harmless).
    ///
    /// Errors: those of every call ([module docs](super)); `not_found`, `ambiguous_id` for
    /// an id.
    pub async fn ack(&self, req: &AckRequest) -> Result<AckResponse, ClientError> {
        self.post(routes::ACK, req).await
    }

    /// Marks a finished task's result read in `origin`'s inbox once the reader was shown it:
    /// only a finished task of that origin (for any other, nothing is sent).
    ///
    /// Errors: those of [`Client::ack`].
    pub async fn mark_shown(&self, origin: &str, task: &Task) -> Result<(), ClientError> {
        if !task.status.is_terminal() || task.origin != origin {
            return Ok(());
        }
        let req = AckRequest {
            origin: origin.to_string(),
            ids: vec![task.id.to_string()],
            all: false,
        };
        self.ack(&req).await.map(|_| ())
    }

    /// `POST /v1/stop-gate`: whether the orchestrator of `req.origin` should be kept from
    /// stopping (its tasks still run, or results it has not seen, now acknowledged).
    ///
    /// Errors: those of every call ([module docs](super)); `invalid_request` for an origin
    /// no task can have.
    pub async fn stop_gate(&self, req: &StopGateRequest) -> Result<StopGateResponse, ClientError> {
        self.post(routes::STOP_GATE, req).await
    }
}
