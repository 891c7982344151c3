//! A cgroup (v2) of its own for each task's processes, where the machine allows it. Nothing a
//! task starts can leave its cgroup — not with `setsid`, a double fork or a dropped
//! `LEGATE_TASK_ID` — and `cgroup.kill` ends all of it at once.
//!
//! Task cgroups live under `<the daemon's cgroup>/legate-<uid>/`, named
//! `task-<id>-<attempt>-<home>` (`<home>` tells apart installations sharing the machine), so a
//! restarted daemon finds a crashed one's from the task alone. Cgroups are used when cgroup2 is
//! mounted, the daemon may move processes out of its own cgroup, and the kernel has
//! `cgroup.kill` (Linux 5.14); otherwise, or with `LEGATE_CGROUPS=off`, tasks are ended
//! through their process group and the `LEGATE_TASK_ID` sweep. Which way is used is logged once.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::{AccessFlags, Pid};
use tracing::{info, warn};

/// The environment variable that turns task cgroups off (`LEGATE_CGROUPS=off`) in the daemon.
pub const CGROUPS_ENV: &str = "LEGATE_CGROUPS";

/// How long ending a task's cgroup waits for the kernel to empty it after `cgroup.kill`.
const EMPTY_WAIT: Duration = Duration::from_secs(5);

static MODE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
/// Set when joining a task cgroup failed in practice: later tasks go without.
static GAVE_UP: AtomicBool = AtomicBool::new(false);

/// Decides (and logs) how task processes will be confined; later calls do nothing. Engines
/// call it at start, so the log says it before the first task.
pub fn announce() {
    let _ = base();
}

/// Where task cgroups go, or `None` when they are not used. Decided (and logged) once.
pub(crate) fn base() -> Option<&'static Path> {
    if GAVE_UP.load(Ordering::Relaxed) {
        return None;
    }
    let mode = MODE.get_or_init(|| {
        let mode = detect();
        match &mode {
            Ok(base) => info!(
                "task processes: each task runs in its own cgroup under {}",
                base.display()
            ),
            Err(why) => info!(
                "task processes: ended through their process group and LEGATE_TASK_ID (no cgroups: {why})"
            ),
        }
        mode
    });
    mode.as_ref().ok().map(PathBuf::as_path)
}

fn detect() -> Result<PathBuf, String> {
    if let Ok(v) = std::env::var(CGROUPS_ENV)
        && matches!(
            v.to_ascii_lowercase().as_str(),
            "off" | "0" | "false" | "no"
        )
    {
        return Err(format!("{CGROUPS_ENV}={v}"));
    }
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
    let (root, mount) = cgroup2_mount(&mountinfo).ok_or("cgroup2 is not mounted")?;
    let own = fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|t| own_cgroup(&t))
        .ok_or("this process has no cgroup2 cgroup")?;
    let rel = Path::new(&own)
        .strip_prefix(&root)
        .map_err(|_| format!("the daemon's cgroup {own} is outside the cgroup2 mount"))?;
    let dir = mount.join(rel);
    let procs = dir.join("cgroup.procs");
    nix::unistd::access(&procs, AccessFlags::W_OK).map_err(|e| {
        format!(
            "processes cannot be moved out of {} ({e}); run the daemon in a delegated cgroup, e.g. as a systemd user service",
            dir.display()
        )
    })?;
    let base = dir.join(format!("legate-{}", nix::unistd::getuid()));
    match fs::create_dir(&base) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot create {}: {e}", base.display())),
    }
    if !base.join("cgroup.kill").exists() {
        return Err("the kernel has no cgroup.kill (Linux 5.14 or later)".into());
    }
    Ok(base)
}

/// The root and mount point of the first cgroup2 mount in `/proc/self/mountinfo`.
fn cgroup2_mount(mountinfo: &str) -> Option<(PathBuf, PathBuf)> {
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        if right.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        let mut f = left.split_whitespace();
        let root = unescape(f.nth(3)?);
        let mount = unescape(f.next()?);
        Some((PathBuf::from(root), PathBuf::from(mount)))
    })
}

/// mountinfo escapes space, tab, newline and backslash as `\NNN` (octal).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The cgroup2 path of this process (`0::/PATH` in `/proc/self/cgroup`).
fn own_cgroup(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(str::to_string)
}

