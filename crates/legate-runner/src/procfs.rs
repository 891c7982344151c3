//! Process facts from `/proc` and killing whole process trees.

use std::fs;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// The fields of `/proc/PID/stat` legate needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// State letter (`R`, `S`, `Z`...).
    pub state: char,
    /// Parent process id.
    pub ppid: i32,
    /// Process group id.
    pub pgrp: i32,
    /// Start time in clock ticks since boot: with the pid, identifies a process uniquely.
    pub start_time: u64,
}

/// Reads `/proc/PID/stat`; `None` when the process does not exist.
pub fn stat(pid: i32) -> Option<ProcStat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

fn parse_stat(text: &str) -> Option<ProcStat> {
    // The command name (field 2) may contain spaces and parentheses: fields resume after the
    // last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); field N is fields[N - 3].
    Some(ProcStat {
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        start_time: fields.get(19)?.parse().ok()?,
    })
}

/// A process and its ancestors, itself first, each with its `/proc` facts. Stops before pid 1
/// and after 64 processes.
pub fn lineage(pid: i32) -> Vec<(i32, ProcStat)> {
    let mut out = Vec::new();
    let mut cur = Some(pid);
    while let Some(p) = cur.filter(|&p| p > 1) {
        let Some(s) = stat(p) else { break };
        out.push((p, s));
        cur = Some(s.ppid);
        if out.len() >= 64 {
            break;
        }
    }
    out
}

/// The ancestors of a process, nearest first, each with its start time (so a record keyed on
/// both cannot be confused with a later process reusing the pid). Stops before pid 1.
pub fn ancestors(pid: i32) -> Vec<(i32, u64)> {
    lineage(pid)
        .into_iter()
        .skip(1)
        .map(|(p, s)| (p, s.start_time))
        .collect()
}

fn all_pids() -> impl Iterator<Item = i32> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
}

/// Live (non-zombie) members of a process group.
pub fn group_members(pgid: i32) -> Vec<i32> {
    // Fast path: no member at all.
    if killpg(Pid::from_raw(pgid), None) == Err(Errno::ESRCH) {
        return Vec::new();
    }
    all_pids()
        .filter(|&pid| stat(pid).is_some_and(|s| s.pgrp == pgid && s.state != 'Z'))
        .collect()
}

/// Live processes whose environment holds `KEY=VALUE`: legate marks every agent with
/// `LEGATE_TASK_ID`, so this finds a task's processes even if they left its process group.
pub fn processes_with_env(key: &str, value: &str) -> Vec<i32> {
    let needle = format!("{key}={value}");
    let me = std::process::id() as i32;
    all_pids()
        .filter(|&pid| pid != me)
        .filter(|&pid| {
            fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
                env.split(|b| *b == 0)
                    .any(|entry| entry == needle.as_bytes())
            }) && stat(pid).is_some_and(|s| s.state != 'Z')
        })
        .collect()
}

/// Live processes (other than this one) working in `dir` or below it (their current
/// directory): what is left of a git a crashed daemon had started there.
pub fn processes_in(dir: &std::path::Path) -> Vec<i32> {
    let me = std::process::id() as i32;
    all_pids()
        .filter(|&pid| pid != me)
        .filter(|&pid| {
            fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(dir))
                && stat(pid).is_some_and(|s| s.state != 'Z')
        })
        .collect()
}

/// Sends `sig` to a process group, ignoring a group that is already gone.
pub fn signal_group(pgid: i32, sig: Signal) {
    let _ = killpg(Pid::from_raw(pgid), sig);
}

/// Ends a process group: TERM, up to `grace` for it to go, then KILL. Returns once no live
/// member remains (or after a further second if the kernel is slow to reap).
pub async fn kill_group(pgid: i32, grace: Duration) {
    if group_members(pgid).is_empty() {
        return;
    }
    signal_group(pgid, Signal::SIGTERM);
    signal_group(pgid, Signal::SIGCONT);
    if !wait_group_gone(pgid, grace).await {
        signal_group(pgid, Signal::SIGKILL);
        wait_group_gone(pgid, Duration::from_secs(1)).await;
    }
}

/// Polls until the group has no live member; false when `limit` passed first.
pub async fn wait_group_gone(pgid: i32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if group_members(pgid).is_empty() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_command_names() {
        let line =
            "1234 (a b) c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 1000 10";
        let s = parse_stat(line).unwrap();
        assert_eq!(s.state, 'S');
        assert_eq!(s.ppid, 1);
        assert_eq!(s.pgrp, 1234);
        assert_eq!(s.start_time, 987654);
    }

    #[test]
    fn own_process_is_visible() {
        let me = std::process::id() as i32;
        let s = stat(me).unwrap();
        assert!(s.start_time > 0);
        assert_eq!(stat(-5), None);
        let up = ancestors(me);
        let parent = nix::unistd::getppid().as_raw();
        if parent > 1 {
            assert_eq!(up[0].0, parent, "the nearest ancestor comes first");
        }
        assert!(up.iter().all(|&(p, _)| p > 1));
        let line = lineage(me);
        assert_eq!(line[0], (me, s), "a lineage starts with the process itself");
        assert_eq!(line.len(), up.len() + 1);
    }
}
