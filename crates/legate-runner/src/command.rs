//! Building an agent's command: argv template, prompt placement, environment, cwd.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use legate_domain::agent::{
    ARGS_PLACEHOLDER, MODEL_PLACEHOLDER, PROMPT_FILE_PLACEHOLDER, PROMPT_PLACEHOLDER,
    SESSION_PLACEHOLDER,
};
use legate_domain::{AgentSpec, PromptMode, TaskEnv};
use tokio::process::Command;

use crate::environment::{self, search_path};

/// Finds the agent's program in `paths` (a `PATH` value: the one the agent's process will
/// have, see [`crate::environment::search_path`]); relative paths against `cwd`.
pub fn resolve_program(
    spec: &AgentSpec,
    cwd: Option<&Path>,
    paths: Option<OsString>,
) -> Result<PathBuf, String> {
    let program = spec
        .command
        .first()
        .ok_or_else(|| format!("agent '{}' has an empty command", spec.name))?;
    let cwd = cwd
        .map(Path::to_path_buf)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("/"));
    which::which_in(program, paths, cwd).map_err(|_| {
        format!(
            "agent '{}' runs '{program}', which is not on PATH or not executable",
            spec.name
        )
    })
}

/// A command ready to spawn, and what must be fed to it.
pub(crate) struct Prepared {
    pub cmd: Command,
    pub stdin_prompt: Option<String>,
    pub prompt_file: Option<PathBuf>,
}

/// Everything about the task the command needs.
pub(crate) struct Invocation<'a> {
    pub spec: &'a AgentSpec,
    pub task_id: &'a str,
    pub prompt: &'a str,
    pub cwd: Option<&'a Path>,
    pub depth: u32,
    pub task_dir: &'a Path,
    pub session: Option<&'a str>,
    /// The submitter's environment (`None`: the fallback).
    pub env: Option<&'a TaskEnv>,
}

pub(crate) fn prepare(inv: &Invocation<'_>) -> Result<Prepared, String> {
    let spec = inv.spec;
    let program = resolve_program(spec, inv.cwd, search_path(spec, inv.env))?;
    let mut prompt_file = None;
    let mut args = with_extra_args(spec, inv.session);
    match spec.prompt {
        PromptMode::Arg => place(&mut args, PROMPT_PLACEHOLDER, inv.prompt),
        PromptMode::File => {
            let path = inv.task_dir.join("prompt.txt");
            write_private(&path, inv.prompt)
                .map_err(|e| format!("cannot write the prompt file {}: {e}", path.display()))?;
            place(&mut args, PROMPT_FILE_PLACEHOLDER, &path.to_string_lossy());
            prompt_file = Some(path);
        }
        PromptMode::Stdin => {}
    }
    let stdin = if spec.prompt == PromptMode::Stdin {
        Stdio::piped()
    } else {
        Stdio::null()
    };
    let cmd = base_command(program, &args, inv, stdin);
    Ok(Prepared {
        cmd,
        stdin_prompt: (spec.prompt == PromptMode::Stdin).then(|| inv.prompt.to_string()),
        prompt_file,
    })
}

/// The command of an ACP agent: its stdin and stdout carry the protocol, the prompt goes
/// through the protocol, and sessions are continued with `session/load`.
pub(crate) fn prepare_acp(inv: &Invocation<'_>) -> Result<Command, String> {
    let program = resolve_program(inv.spec, inv.cwd, search_path(inv.spec, inv.env))?;
    let args = with_extra_args(inv.spec, None);
    Ok(base_command(program, &args, inv, Stdio::piped()))
}

/// What every agent process gets: its argv, its own process group, its environment (the
/// submitter's without session markers, or the fallback; then the agent's `env`; nothing of
/// the daemon's own) plus `LEGATE_TASK_ID` and `LEGATE_DEPTH`, piped output, and the working
/// directory.
fn base_command(program: PathBuf, args: &[String], inv: &Invocation<'_>, stdin: Stdio) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(environment::for_agent(inv.spec, inv.env))
        .env("LEGATE_TASK_ID", inv.task_id)
        .env("LEGATE_DEPTH", inv.depth.to_string())
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(false);
    if let Some(cwd) = run_dir(inv) {
        cmd.current_dir(cwd);
    }
    cmd
}

