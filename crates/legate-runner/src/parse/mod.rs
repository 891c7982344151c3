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

/// The line parser for a format; `None` for plain text, which is read from the log's tail.
pub fn stream_parser(format: OutputFormat) -> Option<Box<dyn StreamParser>> {
    match format {
        OutputFormat::Plain => None,
        OutputFormat::Claude => Some(Box::new(claude::ClaudeParser::default())),
        OutputFormat::Codex => Some(Box::new(codex::CodexParser::default())),
        OutputFormat::Gemini => Some(Box::new(gemini::GeminiParser::default())),
        OutputFormat::Opencode => Some(Box::new(opencode::OpencodeParser::default())),
    }
}

/// Runs a parser over a whole output at once: for tests, fuzzing and replaying a log.
pub fn parse_all(format: OutputFormat, output: &[u8]) -> (Vec<Progress>, Parsed) {
    match stream_parser(format) {
        None => (Vec::new(), PlainParser.parse(output, false)),
        Some(mut p) => {
            let steps = output
                .split(|b| *b == b'\n')
                .flat_map(|l| p.line(l))
                .collect();
            (steps, p.finish())
        }
    }
}
