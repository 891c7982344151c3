//! Claude Code (pinned in `scripts/install-test-agents`) with legate's plugin as `legate setup
//! claude-code` installs it, against the scripted model server: the plugin validates; an idle
//! interactive session (driven in tmux) is woken by the plugin's monitor when a result arrives
//! and its model receives each result once; `claude -p`, where monitors are not armed,
//! receives each result once through the hooks' stop gate. Both deliveries are measured (see
//! `common::hosts::delivery`).

mod common;

use common::hosts::claude_tui::Tui;
use common::hosts::{HostRun, claude, delivery};
use common::{Home, agents, poll_until, processes_with_env};
use legate_test_model::{ModelServer, Received};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// How long a test waits for a task to show up, or a process to end.
const DEADLINE: Duration = Duration::from_secs(60);

/// `claude plugin validate DIR`, asserting it passes; returns what it printed.
fn validate(dir: &Path) -> String {
    let bin = agents::required("claude");
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(&bin)
        .args(["plugin", "validate"])
        .arg(dir)
        .env("HOME", home.path())
        .env("DISABLE_AUTOUPDATER", "1")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{}: {text}", dir.display());
    text
}

#[test]
fn the_plugin_validates_as_shipped_and_as_installed() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../integrations/claude-code");
    let home = Home::new("");
    let project = agents::new_project();
    let dir = claude::set_up(&home, project.path());
    let installed = dir.join(".claude/skills/legate");
    for plugin in [shipped, installed] {
        let said = validate(&plugin);
        for part in [
            "monitors: legate-results",
            "inbox --follow --claude-code",
            "hooks: SessionStart",
            "hooks: Stop",
            "mcpServers: legate",
        ] {
            assert!(said.contains(part), "{part} missing:\n{said}");
        }
    }
    // The installed copy runs the legate under test, in the test's store.
    let monitors =
        std::fs::read_to_string(dir.join(".claude/skills/legate/monitors/monitors.json")).unwrap();
    assert!(
        monitors.contains(&format!("LEGATE_HOME={}", home.path().display())),
        "{monitors}"
    );
    let settings = std::fs::read_to_string(dir.join(".claude/settings.json")).unwrap();
    assert!(settings.contains("mcp__plugin_legate_legate"), "{settings}");
}

#[test]
fn setup_writes_the_plugin_and_the_permission_once_keeping_the_rest() {
    let home = Home::new("");
    let user = tempfile::tempdir().unwrap();
    let setup = |args: &[&str], cwd: &Path| {
        let mut argv = vec!["setup", "claude-code"];
        argv.extend_from_slice(args);
        home.cmd(&argv)
            .env("HOME", user.path())
            .env_remove("CLAUDE_CONFIG_DIR")
            .current_dir(cwd)
            .output()
            .unwrap()
    };
    let project = agents::new_project();

    // --print shows every file and writes none.
    let out = setup(&["--print"], project.path());
    assert!(out.status.success(), "{out:?}");
    let shown = String::from_utf8_lossy(&out.stdout);
    for part in [
        "inbox --follow --claude-code",
        "hook claude-code",
        "--no-tasks",
        "mcp__plugin_legate_legate",
    ] {
        assert!(shown.contains(part), "{part}: {shown}");
    }
    assert!(!user.path().join(".claude").exists());

    // --project: the project's plugin directory and settings, the rest of them kept.
    let claude = project.path().join(".claude");
    std::fs::create_dir_all(&claude).unwrap();
    std::fs::write(
        claude.join("settings.json"),
        r#"{"model": "x", "permissions": {"allow": ["Bash(ls)"]}}"#,
    )
    .unwrap();
    let out = setup(&["--project"], project.path());
    assert!(out.status.success(), "{out:?}");
    assert!(claude.join("skills/legate/monitors/monitors.json").exists());
    assert!(claude.join("skills/legate/hooks/hooks.json").exists());
    let settings: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(claude.join("settings.json")).unwrap())
            .unwrap();
    assert_eq!(settings["model"], "x");
    assert_eq!(
        settings["permissions"]["allow"],
        serde_json::json!(["Bash(ls)", "mcp__plugin_legate_legate"])
    );
    let again = setup(&["--project"], project.path());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("nothing changed"),
        "{again:?}"
    );
    assert!(
        !user.path().join(".claude").exists(),
        "the user's untouched"
    );

    // Settings legate cannot edit (comments) are left alone and the one step left is named;
    // the plugin is installed all the same. Once the user made that step, setup is content.
    let other = agents::new_project();
    let settings = other.path().join(".claude/settings.json");
    std::fs::create_dir_all(other.path().join(".claude")).unwrap();
    std::fs::write(&settings, "{ // mine\n}").unwrap();
    let out = setup(&["--project"], other.path());
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("one step is left for you"), "{err}");
    assert!(err.contains("mcp__plugin_legate_legate"), "{err}");
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), "{ // mine\n}");
    assert!(
        other
            .path()
            .join(".claude/skills/legate/.claude-plugin/plugin.json")
            .exists()
    );
    let by_hand = "{ // mine\n  \"permissions\": {\"allow\": [\"mcp__plugin_legate_legate\"]}\n}";
    std::fs::write(&settings, by_hand).unwrap();
    let out = setup(&["--project"], other.path());
    assert!(out.status.success(), "{out:?}");
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), by_hand);
}

/// The id and origin of the last task delegated, once there are `n`.
fn nth_task(home: &Home, n: usize) -> (String, String) {
    let mut tasks = Vec::new();
    let there = poll_until(DEADLINE, || {
        tasks = home.ls(&[]);
        tasks.len() >= n
    });
    assert!(there, "{n} task(s) expected, found {tasks:?}");
    let t = &tasks[n - 1];
    (
        t["id"].as_str().unwrap().to_string(),
        t["origin"].as_str().unwrap().to_string(),
    )
}

