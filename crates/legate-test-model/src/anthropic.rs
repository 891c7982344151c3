//! The Anthropic Messages wire format (`POST /v1/messages`, streamed or not, and
//! `/v1/messages/count_tokens`), as Claude Code speaks it: what the script reads from a
//! request, and the shapes the server answers with.

use crate::routes::{Shared, pause, sse_named};
use crate::script::{self, Exchange, Outcome, count_words};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// `POST /v1/messages` (Claude Code adds `?beta=true`): records the body, then answers by the
/// script, as server-sent events when the body has `"stream": true`.
pub(crate) async fn messages(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let Some(request) = shared.record("/v1/messages", &body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "body is not JSON",
        );
    };
    let plan = script::decide(&exchange(&request));
    tokio::time::sleep(plan.delay).await;
    let id = format!("msg_scripted_{}", shared.next_id());
    let model = request["model"].as_str().unwrap_or("m").to_owned();
    let (blocks, stop, said) = match &plan.outcome {
        Outcome::RateLimit => {
            // `x-should-retry: false` makes Anthropic's SDK (so Claude Code) give up at once.
            let headers = [("retry-after", "0"), ("x-should-retry", "false")];
            let body = json!({"type": "error", "error": {
                "type": "rate_limit_error", "message": "rate limit reached (scripted)"
            }});
            return (StatusCode::TOO_MANY_REQUESTS, headers, Json(body)).into_response();
        }
        Outcome::Reply(reply) => (
            vec![json!({"type": "text", "text": reply})],
            "end_turn",
            reply.clone(),
        ),
        Outcome::Call { name, args } => {
            let call_id = format!("toolu_scripted_{}", shared.next_id());
            let block = json!({"type": "tool_use", "id": call_id, "name": name, "input": args});
            (vec![block], "tool_use", args.to_string())
        }
    };
    let input = input_tokens(&request);
    let output = said.split_whitespace().count().max(1);
    if request["stream"].as_bool() != Some(true) {
        return Json(json!({
            "id": id, "type": "message", "role": "assistant", "model": model,
            "content": blocks, "stop_reason": stop, "stop_sequence": null,
            "usage": usage(input, output)
        }))
        .into_response();
    }
    let mut start = json!({
        "type": "message_start",
        "message": {"id": id, "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": null, "stop_sequence": null, "usage": usage(input, 1)}
    });
    start["message"]["usage"]["output_tokens"] = json!(1);
    let mut events = vec![(Duration::ZERO, "message_start", start)];
    for (index, block) in blocks.iter().enumerate() {
        events.extend(streamed_block(index, block, &plan));
    }
    let delta = json!({
        "type": "message_delta",
        "delta": {"stop_reason": stop, "stop_sequence": null},
        "usage": {"output_tokens": output}
    });
    events.push((Duration::ZERO, "message_delta", delta));
    events.push((
        Duration::ZERO,
        "message_stop",
        json!({"type": "message_stop"}),
    ));
    sse_named(events)
}

/// `POST /v1/messages/count_tokens`: `{"input_tokens": N}`, N being the words of the request.
pub(crate) async fn count_tokens(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let Some(request) = shared.record("/v1/messages/count_tokens", &body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "body is not JSON",
        );
    };
    Json(json!({"input_tokens": input_tokens(&request)})).into_response()
}

/// The events that stream one content block: its start, its deltas (the text in the plan's
/// chunks; a tool call's input as one `input_json_delta`), its stop.
fn streamed_block(
    index: usize,
    block: &Value,
    plan: &script::Plan,
) -> Vec<(Duration, &'static str, Value)> {
    let (empty, deltas): (Value, Vec<Value>) = if block["type"] == "tool_use" {
        let mut empty = block.clone();
        empty["input"] = json!({});
        let delta = json!({"type": "input_json_delta", "partial_json": block["input"].to_string()});
        (empty, vec![delta])
    } else {
        let text = block["text"].as_str().unwrap_or_default();
        let deltas = script::split(text, plan.chunks)
            .into_iter()
            .map(|piece| json!({"type": "text_delta", "text": piece}))
            .collect();
        (json!({"type": "text", "text": ""}), deltas)
    };
    let start = json!({"type": "content_block_start", "index": index, "content_block": empty});
    let mut events = vec![(Duration::ZERO, "content_block_start", start)];
    for (i, delta) in deltas.into_iter().enumerate() {
        let wait = if i > 0 { pause(plan) } else { Duration::ZERO };
        let event = json!({"type": "content_block_delta", "index": index, "delta": delta});
        events.push((wait, "content_block_delta", event));
    }
    let stop = json!({"type": "content_block_stop", "index": index});
    events.push((Duration::ZERO, "content_block_stop", stop));
    events
}

