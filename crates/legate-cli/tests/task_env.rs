//! A task's environment is its submitter's, captured at submit, without host-session markers:
//! the same however the daemon was started, and never shown.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Home, raw};

/// Starts the daemon from a client whose environment must not reach anyone's agents.
fn daemon_started_from_a_host_session(home: &Home) {
    let o = home
        .cmd(&["daemon", "--detach"])
        .env("FOO", "first")
        .env("CLAUDECODE", "1")
        .env("CLAUDE_CODE_ENTRYPOINT", "cli")
        .env("LEGATE_ORIGIN", "someone")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn agents_get_the_submitters_environment_not_the_daemons() {
    let home = Home::new("");
    daemon_started_from_a_host_session(&home);
    let o = home
        .cmd(&["run", "--wait", "sh", "echo FOO=$FOO; env"])
        .env("FOO", "later")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}");
    assert!(out.starts_with("FOO=later\n"), "{out}");
    assert!(!out.contains("CLAUDECODE"), "{out}");
    assert!(!out.contains("CLAUDE_CODE_ENTRYPOINT"), "{out}");
    assert!(!out.contains("LEGATE_ORIGIN=someone"), "{out}");
    assert!(out.contains("LEGATE_DEPTH=1"), "{out}");
}

#[test]
fn a_follow_up_takes_its_own_submitters_environment() {
    let sessions = tempfile::tempdir().unwrap();
    let home = Home::with_resumable_agent(sessions.path());
    let first = home
        .cmd(&["run", "--wait", "--json", "resumable", "env FOO"])
        .env("FOO", "first-submitter")
        .output()
        .unwrap();
    let first: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(first["result"], "FOO=first-submitter", "{first}");
    let id = first["id"].as_str().unwrap();
    let o = home
        .cmd(&["send", "--wait", id, "env FOO"])
        .env("FOO", "second-submitter")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "FOO=second-submitter",
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn a_secret_in_the_environment_is_used_but_never_shown() {
    let home = Home::new("");
    daemon_started_from_a_host_session(&home);
    let o = home
        .cmd(&[
            "run",
            "--wait",
            "sh",
            // The prompt names the key but not its value.
            "[ \"sk-${API_KEY#sk-}\" = \"sk-secret$((100 + 23))\" ] && echo the agent has its key",
        ])
        .env("API_KEY", "sk-secret123")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "the agent has its key\n"
    );
    let id = home.ls(&[])[0]["id"].as_str().unwrap().to_string();
    for args in [
        vec!["show", id.as_str()],
        vec!["show", "--json", "--prompt", id.as_str()],
        vec!["ls", "--json"],
        vec!["events", "--json"],
        vec!["logs", id.as_str()],
    ] {
        let shown = home.ok(&args);
        assert!(!shown.contains("sk-secret123"), "{args:?}: {shown}");
    }
    let log = std::fs::read_to_string(home.path().join("daemon.log")).unwrap();
    assert!(!log.contains("sk-secret123"), "{log}");
}

#[test]
fn an_agent_installed_after_the_daemon_started_is_found_on_the_submitters_path() {
    let home = Home::new("[agents.late]\ncommand = [\"legate-late-agent\", \"{prompt}\"]\n");
    home.ok(&["daemon", "--detach"]);
    let bin = tempfile::tempdir().unwrap();
    let program = bin.path().join("legate-late-agent");
    std::fs::write(&program, "#!/bin/sh\necho late agent says $1\n").unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = home
        .cmd(&["run", "--wait", "late", "hello"])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "late agent says hello\n"
    );
    // `legate agents` looks it up as that command's tasks would be: found on this PATH.
    let o = home
        .cmd(&["--json", "agents"])
        .env("PATH", &path)
        .output()
        .unwrap();
    let agents: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let late = |agents: &serde_json::Value| {
        agents
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "late")
            .unwrap()["available"]
            .clone()
    };
    assert_eq!(late(&agents), true, "{agents}");
    // Without it on the submitter's PATH, the agent is unavailable.
    common::refused(
        &home,
        &["run", "late", "hello"],
        &["legate-late-agent", "not on PATH"],
    );
    let agents: serde_json::Value = serde_json::from_str(&home.ok(&["--json", "agents"])).unwrap();
    assert_eq!(late(&agents), false, "{agents}");
}

#[test]
fn a_task_submitted_without_an_environment_gets_the_minimal_fallback() {
    let home = Home::new("");
    daemon_started_from_a_host_session(&home);
    let (code, body) = raw(
        &home,
        "POST",
        "/v1/tasks",
        br#"{"agent":"sh","prompt":"env","origin":"an-old-client"}"#,
    );
    assert_eq!(code, 201, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["task"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    home.wait_all(std::slice::from_ref(&id));
    let env = home.show(&id)["result"].as_str().unwrap().to_string();
    let mut names: Vec<&str> = env
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .filter(|k| *k != "PWD" && *k != "SHLVL" && *k != "_")
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "HOME",
            "LANG",
            "LEGATE_DEPTH",
            "LEGATE_HOME",
            "LEGATE_TASK_ID",
            "LOGNAME",
            "PATH",
            "TERM",
            "USER"
        ],
        "{env}"
    );
    assert!(env.contains("TERM=dumb\n"), "{env}");
    assert!(env.contains("PATH=/usr/local/bin:/usr/bin:/bin:"), "{env}");
}