/// The first model request holding `marker`.
fn first_holding(server: &ModelServer, marker: &str) -> Received {
    server
        .received()
        .into_iter()
        .find(|r| r.is_model_call() && r.count_outside_replies(marker) > 0)
        .unwrap_or_else(|| panic!("no request holds {marker}"))
}

/// The text around the first `marker` in `text`.
fn around(text: &str, marker: &str) -> String {
    let at = text.find(marker).unwrap_or(0);
    let from = text.floor_char_boundary(at.saturating_sub(600));
    let to = text.ceil_char_boundary((at + 200).min(text.len()));
    text[from..to].to_string()
}

/// The parent of a process, from `/proc/PID/stat`.
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The plugin's monitor processes serving `home` (`legate inbox --follow --claude-code`).
fn monitors(home: &Home) -> Vec<i32> {
    processes_with_env(&format!("LEGATE_HOME={}", home.path().display()))
        .into_iter()
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("--follow"))
        })
        .collect()
}

/// An idle interactive session: the model delegates through the plugin's MCP server, its turn
/// ends, the task finishes later, and the monitor's line starts a turn by itself; then two
/// more results delegated from the session's shell origin. Each reaches the model once, in a
/// request that holds the monitor's notification. The monitor ends when Claude Code goes.
#[test]
fn an_idle_session_is_woken_by_the_monitor_once_per_result() {
    let server = ModelServer::start().unwrap();
    let home = Home::new("");
    let project = agents::new_project();
    let tui = Tui::start(&home, &server, project.path());

    // The agent sleeps past the end of the delegating turn: the session is idle when it ends.
    let sleep = "sleep 2000";
    let ask =
        format!(r#"CALL legate__delegate {{"agent":"fake","prompt":"{sleep}; shout woken-0"}}"#);
    // Claude Code takes the prompt before its MCP servers have connected: while legate's tools
    // are not offered yet, the scripted model says so, and the prompt is sent again.
    let not_yet = "no offered tool contains";
    let delegated = poll_until(DEADLINE, || {
        let refusals = tui.screen().matches(not_yet).count();
        tui.type_line(&ask);
        poll_until(Duration::from_secs(20), || {
            !home.ls(&[]).is_empty() || tui.screen().matches(not_yet).count() > refusals
        }) && !home.ls(&[]).is_empty()
    });
    assert!(delegated, "nothing delegated:\n{}", tui.screen());
    let (first, origin) = nth_task(&home, 1);
    assert!(origin.starts_with("claude-code:"), "{origin}");
    let mut all = vec![delivery::await_delivered(&home, &server, &first, "WOKEN-0")];
    for n in 1..3 {
        let prompt = format!("{sleep}; shout woken-{n}");
        let out = home
            .cmd(&["run", "fake", &prompt])
            .env("LEGATE_ORIGIN", &origin)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
        all.push(delivery::await_delivered(
            &home,
            &server,
            &id,
            &format!("WOKEN-{n}"),
        ));
    }
    for n in 0..3 {
        let woke = first_holding(&server, &format!("WOKEN-{n}"));
        assert!(
            woke.contains("task-notification") && woke.contains("Monitor event"),
            "result {n} did not arrive as the monitor's notification: {}",
            around(&woke.body.to_string(), &format!("WOKEN-{n}"))
        );
    }
    delivery::report("claude-code", "monitor-idle-interactive", &all);
    assert_eq!(home.ls(&[]).len(), 3, "a wake delegates nothing again");
    // The stop gate let the followed session go idle instead of holding it for its tasks.
    assert!(
        server.first_containing("have not finished").is_none(),
        "the session's stop was held"
    );
    assert!(
        home.inbox(&origin, &[]).is_empty(),
        "what the monitor printed is read"
    );

    // Claude Code goes (killed, with no chance to end its children): the monitor notices.
    let mine = monitors(&home);
    assert_eq!(mine.len(), 1, "one monitor: {mine:?}\n{}", tui.screen());
    let claude_pid = parent_of(mine[0]).and_then(parent_of).unwrap();
    let comm = std::fs::read_to_string(format!("/proc/{claude_pid}/comm")).unwrap();
    assert!(comm.starts_with("claude"), "{comm}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(claude_pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let ended = poll_until(DEADLINE, || monitors(&home).is_empty());
    assert!(
        ended,
        "the monitor outlived Claude Code: {:?}",
        monitors(&home)
    );
}

/// `claude -p` arms no monitor: a result finishing while the run's stop is held by the hooks'
/// gate reaches the model in the gate's reason, once, in each of three runs.
#[test]
fn claude_p_receives_each_result_once_through_the_stop_gate() {
    let server = ModelServer::start().unwrap();
    let home = Home::new("");
    let project = agents::new_project();
    let mut all = Vec::new();
    for n in 0..3 {
        let prompt = format!(
            r#"CALL legate__delegate {{"agent":"fake","prompt":"sleep 300; shout held-{n}"}}"#
        );
        let run: HostRun = claude::run_set_up(&home, &server, project.path(), &prompt);
        assert!(run.status.success() && !run.timed_out, "{run}");
        let (id, origin) = nth_task(&home, n + 1);
        assert!(origin.starts_with("claude-code:"), "{origin}\n{run}");
        all.push(delivery::await_delivered(
            &home,
            &server,
            &id,
            &format!("HELD-{n}"),
        ));
        assert!(home.inbox(&origin, &[]).is_empty(), "{run}");
    }
    delivery::report("claude-code", "stop-gate-headless", &all);
    assert_eq!(home.ls(&[]).len(), 3, "one delegation a run");
}
