//! Turning every failure into `{code, message, hint}` with a fitting HTTP status.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use legate_domain::api::{ApiError, ErrorCode};

/// An API error as a response.
pub struct Failure(pub ApiError);

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure(e)
    }
}

impl From<legate_engine::EngineError> for Failure {
    fn from(e: legate_engine::EngineError) -> Self {
        Failure(e.into())
    }
}

/// The HTTP status for an error code.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidRequest | ErrorCode::UnknownAgent | ErrorCode::InvalidPrompt => {
            StatusCode::BAD_REQUEST
        }
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::AmbiguousId
        | ErrorCode::AlreadyFinished
        | ErrorCode::NotFinished
        | ErrorCode::NotResumable
        | ErrorCode::DirtyCheckout
        | ErrorCode::MergeConflict => StatusCode::CONFLICT,
        ErrorCode::Worktree => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::AgentUnavailable | ErrorCode::ConfigInvalid => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::DepthExceeded => StatusCode::FORBIDDEN,
        ErrorCode::PromptTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::StoreUnavailable | ErrorCode::ShuttingDown | ErrorCode::Draining => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (status_of(self.0.code), Json(self.0)).into_response()
    }
}

/// A malformed JSON body.
pub fn bad_json(r: JsonRejection) -> Failure {
    let too_large = r.status() == StatusCode::PAYLOAD_TOO_LARGE;
    Failure(ApiError::new(
        if too_large {
            ErrorCode::PromptTooLarge
        } else {
            ErrorCode::InvalidRequest
        },
        format!("the request body was rejected: {}", r.body_text()),
        if too_large {
            "requests are limited to 64 MiB and prompts to 8 MiB"
        } else {
            "send a JSON object with the documented fields (unknown fields are refused)"
        },
    ))
}

/// A malformed query string.
pub fn bad_query(r: QueryRejection) -> Failure {
    Failure(ApiError::new(
        ErrorCode::InvalidRequest,
        format!("the query string was rejected: {}", r.body_text()),
        "check the parameter names and values",
    ))
}

/// Unknown routes.
pub async fn no_route(uri: Uri) -> Failure {
    Failure(ApiError::new(
        ErrorCode::NotFound,
        format!("no API route {}", uri.path()),
        "routes live under /v1/ (tasks, wait, agents, prune, events, daemon)",
    ))
}
