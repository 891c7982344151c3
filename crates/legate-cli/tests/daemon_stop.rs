//! `daemon stop` is never silent about running tasks: it refuses without `--yes` when nobody
//! can be asked, and `--drain` lets them finish while accepting nothing new.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{Home, poll_until};
use serde_json::Value;

#[test]
fn stop_names_the_running_tasks_and_refuses_without_yes() {
    let home = Home::new("");
    let running = home.submit("fake", "hang");
    assert!(poll_until(Duration::from_secs(30), || {
        home.show(&running)["status"] == "running"
    }));
    let pid = home.daemon_pid().unwrap();

    let o = home.run(&["daemon", "stop"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(10), "{err}");
    assert!(
        err.contains("1 task(s) are running") && err.contains(&running),
        "{err}"
    );
    assert!(err.contains("--yes") && err.contains("--drain"), "{err}");
    assert_eq!(home.daemon_pid(), Some(pid), "nothing was stopped");
    assert_eq!(home.show(&running)["status"], "running");

    home.ok(&["daemon", "stop", "--yes"]);
    assert_eq!(home.show(&running)["status"], "interrupted");
    // With nothing running there is nothing to confirm.
    home.ok(&["daemon", "--detach"]);
    home.ok(&["daemon", "stop"]);
}

#[test]
fn drain_refuses_new_work_finishes_what_it_holds_then_exits() {
    let home = Home::with_max_running(1, "");
    let go = home.path().join("go");
    // What a running task delegates while the daemon drains is part of its work: accepted.
    let legate = common::legate_bin().display().to_string();
    let script = format!(
        "while [ ! -e {} ]; do sleep 0.05; done; {legate} run --wait fake 'print child'; \
         echo child=$?; echo drained",
        go.display()
    );
    let first = home.submit("sh", &script);
    let queued = home.submit("fake", "print queued too");
    assert!(poll_until(Duration::from_secs(30), || {
        home.show(&first)["status"] == "running"
    }));
    let pid = home.daemon_pid().unwrap();

    let drain = home
        .cmd(&["daemon", "stop", "--drain"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status =
        || -> Value { serde_json::from_str(&home.ok(&["daemon", "status", "--json"])).unwrap() };
    assert!(poll_until(Duration::from_secs(30), || status()["draining"] == true));
    assert!(home.ok(&["daemon", "status"]).contains("draining"));
    let refused = common::refused(&home, &["run", "fake", "print late"], &["draining"]);
    assert!(refused.contains("accepts no new task"), "{refused}");
    assert_eq!(home.ls(&[]).len(), 2, "nothing new was stored");

    std::fs::write(&go, "").unwrap();
    let mut drain = drain;
    assert!(poll_until(Duration::from_secs(60), || drain
        .try_wait()
        .unwrap()
        .is_some()));
    let o = drain.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains(&format!("stopped the legate daemon (pid {pid})"))
    );
    assert!(!std::path::Path::new(&format!("/proc/{pid}/exe")).exists());
    // All finished, none interrupted (this starts a new daemon, which accepts work again).
    assert_eq!(home.show(&first)["status"], "succeeded");
    assert_eq!(home.show(&queued)["status"], "succeeded");
    let log = home.ok(&["logs", &first]);
    assert!(log.contains("child\nchild=0"), "{log}");
    let tasks = home.ls(&[]);
    assert_eq!(tasks.len(), 3, "{tasks:?}");
    assert!(
        tasks.iter().all(|t| t["status"] == "succeeded"),
        "{tasks:?}"
    );
    home.submit("fake", "print accepted again");
}
