//! The one place that confines a task's processes and ends them, for both runners and for
//! crash recovery: after every end of a run (exit, failure, cancel, timeout, stall, shutdown)
//! nothing the task started is left.
//!
//! With a task cgroup ([`crate::cgroup`]): TERM to the process group and to everything in the
//! cgroup, the grace period, then `cgroup.kill`; the cgroup is removed once empty. Without:
//! the process group gets TERM, the grace period and KILL, and every process still carrying
//! the task's `LEGATE_TASK_ID` is killed.

use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::Signal;
use tokio::process::{Child, Command};

use crate::cgroup::{self, TaskCgroup};
use crate::procfs;

/// A task's processes: its process group and, where the machine allows, its cgroup.
#[derive(Debug)]
pub(crate) struct TaskTree {
    task_id: String,
    pgid: i32,
    cgroup: Option<TaskCgroup>,
}

impl TaskTree {
    /// Prepares the confinement of a task's attempt (its cgroup, when cgroups are used).
    pub fn new(task_id: &str, attempt: u32, task_dir: &Path) -> Self {
        TaskTree {
            task_id: task_id.to_string(),
            pgid: 0,
            cgroup: TaskCgroup::create(task_id, attempt, task_dir),
        }
    }

    /// Spawns the agent inside (the command puts it in its own process group). When joining
    /// the cgroup is what failed — the agent had not started yet — it is spawned once more
    /// without one.
    pub fn spawn(&mut self, cmd: &mut Command) -> io::Result<Child> {
        if let Some(cg) = &self.cgroup {
            cg.confine(cmd);
        }
        let child = match (cmd.spawn(), self.cgroup.take()) {
            (Ok(child), cg) => {
                self.cgroup = cg;
                child
            }
            (Err(first), Some(cg)) => {
                cg.skip();
                let child = cmd.spawn()?;
                // A fork that failed for want of resources says nothing about cgroups.
                let errno = Errno::from_raw(first.raw_os_error().unwrap_or(0));
                let transient = matches!(errno, Errno::EAGAIN | Errno::ENOMEM | Errno::EINTR);
                if !transient {
                    cg.give_up(&first);
                }
                child
            }
            (Err(first), None) => return Err(first),
        };
        self.pgid = child.id().map_or(0, |p| p as i32);
        Ok(child)
    }

    /// Whether anything of the task is alive.
    fn alive(&self) -> bool {
        let group = self.pgid > 0 && !procfs::group_members(self.pgid).is_empty();
        group || self.cgroup.as_ref().is_some_and(TaskCgroup::populated)
    }

    async fn gone_within(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if !self.alive() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Ends everything the task started: TERM, up to `grace` to go, then KILL. Called after
    /// every end of a run, whether or not anything seems left.
    pub async fn end(&mut self, grace: Duration) {
        let Some(cg) = &self.cgroup else {
            if self.pgid > 0 {
                procfs::kill_group(self.pgid, grace).await;
            }
            kill_marked(&self.task_id);
            return;
        };
        if self.alive() {
            for sig in [Signal::SIGTERM, Signal::SIGCONT] {
                if self.pgid > 0 {
                    procfs::signal_group(self.pgid, sig);
                }
                cg.signal(sig);
            }
            if !self.gone_within(grace).await && self.pgid > 0 {
                procfs::signal_group(self.pgid, Signal::SIGKILL);
            }
        }
        cg.destroy().await;
    }
}

/// Kills every process still carrying the task's `LEGATE_TASK_ID`; returns how many.
fn kill_marked(task_id: &str) -> usize {
    let pids = procfs::processes_with_env("LEGATE_TASK_ID", task_id);
    for pid in &pids {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid), Signal::SIGKILL);
    }
    pids.len()
}

/// The process a crashed run left, as recorded: pid, process group, start time.
pub type Recorded = (i32, i32, u64);

/// Kills what a crashed daemon left of a task's attempt: its cgroup (found from the task, the
/// attempt and the task's directory), its process group if the leader recorded then is still
/// the same process (or is gone while members remain: a pid is not reused while its group has
/// members), and any process still marked with the task's id. Returns how many groups and
/// processes were killed.
pub async fn kill_leftovers(
    task_id: &str,
    attempt: u32,
    task_dir: &Path,
    recorded: Option<Recorded>,
) -> usize {
    let mut killed = usize::from(cgroup::destroy_leftover(task_id, attempt, task_dir).await);
    if let Some((pid, pgid, start_time)) = recorded {
        let same_leader = match procfs::stat(pid) {
            Some(s) => s.start_time == start_time,
            None => true,
        };
        if same_leader && !procfs::group_members(pgid).is_empty() {
            procfs::signal_group(pgid, Signal::SIGKILL);
            killed += 1;
        }
    }
    killed + kill_marked(task_id)
}
