//! The HTTP routes: `POST /v1/chat/completions` and `GET /v1/models` (OpenAI Chat
//! Completions), `POST /v1/responses` (OpenAI Responses), `POST /v1/messages` and
//! `/v1/messages/count_tokens` (Anthropic Messages), and
//! `POST /v1beta/models/{model}:generateContent` / `:streamGenerateContent` (Gemini). Every
//! request body is recorded with its path and arrival time and answered by the script; only
//! the wire format differs. Any other path is recorded too and answered 404.

use crate::script::{self, Outcome, Plan};
use crate::server::Received;
use crate::{anthropic, gemini, openai, responses};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc;

/// What the handlers share with the server: the recorded request bodies and the next
/// answer number.
#[derive(Default)]
pub(crate) struct Shared {
    pub requests: Mutex<Vec<Received>>,
    next_id: AtomicU64,
}

impl Shared {
    /// A number no earlier answer of this server used.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// `body`, sent to `path`, parsed and recorded, or `None` when it is not JSON (then
    /// nothing is recorded).
    pub(crate) fn record(&self, path: &str, body: &Bytes) -> Option<Value> {
        let request = serde_json::from_slice::<Value>(body).ok()?;
        lock(&self.requests).push(Received {
            path: path.to_owned(),
            at: Instant::now(),
            wall: SystemTime::now(),
            body: request.clone(),
        });
        Some(request)
    }
}

/// The routes of the server.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/models", get(|| async { Json(openai::models()) }))
        .route("/v1/responses", post(responses::respond))
        .route("/v1/messages", post(anthropic::messages))
        .route("/v1/messages/count_tokens", post(anthropic::count_tokens))
        .route("/v1beta/models/{call}", post(gemini::generate))
        .fallback(unknown)
        .with_state(shared)
}

/// Any other request: recorded (a JSON body as it is, any other as `null`), so a test can see
/// what an agent asked for, and answered 404.
async fn unknown(State(shared): State<Arc<Shared>>, uri: Uri, body: Bytes) -> Response {
    if shared.record(uri.path(), &body).is_none() {
        lock(&shared.requests).push(Received {
            path: uri.path().to_owned(),
            at: Instant::now(),
            wall: SystemTime::now(),
            body: Value::Null,
        });
    }
    let message = format!("the scripted model server has no route {}", uri.path());
    let error = json!({"error": {"message": message, "type": "not_found_error"}});
    (StatusCode::NOT_FOUND, Json(error)).into_response()
}

/// Locks `m`, going on even if a handler panicked while holding it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The pause between the content chunks of a streamed reply planned by `plan`.
pub(crate) fn pause(plan: &Plan) -> Duration {
    if plan.chunks > 1 {
        Duration::from_millis(50)
    } else {
        Duration::ZERO
    }
}

/// `POST /v1/chat/completions`: records the body, then answers by the script.
async fn chat(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let Some(request) = shared.record("/v1/chat/completions", &body) else {
        let error =
            json!({"error": {"message": "body is not JSON", "type": "invalid_request_error"}});
        return (StatusCode::BAD_REQUEST, Json(error)).into_response();
    };
    let plan = script::decide(&openai::exchange(&request));
    tokio::time::sleep(plan.delay).await;
    let id = format!("chatcmpl-scripted-{}", shared.next_id());
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("m")
        .to_owned();
    let stream = request.get("stream").and_then(Value::as_bool) == Some(true);
    let (message, deltas, finish, usage) = match &plan.outcome {
        Outcome::RateLimit => {
            // `retry-after-ms: 0` lets agents that honour it (opencode retries a 429 six times,
            // over about 75 s by default) give up at once.
            let headers = [("retry-after-ms", "0")];
            let body = Json(openai::rate_limit_error());
            return (StatusCode::TOO_MANY_REQUESTS, headers, body).into_response();
        }
        Outcome::Reply(reply) => {
            let message = json!({"role": "assistant", "content": reply});
            let deltas = script::split(reply, plan.chunks)
                .into_iter()
                .map(|piece| json!({"content": piece}))
                .collect::<Vec<_>>();
            (message, deltas, "stop", openai::usage(&request, reply))
        }
        Outcome::Call { name, args } => {
            let call = openai::tool_call(&id, name, args);
            let message = json!({"role": "assistant", "content": null, "tool_calls": [call]});
            let mut indexed = call.clone();
            indexed["index"] = json!(0);
            let deltas = vec![json!({"tool_calls": [indexed]})];
            let usage = openai::usage(&request, &args.to_string());
            (message, deltas, "tool_calls", usage)
        }
    };
    if !stream {
        return Json(openai::completion(&id, &model, message, finish, usage)).into_response();
    }
    let first = json!({"role": "assistant", "content": ""});
    let mut events = vec![(Duration::ZERO, openai::chunk(&id, &model, first, None))];
    for (i, delta) in deltas.into_iter().enumerate() {
        let wait = if i > 0 { pause(&plan) } else { Duration::ZERO };
        events.push((wait, openai::chunk(&id, &model, delta, None)));
    }
    let last = openai::chunk(&id, &model, json!({}), Some((finish, usage)));
    events.push((Duration::ZERO, last));
    let mut payloads: Vec<(Duration, String)> = events
        .into_iter()
        .map(|(w, c)| (w, c.to_string()))
        .collect();
    payloads.push((Duration::ZERO, "[DONE]".to_owned()));
    sse(payloads)
}

/// A server-sent events answer: each payload as a `data:` event, sent after its wait.
pub(crate) fn sse(payloads: Vec<(Duration, String)>) -> Response {
    let frames = payloads
        .into_iter()
        .map(|(wait, payload)| (wait, format!("data: {payload}\n\n")))
        .collect();
    sse_frames(frames)
}

/// A server-sent events answer of named events (`event: NAME` then `data: JSON`), as the
/// Anthropic and OpenAI Responses APIs send them: each after its wait.
pub(crate) fn sse_named(events: Vec<(Duration, &'static str, Value)>) -> Response {
    let frames = events
        .into_iter()
        .map(|(wait, name, data)| (wait, format!("event: {name}\ndata: {data}\n\n")))
        .collect();
    sse_frames(frames)
}

/// A server-sent events answer: each whole frame sent after its wait.
fn sse_frames(frames: Vec<(Duration, String)>) -> Response {
    let (tx, rx) = mpsc::channel::<String>(4);
    tokio::spawn(async move {
        for (wait, frame) in frames {
            tokio::time::sleep(wait).await;
            if tx.send(frame).await.is_err() {
                return;
            }
        }
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
