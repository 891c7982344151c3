//! Hermes (`hermes-agent[mcp]`, pinned in `scripts/install-test-agents`) configured by `legate
//! setup hermes` alone, driven by the scripted model server: it delegates through legate's MCP
//! server; the `pre_llm_call` hook brings a result into the next `hermes -z` run; the plugin
//! wakes an idle interactive session (in tmux) with a new turn holding the result, and without
//! the plugin the session's next turn brings it (the hook again). Each result
//! reaches the model once; the delivery latency of both channels is measured
//! (`common::hosts::delivery`).

mod common;

use common::hosts::delivery;
use common::hosts::hermes::{Interactive, one_shot, set_up};
use common::{Home, agents, poll_until};
use legate_test_model::ModelServer;
use std::time::Duration;

/// The id of the task delegated last.
fn last_task(home: &Home) -> String {
    home.ls(&[]).last().expect("a task was delegated")["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn legate_setup_hermes_configures_a_hermes_that_delegates() {
    let server = ModelServer::start().unwrap();
    let home = Home::new("");
    let project = agents::new_project();
    let dir = set_up(&home, &server);

    // Again, and shown: nothing changes.
    let config = std::fs::read_to_string(dir.join(".hermes/config.yaml")).unwrap();
    let again = home
        .cmd(&["setup", "hermes"])
        .env("HOME", &dir)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("nothing changed"),
        "{again:?}"
    );
    let shown = home
        .cmd(&["setup", "hermes", "--print"])
        .env("HOME", &dir)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&shown.stdout)
            .matches(&config)
            .count(),
        1
    );
    assert!(
        config.contains("base_url"),
        "the model section is kept:\n{config}"
    );
    assert!(dir.join(".hermes/plugins/legate/__init__.py").exists());

    let run = one_shot(
        &dir,
        project.path(),
        r#"CALL legate__delegate {"agent":"fake","prompt":"print hi"}"#,
    );
    assert!(run.status.success() && !run.timed_out, "{run}");
    let id = last_task(&home);
    let task = home.show(&id);
    assert_eq!(task["agent"], "fake", "{task}");
    // The hook registered the one-shot origin of the project for the MCP server.
    let project_dir = project.path().canonicalize().unwrap();
    assert_eq!(
        task["origin"],
        format!("mcp:hermes:{}", project_dir.display()),
        "{task}"
    );
    assert!(server.first_containing(&id).is_some(), "{run}");
}

/// `hermes -z` runs in one project share the origin `mcp:hermes:PROJECT`: what one run
/// delegated reaches the model in the next run's first request, through the hook, once.
/// (Each delegating run comes after a run that read everything: the scripted model reads the
/// whole user message after `CALL` as the tool's arguments, so context the hook appended to it
/// would spoil the call.)
#[test]
fn the_hook_brings_each_result_to_the_next_one_shot_run_once() {
    let server = ModelServer::start().unwrap();
    let home = Home::new("");
    let project = agents::new_project();
    let dir = set_up(&home, &server);
    let mut runs: Vec<std::ops::Range<usize>> = Vec::new();
    let mut hermes = |prompt: &str| {
        let start = server.received().len();
        let run = one_shot(&dir, project.path(), prompt);
        assert!(run.status.success() && !run.timed_out, "{run}");
        runs.push(start..server.received().len());
    };
    let mut ids = Vec::new();
    for n in 0..3 {
        hermes(&format!(
            r#"CALL legate__delegate {{"agent":"fake","prompt":"shout hooked-{n}"}}"#
        ));
        assert_eq!(home.ls(&[]).len(), n + 1, "run {n} delegated");
        let id = last_task(&home);
        home.wait_all(std::slice::from_ref(&id));
        ids.push(id);
        hermes("what came back?");
    }
    let delivered: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| delivery::await_delivered(&home, &server, id, &format!("HOOKED-{n}")))
        .collect();
    delivery::report("hermes", "pre_llm_call-hook(hermes -z)", &delivered);

    // Each in the run after its own, and in no other.
    let received = server.received();
    for n in 0..3 {
        let marker = format!("HOOKED-{n}");
        let holding: Vec<usize> = (0..runs.len())
            .filter(|&r| {
                received[runs[r].clone()]
                    .iter()
                    .any(|q| q.is_model_call() && q.count_outside_replies(&marker) > 0)
            })
            .collect();
        assert_eq!(holding, [2 * n + 1], "{marker} reached runs {holding:?}");
    }
    let origin = home.show(&ids[0])["origin"].as_str().unwrap().to_string();
    assert!(home.inbox(&origin, &[]).is_empty(), "all were read");
}

