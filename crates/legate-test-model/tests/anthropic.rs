//! Real HTTP requests to the Anthropic Messages route of a real `ModelServer`, shaped as
//! Claude Code sends them: streamed and whole answers, tool calls, a deferred tool loaded with
//! `ToolSearch` first, token counts, side requests, and the request log.

mod common;

use common::{events, post};
use legate_test_model::{ModelServer, user_texts};
use serde_json::{Value, json};

fn request(messages: Value, tools: &[&str]) -> Value {
    let tools: Vec<Value> = tools
        .iter()
        .map(|n| json!({"name": n, "input_schema": {"type": "object"}}))
        .collect();
    json!({"model": "claude-x", "max_tokens": 1000, "system": [{"type": "text", "text": "be"}],
        "messages": messages, "tools": tools})
}

#[tokio::test]
async fn a_streamed_reply_has_every_event_in_order() {
    let server = ModelServer::start().unwrap();
    let mut body = request(
        json!([{"role": "user", "content": "STREAM2 hello"}]),
        &["Bash"],
    );
    body["stream"] = json!(true);
    let response = post(&server, "/v1/messages?beta=true", &body).await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let events = events(&response.text().await.unwrap());
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    for (name, data) in &events {
        assert_eq!(
            data["type"],
            name.as_str(),
            "each event names itself in its data"
        );
    }
    let text: String = events
        .iter()
        .filter_map(|(_, d)| d["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, "turn 1: STREAM2 hello | earlier: ");
    assert_eq!(events[5].1["delta"]["stop_reason"], "end_turn");
    assert!(events[5].1["usage"]["output_tokens"].as_u64().unwrap() > 0);
    assert_eq!(server.requests(), vec![body.clone()]);
    assert_eq!(server.received()[0].path, "/v1/messages");
}

#[tokio::test]
async fn a_deferred_tool_is_loaded_then_called_and_its_result_seen() {
    let server = ModelServer::start().unwrap();
    let listing = "The following deferred tools are now available via ToolSearch. Use \
        ToolSearch with query \"select:<name>\" to load tool schemas before calling them:\n\
        WebFetch\nmcp__legate__delegate\n\nOther text";
    let prompt = json!({"role": "user", "content": [
        {"type": "text", "text": "<system-reminder>noise</system-reminder>"},
        {"type": "text", "text": r#"CALL legate__delegate {"agent": "fake"}"#}
    ]});
    let system = json!({"role": "system", "content": listing});
    let mut messages = vec![prompt, system];
    let body = request(json!(messages), &["Bash", "ToolSearch"]);
    let load: Value = post(&server, "/v1/messages", &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(load["stop_reason"], "tool_use");
    let block = &load["content"][0];
    assert_eq!(block["name"], "ToolSearch");
    assert_eq!(block["input"]["query"], "select:mcp__legate__delegate");

    messages.push(json!({"role": "assistant", "content": [block]}));
    messages.push(json!({"role": "user", "content": [{"type": "tool_result",
        "tool_use_id": block["id"],
        "content": [{"type": "tool_reference", "tool_name": "mcp__legate__delegate"}]}]}));
    messages.push(json!({"role": "user", "content": [{"type": "text", "text": "Tool loaded."}]}));
    let mut body = request(
        json!(messages),
        &["Bash", "ToolSearch", "mcp__legate__delegate"],
    );
    body["stream"] = json!(true);
    let text = post(&server, "/v1/messages", &body)
        .await
        .text()
        .await
        .unwrap();
    let events = events(&text);
    let start = &events[1].1["content_block"];
    assert_eq!(start["type"], "tool_use");
    assert_eq!(start["name"], "mcp__legate__delegate");
    let json_delta = &events[2].1["delta"];
    assert_eq!(json_delta["type"], "input_json_delta");
    let input: Value = serde_json::from_str(json_delta["partial_json"].as_str().unwrap()).unwrap();
    assert_eq!(input, json!({"agent": "fake"}));
    assert_eq!(events[4].1["delta"]["stop_reason"], "tool_use");
    assert_eq!(
        user_texts(&body),
        [r#"CALL legate__delegate {"agent": "fake"}"#],
        "reminders, tool results and what follows them are no user words"
    );

    let call =
        json!({"type": "tool_use", "id": start["id"], "name": start["name"], "input": input});
    messages.push(json!({"role": "assistant", "content": [call]}));
    messages.push(json!({"role": "user", "content": [{"type": "tool_result",
        "tool_use_id": start["id"], "content": "task abc queued"}]}));
    let body = request(json!(messages), &["ToolSearch", "mcp__legate__delegate"]);
    let seen: Value = post(&server, "/v1/messages", &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["content"][0]["text"], "SAW: task abc queued");
    assert_eq!(seen["stop_reason"], "end_turn");

    let asked = server.first_containing("legate__delegate").unwrap();
    let answered = server.first_containing("task abc queued").unwrap();
    assert!(answered.at > asked.at && answered.wall >= asked.wall);
}

#[tokio::test]
async fn side_requests_token_counts_and_unknown_paths() {
    let server = ModelServer::start().unwrap();
    let side = request(
        json!([{"role": "user", "content": "RATE_LIMIT title please"}]),
        &[],
    );
    let reply: Value = post(&server, "/v1/messages", &side)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(reply["content"][0]["text"], "scripted title");

    let count = json!({"model": "m", "messages": [{"role": "user", "content": "one two three"}]});
    let counted: Value = post(&server, "/v1/messages/count_tokens", &count)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(counted["input_tokens"], 3);

    let missing = post(&server, "/api/tags", &json!({})).await;
    assert_eq!(missing.status(), 404);
    let paths: Vec<String> = server.received().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        ["/v1/messages", "/v1/messages/count_tokens", "/api/tags"]
    );
    assert_eq!(
        server.requests(),
        vec![side],
        "only model calls are requests"
    );
}

#[tokio::test]
async fn rate_limit_tells_the_client_not_to_retry() {
    let server = ModelServer::start().unwrap();
    let body = request(
        json!([{"role": "user", "content": "RATE_LIMIT"}]),
        &["Bash"],
    );
    let response = post(&server, "/v1/messages", &body).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["x-should-retry"], "false");
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["type"], "rate_limit_error");
}
