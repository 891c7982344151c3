//! JSON calls, each answered within its deadline; submissions retried once with their key.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::Method;
use legate_domain::api::DEADLINE_HEADER;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::client::{Client, ClientError, now_ms};

impl Client {
    /// A JSON call answered within the request timeout.
    pub async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        self.call_within(method, path, body, self.timeout).await
    }

    /// A JSON call that must be answered within `limit`.
    async fn call_within<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        limit: Duration,
    ) -> Result<T, ClientError> {
        let bytes = match body {
            Some(b) => Bytes::from(
                serde_json::to_vec(b).map_err(|e| ClientError::Protocol(e.to_string()))?,
            ),
            None => Bytes::new(),
        };
        let deadline = [(
            DEADLINE_HEADER,
            (now_ms() + limit.as_millis() as i64).to_string(),
        )];
        let exchange = async {
            let mut sender = self.checkout().await?;
            let req = Self::request(method, path, bytes, &deadline)?;
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| ClientError::Dropped(e.to_string()))?;
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| ClientError::Dropped(e.to_string()))?
                .to_bytes();
            // The exchange is complete: the connection can carry the next one.
            self.idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(sender);
            Ok::<_, ClientError>((status, body))
        };
        let (status, body) = tokio::time::timeout(limit, exchange)
            .await
            .map_err(|_| self.timed_out(limit))??;
        if !status.is_success() {
            return Err(Self::error_from(status, &body));
        }
        serde_json::from_slice(&body)
            .map_err(|e| ClientError::Protocol(format!("bad JSON from the daemon: {e}")))
    }

    /// A POST whose answer the daemon may hold back for up to `wait` (a wait with a timeout):
    /// it must be answered within `wait` plus the request timeout (at most 5 s more).
    pub async fn post_waiting<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        wait: Duration,
    ) -> Result<T, ClientError> {
        let margin = self.timeout.min(Duration::from_secs(5));
        self.call_within(Method::POST, path, Some(body), wait + margin)
            .await
    }

    /// A POST that creates a task and carries an idempotency key: sent again (the same body,
    /// so the same key) once when the first attempt missed its deadline or lost its connection,
    /// so a slow or restarting daemon still yields exactly one task.
    pub async fn submit<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        match self.post(path, body).await {
            Err(ClientError::Timeout { .. } | ClientError::Dropped(_)) => {
                self.post(path, body).await
            }
            other => other,
        }
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
}

/// What a log read includes and where it starts (`GET /v1/tasks/ID/log`); [`Client::log`]
/// moves it along as output arrives, so reading again with it resumes where the last read
/// stopped (after a daemon restart).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LogRead {
    /// Keep sending new output until the task ends.
    pub follow: bool,
    /// Only stdout (the output log interleaves stdout and stderr).
    pub stdout: bool,
    /// Skip the first this many bytes of the log of `attempt`.
    pub from: u64,
    /// The attempt whose log was being read (each attempt writes its log anew; a later one is
    /// read from its start). `None`: the current one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
}

impl Client {
    /// `POST /v1/wait`, held by the daemon for up to `slice` (the request's `timeout_ms`).
    pub async fn wait(
        &self,
        req: &legate_domain::api::WaitRequest,
        slice: Duration,
    ) -> Result<legate_domain::api::WaitResponse, ClientError> {
        self.post_waiting("/v1/wait", req, slice).await
    }

    /// Streams task `id`'s log into `sink` as it arrives, from where `read` says, moving
    /// `read` along (see [`LogRead`]). A stream that breaks off (the daemon stopped) fails with
    /// [`ClientError::Dropped`]; an error of `sink` comes back as [`ClientError::Protocol`].
    pub async fn log(
        &self,
        id: &str,
        read: &mut LogRead,
        mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<(), ClientError> {
        legate_domain::api::parse_task_ref(id).map_err(ClientError::Api)?;
        let query =
            serde_urlencoded::to_string(*read).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let path = format!("/v1/tasks/{id}/log?{query}");
        let attempt = |h: &hyper::HeaderMap| {
            h.get(legate_domain::api::ATTEMPT_HEADER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u32>().ok())
        };
        // (attempt, bytes of its log read), shared by the two callbacks.
        let cursor = std::cell::Cell::new((read.attempt, read.from));
        let streamed = self
            .stream_with(
                &path,
                |head| {
                    let now = attempt(head);
                    if now != cursor.get().0 {
                        // Another attempt's log: the daemon sends it from its start.
                        cursor.set((now, 0));
                    }
                },
                |chunk| {
                    sink(chunk)?;
                    let (a, from) = cursor.get();
                    cursor.set((a, from + chunk.len() as u64));
                    Ok(())
                },
            )
            .await;
        (read.attempt, read.from) = cursor.get();
        streamed
    }

    /// `GET /v1/agents`: the configured agents as `q` asks for them.
    pub async fn agents(
        &self,
        q: &legate_domain::api::AgentsQuery,
    ) -> Result<Vec<legate_domain::agent::AgentView>, ClientError> {
        let query = serde_urlencoded::to_string(q)
            .map_err(|e| ClientError::Protocol(format!("cannot encode the query: {e}")))?;
        self.get(&format!("/v1/agents?{query}")).await
    }

    /// `GET /v1/daemon`: who serves, how busy, whether draining.
    pub async fn daemon_status(&self) -> Result<legate_domain::api::DaemonStatus, ClientError> {
        self.get("/v1/daemon").await
    }

    /// `POST /v1/daemon/drain`: the daemon accepts no new task and stops once the tasks it
    /// holds have finished; answers at once with its status.
    pub async fn drain(&self) -> Result<legate_domain::api::DaemonStatus, ClientError> {
        self.call::<(), _>(Method::POST, "/v1/daemon/drain", None)
            .await
    }

    /// Marks a finished task's result read in `origin`'s inbox once the reader was shown it:
    /// only a finished task of that origin (for any other, nothing is sent).
    pub async fn mark_shown(
        &self,
        origin: &str,
        task: &legate_domain::Task,
    ) -> Result<(), ClientError> {
        if !task.status.is_terminal() || task.origin != origin {
            return Ok(());
        }
        let req = legate_domain::api::AckRequest {
            origin: origin.to_string(),
            ids: vec![task.id.to_string()],
            all: false,
        };
        self.ack(&req).await.map(|_| ())
    }

    /// `GET /v1/inbox`: `q.origin`'s finished tasks not yet acknowledged, oldest first (with
    /// `q.ack`, acknowledged as they are read; with `q.scope`/`q.orphans`, orphans besides).
    pub async fn inbox(
        &self,
        q: &legate_domain::api::InboxQuery,
    ) -> Result<legate_domain::api::InboxResponse, ClientError> {
        let query =
            serde_urlencoded::to_string(q).map_err(|e| ClientError::Protocol(e.to_string()))?;
        self.get(&format!("/v1/inbox?{query}")).await
    }

    /// `POST /v1/inbox/ack`: acknowledges inbox entries.
    pub async fn ack(
        &self,
        req: &legate_domain::api::AckRequest,
    ) -> Result<legate_domain::api::AckResponse, ClientError> {
        self.post("/v1/inbox/ack", req).await
    }
}
