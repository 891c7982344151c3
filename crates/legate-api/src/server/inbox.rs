//! The inbox and the stop gate.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use legate_domain::api::{
    AckRequest, AckResponse, InboxQuery, InboxResponse, StopGateRequest, StopGateResponse,
};

use super::AppState;
use super::errors::{Failure, bad_json, bad_query};

pub async fn inbox(
    State(s): State<AppState>,
    q: Result<Query<InboxQuery>, QueryRejection>,
) -> Result<Json<InboxResponse>, Failure> {
    let Query(q) = q.map_err(bad_query)?;
    Ok(Json(s.service.inbox(&q).await?))
}

pub async fn ack(
    State(s): State<AppState>,
    body: Result<Json<AckRequest>, JsonRejection>,
) -> Result<Json<AckResponse>, Failure> {
    let Json(req) = body.map_err(bad_json)?;
    Ok(Json(s.service.ack(&req).await?))
}

pub async fn stop_gate(
    State(s): State<AppState>,
    body: Result<Json<StopGateRequest>, JsonRejection>,
) -> Result<Json<StopGateResponse>, Failure> {
    let Json(req) = body.map_err(bad_json)?;
    Ok(Json(s.service.stop_gate(&req).await?))
}
