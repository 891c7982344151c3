//! Running the user's `git`: argv only (never a shell), no terminal prompts, messages in the
//! C locale so legate can tell lock contention from other failures, and the user's own
//! configuration, hooks and credentials.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Stdio;

/// A git command that failed: its words and what git said.
#[derive(Debug, Clone)]
pub(crate) struct GitError {
    /// `git worktree add …` as run (for messages).
    pub command: String,
    /// git's standard error (or why it could not run), trimmed.
    pub message: String,
    /// The exit code, when git ran and exited.
    pub code: Option<i32>,
}

impl std::fmt::Display for GitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` failed: {}", self.command, self.message)
    }
}

impl GitError {
    /// Whether git failed because another git process held one of its lock files (the
    /// index, a ref, the worktree list): worth trying again shortly.
    pub fn is_lock_contention(&self) -> bool {
        let m = &self.message;
        m.contains(".lock") || m.contains("cannot lock ref") || m.contains("could not lock")
    }
}

/// One git command in `dir`, with extra environment variables.
pub(crate) struct Git<'a> {
    dir: &'a Path,
    env: Vec<(&'a str, &'a OsStr)>,
}

impl<'a> Git<'a> {
    /// git run in `dir` (`git -C dir`).
    pub fn at(dir: &'a Path) -> Git<'a> {
        Git {
            dir,
            env: Vec::new(),
        }
    }

    /// Sets an environment variable for the command (e.g. `GIT_INDEX_FILE`).
    pub fn env(mut self, key: &'a str, value: &'a OsStr) -> Git<'a> {
        self.env.push((key, value));
        self
    }

    /// `git -C DIR ARGS`: no terminal prompts, C locale, none of the
    /// [`REPOSITORY_VARIABLES`](legate_domain::worktree::REPOSITORY_VARIABLES), ended with
    /// the daemon.
    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("git");
        cmd.arg("-C")
            .arg(self.dir)
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        for var in legate_domain::worktree::REPOSITORY_VARIABLES {
            cmd.env_remove(var);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        dies_with_parent(&mut cmd);
        cmd
    }

    /// Runs `git ARGS`; its standard output, or how it failed. git dies with the daemon (what
    /// it started itself may not: see `Service::clear_worktree`).
    pub async fn run(&self, args: &[&str]) -> Result<String, GitError> {
        let command = format!("git {}", args.join(" "));
        let out = self
            .command(args)
            .output()
            .await
            .map_err(|e| not_run(&command, &e))?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let mut message = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if message.is_empty() {
            message = String::from_utf8_lossy(&out.stdout).trim().to_string();
        }
        Err(GitError {
            command,
            message,
            code: out.status.code(),
        })
    }

    /// Runs `git ARGS` and returns at most `max` bytes of its output, and whether there was
    /// more (git is then ended), so a huge output never sits whole in the daemon's memory.
    pub async fn run_capped(&self, args: &[&str], max: usize) -> Result<(String, bool), GitError> {
        use tokio::io::AsyncReadExt;
        let command = format!("git {}", args.join(" "));
        let failed = |message: String| GitError {
            command: command.clone(),
            message,
            code: None,
        };
        let mut child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| not_run(&command, &e))?;
        let mut out = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
            stdout
                .take(limit)
                .read_to_end(&mut out)
                .await
                .map_err(|e| failed(format!("cannot read git's output: {e}")))?;
        }
        if out.len() > max {
            let _ = child.kill().await;
            out.truncate(max);
            return Ok((String::from_utf8_lossy(&out).into_owned(), true));
        }
        let done = child
            .wait_with_output()
            .await
            .map_err(|e| failed(e.to_string()))?;
        if !done.status.success() {
            let message = String::from_utf8_lossy(&done.stderr).trim().to_string();
            return Err(GitError {
                code: done.status.code(),
                ..failed(message)
            });
        }
        Ok((String::from_utf8_lossy(&out).into_owned(), false))
    }

    /// Runs `git ARGS` and returns its output's first line, trimmed.
    pub async fn line(&self, args: &[&str]) -> Result<String, GitError> {
        let out = self.run(args).await?;
        Ok(out.lines().next().unwrap_or("").trim().to_string())
    }

    /// Whether `git ARGS` succeeds (for `rev-parse --verify`-style questions).
    pub async fn ok(&self, args: &[&str]) -> bool {
        self.run(args).await.is_ok()
    }
}

/// Why `command` did not start.
fn not_run(command: &str, e: &std::io::Error) -> GitError {
    GitError {
        command: command.to_string(),
        message: if e.kind() == std::io::ErrorKind::NotFound {
            "git is not installed (not found on the daemon's PATH)".into()
        } else {
            format!("cannot run git: {e}")
        },
        code: None,
    }
}

/// Makes the process `cmd` spawns get SIGKILL when the thread that spawned it ends (the
/// daemon's runtime threads live as long as the daemon).
#[allow(unsafe_code)]
fn dies_with_parent(cmd: &mut tokio::process::Command) {
    // SAFETY: the hook runs in the child between fork and exec, where only async-signal-safe
    // work is allowed: prctl(2) is one system call; nothing is allocated or locked.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)
        });
    }
}

/// `-c` options giving commits legate makes an identity when the user configured none
/// (`user.email` unset), so a merge never fails on "Please tell me who you are"; empty when
/// the user's own identity applies.
pub(crate) async fn identity(dir: &Path) -> Vec<&'static str> {
    if Git::at(dir).ok(&["config", "--get", "user.email"]).await {
        Vec::new()
    } else {
        vec![
            "-c",
            "user.name=legate",
            "-c",
            "user.email=legate@localhost",
        ]
    }
}
