//! One interface over every way of running an agent, so the engine supervises them alike.

use async_trait::async_trait;
use legate_domain::{AgentKind, AgentSpec, Outcome, ProcessInfo};
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use crate::capture::LatestOutput;
use crate::exec::{RunSettings, StopReason};
use crate::parse::Progress;

/// Something a running agent reports besides its output, published as an event.
#[derive(Debug, Clone, PartialEq)]
pub enum RunNote {
    /// A step of its work (`progress` event).
    Progress(Progress),
    /// A permission it asked for and how legate answered (`permission` event).
    Permission(Value),
}

/// A started agent, whatever drives it.
#[async_trait]
pub trait AgentRun: Send {
    /// The process, to be recorded for crash recovery.
    fn process(&self) -> ProcessInfo;
    /// What it has printed or said lately; changes as it does (for `output` events and stall
    /// detection).
    fn latest_output(&self) -> watch::Receiver<LatestOutput>;
    /// What it reports as it works; taken once.
    fn take_notes(&mut self) -> Option<mpsc::UnboundedReceiver<RunNote>>;
    /// Runs it to its end (or ends it on timeout or a stop request), leaves nothing of its
    /// process tree behind, and says how it went.
    async fn wait(
        self: Box<Self>,
        task_id: &str,
        stop: watch::Receiver<Option<StopReason>>,
    ) -> Outcome;
}

/// Starts the agent for a task the way its kind says. A failure to start is returned as the
/// task's outcome (`failed` / `spawn_failed`, boxed: it is the rare path), with the reason in
/// the log; a working directory that went away after the task was accepted is named as the
/// reason, not mistaken for a missing program.
pub fn start(
    spec: &AgentSpec,
    task_id: &str,
    prompt: &str,
    cwd: Option<&std::path::Path>,
    settings: RunSettings,
) -> Result<Box<dyn AgentRun>, Box<Outcome>> {
    if let Some(dir) = cwd.filter(|d| !d.is_dir()) {
        let what = if dir.exists() {
            "is no longer a directory"
        } else {
            "no longer exists"
        };
        let msg = format!(
            "cannot start the agent: its working directory {} {what} (it was there when the task \
             was accepted); make it again and delegate the task again, or delegate it with
             another --cwd",
            dir.display()
        );
        let _ = crate::log::append_note(&settings.task_dir.join("output.log"), &msg);
        return Err(Box::new(Outcome::failed(
            legate_domain::Status::Failed,
            legate_domain::ErrorKind::SpawnFailed,
            msg,
        )));
    }
    match spec.kind {
        AgentKind::Exec => Ok(Box::new(crate::exec::spawn(
            spec, task_id, prompt, cwd, settings,
        )?)),
        AgentKind::Acp => Ok(Box::new(crate::acp::spawn(
            spec, task_id, prompt, cwd, settings,
        )?)),
    }
}

/// Why an agent's process could not be started, for the task's error: the system's reason,
/// except that a script whose `#!` interpreter is missing (the kernel's "No such file or
/// directory" for a program that exists) is named for what it is.
pub(crate) fn not_started(
    agent: &str,
    cmd: &tokio::process::Command,
    e: &std::io::Error,
) -> String {
    let program = std::path::Path::new(cmd.as_std().get_program());
    if e.kind() == std::io::ErrorKind::NotFound
        && program.is_file()
        && let Some(interpreter) = interpreter(program)
    {
        return format!(
            "cannot start agent '{agent}': {} names the interpreter {interpreter} on its first \
             line (#!), which does not exist; install it or fix that line",
            program.display()
        );
    }
    format!("cannot start agent '{agent}': {e}")
}

/// The interpreter a script's `#!` line names, if it has one.
fn interpreter(program: &std::path::Path) -> Option<String> {
    use std::io::Read;
    let mut head = [0u8; 256];
    let n = std::fs::File::open(program).ok()?.read(&mut head).ok()?;
    let line = head[..n].strip_prefix(b"#!")?;
    let line = line.split(|&b| b == b'\n').next()?;
    let word = String::from_utf8_lossy(line);
    let word = word.split_whitespace().next()?;
    Some(legate_domain::terminal::one_line(crate::bounds::head(word, 200)).into_owned())
}
