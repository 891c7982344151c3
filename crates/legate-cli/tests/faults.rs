//! Faults while the daemon runs: its data directory turned read-only, a full disk under the
//! store, the SQLite file locked by another process, agents that cannot be spawned, and too
//! many open files. Each gives a clear error, the daemon stays up, nothing accepted is lost,
//! and it works again once the fault is gone.
//!
//! Mounting needs root; where `mount` is refused the case prints why and is not run.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Home, Tmpfs, poll_until, refused};

fn finishes(home: &Home, id: &str) -> String {
    home.wait_all(&[id.to_string()])[id].clone()
}

#[test]
fn a_read_only_data_directory_is_refused_clearly_and_loses_nothing() {
    let home = Home::new("");
    let Some(data) = Tmpfs::mount(&home.path().join("data"), "64m") else {
        return;
    };
    let before = home.submit("fake", "print accepted before");
    assert_eq!(finishes(&home, &before), "succeeded");
    // A mount cannot turn read-only under open files: the daemon stops first, as after a
    // crash that left the disk read-only.
    home.ok(&["daemon", "stop", "--yes"]);
    data.remount("ro");
    refused(&home, &["run", "fake", "print refused"], &["not writable"]);
    refused(&home, &["ls"], &["not writable"]);
    data.remount("rw");
    assert_eq!(
        home.show(&before)["status"],
        "succeeded",
        "what was accepted is still there"
    );
    let after = home.submit("fake", "print accepted after");
    assert_eq!(finishes(&home, &after), "succeeded");
    home.ok(&["daemon", "stop", "--yes"]);
}

#[test]
fn a_full_disk_under_the_store_refuses_submissions_and_recovers() {
    let home = Home::new("");
    let Some(_data) = Tmpfs::mount(&home.path().join("data"), "4m") else {
        return;
    };
    let before = home.submit("fake", "print accepted before");
    assert_eq!(finishes(&home, &before), "succeeded");
    let filler = home.path().join("data").join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=64k", "count=1000"])
        .arg(format!("of={}", filler.display()))
        .stderr(Stdio::null())
        .status();
    // A prompt big enough that the page cannot fit in what is left.
    let big = home.path().join("prompt.txt");
    std::fs::write(&big, "print x\n".repeat(60_000)).unwrap();
    refused(
        &home,
        &["run", "fake-stdin", "--file", big.to_str().unwrap()],
        &["store"],
    );
    assert!(home.daemon_pid().is_some());
    assert_eq!(home.show(&before)["status"], "succeeded");
    std::fs::remove_file(&filler).unwrap();
    let after = home.submit("fake", "print accepted after");
    assert_eq!(finishes(&home, &after), "succeeded");
    home.ok(&["daemon", "stop", "--yes"]);
}

#[test]
fn a_store_locked_by_another_process_is_reported_and_released() {
    let home = Home::new("");
    let before = home.submit("fake", "print accepted before");
    assert_eq!(finishes(&home, &before), "succeeded");
    // Another process takes the write lock and holds it until told to let go.
    let mut locker = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1], isolation_level=None); \
             c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); sys.stdin.read()",
        ])
        .arg(home.db())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(locker.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "locked");
    refused(&home, &["run", "fake", "print refused"], &["locked"]);
    assert!(home.daemon_pid().is_some());
    drop(locker.stdin.take());
    locker.wait().unwrap();
    let after = home.submit("fake", "print accepted after");
    assert_eq!(finishes(&home, &after), "succeeded");
    assert_eq!(home.show(&before)["status"], "succeeded");
}

#[test]
fn agents_that_cannot_be_spawned_fail_their_task_not_the_daemon() {
    let home = Home::with_max_running(1, "");
    let bin = home.path().join("my-agent");
    std::fs::write(&bin, "#!/bin/sh\necho ran\n").unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let extra = format!("[agents.mine]\ncommand = [\"{}\"]\n", bin.display());
    home.write_config(1, &extra);
    // Not executable at submission: refused, nothing stored.
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o644)).unwrap();
    refused(
        &home,
        &["run", "mine", "x"],
        &["not on PATH or not executable"],
    );
    assert!(home.ls(&[]).is_empty());
    // Executable at submission, gone by the time it runs: the task fails with spawn_failed.
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let blocker = home.submit("fake", "sleep 700");
    let doomed = home.submit("mine", "x");
    std::fs::remove_file(&bin).unwrap();
    assert_eq!(finishes(&home, &doomed), "failed");
    let t = home.show(&doomed);
    assert_eq!(t["error"]["kind"], "spawn_failed", "{t}");
    assert!(
        t["error"]["message"].as_str().unwrap().contains("my-agent"),
        "{t}"
    );
    assert_eq!(finishes(&home, &blocker), "succeeded");
    assert!(home.daemon_pid().is_some());
}

