//! JSON handlers: decode, call the service, encode.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use legate_domain::agent::AgentView;
use legate_domain::api::{
    AgentsQuery, CancelRequest, CancelResponse, DaemonStatus, ListQuery, PruneReport, PruneRequest,
    QueueState, SendRequest, SubmitRequest, SubmitResponse, WaitRequest, WaitResponse,
};
use legate_domain::{Status, Task};
use legate_engine::Versions;

use super::AppState;
use super::caller::From;
use super::errors::{Failure, bad_json, bad_query};
use crate::routes::TaskQuery;

type Reply<T> = Result<Json<T>, Failure>;

pub async fn submit(
    State(s): State<AppState>,
    From(caller): From,
    body: Result<Json<SubmitRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<SubmitResponse>), Failure> {
    let Json(req) = body.map_err(bad_json)?;
    let res = s.service.submit(req, &caller).await?;
    let code = if res.deduplicated {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((code, Json(res)))
}

pub async fn list(
    State(s): State<AppState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Reply<Vec<Task>> {
    let Query(q) = q.map_err(bad_query)?;
    Ok(Json(s.service.list(&q).await?))
}

pub async fn show(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: Result<Query<TaskQuery>, QueryRejection>,
) -> Reply<Task> {
    let Query(q) = q.map_err(bad_query)?;
    Ok(Json(s.service.get(&id, q.prompt).await?))
}

pub async fn queue(State(s): State<AppState>, Path(id): Path<String>) -> Reply<QueueState> {
    Ok(Json(s.service.queue_state(&id).await?))
}

pub async fn cancel(
    State(s): State<AppState>,
    body: Result<Json<CancelRequest>, JsonRejection>,
) -> Reply<CancelResponse> {
    let Json(req) = body.map_err(bad_json)?;
    Ok(Json(s.service.cancel(&req).await?))
}

pub async fn wait(
    State(s): State<AppState>,
    body: Result<Json<WaitRequest>, JsonRejection>,
) -> Reply<WaitResponse> {
    let Json(req) = body.map_err(bad_json)?;
    Ok(Json(s.service.wait(&req).await?))
}

pub async fn agents(
    State(s): State<AppState>,
    q: Result<Query<AgentsQuery>, QueryRejection>,
) -> Reply<Vec<AgentView>> {
    let Query(q) = q.map_err(bad_query)?;
    let versions = match (q.check, q.versions) {
        (true, _) => Versions::Fresh,
        (false, true) => Versions::Cached,
        (false, false) => Versions::Skip,
    };
    Ok(Json(s.service.agents(versions, q.path.as_deref()).await?))
}

pub async fn send(
    State(s): State<AppState>,
    Path(id): Path<String>,
    From(caller): From,
    body: Result<Json<SendRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<SubmitResponse>), Failure> {
    let Json(req) = body.map_err(bad_json)?;
    let res = s.service.send(&id, req, &caller).await?;
    let code = if res.deduplicated {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((code, Json(res)))
}

pub async fn prune(
    State(s): State<AppState>,
    body: Result<Json<PruneRequest>, JsonRejection>,
) -> Reply<PruneReport> {
    let Json(req) = body.map_err(bad_json)?;
    Ok(Json(s.service.prune(&req).await?))
}

pub async fn status(State(s): State<AppState>) -> Reply<DaemonStatus> {
    Ok(Json(DaemonStatus {
        pid: std::process::id(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        started_at: s.service.started_at(),
        socket: s.socket.clone(),
        store: s.service.store_description(),
        counts: Status::ALL
            .iter()
            .map(|&st| (st, 0))
            .chain(s.service.counts().await?)
            .collect(),
        draining: s.service.is_draining(),
    }))
}

/// Starts draining: the daemon accepts no new task, and stops once the tasks it holds have
/// finished. Answers at once with the daemon's status (its counts say what it waits for).
pub async fn drain(
    state: State<AppState>,
    From(caller): From,
) -> Result<(StatusCode, Json<DaemonStatus>), Failure> {
    if caller.expired() {
        return Err(Failure(legate_domain::api::ApiError::new(
            legate_domain::api::ErrorCode::InvalidRequest,
            "the drain request arrived after its client stopped waiting; nothing was changed",
            "ask again",
        )));
    }
    let s = &state.0;
    s.service.drain();
    let (service, stop) = (s.service.clone(), s.stop.clone());
    tokio::spawn(async move {
        // A store that cannot be read now is asked again: the tasks are not done yet.
        while service.drained().await.is_err() {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
        stop.notify_one();
    });
    let Json(status) = status(state).await?;
    Ok((StatusCode::ACCEPTED, Json(status)))
}

/// Asks the daemon to stop — unless the client already gave up waiting for the answer and
/// was told the daemon did not stop.
pub async fn stop(State(s): State<AppState>, From(caller): From) -> StatusCode {
    if caller.expired() {
        return StatusCode::REQUEST_TIMEOUT;
    }
    s.stop.notify_one();
    StatusCode::ACCEPTED
}