/// What the script needs of a messages request `body`.
pub(crate) fn exchange(body: &Value) -> Exchange {
    let messages = conversation(body);
    // The user messages after the last assistant one: a tool's result, and what Claude Code
    // adds beside it (such as "Tool loaded."), or the user's own words.
    let after = messages.iter().rev().take_while(|m| m["role"] == "user");
    let result = after
        .flat_map(|m| blocks(m))
        .filter(|b| b["type"] == "tool_result")
        .last();
    let tool_result = result.map(|r| result_text(&r["content"]));
    // The name of the tool that gave the result: the `tool_use` block with its id.
    let result_of = result.and_then(|r| {
        messages
            .iter()
            .rev()
            .flat_map(|m| blocks(m))
            .find(|b| b["type"] == "tool_use" && b["id"] == r["tool_use_id"])
            .and_then(|b| b["name"].as_str().map(str::to_owned))
    });
    let tools = body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect();
    Exchange {
        users: user_texts(body),
        tool_result,
        result_of,
        tools,
        deferred: deferred(body),
        side: is_side(body),
    }
}

/// The user and assistant messages of `body`: Claude Code also sends messages of role
/// `system` (such as the list of deferred tools), which are no turn of the conversation.
fn conversation(body: &Value) -> Vec<&Value> {
    turns(body).filter(|m| m["role"] != "system").collect()
}

/// Whether Claude Code makes this request for itself: one that offers no tools (titles, topic
/// checks, quota checks, summaries) rather than a turn of its agent loop, which always does.
fn is_side(body: &Value) -> bool {
    body["tools"].as_array().is_none_or(|t| t.is_empty())
}

/// The user's words in every user message of `body` that holds them, in order: its text blocks
/// joined with `\n`, leaving out those Claude Code adds itself (`<system-reminder>…`, and any
/// message that follows a tool's result before the model speaks again, such as "Tool loaded.");
/// a message holding only tool results is no user message. A message of reminders alone after
/// the model has spoken (a hook's context at a stop, a monitor's notification) is a turn Claude
/// Code started without the user: it counts, with no words, so the script answers it rather
/// than repeating the user's last request.
pub(crate) fn user_texts(body: &Value) -> Vec<String> {
    let mut texts = Vec::new();
    let mut after_result = false;
    let mut spoke = false;
    for m in conversation(body) {
        if m["role"] != "user" {
            after_result = false;
            spoke |= m["role"] == "assistant";
            continue;
        }
        if blocks(m).any(|b| b["type"] == "tool_result") {
            after_result = true;
        }
        if after_result {
            continue;
        }
        if let Some(text) = m["content"].as_str() {
            texts.push(text.to_owned());
            continue;
        }
        let words: Vec<&str> = blocks(m)
            .filter(|b| b["type"] == "text")
            .filter_map(|b| b["text"].as_str())
            .filter(|t| !t.trim_start().starts_with("<system-reminder>"))
            .collect();
        if !words.is_empty() {
            texts.push(words.join("\n"));
        } else if spoke && blocks(m).any(|b| b["type"] == "text") {
            texts.push(String::new());
        }
    }
    texts
}

/// The heading under which Claude Code lists its deferred tools, one name a line, in a text of
/// the system prompt or of a `system` message (2.1.328: "The following deferred tools are now
/// available via ToolSearch. … before calling them:" then the names, then an empty line).
const DEFERRED_HEADING: &str = "deferred tools are now available via ToolSearch";

