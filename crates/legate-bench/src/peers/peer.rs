//! What the harness asks of each system it compares: submit a shell script through the
//! system's own client, wait for tasks, fill the store, and hold its single slot.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// The systems compared, legate first; the table's columns follow this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    /// legate and its daemon.
    Legate,
    /// pueue and pueued.
    Pueue,
    /// task-spooler (`tsp`).
    Tsp,
    /// `nohup CMD >log 2>&1 &` from `sh`.
    Nohup,
}

/// Every system, in table order.
pub const SYSTEMS: [System; 4] = [System::Legate, System::Pueue, System::Tsp, System::Nohup];

impl System {
    /// The column name.
    pub fn name(self) -> &'static str {
        match self {
            System::Legate => "legate",
            System::Pueue => "pueue",
            System::Tsp => "tsp",
            System::Nohup => "nohup &",
        }
    }

    /// A fresh private instance that runs at most `cap` tasks at once.
    pub fn start(self, cap: usize) -> Result<Box<dyn Peer>> {
        let p: Box<dyn Peer> = match self {
            System::Legate => Box::new(super::legate::Legate::start(cap)?),
            System::Pueue => Box::new(super::pueue::Pueue::start(cap)?),
            System::Tsp => Box::new(super::tsp::Tsp::start(cap)?),
            System::Nohup => Box::new(super::nohup::Nohup::start()?),
        };
        Ok(p)
    }
}

/// One private instance of a system; dropping it ends everything it started.
pub trait Peer {
    /// The client command that submits `script` (to be run by `sh -c`), not yet spawned.
    fn submit_cmd(&mut self, script: &str) -> Command;

    /// The task id from the submit command's standard output.
    fn task_id(&mut self, stdout: &str) -> Result<String>;

    /// A command that exits once task `id` has finished (the waiter users would run).
    fn wait_cmd(&self, id: &str) -> Command;

    /// Blocks until all of `ids` have finished, the way a user of this system would.
    fn wait_all(&mut self, ids: &[String]) -> Result<()>;

    /// The daemon's pid; `None` where there is none.
    fn daemon_pid(&self) -> Result<Option<i32>>;

    /// Adds `n` finished tasks to the store; nothing happens while this runs otherwise.
    fn fill(&mut self, n: usize) -> Result<()>;

    /// Occupies the single slot with a `sleep 3600` so that later submissions stay queued.
    fn hold(&mut self) -> Result<()>;

    /// Ends the holding task and returns once every queued task has run.
    fn release(&mut self) -> Result<()>;
}

/// Submits `script` through `p`'s client: the wall time of the client process and the id.
pub fn submit(p: &mut dyn Peer, script: &str) -> Result<(Duration, String)> {
    let mut c = p.submit_cmd(script);
    let t = Instant::now();
    let o = c.output().context("cannot run the submit command")?;
    let took = t.elapsed();
    anyhow::ensure!(
        o.status.success(),
        "submit {c:?} failed ({}): {}",
        o.status,
        String::from_utf8_lossy(&o.stderr).trim()
    );
    let id = p.task_id(&String::from_utf8_lossy(&o.stdout))?;
    Ok((took, id))
}

/// `SYSTEMS` rotated by `round`, so that no system always goes first.
pub fn rotation(round: usize) -> impl Iterator<Item = (usize, System)> {
    (0..SYSTEMS.len()).map(move |k| {
        let i = (k + round) % SYSTEMS.len();
        (i, SYSTEMS[i])
    })
}
