//! JSON calls, each answered within its deadline; submissions retried once with their key.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::Method;
use legate_domain::api::DEADLINE_HEADER;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Client, ClientError, now_ms};

impl Client {
    /// A JSON call answered within the request timeout.
    pub(crate) async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        self.call_within(method, path, body, self.timeout).await
    }

    /// A JSON call that must be answered within `limit`.
    pub(crate) async fn call_within<B: Serialize, T: DeserializeOwned>(
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
    pub(crate) async fn post_waiting<B: Serialize, T: DeserializeOwned>(
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
    pub(crate) async fn submit_to<B: Serialize, T: DeserializeOwned>(
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
    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call::<(), T>(Method::GET, path, None).await
    }

    /// A POST of JSON returning JSON.
    pub(crate) async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.call(Method::POST, path, Some(body)).await
    }
}