#[test]
fn too_many_open_files_fails_tasks_clearly_and_the_daemon_carries_on() {
    let home = Home::with_max_running(40, "");
    // The daemon runs under a low open-file limit: each agent needs pipes and log files.
    let mut daemon = Command::new("prlimit")
        .args(["--nofile=48:48", "--"])
        .arg(common::legate_bin())
        .args(["daemon"])
        .env("LEGATE_HOME", home.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(poll_until(Duration::from_secs(20), || home
        .socket()
        .exists()
        && home.daemon_pid().is_some()));
    // Under the limit a submission may itself be refused; it must say why, and only the ones
    // that printed an id count as accepted.
    let mut ids = Vec::new();
    for _ in 0..40 {
        let out = home.run(&["run", "fake", "sleep 800; print ok"]);
        if out.status.success() {
            ids.push(String::from_utf8(out.stdout).unwrap().trim().to_string());
        } else {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains("error:") && err.len() > 20,
                "an unclear refusal: {err}"
            );
        }
    }
    // Reads can fail too while the daemon is out of descriptors: poll until all have ended.
    let settled = || {
        let out = home.run(&["ls", "--json", "--status", "queued,running"]);
        out.status.success()
            && serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout)
                .is_ok_and(|v| v.is_empty())
    };
    assert!(poll_until(Duration::from_secs(120), settled));
    let statuses = home.statuses();
    let failed: Vec<&String> = ids
        .iter()
        .filter(|id| statuses.get(*id).is_some_and(|s| s == "failed"))
        .collect();
    let succeeded = ids
        .iter()
        .filter(|id| statuses.get(*id).is_some_and(|s| s == "succeeded"))
        .count();
    println!(
        "open-file limit 48: 40 submitted, {} accepted, {succeeded} ran, {} failed to start",
        ids.len(),
        failed.len()
    );
    assert_eq!(
        succeeded + failed.len(),
        ids.len(),
        "each accepted task is there and ran or failed to start"
    );
    assert!(!failed.is_empty(), "the premise: the limit was reached");
    for id in &failed {
        let t = home.show(id);
        let msg = t["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains("open files") || msg.contains("os error 24"),
            "{t}"
        );
    }
    // Once the burst is over, the same daemon runs tasks again.
    let after = home.submit("fake", "print fine");
    assert_eq!(finishes(&home, &after), "succeeded");
    home.ok(&["daemon", "stop", "--yes"]);
    daemon.wait().unwrap();
}

/// Fills the tmpfs under `data` to the last byte, after folding the store's write-ahead log
/// back into the database and truncating it (another SQLite connection may checkpoint): the
/// next write of any kind then needs space the disk does not have.
fn fill_disk(home: &Home, data: &Path) -> PathBuf {
    let truncated = poll_until(Duration::from_secs(30), || {
        Command::new("python3")
            .args([
                "-c",
                "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); \
                 busy=c.execute('PRAGMA wal_checkpoint(TRUNCATE)').fetchone()[0]; sys.exit(busy)",
            ])
            .arg(home.db())
            .status()
            .is_ok_and(|s| s.success())
    });
    assert!(truncated, "the write-ahead log could not be truncated");
    let filler = data.join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=4k"])
        .arg(format!("of={}", filler.display()))
        .stderr(Stdio::null())
        .status();
    let free = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(data)
        .output()
        .unwrap();
    let avail: u64 = String::from_utf8_lossy(&free.stdout)
        .lines()
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(avail, 0, "the disk is full");
    filler
}

