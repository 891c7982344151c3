//! The end-to-end fixture: a private `LEGATE_HOME`, the real `legate` binary, the fake agent.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub mod agents;
pub mod git;
pub mod hosts;
pub mod mcp;
pub mod perms;
pub mod webhook;

/// The `legate` binary under test.
pub fn legate_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_legate"))
}

/// The fake agent, built next to `legate` by `cargo test --workspace`.
pub fn fake_agent() -> PathBuf {
    let p = legate_bin().with_file_name("legate-fake-agent");
    assert!(
        p.exists(),
        "{} is missing: run the tests with `cargo test --workspace` (or `cargo build -p legate-fake-agent`)",
        p.display()
    );
    p
}

/// A `legate` command in the home at `path` (for threads that cannot borrow a [`Home`]).
pub fn legate_in(path: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(legate_bin());
    c.args(args)
        .env("LEGATE_HOME", path)
        .env_remove("LEGATE_CONFIG")
        .env_remove("LEGATE_DEPTH")
        .env_remove("LEGATE_TASK_ID")
        .env_remove("LEGATE_ORIGIN")
        .env_remove("LEGATE_TOKEN")
        .stdin(Stdio::null());
    c
}

/// A temporary legate installation; its daemon is stopped (and its agents killed) on drop.
pub struct Home {
    pub dir: tempfile::TempDir,
}

impl Home {
    /// A home with the standard test config (`extra` is appended).
    pub fn new(extra: &str) -> Home {
        Home::with_max_running(4, extra)
    }

    /// The standard config with another global cap.
    pub fn with_max_running(max_running: u32, extra: &str) -> Home {
        let dir = tempfile::Builder::new().prefix("lg").tempdir().unwrap();
        let home = Home { dir };
        home.write_config(max_running, extra);
        home
    }

    /// The standard config plus an agent `placed` (the fake agent) whose configured working
    /// directory is `dir`.
    pub fn with_placed_agent(dir: &Path) -> Home {
        let fake = fake_agent().display().to_string();
        Home::new(&format!(
            "[agents.placed]\ncommand = [\"{fake}\", \"{{prompt}}\"]\ncwd = \"{}\"\n",
            dir.display()
        ))
    }

    /// The standard config plus an agent `resumable` (the fake agent speaking the codex
    /// preset's format) whose sessions are kept under `sessions`, so `send` can continue them.
    pub fn with_resumable_agent(sessions: &Path) -> Home {
        let fake = fake_agent().display().to_string();
        Home::new(&format!(
            "[agents.resumable]\npreset = \"codex\"\n\
             command = [\"{fake}\", \"--format\", \"codex\", \"{{args}}\", \"--\", \"{{prompt}}\"]\n\
             env = {{ FAKE_AGENT_SESSIONS = \"{}\" }}\n",
            sessions.display()
        ))
    }

