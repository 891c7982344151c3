//! Crash chaos: tasks of mixed lengths (instant, short, long, failing) are submitted while the
//! daemon is killed with SIGKILL at pseudo-random moments and started again by the next
//! command. At the end every acknowledged task exists and ended exactly once, no task ran
//! twice at the same time, no agent process is left, the event sequence has no gap, and the
//! inbox holds every finish once.
//!
//! The disk variant fills the daemon's disk and frees it again and again while tasks are
//! submitted: the same invariants hold, and the same daemon carries on.
//!
//! CI runs a small N; `LEGATE_CHAOS_TASKS=2000 LEGATE_CHAOS_KILLS=20 cargo test -p legate-cli
//! --test chaos -- --nocapture` runs a larger one. The figures are printed.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Home, Tmpfs, processes_of_home};
use serde_json::Value;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A tiny deterministic generator, so a failing run can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

/// Agent pids seen alive per task, sampled from /proc until stopped: two distinct agents of
/// one task alive in the same sample would be a task running twice at once.
fn watch_runs(home: &Home, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(usize, usize)> {
    let needle = format!("LEGATE_HOME={}", home.path().display());
    std::thread::spawn(move || {
        let (mut samples, mut doubled) = (0, 0);
        while !stop.load(Ordering::Relaxed) {
            let mut per_task: HashMap<String, HashSet<i32>> = HashMap::new();
            for pid in common::agent_processes(&needle) {
                if let Some(task) = common::env_of(pid, "LEGATE_TASK_ID") {
                    per_task.entry(task).or_default().insert(pid);
                }
            }
            doubled += per_task.values().filter(|p| p.len() > 1).count();
            samples += 1;
            std::thread::sleep(Duration::from_millis(5));
        }
        (samples, doubled)
    })
}

#[test]
fn tasks_survive_daemon_kills_exactly_once_and_without_orphans() {
    let n = env_or("LEGATE_CHAOS_TASKS", 80);
    let kills = env_or("LEGATE_CHAOS_KILLS", 4);
    let home = chaos_home();
    home.ok(&["ls"]);
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_runs(&home, stop.clone());
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let started = Instant::now();

    let submitter = submit_mixed(&home, n, acknowledged.clone());

    let mut rng = Lcg(11);
    let mut done_kills = 0;
    while done_kills < kills {
        std::thread::sleep(Duration::from_millis(200 + rng.next(700)));
        if let Some(pid) = home.daemon_pid() {
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
            done_kills += 1;
        }
    }
    submitter.join().unwrap();
    let ids = acknowledged.lock().unwrap().clone();
    stop.store(true, Ordering::Relaxed);
    let (samples, doubled) = watcher.join().unwrap();
    let end = check_end(&home, &ids);
    println!(
        "chaos: N={n} acknowledged={} kills={done_kills} doubled-runs={doubled} (in {samples} samples) {end} in {:.1}s",
        ids.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(ids.len() > n / 2, "most submissions were acknowledged");
    assert_eq!(doubled, 0, "a task ran twice at the same time");
    end.assert_clean();
}

#[test]
fn tasks_survive_a_disk_that_fills_and_frees_exactly_once() {
    let n = env_or("LEGATE_CHAOS_TASKS", 80);
    let home = chaos_home();
    // The whole home (store, task logs, the daemon's log) on a small disk of its own.
    let Some(_disk) = Tmpfs::mount(home.path(), "16m") else {
        return;
    };
    home.write_config(
        4,
        &format!(
            "[agents.retry]\ncommand = [\"{}\", \"{{prompt}}\"]\nretry_interrupted = true\n",
            common::fake_agent().display()
        ),
    );
    home.ok(&["ls"]);
    let pid = home.daemon_pid();
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let started = Instant::now();
    let submitter = submit_mixed(&home, n, acknowledged.clone());
    let filler = home.path().join("filler");
    let mut rng = Lcg(13);
    let mut fills = 0;
    while !submitter.is_finished() {
        let _ = std::process::Command::new("dd")
            .args(["if=/dev/zero", "bs=4k"])
            .arg(format!("of={}", filler.display()))
            .stderr(std::process::Stdio::null())
            .status();
        fills += 1;
        std::thread::sleep(Duration::from_millis(100 + rng.next(300)));
        std::fs::remove_file(&filler).unwrap();
        std::thread::sleep(Duration::from_millis(200 + rng.next(400)));
    }
    let refused = submitter.join().unwrap();
    let ids = acknowledged.lock().unwrap().clone();
    assert_eq!(home.daemon_pid(), pid, "the daemon needed no restart");
    let end = check_end(&home, &ids);
    println!(
        "disk chaos: N={n} acknowledged={} refused={refused} fills={fills} {end} in {:.1}s",
        ids.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(fills > 1, "the disk filled more than once");
    end.assert_clean();
}

/// Submits `n` tasks of mixed lengths (instant, short, long, failing; half of them with
/// `retry_interrupted`) at a jittered pace from another thread; every printed id is pushed to
/// `acked`: an acknowledged task. A refused submit (daemon mid-restart, disk full)
/// acknowledged nothing.
fn submit_mixed(
    home: &Home,
    n: usize,
    acked: Arc<Mutex<Vec<String>>>,
) -> std::thread::JoinHandle<usize> {
    let path = home.path().to_path_buf();
    std::thread::spawn(move || {
        let mut rng = Lcg(7);
        let mut refused = 0;
        for i in 0..n {
            let prompt = match rng.next(4) {
                0 => format!("print instant {i}"),
                1 => format!("sleep {}; print short {i}", 20 + rng.next(100)),
                2 => format!("sleep {}; print long {i}", 500 + rng.next(1500)),
                _ => format!("fail failing {i}"),
            };
            let agent = if i % 2 == 0 { "fake" } else { "retry" };
            let out = common::legate_in(&path, &["run", agent, &prompt])
                .output()
                .unwrap();
            if out.status.success() {
                let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
                acked.lock().unwrap().push(id);
            } else {
                refused += 1;
            }
            std::thread::sleep(Duration::from_millis(rng.next(30)));
        }
        refused
    })
}

/// The standard chaos home: the fake agents plus `retry`, which requeues interrupted tasks.
fn chaos_home() -> Home {
    Home::with_max_running(
        4,
        "[agents.retry]\ncommand = [\"FAKE\", \"{prompt}\"]\nretry_interrupted = true\n"
            .replace("FAKE", &common::fake_agent().display().to_string())
            .as_str(),
    )
}

/// What the end of a chaos run looks like, counted over the acknowledged ids.
struct End {
    lost: Vec<String>,
    duplicated: Vec<String>,
    gaps: usize,
    inbox_wrong: usize,
    orphans: usize,
    by_status: HashMap<String, usize>,
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "lost={} duplicated={} event-gaps={} inbox-wrong={} orphans={} statuses={:?}",
            self.lost.len(),
            self.duplicated.len(),
            self.gaps,
            self.inbox_wrong,
            self.orphans,
            self.by_status
        )
    }
}

impl End {
    fn assert_clean(&self) {
        assert!(
            self.lost.is_empty(),
            "acknowledged but lost: {:?}",
            self.lost
        );
        assert!(
            self.duplicated.is_empty(),
            "not ended exactly once: {:?}",
            self.duplicated
        );
        assert_eq!(self.gaps, 0, "the event sequence has gaps");
        assert_eq!(
            self.inbox_wrong, 0,
            "the inbox does not hold every finish once"
        );
        assert_eq!(self.orphans, 0, "processes were left behind");
    }
}

/// Waits for every task to end, stops the daemon, and counts what went wrong: acknowledged
/// ids missing, tasks not ended exactly once (one `finished`, or one final `interrupted` not
/// followed by a requeue), holes in the event sequence, inbox entries not there once, agent
/// processes left.
fn check_end(home: &Home, ids: &[String]) -> End {
    // Polled rather than waited for: a `wait` from this origin would acknowledge the inbox.
    assert!(common::poll_until(Duration::from_secs(300), || home
        .ls(&["--status", "queued,running"])
        .is_empty()));
    let statuses = home.statuses();
    let lost = ids
        .iter()
        .filter(|id| !statuses.contains_key(*id))
        .cloned()
        .collect();
    let events: Vec<Value> = home
        .ok(&["events"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut endings: HashMap<String, usize> = HashMap::new();
    let mut last_kind: HashMap<String, String> = HashMap::new();
    for e in &events {
        let (task, kind) = (
            e["task_id"].as_str().unwrap().to_string(),
            e["kind"].as_str().unwrap(),
        );
        if kind == "finished" {
            *endings.entry(task.clone()).or_default() += 1;
        }
        if ["finished", "interrupted", "requeued"].contains(&kind) {
            last_kind.insert(task, kind.to_string());
        }
    }
    for (task, kind) in &last_kind {
        if kind == "interrupted" {
            *endings.entry(task.clone()).or_default() += 1;
        }
    }
    let duplicated = ids
        .iter()
        .filter(|id| endings.get(*id).copied() != Some(1))
        .cloned()
        .collect();
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    let gaps = seqs.windows(2).filter(|w| w[1] != w[0] + 1).count()
        + usize::from(seqs.first() != Some(&1));
    let inbox: Value =
        serde_json::from_str(&home.ok(&["inbox", "--json", "--limit", "100000"])).unwrap();
    let mut in_inbox: HashMap<String, usize> = HashMap::new();
    for t in inbox["tasks"].as_array().unwrap() {
        *in_inbox
            .entry(t["id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let inbox_wrong = ids
        .iter()
        .filter(|id| in_inbox.get(*id).copied() != Some(1))
        .count();
    home.ok(&["daemon", "stop", "--yes"]);
    let orphans = processes_of_home(home.path()).len();
    let by_status = statuses.into_values().fold(HashMap::new(), |mut m, s| {
        *m.entry(s).or_default() += 1;
        m
    });
    End {
        lost,
        duplicated,
        gaps,
        inbox_wrong,
        orphans,
        by_status,
    }
}
