//! Codex's `exec --json`: `thread.started` carries the session (thread) id, `item.*` events
//! carry messages, reasoning, commands and file changes, `turn.completed` the usage, and
//! `turn.failed` / `error` what went wrong.

use serde_json::Value;

use super::collect::{Collector, step};
use super::{Parsed, Progress, ProgressKind, StreamParser};

/// Parser state for one Codex run.
#[derive(Debug)]
pub(crate) struct CodexParser {
    c: Collector,
}

impl CodexParser {
    /// A parser keeping at most `result_cap` bytes of answer.
    pub fn new(result_cap: u64) -> Self {
        CodexParser {
            c: Collector::new(result_cap),
        }
    }
}

impl StreamParser for CodexParser {
    fn line(&mut self, line: &[u8]) -> Vec<Progress> {
        let Some(v) = self.c.json(line) else {
            return Vec::new();
        };
        match v["type"].as_str() {
            Some("thread.started") => self.c.session(v.get("thread_id")),
            Some("item.started") => return self.started(&v["item"]).into_iter().collect(),
            Some("item.completed") => return self.completed(&v["item"]).into_iter().collect(),
            Some("turn.completed") => {
                if let Some(u) = v.get("usage") {
                    self.c.usage = Some(u.clone());
                }
            }
            Some("turn.failed") => {
                let m = v["error"]["message"].as_str().unwrap_or("the turn failed");
                self.c.fail(m.to_string());
            }
            Some("error") => {
                let m = v["message"].as_str().unwrap_or("codex reported an error");
                self.c.fail(m.to_string());
            }
            _ => {}
        }
        Vec::new()
    }

    fn finish(&mut self) -> Parsed {
        self.c.finish()
    }
}

impl CodexParser {
    /// Commands and tool calls are shown when they start, so a long one is visible while it runs.
    fn started(&mut self, item: &Value) -> Option<Progress> {
        match item["type"].as_str()? {
            "command_execution" => Some(
                self.c
                    .tool("shell", item["command"].as_str().unwrap_or_default()),
            ),
            "mcp_tool_call" => {
                let name = format!(
                    "{}/{}",
                    item["server"].as_str().unwrap_or("mcp"),
                    item["tool"].as_str().unwrap_or("tool")
                );
                Some(self.c.tool(&name, &item["arguments"].to_string()))
            }
            "web_search" => Some(
                self.c
                    .tool("web_search", item["query"].as_str().unwrap_or_default()),
            ),
            _ => None,
        }
    }

    fn completed(&mut self, item: &Value) -> Option<Progress> {
        match item["type"].as_str()? {
            "agent_message" => {
                // Every message is a new answer; the last one is the run's conclusion.
                self.c.answer.clear();
                Some(self.c.text(item["text"].as_str().unwrap_or_default()))
            }
            "reasoning" => Some(step(
                ProgressKind::Thinking,
                item["text"].as_str().unwrap_or_default(),
                None,
            )),
            "file_change" => {
                let paths: Vec<&str> = item["changes"]
                    .as_array()
                    .map(|c| c.iter().filter_map(|x| x["path"].as_str()).collect())
                    .unwrap_or_default();
                Some(self.c.tool("edit", &paths.join(", ")))
            }
            // An `error` item is a warning (e.g. an unknown model's metadata); the turn goes on.
            "error" => Some(step(
                ProgressKind::Notice,
                item["message"].as_str().unwrap_or_default(),
                None,
            )),
            _ => None,
        }
    }
}