    /// A home with exactly this config text.
    pub fn with_config(text: &str) -> Home {
        let dir = tempfile::Builder::new().prefix("lg").tempdir().unwrap();
        std::fs::write(dir.path().join("config.toml"), text).unwrap();
        Home { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The standard config: fake agents plus `extra`.
    pub fn write_config(&self, max_running: u32, extra: &str) {
        let fake = fake_agent().display().to_string();
        let rec = self.records_path().display().to_string();
        let text = format!(
            r#"
[limits]
max_running = {max_running}
kill_grace = "1s"

[agents.fake]
command = ["{fake}", "{{prompt}}"]
env = {{ FAKE_AGENT_RECORD = "{rec}" }}
description = "scripted fake agent"

[agents.capped]
command = ["{fake}", "{{prompt}}"]
max_running = 2
env = {{ FAKE_AGENT_RECORD = "{rec}" }}

[agents.fake-stdin]
command = ["{fake}", "--stdin"]
prompt = "stdin"
env = {{ FAKE_AGENT_RECORD = "{rec}" }}

[agents.fake-file]
command = ["{fake}", "--prompt-file", "{{prompt_file}}"]
prompt = "file"

[agents.echo]
command = ["{fake}", "--dump", "{dump}", "--echo"]

[agents.echo-stdin]
command = ["{fake}", "--stdin", "--dump", "{dump}", "--echo"]
prompt = "stdin"
{extra}
"#,
            dump = self.dump_path().display()
        );
        std::fs::write(self.path().join("config.toml"), text).unwrap();
    }

    pub fn records_path(&self) -> PathBuf {
        self.path().join("records.log")
    }

    pub fn dump_path(&self) -> PathBuf {
        self.path().join("dump.txt")
    }

    pub fn socket(&self) -> PathBuf {
        self.path().join("run").join("legate.sock")
    }

    pub fn db(&self) -> PathBuf {
        self.path().join("data").join("legate.db")
    }

    /// A `legate` command in this home, with a clean delegation environment.
    pub fn cmd(&self, args: &[&str]) -> Command {
        legate_in(self.path(), args)
    }

    /// Runs `legate ARGS` and returns its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs `legate ARGS`, asserting success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "legate {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Submits a task and returns its id.
    pub fn submit(&self, agent: &str, prompt: &str) -> String {
        self.ok(&["run", agent, prompt]).trim().to_string()
    }

    /// `legate show --json ID` parsed.
    pub fn show(&self, id: &str) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["show", "--json", id])).unwrap()
    }

    /// `legate ls --json` parsed.
    pub fn ls(&self, extra: &[&str]) -> Vec<serde_json::Value> {
        let mut args = vec!["ls", "--json", "--limit", "100000"];
        args.extend_from_slice(extra);
        serde_json::from_str(&self.ok(&args)).unwrap()
    }

    /// The ids in `origin`'s inbox (`inbox --json --origin ORIGIN EXTRA…`), in finish order.
    pub fn inbox(&self, origin: &str, extra: &[&str]) -> Vec<String> {
        let mut args = vec!["inbox", "--json", "--origin", origin];
        args.extend_from_slice(extra);
        let v: serde_json::Value = serde_json::from_str(&self.ok(&args)).unwrap();
        v["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect()
    }

    /// Every task's status by id (`ls --json`).
    pub fn statuses(&self) -> HashMap<String, String> {
        self.ls(&[])
            .iter()
            .map(|t| {
                (
                    t["id"].as_str().unwrap().to_string(),
                    t["status"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// Waits for tasks to finish (all) and returns their statuses by id. It shows their
    /// results (`--result`), so those of this command's origin (`cli:$USER`) are read.
    pub fn wait_all(&self, ids: &[String]) -> HashMap<String, String> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(200) {
            let mut args = vec!["wait", "--json", "--result", "--timeout", "120s"];
            args.extend(chunk.iter().map(String::as_str));
            let o = self.run(&args);
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| {
                panic!("wait gave no JSON: {}", String::from_utf8_lossy(&o.stderr))
            });
            assert_eq!(v["timed_out"], false, "tasks did not finish in time");
            for t in v["tasks"].as_array().unwrap() {
                out.insert(
                    t["id"].as_str().unwrap().to_string(),
                    t["status"].as_str().unwrap().to_string(),
                );
            }
        }
        out
    }

    /// The daemon's pid, if it runs.
    pub fn daemon_pid(&self) -> Option<i32> {
        let out = self.run(&["daemon", "status", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        v["pid"].as_i64().map(|p| p as i32)
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = self.cmd(&["daemon", "stop", "--yes"]).output();
        for pid in processes_of_home(self.path()) {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
}

/// Runs legate in `home`, expects exit 1 and a stderr containing every needle; returns stderr.
pub fn refused(home: &Home, args: &[&str], needles: &[&str]) -> String {
    let o = home.run(args);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(
        o.status.code(),
        Some(1),
        "legate {args:?} should fail: {err}"
    );
    for n in needles {
        assert!(
            err.contains(n),
            "legate {args:?}: stderr lacks {n:?}:\n{err}"
        );
    }
    err
}

/// The PostgreSQL server the tests may use (`LEGATE_TEST_POSTGRES_URL`), or `None`, said on
/// stderr: `what` has nothing to run against then.
pub fn pg_server(what: &str) -> Option<String> {
    let url = std::env::var("LEGATE_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!("LEGATE_TEST_POSTGRES_URL is not set: {what} has nothing to run against");
    }
    url
}

/// Polls `cond` every 10 ms until it holds or `limit` passes; true when it held.
pub fn poll_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn environ_has(pid: i32, needle: &[u8]) -> bool {
    std::fs::read(format!("/proc/{pid}/environ"))
        .is_ok_and(|env| env.split(|b| *b == 0).any(|e| e == needle))
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rfind(')').map(|i| s[i + 2..].starts_with('Z')))
        .unwrap_or(true)
}

fn pids() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

/// Live processes (not zombies) started for the given task.
pub fn processes_of_task(task_id: &str) -> Vec<i32> {
    let needle = format!("LEGATE_TASK_ID={task_id}");
    pids()
        .into_iter()
        .filter(|&p| environ_has(p, needle.as_bytes()) && !is_zombie(p))
        .collect()
}

/// Live processes (daemon and agents) whose environment names this home.
pub fn processes_of_home(home: &Path) -> Vec<i32> {
    processes_with_env(&format!("LEGATE_HOME={}", home.display()))
}

/// Live processes other than this one whose environment holds `needle` (`KEY=VALUE`).
pub fn processes_with_env(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    pids()
        .into_iter()
        .filter(|&p| p != me && environ_has(p, needle.as_bytes()) && !is_zombie(p))
        .collect()
}

/// Live agent processes (with a `LEGATE_TASK_ID`) whose environment holds `needle`.
pub fn agent_processes(needle: &str) -> Vec<i32> {
    pids()
        .into_iter()
        .filter(|&p| {
            environ_has(p, needle.as_bytes())
                && env_of(p, "LEGATE_TASK_ID").is_some()
                && !is_zombie(p)
        })
        .collect()
}

/// The value of one environment variable of a process, if it has it.
pub fn env_of(pid: i32, key: &str) -> Option<String> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{key}=");
    env.split(|b| *b == 0)
        .find_map(|e| e.strip_prefix(prefix.as_bytes()))
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// Start/end records written by the fake agent: (task, pid, start_ms, end_ms or None).
pub fn records(path: &Path) -> Vec<(String, i32, i64, Option<i64>)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut starts: Vec<(String, i32, i64, Option<i64>)> = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 4 {
            continue;
        }
        let (task, pid, ms) = (
            f[1].to_string(),
            f[2].parse().unwrap(),
            f[3].parse().unwrap(),
        );
        match f[0] {
            "start" => starts.push((task, pid, ms, None)),
            "end" => {
                if let Some(r) = starts.iter_mut().find(|r| r.1 == pid && r.3.is_none()) {
                    r.3 = Some(ms);
                }
            }
            _ => {}
        }
    }
    starts
}

/// The largest number of runs overlapping in time among `runs` (start, end) in ms.
pub fn max_overlap(runs: &[(i64, i64)]) -> usize {
    let mut edges: Vec<(i64, i32)> = Vec::new();
    for &(s, e) in runs {
        edges.push((s, 1));
        edges.push((e, -1));
    }
    // Ends sort before starts at the same millisecond: a slot freed and reused is no overlap.
    edges.sort_by_key(|&(t, d)| (t, d));
    let (mut cur, mut max) = (0i32, 0i32);
    for (_, d) in edges {
        cur += d;
        max = max.max(cur);
    }
    max as usize
}

/// Sends a raw HTTP request to the daemon socket; returns (status, body).
pub fn raw(home: &Home, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(home.socket()).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: legate\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(body);
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp).to_string();
    let code = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    (code, body)
}

/// A small tmpfs mounted at `dir` for the life of the guard.
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    pub fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!(
                "SKIPPED: cannot mount a tmpfs at {} (needs root)",
                dir.display()
            );
        }
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }

    pub fn remount(&self, mode: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(ok.success(), "remount {mode}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}
