//! The OpenAI Chat Completions wire format: what the script reads from a request, and the
//! shapes the server answers with.

use crate::script::{Exchange, count_words};
use serde_json::{Value, json};

/// What the script needs of a chat completion request `body`.
pub(crate) fn exchange(body: &Value) -> Exchange {
    let last = body
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|m| m.last());
    let tool_result = last
        .filter(|m| m.get("role").and_then(Value::as_str) == Some("tool"))
        .map(content_text);
    let tools = body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| t["function"]["name"].as_str().map(str::to_owned))
        .collect();
    let side = messages_of(body, "system")
        .map(content_text)
        .any(|text| text.to_lowercase().contains("title generator"));
    Exchange {
        users: user_texts(body),
        tool_result,
        result_of: None,
        tools,
        deferred: Vec::new(),
        side,
    }
}

/// The text of every user message of `body`, in order.
pub(crate) fn user_texts(body: &Value) -> Vec<String> {
    messages_of(body, "user").map(content_text).collect()
}

/// The messages of `body` whose role is `role`.
fn messages_of<'a>(body: &'a Value, role: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    body.get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(move |m| m.get("role").and_then(Value::as_str) == Some(role))
}

/// The text of one message: its string content, or its text parts joined with `\n`.
fn content_text(message: &Value) -> String {
    match message.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The `tool_calls` entry that calls `name` with `args`, as a whole message carries it
/// (streamed deltas add `"index": 0`).
pub(crate) fn tool_call(id: &str, name: &str, args: &Value) -> Value {
    json!({
        "id": format!("call_{id}"),
        "type": "function",
        "function": {"name": name, "arguments": args.to_string()}
    })
}

/// The body of the scripted 429 answer.
pub(crate) fn rate_limit_error() -> Value {
    json!({"error": {
        "message": "rate limit reached (scripted)",
        "type": "rate_limit_error",
        "code": "rate_limit_exceeded"
    }})
}

/// The body of `GET /v1/models`: the single model `m`.
pub(crate) fn models() -> Value {
    json!({"object": "list", "data": [
        {"id": "m", "object": "model", "created": 0, "owned_by": "legate-test-model"}
    ]})
}

/// Token counts for one exchange: words of every message's content, and words of the reply.
pub(crate) fn usage(request: &Value, reply: &str) -> Value {
    let messages = request.get("messages").and_then(Value::as_array);
    let prompt = messages
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("content"))
        .map(count_words)
        .sum::<usize>();
    let completion = reply.split_whitespace().count();
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion
    })
}

/// The whole non-streamed answer carrying `message` (an assistant message), which ended for
/// `finish` (`stop` or `tool_calls`).
pub(crate) fn completion(
    id: &str,
    model: &str,
    message: Value,
    finish: &str,
    usage: Value,
) -> Value {
    json!({
        "id": id,
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{
            "index": 0,
            "message": message,
            "finish_reason": finish
        }],
        "usage": usage
    })
}

/// One streamed chunk with `delta`, and, for the last one, its finish reason and the usage.
pub(crate) fn chunk(id: &str, model: &str, delta: Value, end: Option<(&str, Value)>) -> Value {
    let (finish, usage) = end.unzip();
    let mut c = json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
    });
    if let Some(usage) = usage {
        c["usage"] = usage;
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_counts_words() {
        let req = json!({"messages": [{"role": "user", "content": "one two"}]});
        let u = usage(&req, "three four five");
        assert_eq!(u["prompt_tokens"], 2);
        assert_eq!(u["completion_tokens"], 3);
        assert_eq!(u["total_tokens"], 5);
    }
}