#[test]
fn a_full_disk_at_every_kind_of_write_loses_nothing_and_heals_without_a_restart() {
    let home = Home::with_max_running(1, "");
    let data = home.path().join("data");
    let Some(_data) = Tmpfs::mount(&data, "8m") else {
        return;
    };
    let go = home.path().join("go");
    // Before: a finished result still unread, a task holding the only slot until told to
    // end, one queued behind it, and one more to cancel.
    let read_later = home.submit("fake", "print unread result");
    // Polled, not waited for: a `wait` would read the result.
    assert!(poll_until(Duration::from_secs(30), || home
        .show(&read_later)["status"]
        == "succeeded"));
    let holder = home.submit(
        "sh",
        &format!(
            "while [ ! -e '{}' ]; do sleep 0.02; done; echo held",
            go.display()
        ),
    );
    assert!(poll_until(
        Duration::from_secs(30),
        || home.show(&holder)["status"] == "running"
    ));
    let queued = home.submit("fake", "print ran after the disk was freed");
    let to_cancel = home.submit(
        "sh",
        &format!(
            "while [ ! -e '{}' ]; do sleep 0.02; done",
            home.path().join("never").display()
        ),
    );
    let pid = home.daemon_pid().unwrap();
    let count = home.ls(&[]).len();

    let filler = fill_disk(&home, &data);
    // Submit, acknowledge, prune and cancel are refused, say why, and change nothing.
    let refusal = ["disk holding the task store is full", "free space"];
    refused(&home, &["run", "fake", "print refused"], &refusal);
    refused(&home, &["ack", "--all"], &refusal);
    refused(
        &home,
        &["prune", "--older-than", "1ms", "--unacked"],
        &refusal,
    );
    refused(&home, &["cancel", &to_cancel], &refusal);
    // The holder ends: its finish, the next claim, its process record and its events cannot
    // be stored yet.
    std::fs::write(&go, b"").unwrap();
    assert!(poll_until(Duration::from_secs(30), || {
        std::fs::read_to_string(home.path().join("logs").join(&holder).join("output.log"))
            .is_ok_and(|l| l.contains("held"))
    }));
    refused(&home, &["run", "fake", "print refused again"], &refusal);
    assert_eq!(home.ls(&[]).len(), count, "nothing was added");
    assert_eq!(home.show(&queued)["status"], "queued");
    let inbox: serde_json::Value = serde_json::from_str(&home.ok(&["inbox", "--json"])).unwrap();
    assert!(
        inbox["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == read_later.as_str()),
        "the unread result is still unread: {inbox}"
    );

    // Space returns: the same daemon stores the finish, claims and runs the queued task,
    // and takes every kind of write again.
    std::fs::remove_file(&filler).unwrap();
    assert!(poll_until(
        Duration::from_secs(60),
        || home.show(&holder)["status"] == "succeeded"
    ));
    assert_eq!(finishes(&home, &queued), "succeeded");
    assert!(poll_until(Duration::from_secs(30), || home
        .show(&to_cancel)["status"]
        == "running"));
    home.ok(&["cancel", &to_cancel]);
    assert!(poll_until(Duration::from_secs(30), || home
        .show(&to_cancel)["status"]
        == "canceled"));
    let after = home.submit("fake", "print accepted after");
    assert_eq!(finishes(&home, &after), "succeeded");
    home.ok(&["ack", &read_later]);
    assert_eq!(home.daemon_pid(), Some(pid), "no restart was needed");

    // A restart finds every acknowledged task as it was left, none interrupted.
    home.ok(&["daemon", "stop", "--yes"]);
    let statuses = home.statuses();
    for (id, status) in [
        (&read_later, "succeeded"),
        (&holder, "succeeded"),
        (&queued, "succeeded"),
        (&to_cancel, "canceled"),
        (&after, "succeeded"),
    ] {
        assert_eq!(statuses.get(id).map(String::as_str), Some(status), "{id}");
    }
    assert_eq!(statuses.len(), count + 1);
    let pruned = home.ok(&["prune", "--older-than", "1ms", "--unacked"]);
    assert!(pruned.contains('5'), "{pruned}");
    home.ok(&["daemon", "stop", "--yes"]);
}

/// A few finished tasks, then the daemon stopped with its log folded into the database file.
fn stopped_home_with_tasks(n: usize) -> Home {
    let home = Home::new("");
    let ids: Vec<String> = (0..n)
        .map(|i| home.submit("fake", &format!("print task {i} {}", "x".repeat(300))))
        .collect();
    home.wait_all(&ids);
    home.ok(&["daemon", "stop", "--yes"]);
    let ok = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); \
             sys.exit(c.execute('PRAGMA wal_checkpoint(TRUNCATE)').fetchone()[0])",
        ])
        .arg(home.db())
        .status()
        .unwrap();
    assert!(ok.success());
    home
}

#[test]
fn a_damaged_store_is_refused_with_what_to_do_and_never_written() {
    let home = stopped_home_with_tasks(120);
    // 8 KiB of garbage in the middle of the file.
    let mut bytes = std::fs::read(home.db()).unwrap();
    let mid = bytes.len() / 2;
    for (i, b) in bytes[mid..mid + 8192].iter_mut().enumerate() {
        *b = [0xA5, 0x5A, 0xFF, 0x00][i % 4];
    }
    std::fs::write(home.db(), &bytes).unwrap();
    for args in [&["run", "fake", "print x"][..], &["ls"][..]] {
        let err = refused(
            &home,
            args,
            &[
                "is damaged",
                &home.db().display().to_string(),
                "Restore it from a backup",
                "mv ",
            ],
        );
        assert!(
            err.contains("malformed") || err.contains("integrity"),
            "{err}"
        );
    }
    assert_eq!(
        std::fs::read(home.db()).unwrap(),
        bytes,
        "nothing was written to the damaged file"
    );
    assert!(home.daemon_pid().is_none());
}

