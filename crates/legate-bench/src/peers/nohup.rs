//! The shell approach as a peer: `sh -c 'nohup sh -c "SCRIPT; echo $? >N.exit" >N.log 2>&1 &'`.
//! No daemon, no store, no queue and no cap. Completion is detected by polling (every 10 ms,
//! from `sh`) for the exit marker file the wrapper writes after the script ends; the task is
//! not our child, so its pid cannot be waited for, and a polled pid could be reused.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;

use super::peer::Peer;
use super::procs::{self, marked, quote};

/// The polling loop run by a waiter, over the marker files given as arguments.
const POLL: &str = r#"for m in "$@"; do while [ ! -e "$m" ]; do sleep 0.01; done; done"#;

/// A directory for logs and exit markers.
pub struct Nohup {
    dir: tempfile::TempDir,
    next: usize,
    /// Ids submitted since the last wait or release.
    pending: Vec<String>,
}

impl Nohup {
    /// A fresh directory.
    pub fn start() -> Result<Nohup> {
        let dir = tempfile::Builder::new().prefix("lgb-nohup").tempdir()?;
        procs::register(dir.path());
        Ok(Nohup {
            dir,
            next: 0,
            pending: Vec::new(),
        })
    }

    /// The private directory.
    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The exit marker of task `id`.
    fn marker(&self, id: &str) -> PathBuf {
        self.path().join(format!("{id}.exit"))
    }

    /// A waiter polling for the markers of `ids`.
    fn waiter(&self, ids: &[String]) -> Command {
        let mut c = marked("sh", self.path());
        c.args(["-c", POLL, "sh"]);
        c.args(ids.iter().map(|id| self.marker(id)));
        c
    }
}

impl Peer for Nohup {
    fn submit_cmd(&mut self, script: &str) -> Command {
        let id = self.next.to_string();
        let task = format!(
            "{script}; echo $? >{}",
            quote(&self.marker(&id).to_string_lossy())
        );
        let log = self.path().join(format!("{id}.log"));
        let line = format!(
            "nohup sh -c {} >{} 2>&1 &",
            quote(&task),
            quote(&log.to_string_lossy())
        );
        let mut c = marked("sh", self.path());
        c.args(["-c", &line]);
        c
    }

    fn task_id(&mut self, _stdout: &str) -> Result<String> {
        let id = self.next.to_string();
        self.next += 1;
        self.pending.push(id.clone());
        Ok(id)
    }

    fn wait_cmd(&self, id: &str) -> Command {
        self.waiter(&[id.to_string()])
    }

    fn wait_all(&mut self, ids: &[String]) -> Result<()> {
        procs::run_ok(&mut self.waiter(ids), "the nohup waiter")?;
        self.pending.clear();
        Ok(())
    }

    fn daemon_pid(&self) -> Result<Option<i32>> {
        Ok(None)
    }

    fn fill(&mut self, _n: usize) -> Result<()> {
        Ok(())
    }

    fn hold(&mut self) -> Result<()> {
        self.pending.clear();
        Ok(())
    }

    fn release(&mut self) -> Result<()> {
        let ids = std::mem::take(&mut self.pending);
        self.wait_all(&ids)
    }
}

impl Drop for Nohup {
    fn drop(&mut self) {
        procs::forget(self.dir.path());
    }
}
