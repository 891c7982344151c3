//! One store, one daemon, whoever starts it: clients whose environments differ (a host that
//! drops `XDG_RUNTIME_DIR`) reach the store's one daemon instead of starting a second one
//! that would take its running tasks; and an auto-started daemon is no descendant of the
//! command that started it, so a host that ends its whole process tree at exit does not take
//! the daemon and its tasks along.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Home, legate_bin, poll_until};

/// A user's XDG layout under a temporary HOME (no `LEGATE_HOME`), with two runtime
/// directories: the same user's clients as a desktop session and as a host that dropped
/// `XDG_RUNTIME_DIR` would see them.
struct Xdg {
    dir: tempfile::TempDir,
}

impl Xdg {
    fn new() -> Xdg {
        let dir = tempfile::Builder::new().prefix("lgx").tempdir().unwrap();
        for d in ["run-a", "run-b", "config/legate"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        for d in ["run-a", "run-b"] {
            std::fs::set_permissions(
                dir.path().join(d),
                std::os::unix::fs::PermissionsExt::from_mode(0o700),
            )
            .unwrap();
        }
        Xdg { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `legate ARGS` with runtime directory `run` (`None`: unset).
    fn cmd(&self, run: Option<&str>, args: &[&str]) -> Command {
        let mut c = Command::new(legate_bin());
        c.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap())
            .env("HOME", self.path())
            .env("XDG_CONFIG_HOME", self.path().join("config"))
            .env("XDG_DATA_HOME", self.path().join("data"))
            .env("XDG_STATE_HOME", self.path().join("state"))
            .env("TMPDIR", self.path())
            .stdin(Stdio::null());
        if let Some(run) = run {
            c.env("XDG_RUNTIME_DIR", self.path().join(run));
        }
        c
    }

    fn ok(&self, run: Option<&str>, args: &[&str]) -> String {
        let out = self.cmd(run, args).output().unwrap();
        assert!(
            out.status.success(),
            "legate {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn status(&self, run: Option<&str>, id: &str) -> String {
        let v: serde_json::Value =
            serde_json::from_str(&self.ok(run, &["show", "--json", id])).unwrap();
        v["status"].as_str().unwrap().to_string()
    }

    /// A task submitted in `run-a` that runs until its flag file exists: (flag, id).
    fn blocked_task(&self) -> (PathBuf, String) {
        let flag = self.path().join("release");
        let id = self.ok(Some("run-a"), &["run", "sh", &until(&flag)]);
        (flag, id.trim().to_string())
    }

    fn daemon_pid(&self, run: Option<&str>) -> Option<i64> {
        let out = self
            .cmd(run, &["daemon", "status", "--json"])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        v["pid"].as_i64()
    }
}

impl Drop for Xdg {
    fn drop(&mut self) {
        for run in [Some("run-a"), Some("run-b"), None] {
            let _ = self.cmd(run, &["daemon", "stop", "--yes"]).output();
        }
    }
}

/// A task that runs until `flag` exists.
fn until(flag: &Path) -> String {
    format!(
        "while [ ! -e '{}' ]; do sleep 0.02; done; echo released",
        flag.display()
    )
}

#[test]
fn clients_that_differ_in_runtime_dir_share_the_one_daemon_of_their_store() {
    let x = Xdg::new();
    let (flag, id) = x.blocked_task();
    assert!(poll_until(Duration::from_secs(30), || x
        .status(Some("run-a"), &id)
        == "running"));
    let pid = x.daemon_pid(Some("run-a")).unwrap();
    // Another runtime directory, and none at all (the temp-dir fallback): the same daemon,
    // which still runs the task.
    for run in [Some("run-b"), None] {
        let listed = x.ok(run, &["ls", "--json"]);
        assert!(listed.contains(&id), "{listed}");
        assert_eq!(x.daemon_pid(run), Some(pid));
        assert_eq!(x.status(run, &id), "running");
    }
    let other = x
        .ok(Some("run-b"), &["run", "sh", "echo from b"])
        .trim()
        .to_string();
    // A daemon started by hand in the other environment refuses: the store has one.
    let out = x.cmd(Some("run-b"), &["daemon"]).output().unwrap();
    assert_eq!(out.status.code(), Some(75));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("already runs for the store") && err.contains(&pid.to_string()),
        "{err}"
    );
    std::fs::write(&flag, b"").unwrap();
    let waited = x.ok(Some("run-b"), &["wait", "--json", &id, &other]);
    let v: serde_json::Value = serde_json::from_str(&waited).unwrap();
    for t in v["tasks"].as_array().unwrap() {
        assert_eq!(t["status"], "succeeded", "{t}");
    }
    assert_eq!(x.daemon_pid(Some("run-a")), Some(pid));
    let log = std::fs::read_to_string(x.path().join("state/legate/daemon.log")).unwrap();
    assert!(!log.contains("recovered"), "nothing was taken back:\n{log}");
}

/// The parent pid of `pid`, from /proc.
fn parent_of(pid: i64) -> Option<i64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(1)?.parse().ok()
}

/// Every live process below `root`.
fn descendants(root: i64) -> Vec<i64> {
    let all: Vec<i64> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    all.into_iter()
        .filter(|&p| {
            let mut cur = p;
            while let Some(pp) = parent_of(cur) {
                if pp == root {
                    return true;
                }
                if pp <= 1 {
                    return false;
                }
                cur = pp;
            }
            false
        })
        .collect()
}

#[test]
fn an_auto_started_daemon_outlives_the_process_tree_that_started_it() {
    let home = Home::new("");
    let flag: PathBuf = home.path().join("release");
    // A host whose long-lived frontend (here `legate events -f`, like an MCP server) starts
    // the daemon.
    let mut host = Command::new("sh")
        .args(["-c", "\"$0\" events -f >/dev/null; exec sleep 600"])
        .arg(legate_bin())
        .env("LEGATE_HOME", home.path())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    assert!(poll_until(Duration::from_secs(30), || home
        .daemon_pid()
        .is_some()));
    let id = home.submit("sh", &until(&flag));
    let daemon = i64::from(home.daemon_pid().unwrap());
    let root = i64::from(host.id());
    let tree = descendants(root);
    assert!(
        !tree.contains(&daemon),
        "the daemon {daemon} is a descendant of its starter: {tree:?}"
    );
    // The host ends its whole tree, as `opencode run` does at exit.
    for pid in tree.iter().chain([&root]) {
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    }
    host.wait().unwrap();
    std::fs::write(&flag, b"").unwrap();
    assert_eq!(home.wait_all(std::slice::from_ref(&id))[&id], "succeeded");
    assert_eq!(home.daemon_pid().map(i64::from), Some(daemon));
}

#[test]
fn a_daemon_puts_back_its_socket_when_the_file_is_removed() {
    let x = Xdg::new();
    let (flag, id) = x.blocked_task();
    let pid = x.daemon_pid(Some("run-a")).unwrap();
    // A temp-dir cleaner (or a logout) removes the socket file under the running daemon.
    let socket = x.path().join("run-a/legate/legate.sock");
    assert!(socket.exists(), "{}", socket.display());
    std::fs::remove_file(&socket).unwrap();
    // From either environment, the same daemon answers again, its task still running.
    assert!(
        poll_until(Duration::from_secs(30), || x.daemon_pid(Some("run-b"))
            == Some(pid)),
        "the daemon did not listen again"
    );
    assert_eq!(x.daemon_pid(Some("run-a")), Some(pid));
    assert_eq!(x.status(Some("run-a"), &id), "running");
    // A logout empties the runtime directory: the socket's directory goes too. Clients of
    // another environment reach the daemon again without help.
    std::fs::remove_dir_all(socket.parent().unwrap()).unwrap();
    assert!(
        poll_until(Duration::from_secs(30), || x.daemon_pid(Some("run-b"))
            == Some(pid)),
        "the daemon did not make its socket directory again"
    );
    assert_eq!(x.status(Some("run-b"), &id), "running");
    std::fs::write(&flag, b"").unwrap();
    let waited = x.ok(Some("run-b"), &["wait", "--json", &id]);
    assert!(waited.contains("succeeded"), "{waited}");
}

#[test]
fn a_directory_in_place_of_the_socket_is_cleared_or_named() {
    let x = Xdg::new();
    let (flag, id) = x.blocked_task();
    let pid = x.daemon_pid(Some("run-a")).unwrap();
    let socket = x.path().join("run-a/legate/legate.sock");
    // An empty directory where the socket was: the daemon clears it and listens again.
    std::fs::remove_file(&socket).unwrap();
    std::fs::create_dir(&socket).unwrap();
    assert!(
        poll_until(Duration::from_secs(30), || x.daemon_pid(Some("run-a"))
            == Some(pid)),
        "the daemon did not listen again"
    );
    // A directory with something in it is not the daemon's to remove: clients name the
    // running daemon and what to do, rather than "not running" or a start that times out.
    std::fs::remove_file(&socket).unwrap();
    std::fs::create_dir(&socket).unwrap();
    std::fs::write(socket.join("keep"), b"mine").unwrap();
    for args in [&["daemon", "status"][..], &["ls"]] {
        let out = x.cmd(Some("run-a"), args).output().unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{args:?}: {said}");
        assert!(
            said.contains(&format!("(pid {pid}) is running but cannot be reached"))
                && said.contains("is a directory"),
            "{args:?}: {said}"
        );
    }
    assert_eq!(std::fs::read(socket.join("keep")).unwrap(), b"mine");
    // Once it is removed, the same daemon answers there again, its task still running.
    std::fs::remove_dir_all(&socket).unwrap();
    assert!(
        poll_until(Duration::from_secs(30), || x.daemon_pid(Some("run-a"))
            == Some(pid)),
        "the daemon did not listen again"
    );
    assert_eq!(x.status(Some("run-a"), &id), "running");
    std::fs::write(&flag, b"").unwrap();
}

/// A command line, the variables it runs with, and what its error must say.
type Refusal = (
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
    &'static [&'static str],
);

