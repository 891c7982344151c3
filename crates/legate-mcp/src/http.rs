//! MCP over streamable HTTP (`/mcp`), for `legate serve`. Requests must carry the bearer token
//! when one is configured; without a token only loopback addresses may be served (the caller
//! checks that before binding).

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use legate_api::Client;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use crate::{LegateMcp, Origin};

/// The `/mcp` routes. With a `token`, every request needs `Authorization: Bearer TOKEN` and any
/// Host is accepted (the server may be reached by name); without one, only loopback Host
/// headers are, against DNS rebinding.
pub fn router(client: Client, result_chars: usize, token: Option<String>) -> Router {
    let mut config = StreamableHttpServerConfig::default().with_sse_retry(None);
    if token.is_some() {
        config = config.disable_allowed_hosts();
    }
    let service = StreamableHttpService::new(
        move || {
            let origin = Origin::Http {
                fallback: "mcp-http".into(),
            };
            Ok(LegateMcp::new(client.clone(), origin, result_chars))
        },
        Arc::new(sessions_without_priming()),
        config,
    );
    let router = Router::new().nest_service("/mcp", service);
    match token {
        None => router,
        Some(token) => {
            let expected: Arc<str> = format!("Bearer {token}").into();
            router.layer(middleware::from_fn(move |req: Request, next: Next| {
                let expected = expected.clone();
                async move { check_bearer(&expected, req, next).await }
            }))
        }
    }
}

async fn check_bearer(expected: &str, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if given.is_some_and(|g| constant_time_eq(g.as_bytes(), expected.as_bytes())) {
        return next.run(req).await;
    }
    let message = if given.is_none() {
        "missing bearer token: send `Authorization: Bearer TOKEN` (the token legate serve was started with)"
    } else {
        "wrong bearer token: use the token legate serve was started with"
    };
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        message,
    )
        .into_response()
}

/// Compares without an early exit, so the time taken does not reveal how much matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Sessions whose event streams start with no priming event. By default each stream opens with
/// an event that has an id and a retry interval but empty `data` (so a client could resume the
/// stream); Gemini CLI (0.61) fails to parse that event ("Unexpected end of JSON input") and
/// drops the server. The keep-alive comments stay.
fn sessions_without_priming() -> LocalSessionManager {
    let mut sessions = LocalSessionManager::default();
    sessions.session_config.sse_retry = None;
    sessions
}
