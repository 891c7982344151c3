//! One request on a connection of its own, within the request timeout: the answer's head
//! must arrive in time, its body (a followed log or event stream) may take as long as it takes.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use legate_domain::api::{ApiError, DEADLINE_HEADER};

use super::{Client, ClientError, now_ms};

impl Client {
    /// Sends one request on a connection of its own, carrying its deadline.
    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<hyper::Response<Incoming>, ClientError> {
        self.send_with(method, path, body, &[]).await
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

    /// A request for `path` with a JSON `body` and `headers`.
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

    /// The error a failed answer describes.
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
    pub(crate) async fn post_empty(&self, path: &str) -> Result<(), ClientError> {
        let resp = self.exchange(Method::POST, path, Bytes::new()).await?;
        if !resp.status().is_success() {
            return Err(Self::error_of(resp).await);
        }
        Ok(())
    }

    /// A GET whose body is streamed: its headers are shown to `head`, then each chunk is
    /// handed to `sink` as it arrives.
    pub(crate) async fn stream_with(
        &self,
        path: &str,
        head: impl FnOnce(&hyper::HeaderMap),
        mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<(), ClientError> {
        let resp = self.exchange(Method::GET, path, Bytes::new()).await?;
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