/// An idle interactive Hermes is woken by each finish: the plugin queues it, Hermes starts a
/// new turn with `[ASYNC DELEGATION COMPLETE — ID]` and the result, once; the hook does not
/// bring it again on the next turn.
#[test]
fn the_plugin_wakes_an_idle_session_with_each_result_once() {
    let server = ModelServer::start().unwrap();
    let home = Home::new("");
    let project = agents::new_project();
    let dir = set_up(&home, &server);
    let hermes = Interactive::start(&dir, project.path());
    let mut ids = Vec::new();
    for n in 0..3 {
        let asked = server.received().len();
        // The task ends after the turn that delegated it: the session is idle by then.
        hermes.say(&format!(
            r#"CALL legate__delegate {{"agent":"fake","prompt":"sleep 3000; shout woken-{n}"}}"#
        ));
        let delegated = poll_until(Duration::from_secs(60), || home.ls(&[]).len() == n + 1);
        assert!(delegated, "no delegation:\n{}", hermes.screen());
        ids.push(last_task(&home));
        let marker = format!("WOKEN-{n}");
        let woken = poll_until(Duration::from_secs(60), || {
            server.received()[asked..]
                .iter()
                .any(|r| r.is_model_call() && r.count_outside_replies(&marker) > 0)
        });
        assert!(woken, "no turn brought {marker}:\n{}", hermes.screen());
        let wake = server.first_containing(&marker).unwrap();
        assert!(
            wake.contains(&format!("[ASYNC DELEGATION COMPLETE — {}]", ids[n])),
            "the new turn is Hermes' own completion notice"
        );
    }
    // A turn of the user's own: nothing comes again.
    let before = server.received().len();
    hermes.say("anything else?");
    let answered = poll_until(Duration::from_secs(60), || {
        server.received()[before..]
            .iter()
            .any(|r| r.is_model_call() && r.contains("anything else?"))
    });
    assert!(answered, "{}", hermes.screen());
    let delivered: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| delivery::await_delivered(&home, &server, id, &format!("WOKEN-{n}")))
        .collect();
    delivery::report("hermes", "plugin-wake(idle CLI)", &delivered);
    let origin = home.show(&ids[0])["origin"].as_str().unwrap().to_string();
    assert!(origin.starts_with("hermes:"), "{origin}");
    assert!(home.inbox(&origin, &[]).is_empty(), "all were read");
}

/// Without the plugin, an interactive session still gets each result once, with the user's
/// next turn: the hook reads the session's own origin (`hermes:SESSION`), the one the MCP
/// server gave the tasks. (The latency measured here is mostly the test's own pause before
/// the user speaks again.)
#[test]
fn without_the_plugin_the_next_turn_of_the_session_brings_each_result_once() {
    let server = ModelServer::start().unwrap();
    let home = Home::new("");
    let project = agents::new_project();
    let dir = set_up(&home, &server);
    let config = dir.join(".hermes/config.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    let without = text.replace(
        "plugins:\n  enabled:\n  - legate\n",
        "plugins:\n  enabled: []\n",
    );
    assert_ne!(without, text, "the plugin was enabled:\n{text}");
    std::fs::write(&config, without).unwrap();
    let hermes = Interactive::start(&dir, project.path());
    let mut ids = Vec::new();
    for n in 0..3 {
        hermes.say(&format!(
            r#"CALL legate__delegate {{"agent":"fake","prompt":"shout typed-{n}"}}"#
        ));
        let delegated = poll_until(Duration::from_secs(60), || home.ls(&[]).len() == n + 1);
        assert!(delegated, "no delegation:\n{}", hermes.screen());
        let id = last_task(&home);
        home.wait_all(std::slice::from_ref(&id));
        // The delegating turn's answer came back before the next prompt is typed.
        let answered = poll_until(Duration::from_secs(60), || {
            hermes.screen().matches("SAW: ").count() > n
        });
        assert!(answered, "{}", hermes.screen());
        let asked = server.received().len();
        hermes.say(&format!("what came back ({n})?"));
        let marker = format!("TYPED-{n}");
        let brought = poll_until(Duration::from_secs(60), || {
            server.received()[asked..]
                .iter()
                .any(|r| r.is_model_call() && r.count_outside_replies(&marker) > 0)
        });
        assert!(
            brought,
            "the next turn did not bring {marker}:\n{}",
            hermes.screen()
        );
        ids.push(id);
    }
    let delivered: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| delivery::await_delivered(&home, &server, id, &format!("TYPED-{n}")))
        .collect();
    delivery::report(
        "hermes",
        "pre_llm_call-hook(interactive, no plugin)",
        &delivered,
    );
    let origin = home.show(&ids[0])["origin"].as_str().unwrap().to_string();
    assert!(origin.starts_with("hermes:"), "{origin}");
    assert!(home.inbox(&origin, &[]).is_empty(), "all were read");
}

/// A `config.yaml` with comments (Hermes' own saves write some) is never rewritten: when it
/// lacks legate's entries the rest is installed and the command names the step left; when it
/// has them (added by hand), setup says nothing is left.
#[test]
fn a_commented_config_is_left_alone_and_the_rest_installed() {
    let home = Home::new("");
    let hermes = tempfile::tempdir().unwrap();
    let config = hermes.path().join("config.yaml");
    let setup = || {
        home.cmd(&["setup", "hermes"])
            .env("HERMES_HOME", hermes.path())
            .output()
            .unwrap()
    };
    let commented = "# ── Security\nmodel: {default: m}\n";
    std::fs::write(&config, commented).unwrap();
    let out = setup();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("one step is left") && err.contains("pre_llm_call"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), commented);
    assert!(hermes.path().join("plugins/legate/__init__.py").exists());
    assert!(hermes.path().join("shell-hooks-allowlist.json").exists());

    // What setup writes into an uncommented file, with a comment added: nothing is left.
    std::fs::remove_file(&config).unwrap();
    assert!(setup().status.success());
    let by_hand = format!("# mine\n{}", std::fs::read_to_string(&config).unwrap());
    std::fs::write(&config, &by_hand).unwrap();
    let out = setup();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), by_hand);
}
