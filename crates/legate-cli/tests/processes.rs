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
    home.ok(&["daemon", "stop", "--yes"]);
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

/// The shell words that start `sleep 1000` in a new session (so outside the task's process
/// group), writing its pid to `pid_file` first; `drop_id` also removes `LEGATE_TASK_ID` from
/// its environment. The task waits until the pid is written.
fn escapee(pid_file: &std::path::Path, drop_id: bool) -> String {
    let f = pid_file.display();
    let env = if drop_id {
        "env -u LEGATE_TASK_ID "
    } else {
        ""
    };
    format!(
        "{env}setsid sh -c 'echo $$ > {f}; exec sleep 1000' >/dev/null 2>&1 & until [ -s {f} ]; do sleep 0.01; done"
    )
}

/// The pid written to `path`, once it is there.
fn pid_in(path: &std::path::Path) -> i32 {
    let mut pid = 0;
    assert!(poll_until(Duration::from_secs(10), || {
        pid = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        pid > 0
    }));
    pid
}

/// The cgroup2 mount point, from this process's mountinfo.
fn cgroup2_mount() -> Option<std::path::PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        (right.split_whitespace().next()? == "cgroup2")
            .then(|| left.split_whitespace().nth(4).map(std::path::PathBuf::from))?
    })
}

/// Whether the daemon (started from this process's cgroup) can give each task a cgroup: a
/// cgroup2 mount and the right to move processes out of this cgroup.
fn cgroups_expected() -> bool {
    let Some(mount) = cgroup2_mount() else {
        return false;
    };
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let Some(own) = own.lines().find_map(|l| l.strip_prefix("0::")) else {
        return false;
    };
    let procs = mount.join(own.trim_start_matches('/')).join("cgroup.procs");
    std::fs::OpenOptions::new().write(true).open(procs).is_ok()
}

/// The directory of the cgroup2 cgroup recorded in `file` (a copy of `/proc/PID/cgroup`).
fn cgroup_dir_in(file: &std::path::Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(file).unwrap();
    let rel = text.lines().find_map(|l| l.strip_prefix("0::")).unwrap();
    cgroup2_mount().unwrap().join(rel.trim_start_matches('/'))
}

/// No process of task `id` is left, and (where cgroups are used) the cgroup named in the file
/// `cg` the task wrote is gone.
fn assert_task_cleared(id: &str, cg: &std::path::Path) {
    assert!(processes_of_task(id).is_empty());
    if cgroups_expected() {
        assert!(
            !cgroup_dir_in(cg).exists(),
            "the task's cgroup was not removed"
        );
    }
}

#[test]
fn nothing_a_task_started_outlives_its_normal_exit() {
    let home = Home::new("");
    let (a, b, cg) = (
        home.path().join("a.pid"),
        home.path().join("b.pid"),
        home.path().join("cgroup"),
    );
    // One in a new session; one daemonized by a double fork that also drops LEGATE_TASK_ID;
    // with cgroups, one more in a cgroup the task makes inside its own (as a legate started by
    // the task would).
    let nested = home.path().join("c.pid");
    let with_cgroups = cgroups_expected();
    let inner = if with_cgroups {
        format!(
            "d={}$(sed -n 's/^0:://p' /proc/self/cgroup)/inner; mkdir $d; sh -c \"echo 0 > $d/cgroup.procs; echo \\$\\$ > {n}; exec sleep 1000\" >/dev/null 2>&1 & until [ -s {n} ]; do sleep 0.01; done",
            cgroup2_mount().unwrap().display(),
            n = nested.display()
        )
    } else {
        "true".into()
    };
    let script = format!(
        "cat /proc/self/cgroup > {}; {}; ( {} ); {inner}; exit 0",
        cg.display(),
        escapee(&a, false),
        escapee(&b, true)
    );
    let id = home.submit("sh", &script);
    assert_eq!(home.wait_all(std::slice::from_ref(&id))[&id], "succeeded");
    let (a, b) = (pid_in(&a), pid_in(&b));
    assert!(!alive(a), "a grandchild in a new session survived its task");
    assert!(!alive(b), "a daemonized grandchild survived its task");
    assert!(processes_of_task(&id).is_empty());
    let dir = cgroup_dir_in(&cg);
    if with_cgroups {
        assert!(
            !alive(pid_in(&nested)),
            "a grandchild in a nested cgroup survived"
        );
        let name = dir.file_name().unwrap().to_str().unwrap().to_string();
        assert!(
            name.starts_with(&format!("task-{id}-1-")),
            "the task ran in its own cgroup: {}",
            dir.display()
        );
        assert!(!dir.exists(), "the task's cgroup was not removed");
    } else {
        eprintln!("no usable cgroup2 here: the process group and LEGATE_TASK_ID path was tested");
    }
}

#[test]
fn cancel_ends_a_grandchild_that_left_the_group_and_dropped_the_task_id() {
    let home = Home::new("");
    let (f, cg) = (home.path().join("gc.pid"), home.path().join("cgroup"));
    let script = format!(
        "cat /proc/self/cgroup > {}; {}; sleep 1000",
        cg.display(),
        escapee(&f, true)
    );
    let id = home.submit("sh", &script);
    let gc = pid_in(&f);
    assert!(alive(gc));
    home.ok(&["cancel", &id]);
    assert_eq!(home.show(&id)["status"], "canceled");
    assert!(!alive(gc), "the grandchild survived the cancel");
    assert_task_cleared(&id, &cg);
}

#[test]
fn a_restart_after_a_crash_ends_what_left_the_group() {
    let home = Home::new("");
    let (f, cg) = (home.path().join("gc.pid"), home.path().join("cgroup"));
    let script = format!(
        "cat /proc/self/cgroup > {}; {}; sleep 1000",
        cg.display(),
        escapee(&f, true)
    );
    let id = home.submit("sh", &script);
    let gc = pid_in(&f);
    let pid = home.daemon_pid().unwrap();
    nix_kill9(pid);
    assert!(poll_until(Duration::from_secs(10), || !alive(pid)));
    assert!(alive(gc), "the premise: the crash left the grandchild");
    // The next command starts a new daemon, which takes the task back and ends its processes.
    assert_eq!(home.wait_all(std::slice::from_ref(&id))[&id], "interrupted");
    assert!(
        !alive(gc),
        "the crashed daemon's escaped grandchild was not killed"
    );
    assert_task_cleared(&id, &cg);
}

#[test]
fn without_cgroups_the_group_and_task_id_sweep_run_after_a_normal_exit() {
    let home = Home::new("");
    let started = home
        .cmd(&["daemon", "--detach"])
        .env("LEGATE_CGROUPS", "off")
        .output()
        .unwrap();
    assert!(started.status.success());
    let (f, cg) = (home.path().join("gc.pid"), home.path().join("cgroup"));
    let script = format!(
        "cat /proc/self/cgroup > {}; {}; exit 0",
        cg.display(),
        escapee(&f, false)
    );
    let id = home.submit("sh", &script);
    assert_eq!(home.wait_all(std::slice::from_ref(&id))[&id], "succeeded");
    let gc = pid_in(&f);
    assert!(
        !alive(gc),
        "the grandchild in a new session survived its task"
    );
    let own = std::fs::read_to_string(&cg).unwrap();
    assert!(!own.contains("/task-"), "cgroups are off: {own}");
    let log = std::fs::read_to_string(home.path().join("daemon.log")).unwrap_or_default();
    assert!(
        log.contains("no cgroups: LEGATE_CGROUPS=off"),
        "the daemon says which way it ends tasks:\n{log}"
    );
}
