//! Workers on a shared Postgres store, as separate processes: caps hold across all of them,
//! every task runs exactly once, a killed worker's tasks are taken back once its lease lapses
//! and finish elsewhere, a frozen worker's late finish is refused, and a worker whose database
//! connections are cut recovers. Runs only when `LEGATE_TEST_POSTGRES_URL` names a server (CI
//! sets it); each test uses a schema of its own and drops it.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Home, max_overlap, poll_until, records};
use serde_json::Value;

/// A frontend daemon that runs nothing (`LEGATE_SLOTS=0`), workers, and a scratch schema.
struct Cluster {
    home: Home,
    url: String,
    schema: String,
    workers: Vec<Child>,
    /// Short, so the tests of lapsed leases end soon; tests that only need work done use a
    /// longer one (a loaded machine can delay a heartbeat by more than a short lease).
    lease_ttl: &'static str,
}

impl Cluster {
    fn new(url: String, max_running: u32, extra: &str) -> Cluster {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        Cluster {
            home: Home::with_max_running(max_running, extra),
            url,
            schema: format!("legate_workers_{}_{nanos:x}", std::process::id()),
            workers: Vec::new(),
            lease_ttl: "2s",
        }
    }

    /// The same cluster with leases of `ttl`.
    fn with_lease_ttl(mut self, ttl: &'static str) -> Cluster {
        self.lease_ttl = ttl;
        self
    }

    fn cmd(&self, args: &[&str]) -> Command {
        self.cmd_in(self.home.path(), args)
    }

    /// A command in `home` (another machine's, with its own task directories) on this store.
    fn cmd_in(&self, home: &Path, args: &[&str]) -> Command {
        let mut c = common::legate_in(home, args);
        c.env("LEGATE_STORE", &self.url)
            .env("LEGATE_STORE_SCHEMA", &self.schema)
            .env("LEGATE_LEASE_TTL", self.lease_ttl)
            .env("LEGATE_SLOTS", "0");
        c
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.cmd(args).output().unwrap();
        assert!(
            o.status.success(),
            "legate {args:?}: exit {:?}: {}\n{}",
            o.status.code(),
            String::from_utf8_lossy(&o.stderr),
            String::from_utf8_lossy(&o.stdout)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    fn submit(&self, agent: &str, prompt: &str) -> String {
        self.ok(&["run", agent, prompt]).trim().to_string()
    }

    fn show(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["show", "--json", id])).unwrap()
    }

    /// Starts `legate worker ARGS`; returns its index.
    fn worker(&mut self, args: &[&str]) -> usize {
        let home = self.home.path().to_path_buf();
        self.worker_in(&home, args)
    }

    /// Starts `legate worker ARGS` in another home, as on another machine.
    fn worker_in(&mut self, home: &Path, args: &[&str]) -> usize {
        let n = self.workers.len();
        let log = std::fs::File::create(self.home.path().join(format!("worker-{n}.log"))).unwrap();
        let mut all = vec!["worker"];
        all.extend_from_slice(args);
        let child = self
            .cmd_in(home, &all)
            .env_remove("LEGATE_SLOTS")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.workers.push(child);
        n
    }

    fn worker_pid(&self, n: usize) -> i32 {
        self.workers[n].id() as i32
    }

    fn wait(&self, ids: &[String]) -> Vec<Value> {
        let mut args = vec!["wait", "--json", "--timeout", "180s"];
        args.extend(ids.iter().map(String::as_str));
        let v: Value = serde_json::from_str(&self.ok(&args)).unwrap();
        assert_eq!(v["timed_out"], false, "tasks did not finish in time");
        v["tasks"].as_array().unwrap().clone()
    }

