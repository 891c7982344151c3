//! What a handler knows about who sent a request: the connecting process, from the Unix
//! socket's peer credentials (`SO_PEERCRED`, read by the kernel, so a client cannot forge it),
//! and the client's deadline header.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::http::request::Parts;
use axum::serve::IncomingStream;
use legate_domain::api::DEADLINE_HEADER;
use legate_engine::Caller;
use tokio::net::UnixListener;

/// The process at the other end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// Its pid, when the kernel tells it.
    pub pid: Option<i32>,
}

impl Connected<IncomingStream<'_, UnixListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, UnixListener>) -> Self {
        Peer {
            pid: stream.io().peer_cred().ok().and_then(|c| c.pid()),
        }
    }
}

/// The [`Caller`] of a request: its peer process when served on the daemon socket (absent on
/// other listeners), and the deadline its client sent.
#[derive(Debug, Clone, Copy)]
pub struct From(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for From {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        let pid = parts
            .extensions
            .get::<ConnectInfo<Peer>>()
            .and_then(|c| c.0.pid);
        let deadline_ms = parts
            .headers
            .get(DEADLINE_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        Ok(From(Caller { pid, deadline_ms }))
    }
}
