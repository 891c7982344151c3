//! The API server.

mod caller;
mod errors;
mod events;
mod handlers;
mod inbox;
mod logs;
mod worktrees;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use legate_engine::Service;
use tokio::net::UnixListener;
use tokio::sync::Notify;

use crate::routes;

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
        .route(routes::TASKS, post(handlers::submit).get(handlers::list))
        .route(routes::CANCEL, post(handlers::cancel))
        .route(routes::TASK, get(handlers::show))
        .route(routes::LOG, get(logs::log))
        .route(routes::QUEUE, get(handlers::queue))
        .route(routes::SEND, post(handlers::send))
        .route(routes::DIFF, get(worktrees::diff))
        .route(routes::MERGE, post(worktrees::merge))
        .route(routes::DISCARD, post(worktrees::discard))
        .route(routes::WAIT, post(handlers::wait))
        .route(routes::AGENTS, get(handlers::agents))
        .route(routes::PRUNE, post(handlers::prune))
        .route(routes::EVENTS, get(events::events))
        .route(routes::INBOX, get(inbox::inbox))
        .route(routes::ACK, post(inbox::ack))
        .route(routes::STOP_GATE, post(inbox::stop_gate))
        .route(routes::DAEMON, get(handlers::status))
        .route(routes::STOP, post(handlers::stop))
        .route(routes::DRAIN, post(handlers::drain))
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
