//! The API client: one HTTP/1 request per connection over the daemon's Unix socket. Every
//! connection is verified before a byte is sent: the way to the socket cannot be changed by
//! another user, and the daemon at the other end runs as the caller.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use legate_domain::api::ApiError;
use legate_engine::trust::{self, TrustError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::UnixStream;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The daemon is not reachable at the socket.
    #[error("cannot connect to the legate daemon at {path}: {source}")]
    Connect {
        /// The socket.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The socket cannot be trusted: the directories on the way to it could be changed by
    /// another user, or another user's process listens there. Nothing was sent.
    #[error("{0}")]
    Untrusted(#[from] TrustError),
    /// The daemon answered with an error.
    #[error("{0}")]
    Api(ApiError),
    /// The exchange itself failed (connection dropped, bad response).
    #[error("talking to the legate daemon failed: {0}")]
    Protocol(String),
}

/// An open connection, ready for its next request.
type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// Starts the daemon when it is not running; given to long-lived clients (the MCP server) so
/// a daemon that went away comes back on the next call.
pub type Starter =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// A client of one daemon socket. JSON calls reuse idle connections (keep-alive), so a
/// long-lived client such as the MCP server pays the connection set-up once.
#[derive(Clone)]
pub struct Client {
    socket: PathBuf,
    idle: Arc<Mutex<Vec<Sender>>>,
    starter: Option<Starter>,
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
        }
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

    /// Whether a daemon answers on the socket: `Ok(false)` when nothing listens there.
    ///
    /// Errors: [`ClientError::Untrusted`] when the socket cannot be trusted (the checks every
    /// connection makes before sending anything); nothing was sent then.
    pub async fn is_up(&self) -> Result<bool, ClientError> {
        match self.verified_stream().await {
            Ok(_) => Ok(true),
            Err(ClientError::Connect { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// A connection to the daemon, verified before anything is sent: the directories on the
    /// way to the socket belong to you or root and no other user may write them
    /// ([`trust::check_on_the_way`]), and the listening process runs as you (`SO_PEERCRED`).
    async fn verified_stream(&self) -> Result<UnixStream, ClientError> {
        if let Some(dir) = self.socket.parent() {
            trust::check_on_the_way(dir)?;
        }
        let stream =
            UnixStream::connect(&self.socket)
                .await
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
        Ok(stream)
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
        let stream = match self.verified_stream().await {
            Ok(s) => s,
            Err(e @ ClientError::Connect { .. }) => {
                let Some(start) = &self.starter else {
                    return Err(e);
                };
                start().await.map_err(ClientError::Protocol)?;
                self.verified_stream().await?
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
    async fn checkout(&self) -> Result<Sender, ClientError> {
        loop {
            let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            match idle {
                Some(s) if s.is_ready() => return Ok(s),
                Some(_) => continue,
                None => return self.open().await,
            }
        }
    }

    pub(crate) async fn send_with(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
        headers: &[(&str, String)],
    ) -> Result<hyper::Response<Incoming>, ClientError> {
        let mut sender = self.open().await?;
        let req = Self::request(method, path, body, headers)?;
        sender
            .send_request(req)
            .await
            .map_err(|e| ClientError::Protocol(e.to_string()))
    }

    fn request(
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
    fn error_from(status: StatusCode, body: &[u8]) -> ClientError {
        match serde_json::from_slice::<ApiError>(body) {
            Ok(e) => ClientError::Api(e),
            Err(_) => ClientError::Protocol(format!("unexpected answer {status}")),
        }
    }

    /// A JSON call.
    pub async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let bytes = match body {
            Some(b) => Bytes::from(
                serde_json::to_vec(b).map_err(|e| ClientError::Protocol(e.to_string()))?,
            ),
            None => Bytes::new(),
        };
        let mut sender = self.checkout().await?;
        let req = Self::request(method, path, bytes, &[])?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| ClientError::Protocol(e.to_string()))?
            .to_bytes();
        // The exchange is complete: the connection can carry the next one.
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(sender);
        if !status.is_success() {
            return Err(Self::error_from(status, &body));
        }
        serde_json::from_slice(&body)
            .map_err(|e| ClientError::Protocol(format!("bad JSON from the daemon: {e}")))
    }

    /// A GET returning JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call::<(), T>(Method::GET, path, None).await
    }

    /// A POST of JSON returning JSON.
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.call(Method::POST, path, Some(body)).await
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
        mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<(), ClientError> {
        let resp = self.send(Method::GET, path, Bytes::new()).await?;
        if !resp.status().is_success() {
            return Err(Self::error_of(resp).await);
        }
        let mut body = resp.into_body();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| ClientError::Protocol(e.to_string()))?;
            if let Some(data) = frame.data_ref() {
                sink(data).map_err(|e| ClientError::Protocol(e.to_string()))?;
            }
        }
        Ok(())
    }
}
