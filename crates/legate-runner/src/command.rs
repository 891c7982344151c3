//! Building an agent's command: argv template, prompt placement, environment, cwd.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use legate_domain::agent::{PROMPT_FILE_PLACEHOLDER, PROMPT_PLACEHOLDER};
use legate_domain::{AgentSpec, PromptMode};
use tokio::process::Command;

/// Finds the agent's program the way its process will: through the agent's own `PATH` when it
/// sets one, else the daemon's; relative paths against `cwd`.
pub fn resolve_program(spec: &AgentSpec, cwd: Option<&Path>) -> Result<PathBuf, String> {
    let program = spec
        .command
        .first()
        .ok_or_else(|| format!("agent '{}' has an empty command", spec.name))?;
    let paths: Option<OsString> = spec
        .env
        .get("PATH")
        .map(OsString::from)
        .or_else(|| std::env::var_os("PATH"));
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
}

pub(crate) fn prepare(inv: &Invocation<'_>) -> Result<Prepared, String> {
    let spec = inv.spec;
    let program = resolve_program(spec, inv.cwd)?;
    let mut prompt_file = None;
    let mut args: Vec<String> = spec.command[1..].to_vec();
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
    let mut cmd = Command::new(program);
    cmd.args(&args)
        .envs(&spec.env)
        .env("LEGATE_TASK_ID", inv.task_id)
        .env("LEGATE_DEPTH", inv.depth.to_string())
        .stdin(if spec.prompt == PromptMode::Stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(false);
    if let Some(cwd) = inv
        .cwd
        .map(Path::to_path_buf)
        .or(spec.cwd.as_ref().map(PathBuf::from))
    {
        cmd.current_dir(cwd);
    }
    Ok(Prepared {
        cmd,
        stdin_prompt: (spec.prompt == PromptMode::Stdin).then(|| inv.prompt.to_string()),
        prompt_file,
    })
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
