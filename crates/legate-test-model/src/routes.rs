//! The HTTP routes: `POST /v1/chat/completions` (recorded, answered by the script) and
//! `GET /v1/models`.

use crate::openai;
use crate::script::{self, Outcome};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::mpsc;

/// What the handlers share with the server: the recorded request bodies and the next
/// completion number.
#[derive(Default)]
pub(crate) struct Shared {
    pub requests: Mutex<Vec<Value>>,
    next_id: AtomicU64,
}

/// The routes of the server.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/models", get(|| async { Json(openai::models()) }))
        .with_state(shared)
}

/// Locks `m`, going on even if a handler panicked while holding it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `POST /v1/chat/completions`: records the body, then answers by the script.
async fn chat(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        let error =
            json!({"error": {"message": "body is not JSON", "type": "invalid_request_error"}});
        return (StatusCode::BAD_REQUEST, Json(error)).into_response();
    };
    lock(&shared.requests).push(request.clone());
    let plan = script::decide(&request);
    tokio::time::sleep(plan.delay).await;
    let reply = match plan.outcome {
        Outcome::RateLimit => {
            // `retry-after-ms: 0` lets agents that honour it (opencode retries a 429 six times,
            // over about 75 s by default) give up at once.
            let headers = [("retry-after-ms", "0")];
            let body = Json(openai::rate_limit_error());
            return (StatusCode::TOO_MANY_REQUESTS, headers, body).into_response();
        }
        Outcome::Reply(reply) => reply,
    };
    let id = format!(
        "chatcmpl-scripted-{}",
        shared.next_id.fetch_add(1, Ordering::Relaxed)
    );
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("m")
        .to_owned();
    let usage = openai::usage(&request, &reply);
    if request.get("stream").and_then(Value::as_bool) != Some(true) {
        return Json(openai::completion(&id, &model, &reply, usage)).into_response();
    }
    let pause = if plan.chunks > 1 {
        Duration::from_millis(50)
    } else {
        Duration::ZERO
    };
    let first = json!({"role": "assistant", "content": ""});
    let mut chunks = vec![openai::chunk(&id, &model, first, None)];
    for piece in openai::split(&reply, plan.chunks) {
        chunks.push(openai::chunk(&id, &model, json!({"content": piece}), None));
    }
    chunks.push(openai::chunk(&id, &model, json!({}), Some(usage)));
    sse(chunks, pause)
}

/// A server-sent events answer: each chunk as a `data:` event, content chunks `pause` apart,
/// then `data: [DONE]`.
fn sse(chunks: Vec<Value>, pause: Duration) -> Response {
    let (tx, rx) = mpsc::channel::<String>(4);
    tokio::spawn(async move {
        for (i, chunk) in chunks.iter().enumerate() {
            if i > 1 {
                tokio::time::sleep(pause).await;
            }
            if tx.send(format!("data: {chunk}\n\n")).await.is_err() {
                return;
            }
        }
        let _ = tx.send("data: [DONE]\n\n".to_owned()).await;
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|event| (Ok::<_, Infallible>(event), rx))
    });
    let headers = [
        (header::CONTENT_TYPE, "text/event-stream"),
        (header::CACHE_CONTROL, "no-cache"),
    ];
    (headers, Body::from_stream(stream)).into_response()
}
