//! The server's life: its own thread and tokio runtime, the recorded requests, and stopping.

use crate::routes::{self, Shared};
use serde_json::Value;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime};
use tokio::sync::oneshot;

/// One request the server received, as [`ModelServer::received`] lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// The request path without its query, e.g. `/v1/messages` (Claude Code sends
    /// `/v1/messages?beta=true`) or `/v1beta/models/m:streamGenerateContent`.
    pub path: String,
    /// When the whole body had arrived (monotonic clock), to measure when an agent asked.
    pub at: Instant,
    /// The same moment on the wall clock, to compare with times other programs wrote down.
    pub wall: SystemTime,
    /// The body parsed as JSON; `null` for a body that is not JSON sent to a path the server
    /// does not serve (a model route answers such a body 400 and records nothing).
    pub body: Value,
}

impl Received {
    /// Whether this request asked the model for an answer: chat completions, responses,
    /// messages (not `count_tokens`) or `generateContent`, rather than a side route.
    pub fn is_model_call(&self) -> bool {
        matches!(
            self.path.as_str(),
            "/v1/chat/completions" | "/v1/responses" | "/v1/messages"
        ) || self.path.starts_with("/v1beta/models/")
    }

    /// Whether the body holds `text` anywhere (in any string, as JSON escapes it: search for
    /// plain words).
    pub fn contains(&self, text: &str) -> bool {
        self.body.to_string().contains(text)
    }

    /// How many times `text` occurs in the body outside what the model itself said: the
    /// model's messages (`assistant` in chat completions, Anthropic Messages and Responses;
    /// `model` in Gemini) and its tool calls (Responses' `function_call` items) left out, so a
    /// reply that repeats a result does not count as the result arriving again. For plain words
    /// (the body is searched as JSON text).
    pub fn count_outside_replies(&self, text: &str) -> usize {
        let mut body = self.body.clone();
        let own = |item: &Value| {
            matches!(
                item.get("role").and_then(Value::as_str),
                Some("assistant" | "model")
            ) || matches!(
                item.get("type").and_then(Value::as_str),
                Some("function_call" | "reasoning")
            )
        };
        for key in ["messages", "input", "contents"] {
            if let Some(items) = body.get_mut(key).and_then(Value::as_array_mut) {
                items.retain(|item| !own(item));
            }
        }
        body.to_string().matches(text).count()
    }
}

/// A running scripted model server on 127.0.0.1; dropping it stops the server.
///
/// It owns a thread with its own tokio runtime, so synchronous tests can start one and point an
/// agent CLI at it.
pub struct ModelServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ModelServer {
    /// Starts a server on a free port of 127.0.0.1; this is what tests want.
    pub fn start() -> std::io::Result<ModelServer> {
        ModelServer::start_on(0)
    }

    /// Starts a server on `port` of 127.0.0.1 (0 picks a free one); the binary uses it to
    /// honour `--port`.
    pub fn start_on(port: u16) -> std::io::Result<ModelServer> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let app = routes::router(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready, started) = std::sync::mpsc::channel::<std::io::Result<()>>();
        let thread = std::thread::Builder::new()
            .name(format!("legate-test-model-{}", addr.port()))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                let runtime = match runtime {
                    Ok(runtime) => runtime,
                    Err(e) => return drop(ready.send(Err(e))),
                };
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(e) => return drop(ready.send(Err(e))),
                    };
                    tokio::spawn(async move { axum::serve(listener, app).await });
                    let _ = ready.send(Ok(()));
                    let _ = stopped.await;
                });
                // Dropping the runtime here cancels every connection still open.
            })?;
        let server = ModelServer {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        };
        match started.recv() {
            Ok(Ok(())) => Ok(server),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(std::io::Error::other(
                "the server thread ended before serving",
            )),
        }
    }

    /// The OpenAI base URL to give an agent's provider, `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The base URL to give Gemini CLI (`GOOGLE_GEMINI_BASE_URL`), `http://127.0.0.1:PORT`: it
    /// appends `/v1beta/models/…` itself.
    pub fn gemini_base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The body of every request that asked the model for an answer so far (see
    /// [`Received::is_model_call`]: OpenAI chat completions and responses, Anthropic messages
    /// and Gemini `generateContent` alike), in order, side requests such as title generation
    /// included, so tests can check what the agent sent.
    pub fn requests(&self) -> Vec<Value> {
        routes::lock(&self.shared.requests)
            .iter()
            .filter(|r| r.is_model_call())
            .map(|r| r.body.clone())
            .collect()
    }

    /// Every request received so far on any path (token counts and paths the server does not
    /// serve included), in order of arrival, with its path and arrival time: so a test can
    /// tell when an agent's request carrying some text arrived.
    pub fn received(&self) -> Vec<Received> {
        routes::lock(&self.shared.requests).clone()
    }

    /// The first model call received whose body holds `text` (see [`Received::contains`]),
    /// if one came.
    pub fn first_containing(&self, text: &str) -> Option<Received> {
        routes::lock(&self.shared.requests)
            .iter()
            .find(|r| r.is_model_call() && r.contains(text))
            .cloned()
    }
}

impl Drop for ModelServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
