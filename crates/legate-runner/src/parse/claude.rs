//! Claude Code's `-p --output-format stream-json --verbose`: `system/init` carries the session
//! id, `assistant` messages hold text and tool calls, and a final `result` states the answer,
//! whether it is an error, the cost and the usage.

use legate_domain::ErrorKind;
use serde_json::{Value, json};

use super::collect::{Collector, step, tool_detail};
use super::{Parsed, Progress, ProgressKind, StreamParser};

/// Parser state for one Claude Code run.
#[derive(Debug)]
pub(crate) struct ClaudeParser {
    c: Collector,
}

impl ClaudeParser {
    /// A parser keeping at most `result_cap` bytes of answer.
    pub fn new(result_cap: u64) -> Self {
        ClaudeParser {
            c: Collector::new(result_cap),
        }
    }
}

impl StreamParser for ClaudeParser {
    fn line(&mut self, line: &[u8]) -> Vec<Progress> {
        let Some(v) = self.c.json(line) else {
            return Vec::new();
        };
        self.c.session(v.get("session_id"));
        match v["type"].as_str() {
            Some("assistant") => self.assistant(&v),
            Some("result") => {
                self.result(&v);
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn finish(&mut self) -> Parsed {
        self.c.finish()
    }
}

impl ClaudeParser {
    fn assistant(&mut self, v: &Value) -> Vec<Progress> {
        let message = &v["message"];
        if message["stop_reason"].as_str() == Some("refusal") {
            self.c.fail_as(
                ErrorKind::Refused,
                "the model declined the request (stop_reason: refusal)",
            );
        }
        if let Some(e) = v["error"].as_str() {
            let text = first_text(message).unwrap_or_default();
            self.c.fail(format!("{e}: {text}"));
        }
        let Some(blocks) = message["content"].as_array() else {
            return Vec::new();
        };
        let mut steps = Vec::new();
        for b in blocks {
            match b["type"].as_str() {
                Some("text") => {
                    if let Some(t) = b["text"].as_str() {
                        // Each message is a new answer: the last one is what the run concludes.
                        self.c.answer.clear();
                        steps.push(self.c.text(t));
                    }
                }
                Some("tool_use") => {
                    let name = b["name"].as_str().unwrap_or("tool");
                    steps.push(self.c.tool(name, &tool_detail(b.get("input"))));
                }
                Some("thinking") => {
                    if let Some(t) = b["thinking"].as_str() {
                        steps.push(step(ProgressKind::Thinking, t, None));
                    }
                }
                _ => {}
            }
        }
        steps
    }

    fn result(&mut self, v: &Value) {
        let text = v["result"].as_str().unwrap_or_default().to_string();
        let is_error = v["is_error"].as_bool().unwrap_or(false)
            || v["subtype"]
                .as_str()
                .is_some_and(|s| s.starts_with("error"));
        if is_error {
            let why = if text.is_empty() {
                v["subtype"].as_str().unwrap_or("error").to_string()
            } else {
                text.clone()
            };
            self.c.fail(why);
        }
        self.c.stated = Some(text);
        let mut usage = v.get("usage").cloned().unwrap_or_else(|| json!({}));
        if let (Some(obj), Some(cost)) = (usage.as_object_mut(), v.get("total_cost_usd")) {
            obj.insert("cost_usd".into(), cost.clone());
        }
        if usage.as_object().is_some_and(|o| !o.is_empty()) {
            self.c.usage = Some(usage);
        }
    }
}

fn first_text(message: &Value) -> Option<String> {
    message["content"]
        .as_array()?
        .iter()
        .find_map(|b| b["text"].as_str().map(str::to_string))
}
