//! The OpenAI Responses wire format (`POST /v1/responses`), as Codex speaks it: what the
//! script reads from a request, and the events the server streams back.

use crate::routes::{Shared, pause, sse_named};
use crate::script::{self, Exchange, Outcome, count_words};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// `POST /v1/responses`: records the body, then answers by the script, as server-sent events
/// when the body has `"stream": true` (Codex always asks so), else as one response object.
pub(crate) async fn respond(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let Some(request) = shared.record("/v1/responses", &body) else {
        let error =
            json!({"error": {"message": "body is not JSON", "type": "invalid_request_error"}});
        return (StatusCode::BAD_REQUEST, Json(error)).into_response();
    };
    let plan = script::decide(&exchange(&request));
    tokio::time::sleep(plan.delay).await;
    let n = shared.next_id();
    let id = format!("resp_scripted_{n}");
    let model = request["model"].as_str().unwrap_or("m").to_owned();
    let (item, pieces, said) = match &plan.outcome {
        Outcome::RateLimit => {
            let error = json!({"error": {
                "message": "rate limit reached (scripted)",
                "type": "rate_limit_error",
                "code": "rate_limit_exceeded"
            }});
            let headers = [("retry-after", "0")];
            return (StatusCode::TOO_MANY_REQUESTS, headers, Json(error)).into_response();
        }
        Outcome::Reply(reply) => {
            let item = json!({
                "type": "message", "id": format!("msg_scripted_{n}"), "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": reply, "annotations": []}]
            });
            (item, script::split(reply, plan.chunks), reply.clone())
        }
        Outcome::Call { name, args } => {
            let mut item = json!({
                "type": "function_call", "id": format!("fc_scripted_{n}"),
                "call_id": format!("call_scripted_{n}"), "name": name,
                "arguments": args.to_string(), "status": "completed"
            });
            if let Some((namespace, inner)) = namespaced(&request, name) {
                item["namespace"] = json!(namespace);
                item["name"] = json!(inner);
            }
            (item, Vec::new(), args.to_string())
        }
    };
    let usage = usage(&request, &said);
    let response = |status: &str, output: Value, usage: Value| {
        json!({"id": id, "object": "response", "created_at": 0, "status": status,
            "model": model, "output": output, "usage": usage})
    };
    let done = response("completed", json!([item]), usage);
    if request["stream"].as_bool() != Some(true) {
        return Json(done).into_response();
    }
    let created = response("in_progress", json!([]), Value::Null);
    let mut added = item.clone();
    if added["type"] == "message" {
        added["content"] = json!([]);
        added["status"] = json!("in_progress");
    }
    let mut events = vec![
        (
            Duration::ZERO,
            "response.created",
            json!({"type": "response.created", "response": created}),
        ),
        (
            Duration::ZERO,
            "response.output_item.added",
            json!({"type": "response.output_item.added", "output_index": 0, "item": added}),
        ),
    ];
    for (i, piece) in pieces.into_iter().enumerate() {
        let wait = if i > 0 { pause(&plan) } else { Duration::ZERO };
        let delta = json!({"type": "response.output_text.delta", "item_id": item["id"],
            "output_index": 0, "content_index": 0, "delta": piece});
        events.push((wait, "response.output_text.delta", delta));
    }
    let item_done = json!({"type": "response.output_item.done", "output_index": 0, "item": item});
    events.push((Duration::ZERO, "response.output_item.done", item_done));
    let completed = json!({"type": "response.completed", "response": done});
    events.push((Duration::ZERO, "response.completed", completed));
    sse_named(events)
}

/// What the script needs of a responses request `body`.
pub(crate) fn exchange(body: &Value) -> Exchange {
    let items: Vec<&Value> = input(body).collect();
    let last = items.last().filter(|i| i["type"] == "function_call_output");
    let tool_result = last.map(|i| output_text(&i["output"]));
    let result_of = last.and_then(|out| {
        items
            .iter()
            .find(|i| i["type"] == "function_call" && i["call_id"] == out["call_id"])
            .and_then(|i| {
                let name = i["name"].as_str()?;
                Some(match i["namespace"].as_str() {
                    Some(ns) => format!("{ns}__{name}"),
                    None => name.to_owned(),
                })
            })
    });
    Exchange {
        users: user_texts(body),
        tool_result,
        result_of,
        tools: tool_names(body),
        deferred: Vec::new(),
        side: false,
    }
}

