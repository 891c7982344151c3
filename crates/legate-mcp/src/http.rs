//! MCP over streamable HTTP (`/mcp`), for `legate serve`. Requests carry the bearer token (the
//! caller decides whether there is one; see [`Guard`]); on a loopback address only loopback
//! `Host` headers are accepted, and a request with an `Origin` header only from an allowed
//! origin, as the MCP transport requires against DNS rebinding.

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

/// The browser origins a loopback server accepts by itself (any port).
const LOOPBACK_ORIGINS: [&str; 6] = [
    "http://localhost:*",
    "http://127.0.0.1:*",
    "http://[::1]:*",
    "https://localhost:*",
    "https://127.0.0.1:*",
    "https://[::1]:*",
];

/// Who may use `/mcp`.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    /// The bearer token every request must carry (`Authorization: Bearer TOKEN`, the scheme in
    /// any case); `None` serves anyone who can connect.
    pub token: Option<String>,
    /// Whether the server listens on a loopback address: then only loopback `Host` headers
    /// and loopback origins are accepted. Otherwise any `Host` is (the server may be reached
    /// by name) and only `allowed_origins`.
    pub loopback: bool,
    /// More browser origins whose requests are accepted (`scheme://host[:port]`, `:*` for any
    /// port). Requests without an `Origin` header (non-browser clients) are always accepted.
    pub allowed_origins: Vec<String>,
}

/// The `/mcp` routes under `guard`: a request without the right token gets 401, one from a
/// disallowed `Host` or `Origin` 403.
pub fn router(client: Client, result_chars: usize, guard: Guard) -> Router {
    let mut origins = guard.allowed_origins.clone();
    let mut config = StreamableHttpServerConfig::default().with_sse_retry(None);
    if guard.loopback {
        origins.extend(LOOPBACK_ORIGINS.map(String::from));
    } else {
        config = config.disable_allowed_hosts();
    }
    let config = config
        .with_allowed_origins(origins)
        .enforce_origin_validation();
    let service = StreamableHttpService::new(
        move || Ok(LegateMcp::new(client.clone(), Origin::http(), result_chars)),
        Arc::new(sessions_without_priming()),
        config,
    );
    let router = Router::new().nest_service("/mcp", service);
    match guard.token {
        None => router,
        Some(token) => {
            let expected: Arc<str> = token.into();
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
    if given
        .and_then(bearer_token)
        .is_some_and(|g| constant_time_eq(g.as_bytes(), expected.as_bytes()))
    {
        return next.run(req).await;
    }
    let message = if given.is_none() {
        "missing bearer token: send `Authorization: Bearer TOKEN` with the token `legate serve` printed where to find"
    } else {
        "wrong bearer token: send `Authorization: Bearer TOKEN` with the token `legate serve` printed where to find"
    };
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        message,
    )
        .into_response()
}

/// The credentials of an `Authorization` value with the `Bearer` scheme, which like every
/// HTTP authentication scheme is case-insensitive (RFC 9110 §11.1).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, rest) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim_matches(' '))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for v in ["Bearer tok", "bearer tok", "BEARER  tok", "bEaReR tok "] {
            assert_eq!(bearer_token(v), Some("tok"), "{v}");
        }
        for v in ["Basic tok", "Bearertok", "tok", "Token tok"] {
            assert_eq!(bearer_token(v), None, "{v}");
        }
        assert!(constant_time_eq(b"same", b"same"));
        assert!(!constant_time_eq(b"same", b"sane") && !constant_time_eq(b"same", b"sam"));
    }
}
