//! Real HTTP requests to a real `ModelServer`: the endpoints, the script and the recording.

use legate_test_model::{ModelServer, user_texts};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

async fn post(server: &ModelServer, body: &Value) -> reqwest::Response {
    let url = format!("{}/chat/completions", server.base_url());
    reqwest::Client::new()
        .post(url)
        .json(body)
        .send()
        .await
        .expect("request")
}

/// The `data:` payloads of a server-sent events body.
fn events(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn models_lists_m() {
    let server = ModelServer::start().unwrap();
    assert!(server.base_url().starts_with("http://127.0.0.1:"));
    assert!(server.base_url().ends_with("/v1"));
    let url = format!("{}/models", server.base_url());
    let body: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    assert_eq!(body["data"][0]["id"], "m");
}

#[tokio::test]
async fn plain_reply_counts_turns_and_is_recorded() {
    let server = ModelServer::start().unwrap();
    let parts = json!({"role": "user", "content": [{"type": "text", "text": "second"}]});
    let body = json!({"model": "m", "messages": [
        {"role": "system", "content": "be brief"},
        user("first"),
        {"role": "assistant", "content": "ok"},
        parts,
    ], "tools": [{"type": "function", "function": {"name": "bash", "parameters": {}}}]});
    let reply: Value = post(&server, &body).await.json().await.unwrap();
    let message = &reply["choices"][0]["message"];
    assert_eq!(message["content"], "turn 2: second | earlier: first");
    assert!(message.get("tool_calls").is_none());
    assert_eq!(reply["choices"][0]["finish_reason"], "stop");
    assert!(reply["usage"]["total_tokens"].as_u64().unwrap() > 0);
    assert_eq!(server.requests(), vec![body.clone()]);
    assert_eq!(user_texts(&server.requests()[0]), ["first", "second"]);
}

#[tokio::test]
async fn stream_sends_chunks_usage_and_done() {
    let server = ModelServer::start().unwrap();
    let body = json!({"model": "m", "stream": true, "stream_options": {"include_usage": true},
        "messages": [user("STREAM3 go")]});
    let response = post(&server, &body).await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let events = events(&response.text().await.unwrap());
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let pieces: Vec<&str> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(pieces.iter().filter(|p| !p.is_empty()).count(), 3);
    assert_eq!(pieces.concat(), "turn 1: STREAM3 go | earlier: ");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(last["usage"]["completion_tokens"], 6);
}

#[tokio::test]
async fn call_answers_with_a_tool_call_and_the_result_is_seen() {
    let server = ModelServer::start().unwrap();
    let tools = json!([
        {"type": "function", "function": {"name": "bash", "parameters": {}}},
        {"type": "function", "function": {"name": "legate_task_status", "parameters": {}}}
    ]);
    let mut body = json!({"model": "m", "tools": tools,
        "messages": [user(r#"CALL status {"task_id": "t1"}"#)]});
    let reply: Value = post(&server, &body).await.json().await.unwrap();
    assert_eq!(reply["choices"][0]["finish_reason"], "tool_calls");
    let call = &reply["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "legate_task_status");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"task_id": "t1"}));

    body["stream"] = json!(true);
    let streamed = events(&post(&server, &body).await.text().await.unwrap());
    let chunks: Vec<Value> = streamed[..streamed.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let delta = &chunks[1]["choices"][0]["delta"]["tool_calls"][0];
    assert_eq!(
        (delta["index"].clone(), delta["function"]["name"].clone()),
        (json!(0), json!("legate_task_status"))
    );
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );

    body["stream"] = json!(false);
    let messages = body["messages"].as_array_mut().unwrap();
    messages.push(json!({"role": "assistant", "tool_calls": [call]}));
    messages.push(json!({"role": "tool", "tool_call_id": call["id"], "content": "t1 succeeded"}));
    let reply: Value = post(&server, &body).await.json().await.unwrap();
    assert_eq!(
        reply["choices"][0]["message"]["content"],
        "SAW: t1 succeeded"
    );
}

#[tokio::test]
async fn rate_limit_answers_429() {
    let server = ModelServer::start().unwrap();
    let response = post(&server, &json!({"messages": [user("x RATE_LIMIT")]})).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after-ms"], "0");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert_eq!(body["error"]["message"], "rate limit reached (scripted)");
}

#[tokio::test]
async fn slow_waits_before_answering() {
    let server = ModelServer::start().unwrap();
    let started = Instant::now();
    let reply: Value = post(&server, &json!({"messages": [user("SLOW1")]}))
        .await
        .json()
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(
        reply["choices"][0]["message"]["content"],
        "turn 1: SLOW1 | earlier: "
    );
}

#[tokio::test]
async fn title_requests_get_plain_text_whatever_the_prompt() {
    let server = ModelServer::start().unwrap();
    let body = json!({"messages": [
        {"role": "system", "content": "You are a title generator. You output ONLY a thread title."},
        user("Generate a title for this conversation:\n"),
        user("RATE_LIMIT SLOW30"),
    ]});
    let response = post(&server, &body).await;
    assert_eq!(response.status(), 200);
    let reply: Value = response.json().await.unwrap();
    assert_eq!(reply["choices"][0]["message"]["content"], "scripted title");
}

#[tokio::test]
async fn bad_json_is_refused_and_not_recorded() {
    let server = ModelServer::start().unwrap();
    let url = format!("{}/chat/completions", server.base_url());
    let response = reqwest::Client::new()
        .post(url)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(server.requests().is_empty());
}
