//! The Gemini API wire format (`generateContent`, `streamGenerateContent?alt=sse`), as Gemini
//! CLI speaks it: what the script reads from a request, and the shapes the server answers with.

use crate::routes::{Shared, pause, sse};
use crate::script::{self, Exchange, Outcome, count_words};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// `POST /v1beta/models/{model}:generateContent` and `…:streamGenerateContent`: records the
/// body, then answers by the script, streamed as server-sent events for the second.
pub(crate) async fn generate(
    State(shared): State<Arc<Shared>>,
    Path(call): Path<String>,
    body: Bytes,
) -> Response {
    let (model, stream) = match call.split_once(':') {
        Some((model, "generateContent")) => (model.to_owned(), false),
        Some((model, "streamGenerateContent")) => (model.to_owned(), true),
        _ => {
            let message = format!(
                "no method '{call}': use MODEL:generateContent or MODEL:streamGenerateContent"
            );
            return error(StatusCode::NOT_FOUND, "NOT_FOUND", &message);
        }
    };
    let path = format!("/v1beta/models/{call}");
    let Some(request) = shared.record(&path, &body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "body is not JSON",
        );
    };
    let plan = script::decide(&exchange(&request));
    tokio::time::sleep(plan.delay).await;
    let id = format!("scripted-{}", shared.next_id());
    let (parts, reply): (Vec<Value>, String) = match &plan.outcome {
        Outcome::RateLimit => {
            return (StatusCode::TOO_MANY_REQUESTS, Json(rate_limit_error())).into_response();
        }
        Outcome::Reply(reply) => {
            let parts = script::split(reply, plan.chunks)
                .into_iter()
                .map(|piece| json!({"text": piece}))
                .collect();
            (parts, reply.clone())
        }
        Outcome::Call { name, args } => (
            vec![json!({"functionCall": {"name": name, "args": args}})],
            args.to_string(),
        ),
    };
    let usage = usage(&request, &reply);
    if !stream {
        return Json(response(&id, &model, parts, Some(usage))).into_response();
    }
    let last = parts.len().saturating_sub(1);
    let events = parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| {
            let wait = if i > 0 { pause(&plan) } else { Duration::ZERO };
            let end = (i == last).then(|| usage.clone());
            (wait, response(&id, &model, vec![part], end).to_string())
        })
        .collect();
    sse(events)
}

/// What the script needs of a `generateContent` request `body`.
pub(crate) fn exchange(body: &Value) -> Exchange {
    let tool_result = contents(body)
        .last()
        .and_then(|c| parts(c).find_map(|p| p.get("functionResponse")))
        .map(|r| match &r["response"]["output"] {
            Value::String(s) => s.clone(),
            _ => r["response"].to_string(),
        });
    let tools = body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| t.get("functionDeclarations").and_then(Value::as_array))
        .flatten()
        .filter_map(|d| d["name"].as_str().map(str::to_owned))
        .collect();
    // Gemini CLI asks for JSON (`responseMimeType`) only in the checks it makes for itself.
    let side = body["generationConfig"]["responseMimeType"].as_str() == Some("application/json");
    Exchange {
        users: user_texts(body),
        tool_result,
        result_of: None,
        tools,
        deferred: Vec::new(),
        side,
    }
}

/// The user's words in every user content of `body` that holds text, in order: its last text
/// part (Gemini CLI puts its own context, such as `<session_context>`, in parts before the
/// user's prompt; a content holding only function responses is a tool result).
pub(crate) fn user_texts(body: &Value) -> Vec<String> {
    contents(body)
        .filter(|c| c.get("role").and_then(Value::as_str) == Some("user"))
        .filter_map(|c| parts(c).filter_map(|p| p["text"].as_str()).last())
        .map(str::to_owned)
        .collect()
}

/// The contents (turns) of `body`.
fn contents(body: &Value) -> impl DoubleEndedIterator<Item = &Value> {
    body.get("contents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// The parts of one content.
fn parts(content: &Value) -> impl Iterator<Item = &Value> {
    content
        .get("parts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// A `GenerateContentResponse` with `parts` from the model; `end`, the usage, makes it the
/// last one (with `finishReason: STOP`).
fn response(id: &str, model: &str, parts: Vec<Value>, end: Option<Value>) -> Value {
    let mut candidate = json!({"content": {"role": "model", "parts": parts}, "index": 0});
    let mut r = json!({"candidates": [], "modelVersion": model, "responseId": id});
    if let Some(usage) = end {
        candidate["finishReason"] = json!("STOP");
        r["usageMetadata"] = usage;
    }
    r["candidates"] = json!([candidate]);
    r
}

/// Token counts for one exchange: words of every content, and words of the reply.
fn usage(request: &Value, reply: &str) -> Value {
    let prompt: usize = contents(request).map(count_words).sum();
    let answer = reply.split_whitespace().count();
    json!({
        "promptTokenCount": prompt,
        "candidatesTokenCount": answer,
        "totalTokenCount": prompt + answer
    })
}

/// The body of the scripted 429 answer: a quota the agent cannot wait out (a daily one), so
/// Gemini CLI reports it at once instead of retrying.
pub(crate) fn rate_limit_error() -> Value {
    json!({"error": {
        "code": 429,
        "message": "Resource has been exhausted: rate limit reached (scripted).",
        "status": "RESOURCE_EXHAUSTED",
        "details": [{
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [{
                "quotaMetric": "generativelanguage.googleapis.com/generate_content_requests",
                "quotaId": "GenerateRequestsPerDayPerProjectPerModel"
            }]
        }]
    }})
}

/// A Gemini API error answer.
fn error(code: StatusCode, status: &str, message: &str) -> Response {
    let body = json!({"error": {"code": code.as_u16(), "message": message, "status": status}});
    (code, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchange_reads_users_tools_and_a_final_tool_result() {
        let body = json!({
            "contents": [
                {"role": "user", "parts": [{"text": "setup"}, {"text": "CALL status {}"}]},
                {"role": "model", "parts": [{"functionCall": {"name": "mcp_legate_status", "args": {}}}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "mcp_legate_status", "response": {"output": "all good"}}}]}
            ],
            "tools": [{"functionDeclarations": [{"name": "read_file"}, {"name": "mcp_legate_status"}]}]
        });
        let e = exchange(&body);
        assert_eq!(e.users, ["CALL status {}"]);
        assert_eq!(e.tool_result.as_deref(), Some("all good"));
        assert_eq!(e.tools, ["read_file", "mcp_legate_status"]);
        assert!(!e.side);
    }

    #[test]
    fn json_requests_are_side_requests() {
        let body =
            json!({"contents": [], "generationConfig": {"responseMimeType": "application/json"}});
        assert!(exchange(&body).side);
    }

    #[test]
    fn usage_counts_words() {
        let req = json!({"contents": [{"role": "user", "parts": [{"text": "one two"}]}]});
        let u = usage(&req, "three four five");
        assert_eq!(u["promptTokenCount"], 3, "the role counts as a word too");
        assert_eq!(u["candidatesTokenCount"], 3);
    }
}