    fn psql(&self, sql: &str) -> String {
        let o = Command::new("psql")
            .args([&self.url, "-Atc", sql])
            .output()
            .expect("psql runs");
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for w in &mut self.workers {
            let _ = Command::new("kill")
                .args(["-CONT", &w.id().to_string()])
                .status();
            let _ = w.kill();
            let _ = w.wait();
        }
        let _ = self.cmd(&["daemon", "stop", "--yes"]).output();
        let _ = self.psql(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
    }
}

fn signal(pid: i32, sig: &str) {
    assert!(
        Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
}

/// The worker (lease owner) a task's current or last attempt ran on, from its events.
fn workers_of(c: &Cluster, id: &str) -> Vec<String> {
    c.ok(&["events", "--task", id, "--kind", "started"])
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["data"]["worker"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn three_workers_run_500_tasks_once_each_within_global_caps() {
    let Some(url) = common::pg_server("the worker tests") else {
        return;
    };
    let mut c = Cluster::new(url, 6, "").with_lease_ttl("20s");
    for _ in 0..3 {
        c.worker(&[]);
    }
    let ids: Vec<String> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..10)
            .map(|t| {
                let c = &c;
                s.spawn(move || {
                    (0..50)
                        .map(|i| {
                            c.submit(if (t + i) % 4 == 0 { "capped" } else { "fake" }, "sleep 5")
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let tasks = c.wait(&ids);
    assert!(
        tasks.iter().all(|t| t["status"] == "succeeded"),
        "all succeeded"
    );
    let recs = records(&c.home.records_path());
    assert_eq!(recs.len(), 500, "every task ran exactly once");
    assert_eq!(recs.iter().map(|r| &r.0).collect::<HashSet<_>>().len(), 500);
    let runs: Vec<(i64, i64)> = recs.iter().map(|r| (r.2, r.3.unwrap())).collect();
    let overlap = max_overlap(&runs);
    assert!(
        overlap <= 6,
        "the global cap of 6 was exceeded across workers: {overlap}"
    );
    let capped: HashSet<String> = c
        .ok(&["ls", "--json", "--agent", "capped", "--limit", "1000"])
        .parse::<Value>()
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    let capped_runs: Vec<(i64, i64)> = recs
        .iter()
        .filter(|r| capped.contains(&r.0))
        .map(|r| (r.2, r.3.unwrap()))
        .collect();
    assert!(
        max_overlap(&capped_runs) <= 2,
        "the per-agent cap was exceeded across workers"
    );
    let used: HashSet<String> = ids
        .iter()
        .take(60)
        .flat_map(|id| workers_of(&c, id))
        .collect();
    assert!(
        used.len() >= 2,
        "work was spread over the workers: {used:?}"
    );
    println!(
        "500 tasks over 3 workers: max {overlap} at once (cap 6), capped agent max {}",
        max_overlap(&capped_runs)
    );
}

#[test]
fn a_killed_workers_task_is_taken_back_and_finishes_elsewhere() {
    let Some(url) = common::pg_server("the worker tests") else {
        return;
    };
    let retry = format!(
        "[agents.retry]\ncommand = [\"{}\", \"{{prompt}}\"]\nretry_interrupted = true\n",
        common::fake_agent().display()
    );
    let mut c = Cluster::new(url, 4, &retry);
    let a = c.worker(&["--slots", "1"]);
    let id = c.submit("retry", "sleep 1500; print done");
    assert!(poll_until(
        Duration::from_secs(30),
        || c.show(&id)["status"] == "running"
    ));
    let first = workers_of(&c, &id);
    c.worker(&["--slots", "1"]);
    signal(c.worker_pid(a), "-KILL");
    let t = &c.wait(std::slice::from_ref(&id))[0];
    assert_eq!(t["status"], "succeeded");
    assert_eq!(t["attempt"], 2, "the second attempt finished it");
    let all = workers_of(&c, &id);
    assert_eq!(all.len(), 2);
    assert_eq!(all[0], first[0]);
    assert_ne!(all[1], all[0], "it finished on another worker");
    let kinds: Vec<String> = c
        .ok(&["events", "--task", &id])
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(
        kinds.windows(2).any(|w| w == ["interrupted", "requeued"]),
        "the events say what happened: {kinds:?}"
    );
}

#[test]
fn a_frozen_workers_late_finish_is_refused() {
    let Some(url) = common::pg_server("the worker tests") else {
        return;
    };
    let retry = format!(
        "[agents.retry]\ncommand = [\"{}\", \"{{prompt}}\"]\nretry_interrupted = true\n",
        common::fake_agent().display()
    );
    let mut c = Cluster::new(url, 4, &retry);
    let a = c.worker(&["--slots", "1"]);
    let id = c.submit("retry", "sleep 800; print from-the-first");
    assert!(poll_until(
        Duration::from_secs(30),
        || c.show(&id)["status"] == "running"
    ));
    // Frozen past its lease: another worker takes the task back and runs it again.
    signal(c.worker_pid(a), "-STOP");
    c.worker(&["--slots", "1"]);
    assert!(poll_until(
        Duration::from_secs(60),
        || c.show(&id)["attempt"] == 2 && c.show(&id)["status"] == "succeeded"
    ));
    // Thawed, the first worker's run ends and reports; its lease is gone, so nothing changes.
    signal(c.worker_pid(a), "-CONT");
    let before = c.show(&id);
    let log = c.home.path().join("worker-0.log");
    assert!(poll_until(Duration::from_secs(30), || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("lease was lost"))
    }));
    let after = c.show(&id);
    assert_eq!(after["status"], "succeeded");
    assert_eq!(after["attempt"], 2);
    assert_eq!(
        after["finished_at"], before["finished_at"],
        "the stale finish changed nothing"
    );
}

#[test]
fn a_worker_whose_connections_are_cut_recovers() {
    let Some(url) = common::pg_server("the worker tests") else {
        return;
    };
    let mut c = Cluster::new(url, 4, "");
    c.worker(&[]);
    let first = c.submit("fake", "print before");
    c.wait(std::slice::from_ref(&first));
    let cut = c.psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name LIKE 'worker-%'");
    assert_ne!(cut, "0", "the worker's connections were found and cut");
    let ids: Vec<String> = (0..5)
        .map(|i| c.submit("fake", &format!("print after {i}")))
        .collect();
    let tasks = c.wait(&ids);
    assert!(
        tasks.iter().all(|t| t["status"] == "succeeded"),
        "{tasks:?}"
    );
}

#[test]
fn the_event_stream_on_a_frontend_carries_the_workers_events_once_in_order() {
    let Some(url) = common::pg_server("the worker tests") else {
        return;
    };
    let mut c = Cluster::new(url, 6, "");
    c.worker(&[]);
    c.worker(&[]);
    c.ok(&["ls"]);
    let mut follower = c
        .cmd(&["events", "-f", "--kind", "started,finished"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Value>();
    let out = follower.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                return;
            }
        }
    });
    let ids: Vec<String> = (0..40)
        .map(|i| c.submit("fake", &format!("sleep {}; print {i}", i % 7)))
        .collect();
    let mut got: Vec<Value> = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while got.len() < 2 * ids.len() && std::time::Instant::now() < deadline {
        if let Ok(e) = rx.recv_timeout(Duration::from_millis(200)) {
            got.push(e);
        }
    }
    let _ = follower.kill();
    let _ = follower.wait();
    let of = |kind: &str| -> Vec<String> {
        got.iter()
            .filter(|e| e["kind"] == kind)
            .map(|e| e["task_id"].as_str().unwrap().to_string())
            .collect()
    };
    // The workers' `started` events never pass through this daemon's bus: they come from the
    // store, in order.
    assert_eq!(of("started").len(), ids.len(), "every start arrived");
    let seen = of("finished");
    assert_eq!(seen.len(), ids.len(), "every finish arrived: {seen:?}");
    assert_eq!(
        seen.iter().collect::<HashSet<_>>(),
        ids.iter().collect::<HashSet<_>>(),
        "each once"
    );
    let seqs: Vec<i64> = got.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "in sequence order: {seqs:?}"
    );
    let ran_on: HashSet<String> = ids.iter().flat_map(|id| workers_of(&c, id)).collect();
    assert_eq!(ran_on.len(), 2, "both workers ran some: {ran_on:?}");
}

#[test]
fn a_task_run_on_another_machine_has_its_log_read_and_followed_from_the_frontend() {
    let Some(url) = common::pg_server("the worker tests") else {
        return;
    };
    let mut c = Cluster::new(url, 4, "");
    // Another machine: its own home, so the task's log file exists only there.
    let elsewhere = Home::with_max_running(4, "");
    c.worker_in(elsewhere.path(), &[]);
    let id = c.submit(
        "fake",
        "print first line; sleep 1500; print second line; sleep 300; eprint on stderr; sleep 1200; print last line",
    );
    // Started while the task is queued or running: it follows the output as the worker
    // stores it, each byte once, and ends when the task does.
    let followed = c.ok(&["logs", "-f", &id]);
    let whole = "first line\nsecond line\non stderr\nlast line\n";
    assert_eq!(followed, whole);
    assert_eq!(c.show(&id)["status"], "succeeded");
    assert_eq!(c.ok(&["logs", &id]), whole, "read after the end");
    let dirs_with = |home: &Path| {
        walk(home)
            .into_iter()
            .filter(|p| p.ends_with("output.log") && p.to_string_lossy().contains(&id))
            .count()
    };
    assert_eq!(
        dirs_with(elsewhere.path()),
        1,
        "the full log is on the worker's machine"
    );
    assert_eq!(dirs_with(c.home.path()), 0, "and not on the frontend's");

    let o = c.cmd(&["logs", "--stdout", &id]).output().unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("did not run on this machine") && err.contains("without --stdout"),
        "{err}"
    );
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn finishes_are_announced_once_however_many_engines_share_the_store() {
    let Some(url) = common::pg_server("the worker tests") else {
        return;
    };
    let announced = tempfile::NamedTempFile::new().unwrap();
    let mut c = Cluster::new(url, 8, &announcing(announced.path()));
    c.worker(&[]);
    c.worker(&[]);
    let ids: Vec<String> = (0..20)
        .map(|i| c.submit("announced", &format!("print {i}")))
        .collect();
    c.wait(&ids);
    let starts = announcements;
    assert!(
        poll_until(Duration::from_secs(60), || starts(announced.path()).len()
            >= ids.len()),
        "every finish announced within a minute"
    );
    let got = starts(announced.path());
    let distinct: HashSet<&String> = got.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "each task announced: {got:?}");
    // Three engines follow the same finishes; one of them holds the role.
    let holders = c.psql(&format!(
        "SELECT count(*) FROM {}.roles WHERE name = 'notifier'",
        c.schema
    ));
    assert_eq!(holders, "1");
    // Stop them all, so an announcement another engine had under way would have landed.
    for w in 0..c.workers.len() {
        signal(c.worker_pid(w), "-TERM");
    }
    for w in &mut c.workers {
        w.wait().unwrap();
    }
    c.ok(&["daemon", "stop", "--yes"]);
    assert_eq!(
        starts(announced.path()).len(),
        ids.len(),
        "announced once each"
    );
}

/// Config for an agent `announced` whose finishes run a notify command that records the task
/// id in `record` (one `start ID …` line per announcement).
fn announcing(record: &Path) -> String {
    format!(
        "\n[agents.announced]\ncommand = [\"{fake}\", \"{{prompt}}\"]\n\
         notify = [{{ command = [\"env\", \"FAKE_AGENT_RECORD={rec}\", \"{fake}\", \"print announced\"] }}]\n",
        fake = common::fake_agent().display(),
        rec = record.display()
    )
}

/// The task ids announced so far, one per announcement.
fn announcements(record: &Path) -> Vec<String> {
    std::fs::read_to_string(record)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("start "))
        .map(|l| l.split(' ').nth(1).unwrap().to_string())
        .collect()
}

#[test]
fn another_engine_takes_over_announcing_when_the_holder_stops() {
    let Some(url) = common::pg_server("the worker tests") else {
        return;
    };
    let announced = tempfile::NamedTempFile::new().unwrap();
    let mut c = Cluster::new(url, 8, &announcing(announced.path()));
    c.worker(&[]);
    let holder_query = format!(
        "SELECT owner FROM {}.roles WHERE name = 'notifier'",
        c.schema
    );
    let first = c.submit("announced", "print one");
    c.wait(std::slice::from_ref(&first));
    assert!(
        poll_until(Duration::from_secs(60), || announcements(announced.path())
            .contains(&first)),
        "the first finish is announced"
    );
    let holder = c.psql(&holder_query);
    if holder.starts_with("worker-") {
        signal(c.worker_pid(0), "-TERM");
        c.workers[0].wait().unwrap();
        c.worker(&[]);
    } else {
        assert!(holder.starts_with("daemon-"), "holder {holder:?}");
        c.ok(&["daemon", "stop", "--yes"]); // the next command starts a new frontend
    }
    let second = c.submit("announced", "print two");
    c.wait(std::slice::from_ref(&second));
    assert!(
        poll_until(Duration::from_secs(60), || announcements(announced.path())
            .contains(&second)),
        "a finish after the holder stopped is announced by the engine that took over"
    );
    let now = c.psql(&holder_query);
    assert!(!now.is_empty() && now != holder, "{holder} → {now}");
}
