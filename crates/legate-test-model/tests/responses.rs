//! Real HTTP requests to the OpenAI Responses route of a real `ModelServer`, shaped as Codex
//! sends them: streamed replies, calls of namespaced (MCP) tools, and their results.

mod common;

use common::events;
use legate_test_model::{ModelServer, user_texts};
use serde_json::{Value, json};

/// POSTs `body` to the Responses route.
async fn post(server: &ModelServer, body: &Value) -> reqwest::Response {
    common::post(server, "/v1/responses", body).await
}

fn user(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

fn request(input: &[Value]) -> Value {
    json!({"model": "m", "instructions": "be", "stream": true, "input": input, "tools": [
        {"type": "function", "name": "exec_command", "parameters": {}},
        {"type": "namespace", "name": "mcp__legate", "description": "legate",
            "tools": [{"type": "function", "name": "delegate", "parameters": {}}]}
    ]})
}

#[tokio::test]
async fn a_streamed_reply_has_every_event_in_order() {
    let server = ModelServer::start().unwrap();
    let body = request(&[
        user("<environment_context>x</environment_context>"),
        user("STREAM2 hi"),
    ]);
    let text = post(&server, &body).await.text().await.unwrap();
    let events = events(&text);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.output_item.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_item.done",
            "response.completed"
        ]
    );
    let deltas: String = events
        .iter()
        .filter_map(|(_, d)| d["delta"].as_str())
        .collect();
    assert_eq!(deltas, "turn 1: STREAM2 hi | earlier: ");
    let done = &events[4].1["item"];
    assert_eq!(done["content"][0]["text"], deltas.as_str());
    let usage = &events[5].1["response"]["usage"];
    assert!(usage["output_tokens"].as_u64().unwrap() > 0);
    assert!(usage["total_tokens"].as_u64().unwrap() > 0);
    assert_eq!(
        user_texts(&body),
        ["STREAM2 hi"],
        "Codex's context is no user word"
    );
}

#[tokio::test]
async fn a_namespaced_tool_is_called_and_its_result_seen() {
    let server = ModelServer::start().unwrap();
    let mut input = vec![user(r#"CALL legate__delegate {"agent": "fake"}"#)];
    let text = post(&server, &request(&input)).await.text().await.unwrap();
    let events = events(&text);
    let call = &events
        .iter()
        .find(|(n, _)| n == "response.output_item.done")
        .unwrap()
        .1["item"];
    assert_eq!(call["type"], "function_call");
    assert_eq!(
        (&call["namespace"], &call["name"]),
        (&json!("mcp__legate"), &json!("delegate"))
    );
    let args: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"agent": "fake"}));

    input.push(call.clone());
    input.push(
        json!({"type": "function_call_output", "call_id": call["call_id"],
        "output": "task abc queued"}),
    );
    let mut body = request(&input);
    body["stream"] = json!(false);
    let reply: Value = post(&server, &body).await.json().await.unwrap();
    assert_eq!(reply["status"], "completed");
    assert_eq!(
        reply["output"][0]["content"][0]["text"],
        "SAW: task abc queued"
    );
    assert_eq!(server.received()[1].path, "/v1/responses");
}
