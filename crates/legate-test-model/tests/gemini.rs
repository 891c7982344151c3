//! Real HTTP requests to the Gemini API routes of a real `ModelServer`: the same script as the
//! OpenAI route, in Gemini's wire format.

use legate_test_model::{ModelServer, user_texts};
use serde_json::{Value, json};

async fn post(server: &ModelServer, method: &str, body: &Value) -> reqwest::Response {
    let url = format!(
        "{}/v1beta/models/gemini-2.5-flash:{method}",
        server.gemini_base_url()
    );
    reqwest::Client::new()
        .post(url)
        .header("x-goog-api-key", "x")
        .json(body)
        .send()
        .await
        .expect("request")
}

/// A request as Gemini CLI sends it: its own context first in the user's content.
fn asking(texts: &[&str]) -> Value {
    let mut contents = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let mut parts = vec![json!({"text": text})];
        if i == 0 {
            parts.insert(
                0,
                json!({"text": "<session_context>\ncontext\n</session_context>"}),
            );
        }
        contents.push(json!({"role": "user", "parts": parts}));
        if i + 1 < texts.len() {
            contents.push(json!({"role": "model", "parts": [{"text": "ok"}]}));
        }
    }
    json!({"contents": contents, "tools": [{"functionDeclarations": [
        {"name": "read_file"}, {"name": "mcp_legate_delegate"}
    ]}]})
}

/// The `data:` payloads of a server-sent events body, parsed.
fn events(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|e| serde_json::from_str(e).unwrap())
        .collect()
}

#[tokio::test]
async fn generate_content_answers_by_the_script_and_is_recorded() {
    let server = ModelServer::start().unwrap();
    let body = asking(&["first", "second"]);
    let reply: Value = post(&server, "generateContent", &body)
        .await
        .json()
        .await
        .unwrap();
    let candidate = &reply["candidates"][0];
    assert_eq!(candidate["content"]["role"], "model");
    assert_eq!(
        candidate["content"]["parts"][0]["text"],
        "turn 2: second | earlier: first"
    );
    assert_eq!(candidate["finishReason"], "STOP");
    assert_eq!(reply["usageMetadata"]["candidatesTokenCount"], 6);
    assert!(reply["usageMetadata"]["promptTokenCount"].as_u64().unwrap() > 0);
    assert_eq!(server.requests(), vec![body]);
    assert_eq!(user_texts(&server.requests()[0]), ["first", "second"]);
}

#[tokio::test]
async fn stream_generate_content_sends_chunks_then_the_finish_and_usage() {
    let server = ModelServer::start().unwrap();
    let response = post(
        &server,
        "streamGenerateContent?alt=sse",
        &asking(&["STREAM3 go"]),
    )
    .await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let events = events(&response.text().await.unwrap());
    assert_eq!(events.len(), 3);
    let text: String = events
        .iter()
        .map(|e| {
            e["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(text, "turn 1: STREAM3 go | earlier: ");
    assert!(
        events[..2].iter().all(|e| e.get("usageMetadata").is_none()
            && e["candidates"][0].get("finishReason").is_none())
    );
    let last = events.last().unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 6);
}

#[tokio::test]
async fn rate_limit_is_a_daily_quota_error() {
    let server = ModelServer::start().unwrap();
    let response = post(&server, "generateContent", &asking(&["x RATE_LIMIT"])).await;
    assert_eq!(response.status(), 429);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], 429);
    assert_eq!(body["error"]["status"], "RESOURCE_EXHAUSTED");
    let violation = &body["error"]["details"][0]["violations"][0];
    assert!(violation["quotaId"].as_str().unwrap().contains("PerDay"));
}

#[tokio::test]
async fn call_asks_for_a_function_and_its_response_is_seen() {
    let server = ModelServer::start().unwrap();
    let mut body = asking(&[r#"CALL delegate {"agent": "fake", "prompt": "print hi"}"#]);
    let response = post(&server, "streamGenerateContent?alt=sse", &body).await;
    let events = events(&response.text().await.unwrap());
    assert_eq!(events.len(), 1);
    let call = &events[0]["candidates"][0]["content"]["parts"][0]["functionCall"];
    assert_eq!(call["name"], "mcp_legate_delegate");
    assert_eq!(call["args"], json!({"agent": "fake", "prompt": "print hi"}));
    assert_eq!(events[0]["candidates"][0]["finishReason"], "STOP");

    let contents = body["contents"].as_array_mut().unwrap();
    contents.push(json!({"role": "model", "parts": [{"functionCall": call}]}));
    contents.push(json!({"role": "user", "parts": [{"functionResponse": {
        "name": "mcp_legate_delegate", "response": {"output": "task t1 finished: hi"}
    }}]}));
    let reply: Value = post(&server, "generateContent", &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        reply["candidates"][0]["content"]["parts"][0]["text"],
        "SAW: task t1 finished: hi"
    );
}

#[tokio::test]
async fn unknown_methods_and_bad_json_are_refused_and_not_recorded() {
    let server = ModelServer::start().unwrap();
    let response = post(&server, "countTokens", &asking(&["hi"])).await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["status"], "NOT_FOUND");
    let url = format!(
        "{}/v1beta/models/m:generateContent",
        server.gemini_base_url()
    );
    let response = reqwest::Client::new()
        .post(url)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
    assert!(server.requests().is_empty());
}
