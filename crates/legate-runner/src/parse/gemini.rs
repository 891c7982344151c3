//! Gemini CLI's `--output-format stream-json`: `init` carries the session id, assistant
//! `message` deltas make up the answer, `tool_use` / `tool_result` the tools, `error` warnings
//! or errors, and `result` the status and stats.

use serde_json::Value;

use super::collect::{Collector, step, tool_detail};
use super::{Parsed, Progress, ProgressKind, StreamParser};

/// Parser state for one Gemini CLI run.
#[derive(Debug, Default)]
pub(crate) struct GeminiParser {
    c: Collector,
    /// Assistant text not yet published as a step (deltas are gathered into one).
    pending: String,
}

impl StreamParser for GeminiParser {
    fn line(&mut self, line: &[u8]) -> Vec<Progress> {
        let Some(v) = self.c.json(line) else {
            return Vec::new();
        };
        let mut steps = Vec::new();
        match v["type"].as_str() {
            Some("init") => self.c.session(v.get("session_id")),
            Some("message") if v["role"].as_str() == Some("assistant") => {
                if v["delta"].as_bool() != Some(true) {
                    self.flush(&mut steps);
                }
                self.pending
                    .push_str(v["content"].as_str().unwrap_or_default());
            }
            Some("tool_use") => {
                self.flush(&mut steps);
                let name = v["tool_name"].as_str().unwrap_or("tool");
                steps.push(self.c.tool(name, &tool_detail(v.get("parameters"))));
            }
            Some("tool_result") if v["status"].as_str() == Some("error") => {
                let m = v["error"]["message"]
                    .as_str()
                    .or(v["output"].as_str())
                    .unwrap_or("tool failed");
                steps.push(step(ProgressKind::Notice, m, None));
            }
            Some("error") => self.error(&v, &mut steps),
            Some("result") => {
                self.flush(&mut steps);
                if v["status"].as_str() == Some("error") {
                    let m = v["error"]["message"]
                        .as_str()
                        .unwrap_or("gemini reported an error");
                    self.c.fail(m.to_string());
                }
                if let Some(s) = v.get("stats") {
                    self.c.usage = Some(s.clone());
                }
            }
            _ => {}
        }
        steps
    }

    fn finish(&mut self) -> Parsed {
        let mut ignored = Vec::new();
        self.flush(&mut ignored);
        self.c.finish()
    }
}

impl GeminiParser {
    fn flush(&mut self, steps: &mut Vec<Progress>) {
        if !self.pending.is_empty() {
            let text = std::mem::take(&mut self.pending);
            steps.push(self.c.text(&text));
        }
    }

    fn error(&mut self, v: &Value, steps: &mut Vec<Progress>) {
        let m = v["message"].as_str().unwrap_or("gemini reported an error");
        if v["severity"].as_str() == Some("warning") {
            steps.push(step(ProgressKind::Notice, m, None));
        } else {
            self.c.fail(m.to_string());
        }
    }
}