/// The names of the deferred tools `body` lists (see [`DEFERRED_HEADING`]).
fn deferred(body: &Value) -> Vec<String> {
    let system = body["system"].as_array().into_iter().flatten();
    let texts = system
        .chain(turns(body).flat_map(blocks))
        .filter_map(|b| b["text"].as_str())
        .chain(body["system"].as_str())
        .chain(turns(body).filter_map(|m| m["content"].as_str()));
    let mut names = Vec::new();
    for text in texts {
        let Some((_, after)) = text.split_once(DEFERRED_HEADING) else {
            continue;
        };
        let Some((_, list)) = after.split_once(":\n") else {
            continue;
        };
        let lines = list.lines().take_while(|l| !l.trim().is_empty());
        names.extend(lines.map(|l| l.trim().to_owned()));
    }
    names
}

/// The messages (turns) of `body`.
fn turns(body: &Value) -> impl DoubleEndedIterator<Item = &Value> {
    body["messages"].as_array().into_iter().flatten()
}

/// The content blocks of one message (none when its content is a plain string).
fn blocks(message: &Value) -> impl Iterator<Item = &Value> {
    message["content"].as_array().into_iter().flatten()
}

/// The text of a `tool_result`'s content: a string, or its text blocks joined with `\n` (other
/// blocks, such as Claude Code's `tool_reference`, as JSON).
fn result_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .map(|p| match p["text"].as_str() {
                Some(text) if p["type"] == "text" => text.to_owned(),
                _ => p.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The tokens of a request, counted as words of its system prompt and messages.
fn input_tokens(request: &Value) -> usize {
    let contents = turns(request).map(|m| count_words(&m["content"]));
    count_words(&request["system"]) + contents.sum::<usize>()
}

/// The `usage` object of an answer.
fn usage(input: usize, output: usize) -> Value {
    json!({
        "input_tokens": input,
        "output_tokens": output,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0
    })
}

/// An Anthropic API error answer.
fn error(code: StatusCode, kind: &str, message: &str) -> Response {
    let body = json!({"type": "error", "error": {"type": kind, "message": message}});
    (code, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reminders_after_the_model_spoke_are_a_turn_without_words() {
        let body = json!({
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "<system-reminder>context</system-reminder>"}
                ]},
                {"role": "user", "content": "CALL delegate {}"},
                {"role": "assistant", "content": [{"type": "text", "text": "SAW: queued"}]},
                {"role": "user", "content": [
                    {"type": "text", "text": "<system-reminder>\n<task-notification>…</system-reminder>"}
                ]}
            ],
            "tools": [{"name": "mcp__legate__delegate"}]
        });
        assert_eq!(user_texts(&body), ["CALL delegate {}", ""]);
    }

    #[test]
    fn exchange_reads_users_tools_and_the_result_with_its_tool() {
        let body = json!({
            "system": [{"type": "text", "text": "You are Claude Code"}],
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "<system-reminder>context</system-reminder>"},
                    {"type": "text", "text": "CALL delegate {}"}
                ]},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "t1", "name": "mcp__legate__delegate", "input": {}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "queued"}]}
                ]},
                {"role": "user", "content": [{"type": "text", "text": "Tool loaded."}]}
            ],
            "tools": [{"name": "Bash"}, {"name": "mcp__legate__delegate"}]
        });
        let e = exchange(&body);
        assert_eq!(e.users, ["CALL delegate {}"]);
        assert_eq!(e.tool_result.as_deref(), Some("queued"));
        assert_eq!(e.result_of.as_deref(), Some("mcp__legate__delegate"));
        assert_eq!(e.tools, ["Bash", "mcp__legate__delegate"]);
        assert!(!e.side);
    }

    #[test]
    fn deferred_tools_are_read_from_a_system_message() {
        let list = "The following deferred tools are now available via ToolSearch. Use ToolSearch \
            with query \"select:<name>\" to load tool schemas before calling them:\nWebFetch\n\
            mcp__legate__delegate\n\nAvailable agent types:\n- claude";
        let body = json!({
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "CALL delegate {}"}]},
                {"role": "system", "content": [{"type": "text", "text": list}]}
            ],
            "tools": [{"name": "ToolSearch"}]
        });
        let e = exchange(&body);
        assert_eq!(e.deferred, ["WebFetch", "mcp__legate__delegate"]);
        assert_eq!(e.users, ["CALL delegate {}"]);
        assert_eq!(e.tool_result, None);
    }

    #[test]
    fn requests_without_tools_are_side_requests() {
        let body = json!({"messages": [{"role": "user", "content": "CALL x {}"}]});
        assert!(exchange(&body).side);
    }
}
