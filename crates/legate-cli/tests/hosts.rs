//! The real MCP hosts (Claude Code, Codex, Hermes; pinned in `scripts/install-test-agents`)
//! run headless against the scripted model server, with `legate mcp` as their MCP server. For
//! each, the prompt makes the scripted model call legate's `delegate` tool; the test checks
//! that the task exists in legate with the prompt the model gave, and that the tool's result
//! (the task's id) reached the model in the host's next request.

mod common;

use common::hosts::{self, HostRun};
use common::{Home, agents};
use legate_test_model::ModelServer;
use serde_json::Value;
use std::path::Path;

/// What the scripted model is asked to delegate.
const PROMPT: &str = "print hi";

/// The user prompt: the scripted model calls the offered tool whose name contains
/// `legate__delegate` (the hosts' own tools, such as Hermes' `delegate_task`, do not).
fn prompt() -> String {
    format!(r#"CALL legate__delegate {{"agent":"fake","prompt":"{PROMPT}"}}"#)
}

/// Drives one host with `run` and checks the delegation end to end.
fn delegates_over_mcp(run: fn(&Home, &ModelServer, &Path, &str) -> HostRun) {
    let server = ModelServer::start().unwrap();
    let home = Home::new("");
    let project = agents::new_project();
    let run = run(&home, &server, project.path(), &prompt());
    assert!(run.status.success() && !run.timed_out, "{run}");

    let tasks = home.ls(&[]);
    assert_eq!(tasks.len(), 1, "one task delegated: {tasks:?}\n{run}");
    let id = tasks[0]["id"].as_str().unwrap().to_string();
    let task: Value = serde_json::from_str(&home.ok(&["show", "--json", "--prompt", &id])).unwrap();
    assert_eq!(task["agent"], "fake", "{task}");
    assert_eq!(task["prompt"], PROMPT, "{task}");
    assert!(
        task["origin"].as_str().unwrap().starts_with("mcp:"),
        "{task}"
    );

    // The delegate call's answer names the task; the request that carried it back came after
    // the one that asked for the call, and the model answered it (with `SAW: ` and the result's
    // start, which for Hermes is its `<untrusted_tool_result …>` wrapper).
    let asked = server
        .first_containing("legate__delegate")
        .expect("the host offered legate's delegate tool");
    let answered = server
        .first_containing(&id)
        .unwrap_or_else(|| panic!("no request carried the tool's result {id}\n{run}"));
    assert!(answered.at > asked.at, "{run}");
    assert!(
        run.stdout.contains("SAW: "),
        "the model's answer repeated the tool's result: {run}"
    );
    let waited = home.wait_all(&[id]);
    assert!(waited.values().all(|s| s == "succeeded"), "{waited:?}");
}

#[test]
fn claude_code_delegates_through_legate_mcp() {
    delegates_over_mcp(hosts::claude::run);
}

/// After `legate setup claude-code` alone, `claude -p` — with no `--mcp-config` and no
/// `--allowedTools` — offers and calls legate's tools (the plugin's MCP server, allowed by the
/// setup's permission rule), and the task belongs to the session its hooks serve.
#[test]
fn claude_code_delegates_after_legate_setup_alone() {
    let server = ModelServer::start().unwrap();
    let home = Home::new("");
    let project = agents::new_project();
    let run = hosts::claude::run_set_up(&home, &server, project.path(), &prompt());
    assert!(run.status.success() && !run.timed_out, "{run}");
    assert!(!run.stdout.contains("haven't granted"), "{run}");
    let tasks = home.ls(&[]);
    assert_eq!(tasks.len(), 1, "one task delegated: {tasks:?}\n{run}");
    let id = tasks[0]["id"].as_str().unwrap().to_string();
    let task: Value = serde_json::from_str(&home.ok(&["show", "--json", "--prompt", &id])).unwrap();
    assert_eq!(task["prompt"], PROMPT, "{task}");
    assert!(
        task["origin"].as_str().unwrap().starts_with("claude-code:"),
        "{task}"
    );
    assert!(
        server
            .first_containing("mcp__plugin_legate_legate__delegate")
            .is_some(),
        "the plugin's tool was offered"
    );
    assert!(server.first_containing(&id).is_some(), "{run}");
}

#[test]
fn codex_delegates_through_legate_mcp() {
    delegates_over_mcp(hosts::codex::run);
}

#[test]
fn hermes_delegates_through_legate_mcp() {
    delegates_over_mcp(hosts::hermes::run);
}

/// The delivery contract over MCP alone (Codex has no hook that can inject a result): a result
/// reaches the model in the answer of the call that waited for it, or else in the
/// `finished_since_last_call` of the conversation's next call to any legate tool — once, even
/// across `codex exec` processes, since their origin (`mcp:codex:PROJECT`) is the same.
#[test]
fn codex_receives_each_result_once_over_mcp() {
    use common::hosts::delivery;
    let server = ModelServer::start().unwrap();
    let home = Home::new("");
    let project = agents::new_project();
    // Which requests each `codex exec` made: `received()` positions, run by run.
    let mut runs: Vec<std::ops::Range<usize>> = Vec::new();
    let mut codex = |prompt: String| {
        let start = server.received().len();
        let run = hosts::codex::run(&home, &server, project.path(), &prompt);
        assert!(run.status.success() && !run.timed_out, "{run}");
        runs.push(start..server.received().len());
        run
    };

    // Waited: the delegate call's own answer carries the result.
    let mut waited = Vec::new();
    for n in 0..3 {
        codex(format!(
            r#"CALL legate__delegate {{"agent":"fake","prompt":"shout waited-{n}","wait":true}}"#
        ));
        let id = home.ls(&[]).last().unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        waited.push(delivery::await_delivered(
            &home,
            &server,
            &id,
            &format!("WAITED-{n}"),
        ));
    }
    delivery::report("codex", "waited-call", &waited);

    // Not waited: each result comes with the next call (here the next run's `delegate`, and a
    // last `task_list`), in a later process of the same project.
    let mut ids = Vec::new();
    for n in 0..3 {
        codex(format!(
            r#"CALL legate__delegate {{"agent":"fake","prompt":"shout later-{n}"}}"#
        ));
        let id = home.ls(&[]).last().unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        home.wait_all(std::slice::from_ref(&id));
        ids.push(id);
    }
    codex(r#"CALL legate__task_list {}"#.to_string());
    let later: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| delivery::await_delivered(&home, &server, id, &format!("LATER-{n}")))
        .collect();
    delivery::report("codex", "next-call", &later);

    // Once across processes too: only one run's requests hold each result.
    let received = server.received();
    for marker in (0..3).flat_map(|n| [format!("WAITED-{n}"), format!("LATER-{n}")]) {
        let holding = runs
            .iter()
            .filter(|r| {
                received[(*r).clone()]
                    .iter()
                    .any(|q| q.is_model_call() && q.count_outside_replies(&marker) > 0)
            })
            .count();
        assert_eq!(holding, 1, "{marker} reached {holding} conversations");
    }
}
