//! pueue as a peer (see [`super::pueued`] for the private daemon): tasks go through
//! `pueue -c CONFIG add -p -- SCRIPT`; the default group's `parallel` is the cap. The store is
//! filled by editing `state.json` while pueued is stopped (see [`super::pueue_state`]):
//! adding 10,000 tasks through the client would take minutes, since pueued rewrites its whole
//! state file on every change.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::peer::Peer;
use super::pueue_state;
use super::pueued::Pueued;

/// Parallel tasks while draining.
const DRAIN_PARALLEL: usize = 8;

/// pueue with a cap.
pub struct Pueue {
    d: Pueued,
    cap: usize,
    holder: Option<String>,
    /// Ids submitted since the last wait or release.
    pending: Vec<String>,
}

impl Pueue {
    /// Starts pueued and sets the default group's parallel to `cap`.
    pub fn start(cap: usize) -> Result<Pueue> {
        let d = Pueued::start()?;
        d.ok(&["parallel", &cap.to_string()])?;
        Ok(Pueue {
            d,
            cap,
            holder: None,
            pending: Vec::new(),
        })
    }
}

impl Peer for Pueue {
    fn submit_cmd(&mut self, script: &str) -> Command {
        self.d.cmd(&["add", "-p", "--", script])
    }

    fn task_id(&mut self, stdout: &str) -> Result<String> {
        let id: u64 = stdout
            .trim()
            .parse()
            .with_context(|| format!("`pueue add -p` printed {stdout:?}, not a task id"))?;
        self.pending.push(id.to_string());
        Ok(id.to_string())
    }

    fn wait_cmd(&self, id: &str) -> Command {
        self.d.cmd(&["wait", "-q", id])
    }

    fn wait_all(&mut self, ids: &[String]) -> Result<()> {
        for chunk in ids.chunks(1000) {
            let mut args = vec!["wait", "-q"];
            args.extend(chunk.iter().map(String::as_str));
            self.d.ok(&args)?;
        }
        self.pending.clear();
        Ok(())
    }

    fn daemon_pid(&self) -> Result<Option<i32>> {
        Ok(self.d.pid())
    }

    fn fill(&mut self, n: usize) -> Result<()> {
        if n == 0 {
            return Ok(());
        }
        // A finished task of the usual shape to copy.
        let o = self.d.ok(&["add", "-p", "--", "true"])?;
        let template = self.task_id(&String::from_utf8_lossy(&o.stdout))?;
        let ids = std::mem::take(&mut self.pending);
        self.wait_all(&ids)?;
        self.d.stop()?;
        pueue_state::clone_task(&self.d.path().join("data/state.json"), &template, n - 1)?;
        self.d.spawn()?;
        // A restored state can come with paused groups; nothing is queued, so resume.
        self.d.ok(&["start"]).map(|_| ())
    }

    fn hold(&mut self) -> Result<()> {
        let o = self.d.ok(&["add", "-p", "--", "sleep 3600"])?;
        let id = String::from_utf8_lossy(&o.stdout).trim().to_string();
        // pueued starts tasks on its next tick (every 300 ms); `kill` needs it running.
        let t = Instant::now();
        while self.d.status()?["tasks"][&id]["status"]
            .get("Running")
            .is_none()
        {
            if t.elapsed() > Duration::from_secs(10) {
                bail!("pueue task {id} (the holder) did not start within 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.holder = Some(id);
        self.pending.clear();
        Ok(())
    }

    fn release(&mut self) -> Result<()> {
        self.d.ok(&["parallel", &DRAIN_PARALLEL.to_string()])?;
        if let Some(h) = self.holder.take() {
            self.d.ok(&["kill", &h])?;
        }
        let ids = std::mem::take(&mut self.pending);
        self.wait_all(&ids)?;
        self.d.ok(&["parallel", &self.cap.to_string()])?;
        Ok(())
    }
}
