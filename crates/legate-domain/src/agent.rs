//! Agents: named ways to run a task.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How the agent is driven. Only `exec` exists so far; ACP and HTTP agents come later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentKind {
    /// A command line run with the prompt as an argument, on stdin, or in a file.
    Exec,
}

/// How an exec agent receives its prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptMode {
    /// Substituted for `{prompt}` in the command (appended when absent). Linux caps one
    /// argument at 128 KiB, so larger prompts need `stdin` or `file`.
    Arg,
    /// Written to the agent's standard input, which is then closed.
    Stdin,
    /// Written to a private temp file whose path replaces `{prompt_file}` (appended when absent).
    File,
}

/// What to do when an agent writes more than the output cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputCapPolicy {
    /// Keep the tail of the output and note the cut in the log (default).
    Truncate,
    /// End the task as failed with `output_too_large`.
    Fail,
}

/// One agent, resolved from the config (or built in).
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSpec {
    /// Its name, as used in `legate run NAME`.
    pub name: String,
    /// How it is driven.
    pub kind: AgentKind,
    /// The argv template: never a shell string.
    pub command: Vec<String>,
    /// How the prompt reaches it.
    pub prompt: PromptMode,
    /// Extra environment for its process.
    pub env: BTreeMap<String, String>,
    /// Default working directory (a task's own cwd wins).
    pub cwd: Option<String>,
    /// Default timeout for its tasks (`None`: the global default applies).
    pub timeout: Option<Duration>,
    /// How many of its tasks may run at once (`None`: only the global cap applies).
    pub max_running: Option<u32>,
    /// One line for people and models choosing an agent.
    pub description: String,
    /// Whether a task interrupted by a lost runner goes back to the queue.
    pub retry_interrupted: bool,
    /// Whether the MCP server offers it to models (`sh` is for people, so it is not).
    pub for_models: bool,
    /// What to do past the output cap.
    pub on_output_cap: OutputCapPolicy,
    /// Where this agent's finished tasks are announced (besides the global `[notify]`).
    pub notify: Vec<crate::notify::NotifyTarget>,
    /// Built in rather than configured.
    pub builtin: bool,
}

/// The placeholder replaced by the prompt in `prompt = "arg"` mode.
pub const PROMPT_PLACEHOLDER: &str = "{prompt}";
/// The placeholder replaced by the prompt file's path in `prompt = "file"` mode.
pub const PROMPT_FILE_PLACEHOLDER: &str = "{prompt_file}";
/// Linux's limit on one argv element (`MAX_ARG_STRLEN`), terminating NUL included.
pub const MAX_ARG_BYTES: usize = 128 * 1024;

impl AgentSpec {
    /// The built-in agents: `sh`, which runs the prompt with `sh -c` for people at a terminal.
    pub fn builtins() -> Vec<AgentSpec> {
        vec![AgentSpec {
            name: "sh".into(),
            kind: AgentKind::Exec,
            command: vec!["sh".into(), "-c".into(), PROMPT_PLACEHOLDER.into()],
            prompt: PromptMode::Arg,
            env: BTreeMap::new(),
            cwd: None,
            timeout: None,
            max_running: None,
            description: "Runs the prompt as a POSIX shell script (sh -c). For people at a terminal; not offered to models.".into(),
            retry_interrupted: false,
            for_models: false,
            on_output_cap: OutputCapPolicy::Truncate,
            notify: Vec::new(),
            builtin: true,
        }]
    }

    /// Why a prompt cannot be handed to this agent, if it cannot.
    pub fn prompt_problem(&self, prompt: &str) -> Option<String> {
        if self.prompt == PromptMode::Arg && prompt.len() + 1 > MAX_ARG_BYTES {
            return Some(format!(
                "the prompt is {} bytes, but agent '{}' takes it as a command-line argument and Linux caps one argument at 128 KiB; \
                 set prompt = \"stdin\" or prompt = \"file\" for this agent in the config, or shorten the prompt",
                prompt.len(),
                self.name
            ));
        }
        if self.prompt == PromptMode::Arg && prompt.contains('\0') {
            return Some("the prompt contains a NUL byte, which cannot pass as a command-line argument; use an agent with prompt = \"stdin\"".into());
        }
        None
    }
}

/// What `legate agents` and the API show of an agent. Environment values are left out: they
/// often hold secrets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentView {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: AgentKind,
    /// The argv template.
    pub command: Vec<String>,
    /// How it gets the prompt.
    pub prompt: PromptMode,
    /// The names (not values) of its extra environment variables.
    pub env_keys: Vec<String>,
    /// Its description.
    pub description: String,
    /// Its own cap, if any.
    pub max_running: Option<u32>,
    /// Its default timeout in milliseconds, if any.
    pub timeout_ms: Option<u64>,
    /// Whether models are offered it.
    pub for_models: bool,
    /// Whether it is built in.
    pub builtin: bool,
    /// Whether its program was found.
    pub available: bool,
    /// The resolved program path, or why it is missing.
    pub program: String,
}
