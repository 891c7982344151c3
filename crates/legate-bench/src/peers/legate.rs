//! legate as a peer: a private `LEGATE_HOME` (see [`crate::fixture::Bench`]) whose
//! `[limits] max_running` is the cap; tasks go through `legate run sh SCRIPT`.

use std::process::Command;

use anyhow::{Context, Result, ensure};

use super::peer::Peer;
use super::procs::{self, MARKER};
use crate::fixture::{Bench, check, fill};

/// legate in a temp home.
pub struct Legate {
    b: Bench,
    pid: i32,
    /// Fixture ids used so far by [`Peer::fill`].
    filled: usize,
    /// The task holding the slot, if any.
    holder: Option<String>,
    /// Ids submitted since the last wait or release.
    pending: Vec<String>,
}

impl Legate {
    /// A home with `max_running = cap`, its daemon started.
    pub fn start(cap: usize) -> Result<Legate> {
        let b = Bench::new(&format!(
            "[limits]\nmax_running = {cap}\ndefault_timeout = \"none\"\n"
        ))?;
        procs::register(b.path());
        let pid = start(&b)?;
        Ok(Legate {
            b,
            pid,
            filled: 0,
            holder: None,
            pending: Vec::new(),
        })
    }

    /// `legate ARGS` in this home, marked.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.b.cmd(args);
        c.env(MARKER, self.b.path());
        c
    }

    /// Runs `legate ARGS` and fails unless it exits 0.
    fn ok(&self, args: &[&str]) -> Result<std::process::Output> {
        let what = format!("legate {args:?}");
        procs::run_ok(&mut self.cmd(args), &what)
    }
}

/// Starts the daemon with the marker in its environment and gives its pid.
fn start(b: &Bench) -> Result<i32> {
    let mut c = b.cmd(&["daemon", "--detach"]);
    c.env(MARKER, b.path());
    let o = c.output()?;
    check(&["daemon", "--detach"], &o)?;
    let o = b.ok(&["daemon", "status", "--json"])?;
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)?;
    let pid = v["pid"]
        .as_i64()
        .context("`legate daemon status --json` gave no pid")?;
    Ok(pid as i32)
}

impl Peer for Legate {
    fn submit_cmd(&mut self, script: &str) -> Command {
        self.cmd(&["run", "sh", script])
    }

    fn task_id(&mut self, stdout: &str) -> Result<String> {
        let id = stdout.trim();
        ensure!(
            id.len() == legate_domain::id::ID_LEN,
            "`legate run` printed no task id: {stdout:?}"
        );
        self.pending.push(id.to_string());
        Ok(id.to_string())
    }

    fn wait_cmd(&self, id: &str) -> Command {
        self.cmd(&["wait", id])
    }

    fn wait_all(&mut self, ids: &[String]) -> Result<()> {
        for chunk in ids.chunks(1000) {
            let mut args = vec!["wait"];
            args.extend(chunk.iter().map(String::as_str));
            self.ok(&args)?;
        }
        self.pending.clear();
        Ok(())
    }

    fn daemon_pid(&self) -> Result<Option<i32>> {
        Ok(Some(self.pid))
    }

    fn fill(&mut self, n: usize) -> Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.b.stop()?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(fill(&self.b.db(), self.filled, n))?;
        self.filled += n;
        self.pid = start(&self.b)?;
        Ok(())
    }

    fn hold(&mut self) -> Result<()> {
        let o = self.ok(&["run", "sh", "sleep 3600"])?;
        self.holder = Some(String::from_utf8_lossy(&o.stdout).trim().to_string());
        self.pending.clear();
        Ok(())
    }

    fn release(&mut self) -> Result<()> {
        if let Some(h) = self.holder.take() {
            self.ok(&["cancel", &h])?;
        }
        let ids = std::mem::take(&mut self.pending);
        self.wait_all(&ids)
    }
}

impl Drop for Legate {
    fn drop(&mut self) {
        let _ = self.b.stop();
        procs::forget(self.b.path());
    }
}
