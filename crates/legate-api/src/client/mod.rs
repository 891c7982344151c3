//! The API client: HTTP/1 over the daemon's Unix socket, with deadlines. Every connection is
//! verified before a byte is sent: the way to the socket cannot be changed by another user,
//! and the daemon at the other end runs as the caller. Connecting must succeed within
//! [`CONNECT_TIMEOUT`] and every request be answered within the request timeout
//! ([`DEFAULT_REQUEST_TIMEOUT`] unless the frontend sets another), or the call fails with
//! [`ClientError::Timeout`] naming the daemon's pid — a stopped (SIGSTOP) or overloaded daemon
//! never hangs a client. Each request carries its deadline
//! ([`legate_domain::api::DEADLINE_HEADER`]), so a daemon that reads it too late does not act
//! on it. Submissions carry an idempotency key and are retried once after a missed deadline or
//! a lost connection ([`Client::submit`]).
//!
//! Frontends speak to the daemon through one typed method per route ([`Client::task`],
//! [`Client::submit`], [`Client::events`], [`Client::daemon_status`]…); the routes' text and
//! query strings are built in one place, which the server's router shares.
//!
//! # Errors
//!
//! Every call can fail because the daemon cannot be reached ([`ClientError::Connect`]; with
//! a starter, after it was started) or trusted ([`ClientError::Untrusted`]: nothing was
//! sent), did not answer in time ([`ClientError::Timeout`]), went away before answering
//! ([`ClientError::Dropped`]), answered with something that is not the route's shape
//! ([`ClientError::Protocol`]), or refused the request ([`ClientError::Api`], whose `code`
//! says why: `store_unavailable`, `invalid_request`…). A method's own doc names the refusals
//! particular to its route. A call naming a task by id or prefix refuses a malformed one
//! (`invalid_request`) before anything is sent.

mod calls;
mod daemon;
mod exchange;
mod results;
mod tasks;
mod worktrees;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use legate_engine::trust::{self, TrustError};
use tokio::net::UnixStream;

pub use crate::error::ClientError;
pub use tasks::LogRead;

/// How long connecting to the daemon may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an ordinary request may take to be answered, unless set otherwise.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// An open connection, ready for its next request.
pub(crate) type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// Starts the daemon when it is not running; given to long-lived clients (the MCP server) so
/// a daemon that went away comes back on the next call.
pub type Starter =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// A client of one daemon socket. JSON calls reuse idle connections (keep-alive), so a
/// long-lived client such as the MCP server pays the connection set-up once.
#[derive(Clone)]
pub struct Client {
    socket: PathBuf,
    pub(crate) idle: Arc<Mutex<Vec<Sender>>>,
    starter: Option<Starter>,
    /// How long a request may wait for its answer.
    pub(crate) timeout: Duration,
    /// The pid of the daemon at the other end of the last connection (0: unknown).
    daemon_pid: Arc<AtomicI32>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("socket", &self.socket)
            .finish()
    }
}

impl Client {
    /// A client for the daemon listening at `socket`.
    pub fn new(socket: &Path) -> Self {
        Client {
            socket: socket.to_path_buf(),
            idle: Arc::default(),
            starter: None,
            timeout: DEFAULT_REQUEST_TIMEOUT,
            daemon_pid: Arc::default(),
        }
    }

    /// The same client with another request timeout (connecting still takes at most
    /// [`CONNECT_TIMEOUT`], or this timeout when shorter).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long a request may wait for its answer.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The daemon's pid as the last connection's peer credentials told it.
    pub fn daemon_pid(&self) -> Option<u32> {
        u32::try_from(self.daemon_pid.load(Ordering::Relaxed))
            .ok()
            .filter(|&p| p > 0)
    }

    /// The error for a deadline that passed.
    pub(crate) fn timed_out(&self, after: Duration) -> ClientError {
        ClientError::Timeout {
            socket: self.socket.clone(),
            after,
            pid: self.daemon_pid(),
        }
    }

    fn connect_timeout(&self) -> Duration {
        CONNECT_TIMEOUT.min(self.timeout)
    }

    /// Connects within the connect deadline, remembering the daemon's pid; verified before
    /// anything is sent: the directories on the way to the socket belong to you or root and
    /// no other user may write them ([`trust::check_on_the_way`]), and the listening process
    /// runs as you (`SO_PEERCRED`).
    async fn connect(&self) -> Result<UnixStream, ClientError> {
        if let Some(dir) = self.socket.parent() {
            trust::check_on_the_way(dir)?;
        }
        let limit = self.connect_timeout();
        let stream = tokio::time::timeout(limit, UnixStream::connect(&self.socket))
            .await
            .map_err(|_| self.timed_out(limit))?
            .map_err(|source| ClientError::Connect {
                path: self.socket.clone(),
                source,
            })?;
        let peer = stream.peer_cred().map_err(|e| TrustError {
            path: self.socket.clone(),
            via: None,
            problem: trust::Problem::Io(e),
        })?;
        trust::check_peer(&self.socket, peer.uid())?;
        if let Some(pid) = peer.pid() {
            self.daemon_pid.store(pid, Ordering::Relaxed);
        }
        Ok(stream)
    }

    /// The same client, starting the daemon with `starter` when it cannot connect. Only the
    /// connection is retried, so no request is ever sent twice.
    pub fn with_starter(mut self, starter: Starter) -> Self {
        self.starter = Some(starter);
        self
    }

    /// The socket path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Whether a daemon answers on the socket: `Ok(false)` when nothing listens there (or it
    /// does not accept in time).
    ///
    /// Errors: [`ClientError::Untrusted`] when the socket cannot be trusted; nothing was sent.
    pub async fn is_up(&self) -> Result<bool, ClientError> {
        match self.connect().await {
            Ok(_) => Ok(true),
            Err(e @ ClientError::Untrusted(_)) => Err(e),
            Err(_) => Ok(false),
        }
    }

    /// A new connection to the daemon (started first, when it is not running and a starter
    /// was given).
    async fn open(&self) -> Result<Sender, ClientError> {
        let stream = match self.connect().await {
            Ok(s) => s,
            Err(e @ ClientError::Connect { .. }) => {
                let Some(start) = &self.starter else {
                    return Err(e);
                };
                start().await.map_err(ClientError::Protocol)?;
                self.connect().await?
            }
            Err(e) => return Err(e),
        };
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// An idle connection that is still open, else a new one.
    pub(crate) async fn checkout(&self) -> Result<Sender, ClientError> {
        loop {
            let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            match idle {
                Some(s) if s.is_ready() => return Ok(s),
                Some(_) => continue,
                None => return self.open().await,
            }
        }
    }
}
