//! The deterministic script: what the scripted model answers to one chat completion request.

use serde_json::Value;
use std::time::Duration;

/// What to answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Reply with this assistant text.
    Reply(String),
    /// Answer HTTP 429 with a rate limit error.
    RateLimit,
}

/// The whole decision for one request: the outcome, how long to wait first, and in how many
/// content chunks to stream a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    pub outcome: Outcome,
    pub delay: Duration,
    pub chunks: usize,
}

/// The text of every user message of a chat completion request body, in order.
///
/// Exists so that tests can check what an agent sent (for instance that a resumed session
/// carried its first prompt) without knowing the two shapes a message's `content` may take: a
/// string, or an array of parts whose `type: "text"` parts are joined with `\n`.
pub fn user_texts(body: &Value) -> Vec<String> {
    messages_of(body, "user").map(content_text).collect()
}

/// Decides the answer to `body` by the script described in the crate documentation.
pub(crate) fn decide(body: &Value) -> Plan {
    if is_side_request(body) {
        let outcome = Outcome::Reply("scripted title".into());
        return Plan {
            outcome,
            delay: Duration::ZERO,
            chunks: 1,
        };
    }
    let users = user_texts(body);
    let last = users.last().cloned().unwrap_or_default();
    let earlier = users[..users.len().saturating_sub(1)].join(" / ");
    let outcome = if last.contains("RATE_LIMIT") {
        Outcome::RateLimit
    } else {
        Outcome::Reply(format!("turn {}: {last} | earlier: {earlier}", users.len()))
    };
    let delay = Duration::from_secs(number_after(&last, "SLOW").unwrap_or(0));
    let chunks = number_after(&last, "STREAM").map_or(1, |n| n.max(1) as usize);
    Plan {
        outcome,
        delay,
        chunks,
    }
}

/// Whether `body` is a request the agent makes for itself rather than for the user's turn:
/// its system prompt asks for a title.
fn is_side_request(body: &Value) -> bool {
    messages_of(body, "system")
        .map(content_text)
        .any(|text| text.to_lowercase().contains("title generator"))
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

/// The decimal number written right after the first `marker` in `text`, if any.
fn number_after(text: &str, marker: &str) -> Option<u64> {
    let rest = &text[text.find(marker)? + marker.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(users: &[Value]) -> Value {
        let messages: Vec<Value> = users
            .iter()
            .map(|c| json!({"role": "user", "content": c}))
            .collect();
        json!({ "messages": messages })
    }

    #[test]
    fn default_reply_counts_turns_and_lists_earlier_prompts() {
        let b = body(&[
            json!("first"),
            json!([{"type": "text", "text": "second"}]),
            json!("third"),
        ]);
        let plan = decide(&b);
        let want = "turn 3: third | earlier: first / second";
        assert_eq!(plan.outcome, Outcome::Reply(want.into()));
        assert_eq!((plan.delay, plan.chunks), (Duration::ZERO, 1));
    }

    #[test]
    fn markers_set_rate_limit_delay_and_chunks() {
        assert_eq!(
            decide(&body(&[json!("x RATE_LIMIT")])).outcome,
            Outcome::RateLimit
        );
        let plan = decide(&body(&[json!("SLOW2 and STREAM4")]));
        assert_eq!((plan.delay, plan.chunks), (Duration::from_secs(2), 4));
        assert_eq!(decide(&body(&[json!("SLOW")])).delay, Duration::ZERO);
    }

    #[test]
    fn title_requests_are_answered_plainly() {
        let b = json!({"messages": [
            {"role": "system", "content": "You are a title generator. You output ONLY a thread title."},
            {"role": "user", "content": "RATE_LIMIT SLOW9"}
        ]});
        let plan = decide(&b);
        assert_eq!(plan.outcome, Outcome::Reply("scripted title".into()));
        assert_eq!(plan.delay, Duration::ZERO);
    }
}
