//! The API client: HTTP/1 over the daemon's Unix socket, with deadlines. Every connection is
//! verified before a byte is sent: the way to the socket cannot be changed by another user,
//! and the daemon at the other end runs as the caller. Connecting must
//! succeed within [`CONNECT_TIMEOUT`] and every request be answered within the request timeout
//! ([`DEFAULT_REQUEST_TIMEOUT`] unless the frontend sets another), or the call fails with
//! [`ClientError::Timeout`] naming the daemon's pid — a stopped (SIGSTOP) or overloaded daemon
//! never hangs a client. Each request carries its deadline ([`DEADLINE_HEADER`]), so a daemon
//! that reads it too late does not act on it. Submissions carry an idempotency key and are
//! retried once after a missed deadline or a lost connection ([`Client::submit`]).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use legate_domain::api::{ApiError, DEADLINE_HEADER};
use legate_engine::trust::{self, TrustError};
use tokio::net::UnixStream;

pub use crate::error::ClientError;

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

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<hyper::Response<Incoming>, ClientError> {
        self.send_with(method, path, body, &[]).await
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

    /// Sends one request on a connection of its own; its answer's head must arrive within
    /// the request timeout (the body, e.g. a followed stream, may take as long as it takes).
    pub(crate) async fn send_with(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
        headers: &[(&str, String)],
    ) -> Result<hyper::Response<Incoming>, ClientError> {
        let limit = self.timeout;
        let deadline = (
            DEADLINE_HEADER,
            (now_ms() + limit.as_millis() as i64).to_string(),
        );
        let headers: Vec<(&str, String)> = headers.iter().cloned().chain([deadline]).collect();
        let exchange = async {
            let mut sender = self.open().await?;
            let req = Self::request(method, path, body, &headers)?;
            sender
                .send_request(req)
                .await
                .map_err(|e| ClientError::Dropped(e.to_string()))
        };
        tokio::time::timeout(limit, exchange)
            .await
            .map_err(|_| self.timed_out(limit))?
    }

    pub(crate) fn request(
        method: Method,
        path: &str,
        body: Bytes,
        headers: &[(&str, String)],
    ) -> Result<Request<Full<Bytes>>, ClientError> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "legate")
            .header("content-type", "application/json");
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        req.body(Full::new(body))
            .map_err(|e| ClientError::Protocol(e.to_string()))
    }

    pub(crate) async fn error_of(resp: hyper::Response<Incoming>) -> ClientError {
        let status = resp.status();
        match resp.into_body().collect().await {
            Ok(b) => Self::error_from(status, &b.to_bytes()),
            Err(e) => ClientError::Protocol(e.to_string()),
        }
    }

    /// The error a failed answer's body describes.
    pub(crate) fn error_from(status: StatusCode, body: &[u8]) -> ClientError {
        match serde_json::from_slice::<ApiError>(body) {
            Ok(e) => ClientError::Api(e),
            Err(_) => ClientError::Protocol(format!("unexpected answer {status}")),
        }
    }

    /// A POST whose answer carries no body of interest.
    pub async fn post_empty(&self, path: &str) -> Result<StatusCode, ClientError> {
        let resp = self.send(Method::POST, path, Bytes::new()).await?;
        if !resp.status().is_success() {
            return Err(Self::error_of(resp).await);
        }
        Ok(resp.status())
    }

    /// A GET whose body is streamed: each chunk is handed to `sink` as it arrives.
    pub async fn stream(
        &self,
        path: &str,
        sink: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<(), ClientError> {
        self.stream_with(path, |_| {}, sink).await
    }

    /// [`Client::stream`], showing the answer's headers to `head` before the body.
    pub(crate) async fn stream_with(
        &self,
        path: &str,
        head: impl FnOnce(&hyper::HeaderMap),
        mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<(), ClientError> {
        let resp = self.send(Method::GET, path, Bytes::new()).await?;
        if !resp.status().is_success() {
            return Err(Self::error_of(resp).await);
        }
        head(resp.headers());
        let mut body = resp.into_body();
        while let Some(frame) = body.frame().await {
            // A body cut short: the daemon stopped (or went away) while streaming.
            let frame = frame.map_err(|e| ClientError::Dropped(e.to_string()))?;
            if let Some(data) = frame.data_ref() {
                sink(data).map_err(|e| ClientError::Protocol(e.to_string()))?;
            }
        }
        Ok(())
    }
}