#[test]
fn bad_engine_settings_are_refused_naming_option_and_variable() {
    // Refused where an engine would start (with a daemon running too), exit 1, nothing run.
    let home = Home::new("");
    home.ok(&["daemon", "--detach"]);
    let cases: [Refusal; 5] = [
        (
            &["daemon", "--detach", "--store", "mysql://u:pw@h/db"],
            &[],
            &[
                "--store (or LEGATE_STORE)",
                "not a store legate knows",
                "mysql://***@h/db",
            ],
        ),
        (
            &["daemon", "--detach"],
            &[("LEGATE_SLOTS", "many")],
            &["--slots (or LEGATE_SLOTS) is 'many'", "task slots"],
        ),
        (
            &[
                "worker",
                "--store",
                "postgres://u@h/db",
                "--store-schema",
                "Tasks",
            ],
            &[],
            &["--store-schema (or LEGATE_STORE_SCHEMA)", "lowercase"],
        ),
        (
            &["worker", "--agents", "a,b c"],
            &[],
            &["--agents (or LEGATE_AGENTS)", "'b c' is not an agent name"],
        ),
        (
            &["worker"],
            &[],
            &["a worker takes tasks from a shared store"],
        ),
    ];
    for (args, env, needles) in cases {
        let mut cmd = home.cmd(args);
        cmd.envs(env.iter().copied());
        let o = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        for n in needles {
            assert!(err.contains(n), "{args:?}: {n:?} missing from {err}");
        }
    }
    assert!(home.ls(&[]).is_empty(), "nothing was submitted");
}

#[test]
fn engine_settings_are_checked_only_where_an_engine_starts() {
    // A bad variable is the next engine's problem: the running daemon can still be asked
    // and stopped, and a refused store creates nothing.
    let home = Home::new("");
    home.ok(&["daemon", "--detach"]);
    let bad = [("LEGATE_SLOTS", "many"), ("LEGATE_LEASE_TTL", "soon")];
    let mut status = home.cmd(&["daemon", "status"]);
    status.envs(bad);
    let o = status.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Settings given to a daemon that already runs are said to apply to the next one.
    let o = home
        .cmd(&["daemon", "--detach", "--slots", "1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && err.contains("already runs"), "{err}");
    let mut stop = home.cmd(&["daemon", "stop", "--yes"]);
    stop.envs(bad);
    let o = stop.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(home.daemon_pid().is_none());

    let empty = tempfile::tempdir().unwrap();
    let o = common::legate_in(empty.path(), &["daemon", "--store", "mysql://x/db"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let left: Vec<_> = std::fs::read_dir(empty.path()).unwrap().collect();
    assert!(left.is_empty(), "a refused start created {left:?}");
}