/// The names of the tools `body` offers: a function's name, and for each function of a
/// `namespace` tool (Codex 0.169 offers each MCP server's tools so, as the namespace
/// `mcp__SERVER`) the namespace and the function's name joined by `__`, e.g.
/// `mcp__legate__delegate`.
fn tool_names(body: &Value) -> Vec<String> {
    let mut names = Vec::new();
    for tool in body["tools"].as_array().into_iter().flatten() {
        let Some(name) = tool["name"].as_str() else {
            continue;
        };
        match tool["tools"].as_array() {
            Some(inner) if tool["type"] == "namespace" => names.extend(
                inner
                    .iter()
                    .filter_map(|f| f["name"].as_str())
                    .map(|f| format!("{name}__{f}")),
            ),
            _ => names.push(name.to_owned()),
        }
    }
    names
}

/// The namespace and function name of the offered tool `name` (see [`tool_names`]), when it
/// is a function of a `namespace` tool of `body`: a call of it names both.
fn namespaced<'a>(body: &Value, name: &'a str) -> Option<(String, &'a str)> {
    let tools = body["tools"].as_array()?;
    tools
        .iter()
        .filter(|t| t["type"] == "namespace")
        .filter_map(|t| t["name"].as_str())
        .find_map(|ns| {
            let inner = name.strip_prefix(ns)?.strip_prefix("__")?;
            Some((ns.to_owned(), inner))
        })
}

/// The user's words in every user message of `body`'s `input`, in order: its `input_text`
/// parts joined with `\n`, leaving out the context Codex adds itself as user messages
/// (`<environment_context>`, `<user_instructions>`, `# AGENTS.md …`); a plain string `input`
/// is one user message.
pub(crate) fn user_texts(body: &Value) -> Vec<String> {
    if let Some(text) = body["input"].as_str() {
        return vec![text.to_owned()];
    }
    input(body)
        .filter(|i| i["role"] == "user")
        .filter_map(|i| {
            if let Some(text) = i["content"].as_str() {
                return Some(text.to_owned());
            }
            let texts: Vec<&str> = i["content"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["type"] == "input_text" || p["type"] == "text")
                .filter_map(|p| p["text"].as_str())
                .filter(|t| !is_codex_context(t))
                .collect();
            (!texts.is_empty()).then(|| texts.join("\n"))
        })
        .collect()
}

/// Whether `text` is context Codex sends as a user message of its own.
fn is_codex_context(text: &str) -> bool {
    let t = text.trim_start();
    t.starts_with("<environment_context>")
        || t.starts_with("<user_instructions>")
        || t.starts_with("# AGENTS.md")
}

/// The input items of `body`.
fn input(body: &Value) -> impl Iterator<Item = &Value> {
    body["input"].as_array().into_iter().flatten()
}

/// The text of a `function_call_output`'s output: a string (Codex sends MCP results as the
/// JSON of their content), or its text parts joined with `\n`.
fn output_text(output: &Value) -> String {
    match output {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .map(|p| match p["text"].as_str() {
                Some(text) => text.to_owned(),
                None => p.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        other => other.to_string(),
    }
}

/// Token counts for one exchange: words of the instructions and input, and words of the reply.
fn usage(request: &Value, said: &str) -> Value {
    let input = count_words(&request["instructions"]) + count_words(&request["input"]);
    let output = said.split_whitespace().count();
    json!({
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input + output
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchange_reads_users_tools_and_the_result_with_its_tool() {
        let body = json!({
            "instructions": "You are Codex",
            "input": [
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "<environment_context>cwd</environment_context>"}]},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "CALL delegate {}"}]},
                {"type": "function_call", "namespace": "mcp__legate", "name": "delegate", "arguments": "{}", "call_id": "c1"},
                {"type": "function_call_output", "call_id": "c1", "output": "queued"}
            ],
            "tools": [{"type": "function", "name": "shell"}, {"type": "namespace", "name": "mcp__legate",
                "tools": [{"type": "function", "name": "delegate"}]}]
        });
        let e = exchange(&body);
        assert_eq!(e.users, ["CALL delegate {}"]);
        assert_eq!(e.tool_result.as_deref(), Some("queued"));
        assert_eq!(e.result_of.as_deref(), Some("mcp__legate__delegate"));
        assert_eq!(e.tools, ["shell", "mcp__legate__delegate"]);
        assert_eq!(
            namespaced(&body, "mcp__legate__delegate"),
            Some(("mcp__legate".into(), "delegate"))
        );
        assert_eq!(namespaced(&body, "shell"), None);
    }
}
