//! The real MCP hosts (Claude Code, Codex, Hermes) as legate's users run them: each prepared
//! in a private HOME against a scripted [`ModelServer`](legate_test_model::ModelServer), with
//! `legate mcp` (the binary under test, in the test's `LEGATE_HOME`) as its MCP server, and run
//! headless on one prompt. Installed, pinned, by `scripts/install-test-agents`.

pub mod claude;
pub mod claude_tui;
pub mod codex;
pub mod delivery;
pub mod hermes;
pub mod opencode;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The longest a host may take over one headless prompt before the test gives up on it.
pub const HOST_DEADLINE: Duration = Duration::from_secs(240);

/// What one headless run of a host left: its exit status and everything it printed.
pub struct HostRun {
    /// The host's name, for messages.
    pub host: &'static str,
    /// How the host process ended (killed when it outlived [`HOST_DEADLINE`]).
    pub status: ExitStatus,
    /// Its standard output, as text.
    pub stdout: String,
    /// Its standard error, as text.
    pub stderr: String,
    /// Whether it was killed for outliving [`HOST_DEADLINE`].
    pub timed_out: bool,
}

impl fmt::Display for HostRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ended with {}{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.host,
            self.status,
            if self.timed_out {
                " (killed at the deadline)"
            } else {
                ""
            },
            self.stdout,
            self.stderr
        )
    }
}

/// A private directory for `host` inside the legate home: its HOME.
pub fn host_home(legate_home: &Path, host: &str) -> PathBuf {
    let dir = legate_home.join(format!("{host}-home"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A command running `bin` with no inherited environment but `PATH` (the installed CLI's own
/// directory first, then the test's), `HOME` = `home`, `TMPDIR` inside it, and the language,
/// in `cwd`, with stdin closed.
pub fn host_command(bin: &Path, home: &Path, cwd: &Path) -> Command {
    let tmp = home.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let dir = bin.parent().unwrap().display().to_string();
    let path = std::env::var("PATH").unwrap_or_default();
    let mut c = Command::new(bin);
    c.env_clear()
        .env("PATH", format!("{dir}:{path}"))
        .env("HOME", home)
        .env("TMPDIR", &tmp)
        .env("LANG", "C.UTF-8")
        .current_dir(cwd)
        .stdin(Stdio::null());
    c
}

/// Runs `command` (a host named `host`), its output going to files in `logs`, until it ends or
/// [`HOST_DEADLINE`] passes (then it is killed).
pub fn run_host(host: &'static str, mut command: Command, logs: &Path) -> HostRun {
    let out_path = logs.join(format!("{host}.stdout"));
    let err_path = logs.join(format!("{host}.stderr"));
    command
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap());
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {host}: {e}"));
    let deadline = Instant::now() + HOST_DEADLINE;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            timed_out = true;
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let read =
        |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    HostRun {
        host,
        status,
        stdout: read(&out_path),
        stderr: read(&err_path),
        timed_out,
    }
}
