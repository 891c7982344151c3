//! Built-in agents: `sh` for people, and presets for the coding-agent CLIs users already have.
//! A preset is listed whether or not its program is installed (`legate agents` says which are
//! found); a config table of the same name, or one with `preset = "NAME"`, adjusts it.

use std::time::Duration;

use crate::agent::{AgentKind, AgentSpec, OutputFormat, PROMPT_PLACEHOLDER, PromptMode};

/// How long a provider-backed agent may stay silent before it counts as stalled: long enough
/// for a slow model turn, short enough to notice a hung CLI.
const PRESET_STALL: Duration = Duration::from_secs(600);

/// Provider-backed agents share rate limits and cost money: two at a time unless configured.
const PRESET_MAX_RUNNING: u32 = 2;

/// Gemini CLI refuses to run headless (exit code 55) in a folder the user has not trusted in
/// its interactive mode, and over ACP ignores such a folder's own settings; a task's directory
/// is one the user chose to delegate work in. In the environment rather than as
/// `--skip-trust`, so it stays when a config replaces the command.
const GEMINI_TRUST: (&str, &str) = ("GEMINI_CLI_TRUST_WORKSPACE", "true");

fn argv(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn preset(
    name: &str,
    kind: AgentKind,
    command: &[&str],
    format: OutputFormat,
    description: &str,
) -> AgentSpec {
    let mut a = AgentSpec::new(name, kind, argv(command));
    a.format = format;
    a.description = description.into();
    a.max_running = Some(PRESET_MAX_RUNNING);
    a.stall_timeout = Some(PRESET_STALL);
    a.version_command = vec![command[0].to_string(), "--version".into()];
    a.builtin = true;
    a
}

/// Every built-in agent.
pub fn builtins() -> Vec<AgentSpec> {
    let mut sh = AgentSpec::new(
        "sh",
        AgentKind::Exec,
        argv(&["sh", "-c", PROMPT_PLACEHOLDER]),
    );
    sh.description = "Runs the prompt as a POSIX shell script (sh -c). For people at a terminal; not offered to models.".into();
    sh.for_models = false;
    sh.builtin = true;

    let mut claude = preset(
        "claude",
        AgentKind::Exec,
        &[
            "claude",
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
            "{args}",
        ],
        OutputFormat::Claude,
        "Claude Code (claude -p): a coding agent that reads, edits and runs code in the task's directory.",
    );
    claude.prompt = PromptMode::Stdin;
    claude.resume = argv(&["--resume", "{session}"]);
    claude.model_args = argv(&["--model", "{model}"]);

    let mut codex = preset(
        "codex",
        AgentKind::Exec,
        &[
            "codex",
            "exec",
            "--json",
            "--skip-git-repo-check",
            "{args}",
            "--",
            "{prompt}",
        ],
        OutputFormat::Codex,
        "OpenAI Codex CLI (codex exec): a coding agent that reads, edits and runs code in the task's directory.",
    );
    codex.resume = argv(&["resume", "{session}"]);
    codex.model_args = argv(&["--model", "{model}"]);

    let mut gemini = preset(
        "gemini",
        AgentKind::Exec,
        &[
            "gemini",
            "--output-format",
            "stream-json",
            "{args}",
            "--prompt={prompt}",
        ],
        OutputFormat::Gemini,
        "Google Gemini CLI (gemini -p): a coding agent with a large context window.",
    );
    gemini.resume = argv(&["--resume", "{session}"]);
    gemini.model_args = argv(&["--model", "{model}"]);
    gemini
        .env
        .insert(GEMINI_TRUST.0.into(), GEMINI_TRUST.1.into());

    let mut opencode = preset(
        "opencode",
        AgentKind::Exec,
        &["opencode", "run", "--format", "json", "{args}"],
        OutputFormat::Opencode,
        "opencode (opencode run): a coding agent for any model provider configured in opencode.",
    );
    // On the command line opencode wraps a prompt with spaces in quotes; stdin keeps it as is.
    opencode.prompt = PromptMode::Stdin;
    opencode.resume = argv(&["--session", "{session}"]);
    opencode.model_args = argv(&["--model", "{model}"]);

    // A child session of the OpenCode session that delegated the task, in that session's
    // server: the program is legate itself (`legate opencode-session`), which legate's
    // OpenCode plugin submits with the server and the parent in the task's environment.
    let mut opencode_session = preset(
        "opencode-session",
        AgentKind::Exec,
        &["legate", "opencode-session", "{args}"],
        OutputFormat::Opencode,
        "A child session of the delegating OpenCode session, in its OpenCode server (delegated by legate's OpenCode plugin).",
    );
    opencode_session.prompt = PromptMode::Stdin;
    opencode_session.resume = argv(&["--session", "{session}"]);
    opencode_session.for_models = false;

    let opencode_acp = preset(
        "opencode-acp",
        AgentKind::Acp,
        &["opencode", "acp"],
        OutputFormat::Plain,
        "opencode over the Agent Client Protocol: live progress, permission answers by policy, session resume.",
    );

    let mut gemini_acp = preset(
        "gemini-acp",
        AgentKind::Acp,
        &["gemini", "--acp"],
        OutputFormat::Plain,
        "Gemini CLI over the Agent Client Protocol: live progress, permission answers by policy, session resume.",
    );
    gemini_acp.model_args = argv(&["--model", "{model}"]);
    gemini_acp
        .env
        .insert(GEMINI_TRUST.0.into(), GEMINI_TRUST.1.into());

    vec![
        sh,
        claude,
        codex,
        gemini,
        opencode,
        opencode_session,
        opencode_acp,
        gemini_acp,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_have_a_parser_a_resume_path_and_a_version_command() {
        for a in builtins().into_iter().filter(|a| a.name != "sh") {
            assert!(a.can_resume(), "{}", a.name);
            assert!(!a.version_command.is_empty(), "{}", a.name);
            assert_eq!(a.max_running, Some(PRESET_MAX_RUNNING));
            if a.kind == AgentKind::Exec {
                assert_ne!(a.format, OutputFormat::Plain, "{}", a.name);
                assert!(a.command.iter().any(|c| c == "{args}"), "{}", a.name);
                let takes_arg = a.command.iter().any(|c| c.contains("{prompt}"));
                assert_eq!(takes_arg, a.prompt == PromptMode::Arg, "{}", a.name);
            }
            if a.name.starts_with("gemini") {
                let trust = a.env.get("GEMINI_CLI_TRUST_WORKSPACE").map(String::as_str);
                assert_eq!(
                    trust,
                    Some("true"),
                    "{}: headless runs need a trusted folder",
                    a.name
                );
                assert!(!a.model_args.is_empty(), "{}", a.name);
            }
        }
    }
}
