//! What legate creates is private (directories 0700, files 0600) whatever the umask, while
//! the agents it starts keep the user's umask for their own files. What it finds is checked:
//! a data, log or run directory that others may read or write, and a config file that another
//! user owns or may write, are refused with the command that fixes them.

mod common;

use std::path::PathBuf;

use common::perms::{
    assert_all_private, chmod, chown_nobody, mkdir, mode_of, nobody_ok, under_umask_000,
};
use common::{Home, refused};

#[test]
fn under_umask_000_everything_legate_creates_is_private_and_agents_keep_the_umask() {
    let home = Home::new("");
    for args in [
        ["run", "--wait", "fake-file", "print hello"],
        ["run", "--wait", "echo", "the agent's own file"],
    ] {
        let out = under_umask_000(&home.cmd(&args)).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let p = home.path();
    let roots: Vec<PathBuf> = ["data", "logs", "run", "daemon.log"]
        .iter()
        .map(|n| p.join(n))
        .collect();
    let names = assert_all_private(&roots);
    for n in [
        "legate.db",
        "legate.db-wal",
        "legate.db-shm",
        "legate.sock",
        "daemon.lock",
        "output.log",
        "stdout.log",
        "daemon.log",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
    }
    // The echo agent wrote its dump itself: the user's umask (000) applies to it.
    assert_eq!(mode_of(&home.dump_path()), 0o666);
}

#[test]
fn open_data_log_or_run_directories_are_refused_with_the_fix() {
    let home = Home::new("");
    let dirs = [("data", 0o755), ("logs", 0o750), ("run", 0o705)];
    for (i, (name, mode)) in dirs.iter().enumerate() {
        let dir = home.path().join(name);
        mkdir(&dir, *mode);
        let fix = format!("chmod 700 {}", dir.display());
        refused(&home, &["run", "fake", "print x"], &[&fix]);
        for (later, _) in &dirs[i + 1..] {
            assert!(
                !home.path().join(later).exists(),
                "refusing {name} created {later}"
            );
        }
        chmod(&dir, 0o700);
    }
    let id = home.submit("fake", "print fixed");
    assert_eq!(home.wait_all(std::slice::from_ref(&id))[&id], "succeeded");
}

#[test]
fn a_config_another_user_owns_or_may_write_is_refused() {
    let home = Home::new("");
    let config = home.path().join("config.toml");
    let shown = config.display().to_string();
    chown_nobody(&config);
    refused(&home, &["run", "fake", "print x"], &[&shown, "uid 65534"]);
    std::os::unix::fs::lchown(&config, Some(0), Some(0)).unwrap();
    chmod(&config, 0o666);
    refused(
        &home,
        &["run", "fake", "print x"],
        &[&shown, &format!("chmod go-w {shown}")],
    );

    // The running daemon re-reads the file when it changes: another user who may write it
    // adds an agent of theirs, which legate must not run.
    chmod(&config, 0o644);
    home.submit("fake", "print trusted");
    chmod(home.path(), 0o711);
    chmod(&config, 0o666);
    let marker = home.path().join("planted-ran");
    let planted = format!(
        "\n[agents.planted]\ncommand = [\"/usr/bin/touch\", \"{}\"]\n",
        marker.display()
    );
    nobody_ok(
        "/bin/sh",
        &["-c", "printf '%s' \"$1\" >> \"$2\"", "sh", &planted, &shown],
    );
    refused(
        &home,
        &["run", "planted", "x"],
        &[&shown, &format!("chmod go-w {shown}")],
    );
    assert!(!marker.exists());
}
