//! opencode's `run --format json`: every line carries `sessionID`; `text` parts are the
//! answer, `tool_use` parts the tools, `step_finish` parts tokens and cost, and `error` what
//! went wrong.

use serde_json::{Value, json};

use super::collect::{Collector, tool_detail};
use super::{Parsed, Progress, StreamParser};

/// Parser state for one opencode run.
#[derive(Debug)]
pub(crate) struct OpencodeParser {
    c: Collector,
    input: u64,
    output: u64,
    cost: f64,
    steps: u64,
}

impl OpencodeParser {
    /// A parser keeping at most `result_cap` bytes of answer.
    pub fn new(result_cap: u64) -> Self {
        OpencodeParser {
            c: Collector::new(result_cap),
            input: 0,
            output: 0,
            cost: 0.0,
            steps: 0,
        }
    }
}

impl StreamParser for OpencodeParser {
    fn line(&mut self, line: &[u8]) -> Vec<Progress> {
        let Some(v) = self.c.json(line) else {
            return Vec::new();
        };
        self.c
            .session(v.get("sessionID").or(v["part"].get("sessionID")));
        let part = &v["part"];
        match v["type"].as_str() {
            Some("text") => {
                let t = part["text"].as_str().unwrap_or_default();
                if !t.is_empty() {
                    if !self.c.answer.is_empty() {
                        self.c.answer.push("\n");
                    }
                    return vec![self.c.text(t)];
                }
            }
            Some("tool_use") => {
                let name = part["tool"].as_str().unwrap_or("tool");
                let state = &part["state"];
                let detail = state["title"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| tool_detail(state.get("input")));
                return vec![self.c.tool(name, &detail)];
            }
            Some("step_finish") => self.step_finish(part),
            Some("error") => self.error(&v),
            _ => {}
        }
        Vec::new()
    }

    fn finish(&mut self) -> Parsed {
        if self.steps > 0 {
            self.c.usage = Some(json!({
                "input_tokens": self.input,
                "output_tokens": self.output,
                "cost_usd": self.cost,
                "steps": self.steps,
            }));
        }
        self.c.finish()
    }
}

impl OpencodeParser {
    fn step_finish(&mut self, part: &Value) {
        self.steps += 1;
        self.input += part["tokens"]["input"].as_u64().unwrap_or(0);
        self.output += part["tokens"]["output"].as_u64().unwrap_or(0);
        self.cost += part["cost"].as_f64().unwrap_or(0.0);
    }

    fn error(&mut self, v: &Value) {
        let e = &v["error"];
        let message = e["data"]["message"]
            .as_str()
            .or(e["message"].as_str())
            .map(str::to_string)
            .unwrap_or_else(|| e.to_string());
        let name = e["name"].as_str().unwrap_or("error");
        self.c.fail(format!("{name}: {message}"));
    }
}
