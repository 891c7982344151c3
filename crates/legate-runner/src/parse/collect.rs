//! What every structured parser keeps while it reads: the answer so far, the session, usage,
//! the first error, and stray non-JSON lines (CLIs print some errors as plain text).

use legate_domain::ErrorKind;
use serde_json::Value;

use super::{AgentFailure, Parsed, Progress, ProgressKind};
use crate::bounds::{NAME_BYTES, STEP_BYTES, TailText, capped_result, cut, head};

/// How much stray text is kept for an error message or a fallback result.
const STRAY_BYTES: usize = 4000;

/// The running state of a structured parser.
#[derive(Debug)]
pub(crate) struct Collector {
    /// Text written since the last tool call: agents conclude after their last tool. Only its
    /// last `result_cap` bytes are kept.
    pub answer: TailText,
    /// The final answer, when the format states it outright.
    pub stated: Option<String>,
    pub session: Option<String>,
    pub usage: Option<Value>,
    pub failure: Option<AgentFailure>,
    stray: String,
    result_cap: u64,
}

impl Collector {
    /// A collector keeping at most `result_cap` bytes of answer.
    pub fn new(result_cap: u64) -> Self {
        Collector {
            answer: TailText::new(result_cap),
            stated: None,
            session: None,
            usage: None,
            failure: None,
            stray: String::new(),
            result_cap,
        }
    }

    /// Decodes a JSON line; a line that is not JSON is kept as stray text.
    pub fn json(&mut self, line: &[u8]) -> Option<Value> {
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() {
            return None;
        }
        match serde_json::from_slice::<Value>(trimmed) {
            Ok(v) if v.is_object() => Some(v),
            _ => {
                let room = STRAY_BYTES.saturating_sub(self.stray.len());
                if room > 0 {
                    let text = String::from_utf8_lossy(&trimmed[..trimmed.len().min(room)]);
                    self.stray.push_str(&text);
                    self.stray.push('\n');
                }
                None
            }
        }
    }

    /// Notes a session id the first time one is seen.
    pub fn session(&mut self, v: Option<&Value>) {
        if self.session.is_none()
            && let Some(s) = v
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty() && s.len() <= NAME_BYTES)
        {
            self.session = Some(s.to_string());
        }
    }

    /// Records the agent's first error; later ones are usually its consequences.
    pub fn fail(&mut self, message: impl Into<String>) {
        if self.failure.is_none() {
            let message = cut(&message.into(), STEP_BYTES);
            self.failure = Some(AgentFailure {
                kind: classify_failure(&message),
                message,
            });
        }
    }

    /// Records a failure of a known kind.
    pub fn fail_as(&mut self, kind: ErrorKind, message: impl Into<String>) {
        if self.failure.is_none() {
            self.failure = Some(AgentFailure {
                kind,
                message: cut(&message.into(), STEP_BYTES),
            });
        }
    }

    /// A text step, also added to the answer.
    pub fn text(&mut self, text: &str) -> Progress {
        self.answer.push(text);
        step(ProgressKind::Text, text, None)
    }

    /// A tool step: what follows it is a new answer.
    pub fn tool(&mut self, name: &str, detail: &str) -> Progress {
        self.answer.clear();
        step(ProgressKind::Tool, detail, Some(name))
    }

    /// The outcome of everything read; the result keeps its last `result_cap` bytes.
    pub fn finish(&mut self) -> Parsed {
        let result = match self.stated.take() {
            Some(s) if !s.is_empty() => capped_result(&s, self.result_cap),
            _ if !self.answer.is_blank() => self.answer.result(),
            _ => {
                let stray = self.stray.trim().to_string();
                if !stray.is_empty() {
                    self.fail(stray.clone());
                }
                capped_result(&stray, self.result_cap)
            }
        };
        Parsed {
            result,
            session_id: self.session.clone(),
            usage: self.usage.clone(),
            failure: self.failure.clone(),
        }
    }
}

/// A progress step with its text cut to [`STEP_BYTES`] (events are for following along, the
/// log has all) and its tool's name to [`NAME_BYTES`].
pub(crate) fn step(kind: ProgressKind, text: &str, tool: Option<&str>) -> Progress {
    Progress {
        kind,
        text: cut(text.trim(), STEP_BYTES),
        tool: tool.map(|t| head(t, NAME_BYTES).to_string()),
    }
}

/// A short description of what a tool was called on: the command, the path or the query when
/// the input has one, else the input itself as compact JSON.
pub(crate) fn tool_detail(input: Option<&Value>) -> String {
    let Some(input) = input else {
        return String::new();
    };
    for key in [
        "command",
        "cmd",
        "file_path",
        "filePath",
        "path",
        "pattern",
        "query",
        "url",
        "description",
    ] {
        if let Some(v) = input.get(key) {
            return match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
        }
    }
    let s = input.to_string();
    head(&s, 200).to_string()
}

/// Sorts an agent's error message into a kind scripts can act on: log in, wait, rephrase, or
/// look at the log.
pub fn classify_failure(message: &str) -> ErrorKind {
    let m = message.to_ascii_lowercase();
    let any = |words: &[&str]| words.iter().any(|w| m.contains(w));
    if any(&[
        "rate limit",
        "rate_limit",
        "ratelimit",
        "429",
        "quota",
        "too many requests",
        "overloaded",
        "resource_exhausted",
        "usage limit",
    ]) {
        ErrorKind::RateLimited
    } else if any(&[
        "api key",
        "api_key",
        "apikey",
        "authenticat",
        "unauthorized",
        "401",
        "/login",
        "log in",
        "credential",
        "not logged in",
        "invalid x-api-key",
    ]) {
        ErrorKind::AuthFailed
    } else if any(&[
        "refusal",
        "refused",
        "declined to",
        "content policy",
        "safety",
    ]) {
        ErrorKind::Refused
    } else {
        ErrorKind::AgentError
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_classified_by_their_words() {
        assert_eq!(
            classify_failure("Invalid API key · Please run /login"),
            ErrorKind::AuthFailed
        );
        assert_eq!(
            classify_failure("API Error: 429 rate limit reached"),
            ErrorKind::RateLimited
        );
        assert_eq!(
            classify_failure("Quota exceeded for model"),
            ErrorKind::RateLimited
        );
        assert_eq!(classify_failure("stop_reason: refusal"), ErrorKind::Refused);
        assert_eq!(classify_failure("something broke"), ErrorKind::AgentError);
    }

    #[test]
    fn steps_are_cut_and_tools_described() {
        let long = "x".repeat(5000);
        let s = step(ProgressKind::Text, &long, Some(&"t".repeat(1000)));
        assert!(s.text.starts_with(&"x".repeat(STEP_BYTES)));
        assert!(s.text.ends_with("… [904 more bytes]"), "{}", s.text);
        assert_eq!(s.tool.unwrap().len(), NAME_BYTES);
        let v: Value = serde_json::json!({"command": "ls -la", "timeout": 5});
        assert_eq!(tool_detail(Some(&v)), "ls -la");
        assert_eq!(tool_detail(Some(&serde_json::json!({"a": 1}))), "{\"a\":1}");
    }

    #[test]
    fn stray_text_becomes_the_error_when_nothing_else_came() {
        let mut c = Collector::new(1 << 20);
        assert!(c.json(b"Error: not logged in").is_none());
        let p = c.finish();
        assert_eq!(p.failure.unwrap().kind, ErrorKind::AuthFailed);
    }
}
