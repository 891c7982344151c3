//! Agents: named ways to run a task.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How the agent is driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentKind {
    /// A command line run with the prompt as an argument, on stdin, or in a file.
    Exec,
    /// A process speaking the Agent Client Protocol on its stdin/stdout: legate is the client,
    /// so progress, permissions, cancel and session resume go through the protocol.
    Acp,
}

/// What an exec agent prints on stdout, so the right parser turns it into a result, a session
/// id for follow-ups, usage and progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormat {
    /// Plain text: the result is stdout itself.
    Plain,
    /// Claude Code's `--output-format stream-json --verbose` lines.
    Claude,
    /// Codex's `exec --json` lines.
    Codex,
    /// Gemini CLI's `--output-format stream-json` lines.
    Gemini,
    /// opencode's `run --format json` lines.
    Opencode,
}

/// What to do with a task that printed and reported nothing for `stall_timeout`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum StallPolicy {
    /// Publish a `stalled` event and let it run (the wall-clock timeout still applies).
    Report,
    /// Publish a `stalled` event and cancel it; it fails with `stalled`.
    Cancel,
}

impl StallPolicy {
    /// The name used in the config and in `stalled` events' `action` (`report`, `cancel`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// How an ACP agent's permission requests are answered. Every answer is recorded as a
/// `permission` event, so a denial is never silent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PermissionPolicy {
    /// Refuse every request (the default: nobody is there to approve).
    Deny,
    /// Allow every request.
    Allow,
    /// Allow tool calls of these ACP tool kinds (`read`, `edit`, `execute`, …), refuse others.
    Kinds(Vec<String>),
}

impl PermissionPolicy {
    /// Whether a tool call of this kind (`None`: the agent did not say) may go ahead.
    pub fn allows(&self, tool_kind: Option<&str>) -> bool {
        match self {
            PermissionPolicy::Deny => false,
            PermissionPolicy::Allow => true,
            PermissionPolicy::Kinds(kinds) => {
                tool_kind.is_some_and(|k| kinds.iter().any(|a| a == k))
            }
        }
    }
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
    /// What its stdout is, for exec agents.
    pub format: OutputFormat,
    /// Arguments added in place of `{args}` to continue a session (`{session}` is replaced by
    /// the agent's session id); empty when the agent cannot continue sessions.
    pub resume: Vec<String>,
    /// The model to ask for (`None`: the agent's own default).
    pub model: Option<String>,
    /// How the model is passed (`{model}` is replaced), e.g. `["--model", "{model}"]`.
    pub model_args: Vec<String>,
    /// Extra arguments added in place of `{args}`.
    pub args: Vec<String>,
    /// How long a running task may print and report nothing before it counts as stalled.
    pub stall_timeout: Option<Duration>,
    /// What happens then.
    pub on_stall: StallPolicy,
    /// The argv that prints its version (`legate agents --check`).
    pub version_command: Vec<String>,
    /// How an ACP agent's permission requests are answered.
    pub permissions: PermissionPolicy,
    /// Whether an ACP agent may read and write text files under the task's directory through
    /// the client (legate); off by default.
    pub fs: bool,
    /// Where its tasks run: in their working directory, or each in a git worktree of its
    /// own (`isolation = "worktree"`); a task's own choice wins.
    pub isolation: crate::Isolation,
    /// Built in rather than configured.
    pub builtin: bool,
}

/// The placeholder replaced by the prompt in `prompt = "arg"` mode.
pub const PROMPT_PLACEHOLDER: &str = "{prompt}";
/// The placeholder replaced by the extra arguments (model, `args`, and `resume` for follow-ups).
pub const ARGS_PLACEHOLDER: &str = "{args}";
/// The placeholder in `resume` replaced by the agent's session id.
pub const SESSION_PLACEHOLDER: &str = "{session}";
/// The placeholder in `model_args` replaced by the model.
pub const MODEL_PLACEHOLDER: &str = "{model}";
/// The placeholder replaced by the prompt file's path in `prompt = "file"` mode.
pub const PROMPT_FILE_PLACEHOLDER: &str = "{prompt_file}";
/// Linux's limit on one argv element (`MAX_ARG_STRLEN`), terminating NUL included.
pub const MAX_ARG_BYTES: usize = 128 * 1024;

impl AgentSpec {
    /// An agent with every optional setting at its default: the base that presets and the
    /// config fill in.
    pub fn new(name: &str, kind: AgentKind, command: Vec<String>) -> AgentSpec {
        AgentSpec {
            name: name.to_string(),
            kind,
            command,
            prompt: PromptMode::Arg,
            env: BTreeMap::new(),
            cwd: None,
            timeout: None,
            max_running: None,
            description: String::new(),
            retry_interrupted: false,
            for_models: true,
            on_output_cap: OutputCapPolicy::Truncate,
            notify: Vec::new(),
            format: OutputFormat::Plain,
            resume: Vec::new(),
            model: None,
            model_args: Vec::new(),
            args: Vec::new(),
            stall_timeout: None,
            on_stall: StallPolicy::Report,
            version_command: Vec::new(),
            permissions: PermissionPolicy::Deny,
            fs: false,
            isolation: crate::Isolation::None,
            builtin: false,
        }
    }

    /// Whether a finished task of this agent can be continued with `legate send`.
    pub fn can_resume(&self) -> bool {
        self.kind == AgentKind::Acp || !self.resume.is_empty()
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
    /// What its output is parsed as.
    pub format: OutputFormat,
    /// Whether `legate send` can continue its tasks' sessions.
    pub resumable: bool,
    /// The model it asks for, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Its stall timeout in milliseconds, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall_timeout_ms: Option<u64>,
    /// The directory its tasks run in when a submission gives none, when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Its version, as its version command printed it (when checked), or why that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Whether its program was found.
    pub available: bool,
    /// The resolved program path, or why it is missing.
    pub program: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stall_policies_round_trip() {
        crate::names::assert_round_trips::<StallPolicy>();
        assert_eq!(crate::names::joined::<StallPolicy>(","), "report,cancel");
    }
}