#[test]
fn a_file_that_is_not_a_database_is_refused_and_left_alone() {
    let home = stopped_home_with_tasks(3);
    let garbage = b"this is not a database, it was overwritten\n".repeat(200);
    std::fs::write(home.db(), &garbage).unwrap();
    refused(&home, &["run", "fake", "print x"], &["is damaged", "mv "]);
    assert_eq!(std::fs::read(home.db()).unwrap(), garbage);
}

#[test]
fn an_emptied_or_deleted_store_with_task_logs_left_is_refused_until_told_to_start_empty() {
    let home = stopped_home_with_tasks(5);
    let data = home.path().join("data");
    for f in ["legate.db-wal", "legate.db-shm"] {
        let _ = std::fs::remove_file(data.join(f));
    }
    // Emptied: its content deleted, the task logs still there.
    std::fs::write(home.db(), b"").unwrap();
    refused(
        &home,
        &["run", "fake", "print x"],
        &["is empty (0 bytes)", "5 task log directories", "backup"],
    );
    assert_eq!(std::fs::metadata(home.db()).unwrap().len(), 0);
    // Deleted.
    std::fs::remove_file(home.db()).unwrap();
    refused(&home, &["ls"], &["is missing", "5 task log directories"]);
    assert!(!home.db().exists(), "no new store was created");
    // Moving the logs aside, as the message says, starts an empty store on purpose.
    let logs = home.path().join("logs");
    std::fs::rename(&logs, home.path().join("logs.old")).unwrap();
    assert!(home.ls(&[]).is_empty());
    let id = home.submit("fake", "print fresh start");
    assert_eq!(finishes(&home, &id), "succeeded");
}

#[test]
fn a_failed_start_reports_its_own_lines_of_the_daemon_log_not_an_earlier_start() {
    // Each way a start can fail (the store refused, the daemon's own settings refused) shows
    // what this start wrote; an earlier start's failure in the same log never stands in.
    let home = stopped_home_with_tasks(1);
    std::fs::write(home.db(), b"this is not a database\n".repeat(50)).unwrap();
    // (environment, what the start says); the daemon's settings are refused by the
    // launcher before any daemon runs, the store by the daemon.
    let cases: [(&[(&str, &str)], &str); 3] = [
        (&[], "failed to start:\nerror: the task store"),
        (&[("LEGATE_SLOTS", "many")], "not a number of task slots"),
        (
            &[("LEGATE_CONFIG", "BAD_CONFIG")],
            "failed to start:\nerror: invalid config",
        ),
    ];
    let bad_config = home.path().join("bad.toml");
    std::fs::write(&bad_config, "[limits]\nmax_running = 0\n").unwrap();
    let mut earlier_case: Option<&str> = None;
    for (env, says) in cases {
        let log = home.path().join("daemon.log");
        let earlier = "an earlier start failed: EARLIER-FAILURE\n".repeat(20);
        let mut kept = std::fs::read_to_string(&log).unwrap_or_default();
        kept.push_str(&earlier);
        std::fs::write(&log, &kept).unwrap();
        let mut cmd = home.cmd(&["ls"]);
        for (k, v) in env {
            cmd.env(
                k,
                if *v == "BAD_CONFIG" {
                    bad_config.as_os_str()
                } else {
                    v.as_ref()
                },
            );
        }
        let o = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains(says), "{err}");
        assert!(
            !err.contains("EARLIER-FAILURE") && earlier_case.is_none_or(|e| !err.contains(e)),
            "an earlier start's lines: {err}"
        );
        assert!(home.daemon_pid().is_none());
        earlier_case = Some(says);
    }
}

#[test]
fn concurrent_failed_starts_each_report_their_own_failure() {
    // Starters take turns: each shows its own daemon's error, never the other's lines.
    let home = Home::new("");
    let configs: Vec<PathBuf> = ["a", "b", "c"]
        .iter()
        .map(|n| {
            let p = home.path().join(format!("bad-{n}.toml"));
            std::fs::write(&p, format!("[limits]\nmax_running = 0 # {n}\n")).unwrap();
            p
        })
        .collect();
    for _ in 0..3 {
        let children: Vec<_> = configs
            .iter()
            .map(|c| {
                home.cmd(&["ls"])
                    .env("LEGATE_CONFIG", c)
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for (child, own) in children.into_iter().zip(&configs) {
            let o = child.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "{err}");
            assert_eq!(err.matches("invalid config").count(), 1, "{err}");
            assert!(err.contains(&own.display().to_string()), "{err}");
        }
    }
    assert!(home.daemon_pid().is_none());
}
