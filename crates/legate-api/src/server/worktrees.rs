//! The worktree handlers: diff, merge, discard.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use legate_domain::Task;
use legate_domain::api::{DiffQuery, DiffReport, MergeReport, MergeRequest};

use super::AppState;
use super::errors::{Failure, bad_json, bad_query};

pub async fn diff(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: Result<Query<DiffQuery>, QueryRejection>,
) -> Result<Json<DiffReport>, Failure> {
    let Query(q) = q.map_err(bad_query)?;
    Ok(Json(s.service.diff(&id, q).await?))
}

pub async fn merge(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<MergeRequest>, JsonRejection>,
) -> Result<Json<MergeReport>, Failure> {
    let Json(req) = body.map_err(bad_json)?;
    Ok(Json(s.service.merge(&id, req).await?))
}

pub async fn discard(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Task>, Failure> {
    Ok(Json(s.service.discard(&id).await?))
}
