//! Gemini CLI's `--output-format stream-json`: `init` carries the session id, assistant
//! `message` deltas make up the answer, `tool_use` / `tool_result` the tools, `error` warnings
//! or errors, and `result` the status and stats.

use serde_json::Value;

use super::collect::{Collector, step, tool_detail};
use super::{Parsed, Progress, ProgressKind, StreamParser};
use crate::bounds::StepText;

/// Parser state for one Gemini CLI run.
#[derive(Debug)]
pub(crate) struct GeminiParser {
    c: Collector,
    /// Assistant text not yet published as a step (deltas are gathered into one; the answer
    /// takes them as they come).
    pending: StepText,
}

impl GeminiParser {
    /// A parser keeping at most `result_cap` bytes of answer.
    pub fn new(result_cap: u64) -> Self {
        GeminiParser {
            c: Collector::new(result_cap),
            pending: StepText::default(),
        }
    }
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
                let text = v["content"].as_str().unwrap_or_default();
                self.c.answer.push(text);
                self.pending.push(text);
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
        steps.extend(self.pending.step(ProgressKind::Text));
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
