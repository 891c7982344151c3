//! Building an agent's command: argv template, prompt placement, environment, cwd.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use legate_domain::agent::{PROMPT_FILE_PLACEHOLDER, PROMPT_PLACEHOLDER};
use legate_domain::argv::{PromptProblem, arguments, place, prompt_arguments};
use legate_domain::{AgentKind, AgentSpec, PromptMode, TaskEnv};
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
    let mut args = arguments(spec, inv.session);
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
    let args = arguments(inv.spec, None);
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

/// The kernel's ceiling on an `execve`'s arguments and environment together, whatever the
/// stack limit: ¾ of 8 MiB (`_STK_LIM / 4 * 3`).
const KERNEL_ARG_CEILING: usize = 6 << 20;

/// The floor Linux always allows (`ARG_MAX` of old, 128 KiB).
const ARG_FLOOR: usize = 128 << 10;

/// How many bytes of arguments and environment an agent started now may have: this process's
/// `sysconf(_SC_ARG_MAX)` (a quarter of its stack limit, which agents inherit), within the
/// kernel's floor and ceiling; the floor when it cannot be read.
pub fn arg_max() -> usize {
    let limit = nix::unistd::sysconf(nix::unistd::SysconfVar::ARG_MAX)
        .ok()
        .flatten()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(ARG_FLOOR);
    limit.clamp(ARG_FLOOR, KERNEL_ARG_CEILING)
}

/// Why the kernel would refuse to start `spec`'s `program` for `prompt` (continuing `session`
/// when it is a follow-up) with the environment its process will have (`env`: the submitter's;
/// `None`: the fallback), if it would. Checked at submit, so a prompt that cannot pass is
/// refused before anything is stored.
pub fn command_problem(
    spec: &AgentSpec,
    prompt: &str,
    session: Option<&str>,
    program: &Path,
    env: Option<&TaskEnv>,
) -> Option<PromptProblem> {
    let args = match spec.kind {
        AgentKind::Exec => prompt_arguments(spec, session, prompt),
        AgentKind::Acp => arguments(spec, None),
    };
    let mut argv = vec![program.to_string_lossy().into_owned()];
    argv.extend(args);
    let mut vars = environment::for_agent(spec, env);
    // What `base_command` adds, at their longest.
    vars.insert(
        "LEGATE_TASK_ID".into(),
        "x".repeat(legate_domain::id::ID_LEN),
    );
    vars.insert("LEGATE_DEPTH".into(), u32::MAX.to_string());
    spec.command_problem(prompt, &argv, &vars, arg_max())
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

    #[test]
    fn the_limit_on_a_command_line_is_the_systems_within_the_kernels_bounds() {
        let n = arg_max();
        assert!((ARG_FLOOR..=KERNEL_ARG_CEILING).contains(&n), "{n}");
    }

    #[test]
    fn a_prompt_too_large_for_its_argument_is_found_before_the_spawn() {
        let mut a = AgentSpec::new(
            "g",
            AgentKind::Exec,
            vec!["g".into(), "--prompt={prompt}".into()],
        );
        let program = Path::new("/usr/bin/g");
        let over = "x".repeat(131_065);
        assert!(matches!(
            command_problem(&a, &over, None, program, None),
            Some(PromptProblem::TooLarge { .. })
        ));
        assert_eq!(command_problem(&a, "print hi", None, program, None), None);
        a.kind = AgentKind::Acp;
        assert_eq!(
            command_problem(&a, &over, None, program, None),
            None,
            "an ACP agent's prompt goes through the protocol"
        );
    }
}
