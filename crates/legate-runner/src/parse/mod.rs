//! Output parsers: turn what an agent prints into a result, the agent's session id (for
//! follow-ups), usage and cost, a clear error, and progress steps while it runs.
//!
//! Plain agents are read from the tail of stdout once they end. Agents with a structured
//! format are read line by line as they print ([`StreamParser`]), so progress is live and the
//! result does not depend on how much output the log cap kept.

mod claude;
mod codex;
mod collect;
mod gemini;
mod opencode;
mod plain;

pub use collect::classify_failure;
pub(crate) use collect::step as collect_step;
pub use plain::{OutputParser, PlainParser};

use legate_domain::{ErrorKind, OutputFormat};
use serde::Serialize;

/// What a parser extracted.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parsed {
    /// The result text.
    pub result: String,
    /// The agent-side session id, for follow-ups.
    pub session_id: Option<String>,
    /// Token usage / cost, as the agent reported it.
    pub usage: Option<serde_json::Value>,
    /// An error the agent reported (auth, rate limit, refusal…), even if it exited 0.
    pub failure: Option<AgentFailure>,
}

/// An error reported by the agent itself, classified for scripts.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentFailure {
    /// `auth_failed`, `rate_limited`, `refused` or `agent_error`.
    pub kind: ErrorKind,
    /// The agent's own words.
    pub message: String,
}

/// One step of a running agent, published as a `progress` event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Progress {
    /// What kind of step.
    pub kind: ProgressKind,
    /// Its text: the message, or what the tool was called on.
    pub text: String,
    /// The tool's name, for tool calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
}

/// The kinds of progress step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProgressKind {
    /// Text the agent wrote for the user.
    Text,
    /// A tool call (shell command, file edit, search…).
    Tool,
    /// The agent's reasoning, when it shares it.
    Thinking,
    /// A warning or notice from the agent.
    Notice,
}

/// Reads an agent's stdout line by line while it runs.
pub trait StreamParser: Send {
    /// Takes one line of stdout (without its newline); returns the steps it reports.
    fn line(&mut self, line: &[u8]) -> Vec<Progress>;
    /// What the whole output amounted to, once the agent has ended.
    fn finish(&mut self) -> Parsed;
}

/// The line parser for a format, keeping at most `result_cap` bytes of answer; `None` for
/// plain text, which is read from the log's tail.
pub fn stream_parser(format: OutputFormat, result_cap: u64) -> Option<Box<dyn StreamParser>> {
    match format {
        OutputFormat::Plain => None,
        OutputFormat::Claude => Some(Box::new(claude::ClaudeParser::new(result_cap))),
        OutputFormat::Codex => Some(Box::new(codex::CodexParser::new(result_cap))),
        OutputFormat::Gemini => Some(Box::new(gemini::GeminiParser::new(result_cap))),
        OutputFormat::Opencode => Some(Box::new(opencode::OpencodeParser::new(result_cap))),
    }
}

/// Runs a parser over a whole output at once, with the default result cap: for tests,
/// fuzzing and replaying a log.
pub fn parse_all(format: OutputFormat, output: &[u8]) -> (Vec<Progress>, Parsed) {
    parse_all_capped(format, output, legate_domain::Limits::default().result_cap)
}

/// [`parse_all`] keeping at most `result_cap` bytes of result.
pub fn parse_all_capped(
    format: OutputFormat,
    output: &[u8],
    result_cap: u64,
) -> (Vec<Progress>, Parsed) {
    match stream_parser(format, result_cap) {
        None => (Vec::new(), PlainParser.parse(output, 0)),
        Some(mut p) => {
            let steps = output
                .split(|b| *b == b'\n')
                .flat_map(|l| p.line(l))
                .collect();
            (steps, p.finish())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bounds::STEP_BYTES;

    /// `n` assistant messages of `size` bytes in a format, then its final line.
    fn flood(format: OutputFormat, n: usize, size: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..n {
            let text = format!("m{i} {}", "x".repeat(size));
            let v = match format {
                OutputFormat::Claude => {
                    serde_json::json!({"type":"assistant","message":{"content":[{"type":"text","text":text}]}})
                }
                OutputFormat::Codex => {
                    serde_json::json!({"type":"item.completed","item":{"type":"agent_message","text":text}})
                }
                OutputFormat::Gemini => {
                    serde_json::json!({"type":"message","role":"assistant","content":text,"delta":true})
                }
                OutputFormat::Opencode => {
                    serde_json::json!({"type":"text","part":{"type":"text","text":text}})
                }
                OutputFormat::Plain => serde_json::json!(text),
            };
            out.extend_from_slice(v.to_string().as_bytes());
            out.push(b'\n');
        }
        if format == OutputFormat::Claude {
            let text = "r".repeat(n * size);
            let v = serde_json::json!({"type":"result","subtype":"success","result":text});
            out.extend_from_slice(v.to_string().as_bytes());
        }
        out
    }

    #[test]
    fn every_format_keeps_the_results_tail_and_bounds_its_steps() {
        let cap = 10_000u64;
        for format in [
            OutputFormat::Claude,
            OutputFormat::Codex,
            OutputFormat::Gemini,
            OutputFormat::Opencode,
        ] {
            let (steps, parsed) = parse_all_capped(format, &flood(format, 50, 6000), cap);
            let result = parsed.result;
            assert!(
                result.len() <= cap as usize + 200,
                "{format:?}: {} bytes",
                result.len()
            );
            for s in &steps {
                assert!(
                    s.text.len() <= STEP_BYTES + 30,
                    "{format:?}: {}",
                    s.text.len()
                );
            }
            if matches!(format, OutputFormat::Gemini | OutputFormat::Opencode) {
                // The answer is all the messages: cut, and marked.
                let (marker, kept) = result.split_once('\n').unwrap();
                assert!(
                    marker.contains("result is longer than result_cap"),
                    "{format:?}"
                );
                assert!(kept.ends_with(&"x".repeat(5000)) && kept.len() <= cap as usize);
                assert!(kept.contains("m49 "));
            }
            if format == OutputFormat::Claude {
                assert!(
                    result.ends_with(&"r".repeat(9000)),
                    "the stated result's tail"
                );
                assert!(result.starts_with("[legate: "));
            }
        }
    }
}
