//! The API server.

mod caller;
mod errors;
mod events;
mod inbox;
mod logs;
mod routes;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use legate_engine::Service;
use tokio::net::UnixListener;
use tokio::sync::Notify;

/// Largest request body accepted: an 8 MiB prompt may grow several-fold when JSON-escaped.
pub const MAX_BODY_BYTES: usize = 64 << 20;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The engine.
    pub service: Service,
    /// Notified when a client asks the daemon to stop.
    pub stop: Arc<Notify>,
    /// The socket path, for status output.
    pub socket: String,
}

/// The routes, for serving on any listener.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/tasks", post(routes::submit).get(routes::list))
        .route("/v1/tasks/cancel", post(routes::cancel))
        .route("/v1/tasks/{id}", get(routes::show))
        .route("/v1/tasks/{id}/log", get(logs::log))
        .route("/v1/tasks/{id}/queue", get(routes::queue))
        .route("/v1/tasks/{id}/send", post(routes::send))
        .route("/v1/wait", post(routes::wait))
        .route("/v1/agents", get(routes::agents))
        .route("/v1/prune", post(routes::prune))
        .route("/v1/events", get(events::events))
        .route("/v1/inbox", get(inbox::inbox))
        .route("/v1/inbox/ack", post(inbox::ack))
        .route("/v1/stop-gate", post(inbox::stop_gate))
        .route("/v1/daemon", get(routes::status))
        .route("/v1/daemon/stop", post(routes::stop))
        .route("/v1/daemon/drain", post(routes::drain))
        .fallback(errors::no_route)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

pub use caller::Peer;

/// Serves until the future returned by `axum::serve` is dropped or fails. Each connection's
/// peer process is known to the handlers (see [`Peer`]).
pub async fn serve(listener: UnixListener, state: AppState) -> std::io::Result<()> {
    serve_until(listener, state, std::future::pending()).await
}

/// Like [`serve`], until `shutdown` completes: then it accepts no more connections, lets the
/// requests under way finish (a stopping engine answers its waits at once), and returns once
/// every connection has closed. Bound the wait for it: a followed stream may stay open.
pub async fn serve_until(
    listener: UnixListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<Peer>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
