//! Process trees: timeout, cancel and a daemon killed with SIGKILL leave nothing behind.

mod common;

use std::time::Duration;

use common::{Home, poll_until, processes_of_task};

fn grandchild_pid(home: &Home, id: &str) -> i32 {
    let mut pid = 0;
    assert!(poll_until(Duration::from_secs(10), || {
        let log = home.ok(&["logs", "--stdout", id]);
        match log.lines().find_map(|l| l.strip_prefix("grandchild ")) {
            Some(p) => {
                pid = p.trim().parse().unwrap();
                true
            }
            None => false,
        }
    }));
    pid
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rfind(')').is_some_and(|i| !s[i + 2..].starts_with('Z')))
}

#[test]
fn timeout_ends_the_whole_tree_even_a_grandchild_that_ignores_term() {
    let home = Home::new("");
    let id = home
        .ok(&[
            "run",
            "--timeout",
            "1s",
            "fake",
            "ignore-term; grandchild 600000; hang",
        ])
        .trim()
        .to_string();
    let gc = grandchild_pid(&home, &id);
    assert!(alive(gc));
    assert_eq!(home.wait_all(std::slice::from_ref(&id))[&id], "timed_out");
    let t = home.show(&id);
    assert_eq!(t["error"]["kind"], "timed_out");
    assert!(!alive(gc), "the grandchild survived the timeout");
    assert!(processes_of_task(&id).is_empty());
    assert!(home.ok(&["logs", &id]).contains("timed out after 1s"));
}

#[test]
fn cancel_ends_a_running_tree_and_a_queued_task_at_once() {
    let home = Home::new("[agents.one]\ncommand = [\"sleep\"]\nmax_running = 1\n");
    let running = home.submit("fake", "grandchild 600000; hang");
    let gc = grandchild_pid(&home, &running);
    let out = home.ok(&["cancel", "--json", &running]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["status"], "canceled");
    assert_eq!(home.show(&running)["error"]["kind"], "canceled");
    assert!(!alive(gc));
    assert!(processes_of_task(&running).is_empty());

    let first = home.submit("one", "600");
    let queued = home.submit("one", "600");
    assert_eq!(home.show(&queued)["status"], "queued");
    home.ok(&["cancel", &queued]);
    assert_eq!(home.show(&queued)["status"], "canceled");
    assert!(home.show(&queued)["started_at"].is_null());

    let out = home.ok(&["cancel", "--all", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(home.show(&first)["status"], "canceled");
    assert!(processes_of_task(&first).is_empty());
}

#[test]
fn a_daemon_killed_mid_run_loses_nothing_and_leaves_no_orphans() {
    // Two slots, both taken, so the six tasks behind them are surely still queued at the kill.
    let home = Home::with_max_running(
        2,
        "[agents.retry]\ncommand = [\"sleep\", \"{prompt}\"]\nretry_interrupted = true\n",
    );
    let a = home.submit("fake", "grandchild 600000; hang");
    let b = home.submit("retry", "3");
    let gc = grandchild_pid(&home, &a);
    assert!(poll_until(
        Duration::from_secs(10),
        || home.show(&b)["status"] == "running"
    ));
    let queued: Vec<String> = (0..6)
        .map(|i| home.submit("fake", &format!("print q{i}")))
        .collect();
    for q in &queued {
        assert_eq!(
            home.show(q)["status"],
            "queued",
            "the premise: still queued at the kill"
        );
    }
    let pid = home.daemon_pid().unwrap();
    nix_kill9(pid);
    assert!(poll_until(Duration::from_secs(10), || !alive(pid)));

    // The next command starts a new daemon, which takes back the lost tasks.
    let statuses = home.wait_all(&[vec![a.clone(), b.clone()], queued.clone()].concat());
    assert_eq!(statuses[&a], "interrupted");
    assert_eq!(home.show(&a)["error"]["kind"], "interrupted");
    assert_eq!(statuses[&b], "succeeded", "retry_interrupted requeues");
    assert_eq!(home.show(&b)["attempt"], 2);
    for q in &queued {
        assert_eq!(statuses[q], "succeeded");
    }
    assert!(!alive(gc), "the crashed daemon's grandchild was not killed");
    assert!(processes_of_task(&a).is_empty());
    assert!(home.ls(&["--status", "running,queued"]).is_empty());
}

fn nix_kill9(pid: i32) {
    assert!(
        std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
}

#[test]
fn stopping_the_daemon_ends_running_trees_and_marks_them_interrupted() {
    let home = Home::new(
        "[agents.retry]\ncommand = [\"sleep\", \"{prompt}\"]\nretry_interrupted = true\n",
    );
    let plain = home.submit("fake", "grandchild 600000; hang");
    let retry = home.submit("retry", "600");
    let gc = grandchild_pid(&home, &plain);
    assert!(poll_until(
        Duration::from_secs(10),
        || home.show(&retry)["status"] == "running"
    ));
    home.ok(&["daemon", "stop"]);
    assert!(!alive(gc), "stop left the grandchild behind");
    assert!(processes_of_task(&plain).is_empty() && processes_of_task(&retry).is_empty());
    // Reading starts a new daemon; nothing ran meanwhile.
    assert_eq!(home.show(&plain)["status"], "interrupted");
    assert!(
        home.show(&plain)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("stopped")
    );
    let r = home.show(&retry);
    assert!(
        r["status"] == "queued" || r["status"] == "running",
        "requeued by policy: {r}"
    );
    home.ok(&["cancel", &retry]);
}