/// Where the agent runs: the task's directory, else the agent's.
pub(crate) fn run_dir(inv: &Invocation<'_>) -> Option<PathBuf> {
    inv.cwd
        .map(Path::to_path_buf)
        .or(inv.spec.cwd.as_ref().map(PathBuf::from))
}

/// The command's arguments with `{args}` expanded: the model, the agent's extra `args`, and
/// for a follow-up its `resume` arguments. Without `{args}` they go before the prompt's
/// placeholder, or at the end.
pub(crate) fn with_extra_args(spec: &AgentSpec, session: Option<&str>) -> Vec<String> {
    let mut extra: Vec<String> = Vec::new();
    if let Some(model) = &spec.model {
        extra.extend(
            spec.model_args
                .iter()
                .map(|a| a.replace(MODEL_PLACEHOLDER, model)),
        );
    }
    extra.extend(spec.args.iter().cloned());
    if let Some(session) = session {
        extra.extend(
            spec.resume
                .iter()
                .map(|a| a.replace(SESSION_PLACEHOLDER, session)),
        );
    }
    let mut args: Vec<String> = spec.command[1..].to_vec();
    let at = args.iter().position(|a| a == ARGS_PLACEHOLDER);
    match at {
        Some(i) => {
            args.splice(i..=i, extra);
        }
        None => {
            let before = args
                .iter()
                .position(|a| a.contains(PROMPT_PLACEHOLDER) || a.contains(PROMPT_FILE_PLACEHOLDER))
                .unwrap_or(args.len());
            args.splice(before..before, extra);
        }
    }
    args
}

/// Replaces `placeholder` inside every argument; appends `value` when no argument has it.
fn place(args: &mut Vec<String>, placeholder: &str, value: &str) {
    let mut found = false;
    for a in args.iter_mut() {
        if a.contains(placeholder) {
            *a = a.replace(placeholder, value);
            found = true;
        }
    }
    if !found {
        args.push(value.to_string());
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use legate_domain::AgentKind;

    #[test]
    fn extra_args_go_where_args_is_or_before_the_prompt() {
        let codex = legate_domain::presets::builtins()
            .into_iter()
            .find(|a| a.name == "codex")
            .unwrap();
        let mut a = codex.clone();
        a.model = Some("o4".into());
        a.args = vec!["--sandbox".into(), "read-only".into()];
        assert_eq!(
            with_extra_args(&a, Some("T1")),
            [
                "exec",
                "--json",
                "--skip-git-repo-check",
                "--model",
                "o4",
                "--sandbox",
                "read-only",
                "resume",
                "T1",
                "--",
                "{prompt}"
            ]
        );
        assert_eq!(
            with_extra_args(&codex, None),
            ["exec", "--json", "--skip-git-repo-check", "--", "{prompt}"]
        );
        let mut plain = AgentSpec::new(
            "p",
            AgentKind::Exec,
            vec!["x".into(), "-q".into(), "{prompt}".into()],
        );
        plain.args = vec!["--fast".into()];
        assert_eq!(with_extra_args(&plain, None), ["-q", "--fast", "{prompt}"]);
        plain.command = vec!["x".into()];
        assert_eq!(with_extra_args(&plain, None), ["--fast"]);
    }

    #[test]
    fn placeholder_is_replaced_inside_arguments_or_appended() {
        let mut a = vec!["-p".to_string(), "--x={prompt}".to_string()];
        place(&mut a, PROMPT_PLACEHOLDER, "$(hi)");
        assert_eq!(a, vec!["-p", "--x=$(hi)"]);
        let mut b = vec!["-p".to_string()];
        place(&mut b, PROMPT_PLACEHOLDER, "v");
        assert_eq!(b, vec!["-p", "v"]);
    }
}
