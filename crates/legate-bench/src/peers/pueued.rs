//! A private pueued: a config with every path in a temp directory, `pueued -c CONFIG` run in
//! the foreground as our child (so its pid is known and it is reaped), and the `pueue -c
//! CONFIG` client for it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::install;
use super::procs::{self, marked, run_ok};

/// pueued and its directory; dropping it stops pueued and everything it started.
pub struct Pueued {
    dir: tempfile::TempDir,
    daemon: Option<Child>,
}

impl Pueued {
    /// Writes the config and starts pueued.
    pub fn start() -> Result<Pueued> {
        let dir = tempfile::Builder::new().prefix("lgb-pueue").tempdir()?;
        procs::register(dir.path());
        let d = dir.path().display();
        let config = format!(
            "shared:\n  pueue_directory: {d}/data\n  runtime_directory: {d}/run\n  \
             alias_file: {d}/aliases.yml\n  use_unix_socket: true\n  \
             unix_socket_path: {d}/run/pueue.sock\n  pid_path: {d}/run/pueue.pid\n"
        );
        // Certificates and the shared secret default to files under pueue_directory.
        std::fs::write(dir.path().join("pueue.yml"), config)?;
        std::fs::create_dir(dir.path().join("run"))?;
        let mut p = Pueued { dir, daemon: None };
        p.spawn()?;
        Ok(p)
    }

    /// The private directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The config file.
    fn config(&self) -> PathBuf {
        self.path().join("pueue.yml")
    }

    /// `pueue -c CONFIG ARGS`.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = marked(install::bin("pueue"), self.path());
        c.arg("-c").arg(self.config()).args(args);
        c
    }

    /// Runs `pueue -c CONFIG ARGS` and fails unless it exits 0.
    pub fn ok(&self, args: &[&str]) -> Result<Output> {
        run_ok(&mut self.cmd(args), &format!("pueue {args:?}"))
    }

    /// pueued's pid while it runs.
    pub fn pid(&self) -> Option<i32> {
        self.daemon.as_ref().map(|c| c.id() as i32)
    }

    /// Starts pueued and returns once its client answers.
    pub fn spawn(&mut self) -> Result<()> {
        let log = std::fs::File::create(self.path().join("pueued.log"))?;
        let child = marked(install::bin("pueued"), self.path())
            .arg("-c")
            .arg(self.config())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .context("cannot start pueued")?;
        self.daemon = Some(child);
        let t = Instant::now();
        while !self.cmd(&["status"]).output()?.status.success() {
            if t.elapsed() > Duration::from_secs(20) {
                bail!(
                    "pueued did not answer within 20 s; see {}",
                    self.path().display()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Asks pueued to shut down and reaps it (killing it after 20 s).
    pub fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.daemon.take() else {
            return Ok(());
        };
        let _ = self.cmd(&["shutdown"]).output();
        let t = Instant::now();
        while child.try_wait()?.is_none() {
            if t.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// The `pueue status --json` document.
    pub fn status(&self) -> Result<serde_json::Value> {
        let o = self.ok(&["status", "--json"])?;
        serde_json::from_slice(&o.stdout).context("`pueue status --json`")
    }
}

impl Drop for Pueued {
    fn drop(&mut self) {
        let _ = self.stop();
        procs::forget(self.path());
    }
}