/// The cgroup of a task's attempt, under `base`.
fn task_path(base: &Path, task_id: &str, attempt: u32, task_dir: &Path) -> PathBuf {
    // FNV-1a: stable across builds, unlike std's hasher.
    let home = task_dir
        .as_os_str()
        .as_bytes()
        .iter()
        .fold(0x811c_9dc5_u32, |h, b| {
            (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
        });
    base.join(format!("task-{task_id}-{attempt}-{home:08x}"))
}

/// One task's cgroup.
#[derive(Debug)]
pub(crate) struct TaskCgroup {
    dir: PathBuf,
    /// Its `cgroup.procs`, opened before the agent is spawned (close-on-exec).
    procs: Arc<File>,
    /// Whether the spawned process is to join (turned off when joining failed).
    join: Arc<AtomicBool>,
}

impl TaskCgroup {
    /// Creates the cgroup of a task's attempt; `None` when cgroups are not used or this one
    /// cannot be made (the task then goes without, said in the log).
    pub fn create(task_id: &str, attempt: u32, task_dir: &Path) -> Option<TaskCgroup> {
        let dir = task_path(base()?, task_id, attempt, task_dir);
        let made = match fs::create_dir(&dir) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                // Left over from a run of the same attempt: whatever is in it goes.
                let _ = fs::write(dir.join("cgroup.kill"), "1");
                Ok(())
            }
            other => other,
        };
        let opened = made.and_then(|()| {
            OpenOptions::new()
                .write(true)
                .open(dir.join("cgroup.procs"))
        });
        match opened {
            Ok(f) => Some(TaskCgroup {
                dir,
                procs: Arc::new(f),
                join: Arc::new(AtomicBool::new(true)),
            }),
            Err(e) => {
                warn!(
                    task = task_id,
                    "cannot set up the cgroup {}: {e}; the task runs without one",
                    dir.display()
                );
                let _ = fs::remove_dir(&dir);
                None
            }
        }
    }

    /// Makes the process `cmd` spawns join this cgroup before it runs anything of its own, so
    /// even its first fork is inside.
    #[allow(unsafe_code)]
    pub fn confine(&self, cmd: &mut tokio::process::Command) {
        let procs = self.procs.clone();
        let join = self.join.clone();
        // SAFETY: the hook runs in the child between fork and exec, where only
        // async-signal-safe work is allowed. It reads an atomic and makes one write(2) of a
        // static byte on a descriptor opened before the fork; it allocates nothing and takes
        // no lock (nix's `write` is the bare system call, and an `Errno` converts to an
        // `io::Error` without allocating). Writing "0" to `cgroup.procs` moves the writer.
        unsafe {
            cmd.pre_exec(move || {
                if !join.load(Ordering::Relaxed) {
                    return Ok(());
                }
                nix::unistd::write(&*procs, b"0")
                    .map(|_| ())
                    .map_err(io::Error::from)
            });
        }
    }

    /// Lets the process spawned next start outside this cgroup, and removes it.
    pub fn skip(&self) {
        self.join.store(false, Ordering::Relaxed);
        let _ = fs::remove_dir(&self.dir);
    }

    /// Joining this cgroup failed where a spawn without it works: later tasks go without
    /// cgroups (said once in the log).
    pub fn give_up(&self, why: &io::Error) {
        if !GAVE_UP.swap(true, Ordering::Relaxed) {
            warn!(
                "task processes: joining {} failed ({why}); tasks are now ended through their process group and LEGATE_TASK_ID",
                self.dir.display()
            );
        }
    }

    /// Whether any live process is in it.
    pub fn populated(&self) -> bool {
        populated(&self.dir)
    }

    /// Sends `sig` to every process in it.
    pub fn signal(&self, sig: Signal) {
        let pids = fs::read_to_string(self.dir.join("cgroup.procs")).unwrap_or_default();
        for pid in pids.lines().filter_map(|p| p.trim().parse().ok()) {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), sig);
        }
    }

    /// Kills everything in it, waits for the kernel to empty it, and removes it.
    pub async fn destroy(&self) {
        destroy(&self.dir).await;
    }
}

fn populated(dir: &Path) -> bool {
    fs::read_to_string(dir.join("cgroup.events"))
        .is_ok_and(|t| t.lines().any(|l| l.trim() == "populated 1"))
}

async fn destroy(dir: &Path) -> bool {
    let mut killed = false;
    if populated(dir) {
        killed = fs::write(dir.join("cgroup.kill"), "1").is_ok();
        let deadline = Instant::now() + EMPTY_WAIT;
        while populated(dir) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    if let Err(e) = remove(dir)
        && e.kind() != io::ErrorKind::NotFound
    {
        warn!("cannot remove the cgroup {}: {e}", dir.display());
    }
    killed
}

/// Removes an empty cgroup and the cgroups under it (a task may have run a legate of its own,
/// which made task cgroups inside), deepest first.
fn remove(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)?.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = remove(&entry.path());
        }
    }
    fs::remove_dir(dir)
}

/// Ends what is left in the cgroup of a task's attempt (after a crash) and removes it. True
/// when something was killed.
pub(crate) async fn destroy_leftover(task_id: &str, attempt: u32, task_dir: &Path) -> bool {
    match base() {
        Some(base) => {
            let dir = task_path(base, task_id, attempt, task_dir);
            dir.exists() && destroy(&dir).await
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cgroup2_mount_and_own_cgroup() {
        let info = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
                    35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
                    41 31 0:38 / /sys/fs/cgroup/uni\\040fied rw,relatime - cgroup2 cgroup2 rw\n";
        assert_eq!(
            cgroup2_mount(info),
            Some((PathBuf::from("/"), PathBuf::from("/sys/fs/cgroup/uni fied")))
        );
        let info = "29 1 0:26 / /sys/fs/cgroup rw shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(
            cgroup2_mount(info).unwrap().1,
            PathBuf::from("/sys/fs/cgroup")
        );
        assert_eq!(cgroup2_mount("1 2 0:3 / /x rw - ext4 /dev/sda rw\n"), None);
        let cg = "9:name=systemd:/\n4:memory:/a\n0::/user.slice/user-1000.slice/user@1000.service/app.slice\n";
        assert_eq!(
            own_cgroup(cg).as_deref(),
            Some("/user.slice/user-1000.slice/user@1000.service/app.slice")
        );
        assert_eq!(own_cgroup("4:memory:/a\n"), None);
    }

    #[test]
    fn task_cgroups_are_named_by_task_attempt_and_home() {
        let base = Path::new("/cg/legate-0");
        let a = task_path(base, "abc12345", 2, Path::new("/home/a/logs/abc12345"));
        let b = task_path(base, "abc12345", 2, Path::new("/home/b/logs/abc12345"));
        assert!(
            a.to_str()
                .unwrap()
                .starts_with("/cg/legate-0/task-abc12345-2-")
        );
        assert_ne!(a, b, "two installations never share a task cgroup");
        assert_eq!(
            a,
            task_path(base, "abc12345", 2, Path::new("/home/a/logs/abc12345")),
            "a restarted daemon derives the same path"
        );
    }
}
