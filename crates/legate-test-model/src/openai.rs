//! The OpenAI Chat Completions wire shapes the server answers with.

use serde_json::{Value, json};

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

/// The whole non-streamed answer carrying `reply`.
pub(crate) fn completion(id: &str, model: &str, reply: &str, usage: Value) -> Value {
    json!({
        "id": id,
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": reply},
            "finish_reason": "stop"
        }],
        "usage": usage
    })
}

/// One streamed chunk with `delta`, and, for the last one, a finish reason and the usage.
pub(crate) fn chunk(id: &str, model: &str, delta: Value, end: Option<Value>) -> Value {
    let finish = end.as_ref().map(|_| "stop");
    let mut c = json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
    });
    if let Some(usage) = end {
        c["usage"] = usage;
    }
    c
}

/// `text` cut into `n` pieces of nearly equal length in characters (fewer when it is shorter).
pub(crate) fn split(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let size = chars.len().div_ceil(n.max(1)).max(1);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

/// The number of whitespace-separated words in every string inside `value`.
fn count_words(value: &Value) -> usize {
    match value {
        Value::String(s) => s.split_whitespace().count(),
        Value::Array(items) => items.iter().map(count_words).sum(),
        Value::Object(map) => map.values().map(count_words).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keeps_every_character_in_order() {
        assert_eq!(split("abcdefg", 3), ["abc", "def", "g"]);
        assert_eq!(split("ab", 5), ["a", "b"]);
        assert_eq!(split("ünï", 1), ["ünï"]);
    }

    #[test]
    fn usage_counts_words() {
        let req = json!({"messages": [{"role": "user", "content": "one two"}]});
        let u = usage(&req, "three four five");
        assert_eq!(u["prompt_tokens"], 2);
        assert_eq!(u["completion_tokens"], 3);
        assert_eq!(u["total_tokens"], 5);
    }
}
