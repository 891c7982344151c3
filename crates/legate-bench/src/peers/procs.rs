//! Process plumbing shared by the peers: a marker variable in every command's environment so
//! that everything a peer started (daemons, queued clients, tasks) can be found and ended by
//! pid, shell quoting, and finding which process listens on a Unix socket.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

use anyhow::{Context, Result, ensure};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The variable set to a peer's private directory in every command it runs.
pub const MARKER: &str = "LEGATE_BENCH_PEER";

/// Private directories whose processes may still run, for [`sweep_all`] on Ctrl-C.
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// The registry, even if a panic poisoned its lock.
fn live() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Remembers `dir` until [`forget`], so an interrupted run can still sweep it.
pub fn register(dir: &Path) {
    live().push(dir.to_path_buf());
}

/// Sweeps `dir`'s processes and stops remembering it.
pub fn forget(dir: &Path) {
    sweep(dir);
    live().retain(|d| d != dir);
}

/// Ends the processes of every registered directory; for an interrupted run.
pub fn sweep_all() {
    for dir in std::mem::take(&mut *live()) {
        sweep(&dir);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A command for `program` marked with `dir` and with no standard input.
pub fn marked(program: impl AsRef<std::ffi::OsStr>, dir: &Path) -> Command {
    let mut c = Command::new(program);
    c.env(MARKER, dir).stdin(Stdio::null());
    c
}

/// Runs `c`, fails with its stderr unless it exits 0, and returns its output.
pub fn run_ok(c: &mut Command, what: &str) -> Result<Output> {
    let o = c.output().with_context(|| format!("cannot run {what}"))?;
    ensure!(
        o.status.success(),
        "{what} failed ({}): {}",
        o.status,
        String::from_utf8_lossy(&o.stderr).trim()
    );
    Ok(o)
}

/// The pids (other than ours) whose environment has [`MARKER`]`=dir`.
pub fn marked_pids(dir: &Path) -> Vec<i32> {
    let want = format!("{MARKER}={}", dir.display()).into_bytes();
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|v| v == want.as_slice()))
        })
        .collect()
}

/// Kills (SIGKILL) every process marked with `dir`, a few passes in case some were forking.
pub fn sweep(dir: &Path) {
    for _ in 0..5 {
        let pids = marked_pids(dir);
        if pids.is_empty() {
            return;
        }
        for pid in pids {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// `s` quoted for `sh` (single quotes; embedded ones as `'\''`).
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The pid of the process marked with `dir` that listens on the Unix socket `path`.
pub fn socket_owner(path: &Path, dir: &Path) -> Result<i32> {
    let table = std::fs::read_to_string("/proc/net/unix").context("cannot read /proc/net/unix")?;
    let want = path.to_string_lossy();
    // Columns: Num RefCount Protocol Flags Type St Inode Path; flag 0x10000 is "listening".
    let inode = table
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let listening = u32::from_str_radix(f.get(3)?, 16).ok()? & 0x10000 != 0;
            (listening && *f.get(7)? == want).then(|| f[6].to_string())
        })
        .next()
        .with_context(|| format!("nothing listens on {}", path.display()))?;
    let link = format!("socket:[{inode}]");
    marked_pids(dir)
        .into_iter()
        .find(|pid| {
            std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
                fds.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                    .any(|l| l.as_os_str() == link.as_str())
            })
        })
        .with_context(|| format!("no process of ours holds {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_for_sh() {
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        let o = Command::new("sh")
            .args(["-c", &format!("printf %s {}", quote("x'y \"z\" $HOME"))])
            .output()
            .unwrap();
        assert_eq!(o.stdout, b"x'y \"z\" $HOME");
    }
}
