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

use common::{Home, poll_until, refused};

/// A small tmpfs mounted at `dir` for the life of the guard.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
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

    fn remount(&self, mode: &str) {
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
    home.ok(&["daemon", "stop"]);
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
    home.ok(&["daemon", "stop"]);
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
    home.ok(&["daemon", "stop"]);
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
    let statuses: std::collections::HashMap<String, String> = home
        .ls(&[])
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_string(),
                t["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
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
    home.ok(&["daemon", "stop"]);
    daemon.wait().unwrap();
}
