//! Bad input: each case gives a clear message, exits non-zero, and changes nothing.

mod common;

use common::{Home, refused};

#[test]
fn unknown_ambiguous_and_malformed_ids() {
    let home = Home::new("[agents.noop]\ncommand = [\"true\"]\n");
    refused(&home, &["show", "zzzz"], &["no task matches 'zzzz'"]);
    refused(&home, &["show", "../etc/passwd"], &["not a task id"]);
    refused(&home, &["wait", "abcdefghjkmn"], &["longer than a task id"]);
    refused(&home, &["logs", "zz"], &["no task matches"]);
    // 33 ids over a 32-character alphabet: two share a first character.
    let ids: Vec<String> = (0..33).map(|_| home.submit("noop", "x")).collect();
    let mut firsts = std::collections::HashMap::new();
    let shared = ids
        .iter()
        .find_map(|id| {
            firsts
                .insert(id[..1].to_string(), id.clone())
                .map(|_| id[..1].to_string())
        })
        .unwrap();
    refused(
        &home,
        &["show", &shared],
        &["matches several tasks", "type more characters"],
    );
    home.wait_all(&ids);
    let err = refused(
        &home,
        &["cancel", &ids[0]],
        &["already finished", "nothing to cancel"],
    );
    assert!(err.contains("succeeded"));
    // One finished id among several cancels none of them.
    let live = home.submit("fake", "sleep 5000");
    refused(&home, &["cancel", &live, &ids[1]], &["already finished"]);
    assert_eq!(home.show(&live)["status"], "running");
    refused(&home, &["result", &live], &["still running", "legate wait"]);
    home.ok(&["cancel", &live]);
    refused(
        &home,
        &["ls", "--status", "done"],
        &["unknown status 'done'", "timed_out"],
    );
    refused(
        &home,
        &["prune", "--older-than", "whenever"],
        &["--older-than"],
    );
}

#[test]
fn an_invalid_config_names_file_line_and_key_and_starts_nothing() {
    let home = Home::with_config("[limits]\nmax_running = 2\nmax_runing = 3\n");
    let err = refused(
        &home,
        &["run", "sh", "echo hi"],
        &["config.toml:3:1", "max_runing"],
    );
    assert!(err.contains("unknown field"), "{err}");
    assert!(
        !home.db().exists(),
        "the store was created despite the bad config"
    );
    assert!(home.daemon_pid().is_none());

    // An edit that breaks the config of a running daemon is refused at submit, naming the key.
    let good = Home::new("");
    good.ok(&["ls"]);
    let path = good.path().join("config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}\n[agents.broken]\ncommand = []\n")).unwrap();
    refused(
        &good,
        &["run", "fake", "print x"],
        &["agents.broken.command"],
    );
    assert!(good.ls(&[]).is_empty());
    assert!(good.daemon_pid().is_some(), "the daemon must keep running");
}

#[test]
fn directories_owned_by_another_user_or_read_only_are_refused() {
    let home = Home::new("");
    let run = home.path().join("run");
    std::fs::create_dir(&run).unwrap();
    std::os::unix::fs::chown(&run, Some(65534), Some(65534)).unwrap();
    refused(&home, &["ls"], &["owned by uid 65534", "LEGATE_HOME"]);
    assert!(!home.db().exists());
    assert!(
        !home.path().join("data").exists(),
        "directories were created despite the refusal"
    );

    let ro = Home::new("");
    let data = ro.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::os::unix::fs::PermissionsExt::from_mode(0o500)).unwrap();
    refused(&ro, &["ls"], &["not writable"]);
    assert!(!ro.db().exists());
}

#[test]
fn a_full_disk_fails_the_task_not_the_daemon() {
    let home = Home::new("");
    let logs = home.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=512k,mode=0700", "tmpfs"])
        .arg(&logs)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!(
            "SKIPPED: cannot mount a small tmpfs here (needs root); the full-disk case was not run"
        );
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }
    let _guard = Unmount(logs.clone());
    let id = home.submit("fake", "flood 4000000");
    assert_eq!(home.wait_all(std::slice::from_ref(&id))[&id], "failed");
    let t = home.show(&id);
    assert_eq!(t["error"]["kind"], "log_write_failed");
    assert!(
        t["error"]["message"]
            .as_str()
            .unwrap()
            .contains("No space left"),
        "{t}"
    );
    // The daemon is still up and serves.
    assert!(home.daemon_pid().is_some());
    home.ok(&["ls"]);
    home.ok(&["daemon", "stop", "--yes"]);
}

#[test]
fn a_home_whose_path_is_not_utf8_is_refused_before_anything_is_made() {
    use std::os::unix::ffi::OsStrExt;
    let home = Home::new("");
    let odd = home.path().join(std::ffi::OsStr::from_bytes(b"home-\xff"));
    let out = home.cmd(&["ls"]).env("LEGATE_HOME", &odd).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("is not valid UTF-8") && err.contains("LEGATE_HOME"),
        "{err}"
    );
    assert!(!odd.exists(), "nothing made at {}", odd.display());
}

#[test]
fn a_command_whose_config_is_not_the_daemons_is_told_so() {
    let home = Home::new("");
    home.ok(&["ls"]);
    let other = home.path().join("other.toml");
    std::fs::write(&other, "[agents.onlyhere]\ncommand = [\"true\"]\n").unwrap();
    let out = home
        .cmd(&["run", "onlyhere", "hi"])
        .env("LEGATE_CONFIG", &other)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the running daemon reads its configuration from")
            && err.contains(other.to_str().unwrap())
            && err.contains("legate daemon stop"),
        "{err}"
    );
    assert!(err.contains("unknown agent 'onlyhere'"), "{err}");
    // The same environment as the daemon's: nothing said.
    let out = home.run(&["ls"]);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn a_script_whose_interpreter_is_missing_is_named_as_the_reason() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("agent.sh");
    std::fs::write(&script, "#!/nonexistent/interpreter -x\necho hi\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let home = Home::new(&format!(
        "[agents.scripted]\ncommand = [\"{}\"]\n",
        script.display()
    ));
    let id = home.submit("scripted", "x");
    assert_eq!(home.wait_all(std::slice::from_ref(&id))[&id], "failed");
    let error = &home.show(&id)["error"];
    assert_eq!(error["kind"], "spawn_failed", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("/nonexistent/interpreter") && message.contains("#!"),
        "{message}"
    );
}
