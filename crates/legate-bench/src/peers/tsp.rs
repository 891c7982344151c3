//! task-spooler as a peer: a private server (`TS_SOCKET`, `TS_SAVELIST` and `TMPDIR` in a temp
//! directory, `TS_SLOTS` = the cap, `TS_MAXFINISHED` lifted so finished jobs stay listed);
//! tasks go through `tsp sh -c SCRIPT`. Each queued job keeps a client process and a server
//! connection, so the server accepts ~995 unfinished jobs (1000 connections) at once.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use super::install;
use super::peer::Peer;
use super::procs::{self, marked, run_ok, socket_owner};

/// Finished jobs kept (the default, 1000, would drop older ones).
const MAX_FINISHED: &str = "1000000";

/// Slots while filling and draining.
const FILL_SLOTS: usize = 8;

/// A private task-spooler server.
pub struct Tsp {
    dir: tempfile::TempDir,
    cap: usize,
    pid: i32,
    holder: Option<String>,
    /// Ids submitted since the last wait or release.
    pending: Vec<String>,
}

impl Tsp {
    /// Starts a server with `cap` slots.
    pub fn start(cap: usize) -> Result<Tsp> {
        let dir = tempfile::Builder::new().prefix("lgb-tsp").tempdir()?;
        procs::register(dir.path());
        let mut t = Tsp {
            dir,
            cap,
            pid: 0,
            holder: None,
            pending: Vec::new(),
        };
        // Any client call starts the server.
        t.ok(&["-S", &cap.to_string()])?;
        t.pid = socket_owner(&t.path().join("socket"), t.path())?;
        Ok(t)
    }

    /// The private directory.
    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `tsp ARGS` against this server.
    fn cmd(&self, args: &[&str]) -> Command {
        let dir = self.path();
        let mut c = marked(install::bin("tsp"), dir);
        c.args(args)
            .env("TS_SOCKET", dir.join("socket"))
            .env("TS_SAVELIST", dir.join("savelist"))
            .env("TMPDIR", dir)
            .env("TS_MAXFINISHED", MAX_FINISHED)
            .env("TS_SLOTS", self.cap.to_string())
            .env_remove("TS_ONFINISH")
            .env_remove("TS_ENV");
        c
    }

    /// Runs `tsp ARGS` and fails unless it exits 0.
    fn ok(&self, args: &[&str]) -> Result<std::process::Output> {
        run_ok(&mut self.cmd(args), &format!("tsp {args:?}"))
    }

    /// Ids of jobs that are not finished yet.
    fn unfinished(&self) -> Result<Vec<String>> {
        let o = self.ok(&["-l"])?;
        let list = String::from_utf8_lossy(&o.stdout);
        Ok(list
            .lines()
            .skip(1)
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                let id = f.next()?;
                (f.next()? != "finished").then(|| id.to_string())
            })
            .collect())
    }
}

impl Peer for Tsp {
    fn submit_cmd(&mut self, script: &str) -> Command {
        let mut c = self.cmd(&["sh", "-c"]);
        c.arg(script);
        c
    }

    fn task_id(&mut self, stdout: &str) -> Result<String> {
        let id: u64 = stdout
            .trim()
            .parse()
            .with_context(|| format!("tsp printed {stdout:?}, not a job id"))?;
        self.pending.push(id.to_string());
        Ok(id.to_string())
    }

    fn wait_cmd(&self, id: &str) -> Command {
        self.cmd(&["-w", id])
    }

    /// `tsp -w` on the last id, then on any of the rest `tsp -l` still shows unfinished.
    fn wait_all(&mut self, ids: &[String]) -> Result<()> {
        if let Some(last) = ids.last() {
            self.ok(&["-w", last])?;
            let left = self.unfinished()?;
            for id in ids.iter().filter(|id| left.contains(id)) {
                self.ok(&["-w", id])?;
            }
        }
        self.pending.clear();
        Ok(())
    }

    fn daemon_pid(&self) -> Result<Option<i32>> {
        Ok(Some(self.pid))
    }

    /// Runs `n` jobs of `sh -c true`, eight at a time, and waits for them.
    fn fill(&mut self, n: usize) -> Result<()> {
        self.ok(&["-S", &FILL_SLOTS.to_string()])?;
        let mut last = None;
        for _ in 0..n {
            let o = self.ok(&["sh", "-c", "true"])?;
            last = Some(String::from_utf8_lossy(&o.stdout).trim().to_string());
        }
        self.wait_all(&last.into_iter().collect::<Vec<_>>())?;
        let left = self.unfinished()?;
        anyhow::ensure!(
            left.is_empty(),
            "tsp jobs {left:?} still unfinished after the fill"
        );
        self.ok(&["-S", &self.cap.to_string()])?;
        Ok(())
    }

    fn hold(&mut self) -> Result<()> {
        let o = self.ok(&["sleep", "3600"])?;
        self.holder = Some(String::from_utf8_lossy(&o.stdout).trim().to_string());
        self.pending.clear();
        Ok(())
    }

    fn release(&mut self) -> Result<()> {
        self.ok(&["-S", &FILL_SLOTS.to_string()])?;
        if let Some(h) = self.holder.take() {
            self.ok(&["-k", &h])?;
        }
        let ids = std::mem::take(&mut self.pending);
        self.wait_all(&ids)?;
        self.ok(&["-S", &self.cap.to_string()])?;
        Ok(())
    }
}

impl Drop for Tsp {
    fn drop(&mut self) {
        let _ = self.cmd(&["-K"]).output();
        procs::forget(self.path());
    }
}
