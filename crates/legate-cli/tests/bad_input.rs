//! Bad input: each case gives a clear message, exits non-zero, and changes nothing.

mod common;

use common::{Home, raw};

/// Runs legate, expects exit 1 and a stderr containing every needle; returns stderr.
fn refused(home: &Home, args: &[&str], needles: &[&str]) -> String {
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

#[test]
fn submissions_that_are_refused_create_no_task() {
    let home = Home::new("[agents.ghost]\ncommand = [\"/nonexistent/agent-bin\"]\n");
    home.ok(&["ls"]);
    refused(
        &home,
        &["run", "nope", "hi"],
        &["unknown agent 'nope'", "fake (scripted fake agent)", "sh"],
    );
    refused(
        &home,
        &["run", "ghost", "hi"],
        &["/nonexistent/agent-bin", "not on PATH"],
    );
    refused(&home, &["run", "fake", "   "], &["prompt is empty"]);
    refused(&home, &["run", "fake"], &["prompt is empty"]);
    let big = home.path().join("big");
    std::fs::write(&big, vec![b'a'; (8 << 20) + 1]).unwrap();
    refused(
        &home,
        &["run", "fake-stdin", "--file", big.to_str().unwrap()],
        &["8 MiB"],
    );
    refused(
        &home,
        &["run", "--timeout", "soon", "fake", "x"],
        &["--timeout", "not a duration"],
    );
    refused(
        &home,
        &["run", "--cwd", "/nonexistent/dir", "fake", "x"],
        &["does not exist"],
    );
    let bad_utf8 = home.path().join("bin");
    std::fs::write(&bad_utf8, b"\xff\xfe").unwrap();
    refused(
        &home,
        &["run", "fake", "--file", bad_utf8.to_str().unwrap()],
        &["UTF-8"],
    );
    refused(
        &home,
        &["run", "--notify", "notify-send 'unclosed", "fake", "x"],
        &["--notify", "unbalanced quotes"],
    );
    refused(
        &home,
        &["run", "--notify", "  ", "fake", "x"],
        &["--notify", "empty"],
    );
    refused(
        &home,
        &["run", "--webhook", "ftp://example.org/x", "fake", "x"],
        &["--webhook", "must start with http:// or https://"],
    );
    let o = home
        .cmd(&["run", "fake", "x"])
        .env("LEGATE_DEPTH", "lots")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("LEGATE_DEPTH"));
    assert!(
        home.ls(&[]).is_empty(),
        "a refused submission created a task"
    );
}

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
        &["config.toml", "line 3", "max_runing"],
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
    home.ok(&["daemon", "stop"]);
}

#[test]
fn api_requests_that_are_malformed_get_code_message_hint() {
    let home = Home::new("");
    home.ok(&["ls"]);
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        (
            "POST",
            "/v1/tasks",
            b"{not json".to_vec(),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/v1/tasks",
            br#"{"agent":"fake","prompt":"x","colour":"red"}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/v1/tasks",
            br#"{"agent":"fake","prompt":5}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/v1/tasks",
            br#"{"agent":"fake"}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/v1/tasks",
            br#"{"agent":"fake","prompt":"x","cwd":"relative/dir"}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/v1/tasks",
            br#"{"agent":"fake","prompt":"x","metadata":[1]}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/v1/tasks",
            br#"{"agent":"fake","prompt":"x","depth":9}"#.to_vec(),
            403,
            "depth_exceeded",
        ),
        (
            "GET",
            "/v1/tasks/..%2F..%2Fetc",
            Vec::new(),
            400,
            "invalid_request",
        ),
        (
            "GET",
            "/v1/tasks?limit=lots",
            Vec::new(),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/v1/wait",
            br#"{"ids":[]}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/v1/tasks",
            br#"{"agent":"fake","prompt":"x","notify":[{"command":[]}]}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/v1/tasks",
            br#"{"agent":"fake","prompt":"x","notify":[{"shell":"rm -rf /"}]}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "GET",
            "/v1/events?kind=done",
            Vec::new(),
            400,
            "invalid_request",
        ),
        (
            "GET",
            "/v1/events?after=x",
            Vec::new(),
            400,
            "invalid_request",
        ),
        ("GET", "/v1/inbox", Vec::new(), 400, "invalid_request"),
        (
            "GET",
            "/v1/inbox?origin=",
            Vec::new(),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/v1/inbox/ack",
            br#"{"origin":"ann"}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/v1/inbox/ack",
            br#"{"origin":"ann","ids":["ZZZZZZZZ"]}"#.to_vec(),
            404,
            "not_found",
        ),
        (
            "POST",
            "/v1/stop-gate",
            br#"{"origin":"","max_blocks":1}"#.to_vec(),
            400,
            "invalid_request",
        ),
        ("GET", "/v2/nothing", Vec::new(), 404, "not_found"),
    ];
    for (method, path, body, code, kind) in cases {
        let (got, text) = raw(&home, method, path, &body);
        assert_eq!(got, code, "{method} {path}: {text}");
        let v: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}"));
        assert_eq!(v["code"], kind, "{path}: {text}");
        assert!(!v["message"].as_str().unwrap().is_empty());
    }
    let mut huge = br#"{"agent":"fake-stdin","prompt":""#.to_vec();
    huge.extend(std::iter::repeat_n(b'a', (8 << 20) + 10));
    huge.extend(br#""}"#);
    let (got, text) = raw(&home, "POST", "/v1/tasks", &huge);
    assert_eq!(got, 413, "{}", &text[..text.len().min(300)]);
    assert!(text.contains("prompt_too_large"));
    assert!(home.ls(&[]).is_empty());
}
