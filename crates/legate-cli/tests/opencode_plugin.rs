//! legate's OpenCode plugin (`integrations/opencode/legate.ts`) in the real OpenCode server
//! (npm `opencode-ai`, pinned in `scripts/install-test-agents`), whose model is the scripted
//! model server: the model calls the plugin's tools (`CALL async_task {…}`), legate runs the
//! tasks, and finished results come back into the delegating session as messages, which the
//! model server's request log shows.
//!
//! The tasks run a shell script that waits for a gate file, so the test decides when they
//! finish; each prints `res-N` computed by the shell (`$((…))`), so the result text never
//! appears in a prompt or a tool call.

mod common;

use std::path::Path;
use std::time::Duration;

use common::Home;
use common::hosts::delivery::{self, Delivered};
use common::hosts::opencode::{
    OpenCode, PATIENCE, last_conversation, output_of, prompt_then_open, session_of, setup_opencode,
};
use legate_test_model::ModelServer;
use serde_json::{Value, json};

/// A home whose agent `gated` runs its prompt as a shell script.
fn gated_home() -> Home {
    Home::new("[agents.gated]\ncommand = [\"/bin/sh\", \"-c\", \"{prompt}\"]\n")
}

/// A script that waits for `gate`, then prints `res-N`.
fn gated_script(gate: &Path, n: u32) -> String {
    format!(
        "until [ -e '{}' ]; do sleep 0.05; done; echo \"res-$((1000+{}))\"",
        gate.display(),
        n - 1000
    )
}

/// Delegates the gated script printing `res-N` in `session` (a new one when `None`); returns
/// the session and the task id.
fn delegate(oc: &OpenCode, session: Option<&str>, gate: &Path, n: u32) -> (String, String) {
    let args = json!({"agent": "gated", "prompt": gated_script(gate, n), "description": format!("job {n}")});
    let lines = oc.prompt(session, &format!("CALL async_task {args}"));
    let out = output_of(&lines, "async_task");
    let id = out
        .strip_prefix("Task ")
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("async_task answered: {out}"))
        .to_string();
    assert!(out.contains("delegated to gated"), "{out}");
    (session_of(&lines), id)
}

#[test]
fn fan_out_gather_any_and_cancel_through_the_plugin_tools() {
    let server = ModelServer::start().unwrap();
    let home = gated_home();
    let Some(oc) = OpenCode::start(&home, &server) else {
        return;
    };
    let gates = tempfile::tempdir().unwrap();
    let all = gates.path().join("all");

    // An unknown agent is refused with the list of agents.
    let lines = oc.prompt(
        None,
        r#"CALL async_task {"agent": "nosuch", "prompt": "x", "description": "x"}"#,
    );
    let refused = output_of(&lines, "async_task");
    assert!(
        refused.contains("unknown agent 'nosuch'") && refused.contains("gated"),
        "{refused}"
    );

    // Fan out three, then gather them.
    let (session, a) = delegate(&oc, None, &all, 1001);
    let (_, b) = delegate(&oc, Some(&session), &all, 1002);
    let (_, c) = delegate(&oc, Some(&session), &all, 1003);
    let origin = format!("opencode:{session}");
    for id in [&a, &b, &c] {
        let t = home.show(id);
        assert_eq!(t["origin"], origin.as_str(), "{t}");
        assert_eq!(t["cwd"], oc.project.path().to_str().unwrap(), "{t}");
    }
    let wait = json!({"task_ids": [a, b, c], "mode": "all", "timeout": 60});
    let lines = prompt_then_open(
        &oc,
        &server,
        &session,
        &format!("CALL async_task_wait {wait}"),
        &all,
    );
    let gathered = output_of(&lines, "async_task_wait");
    assert!(gathered.starts_with("All the tasks finished"), "{gathered}");
    for (id, res) in [(&a, "res-1001"), (&b, "res-1002"), (&c, "res-1003")] {
        assert!(
            gathered.contains(&format!("Task {id} ")) && gathered.contains(res),
            "{gathered}"
        );
    }
    // Shown by the tool, so read: nothing is left to post.
    assert!(home.inbox(&origin, &[]).is_empty());

    // Wait for any: one ends, the other goes on; then cancel it.
    let one = gates.path().join("one");
    let never = gates.path().join("never");
    let (_, x) = delegate(&oc, Some(&session), &one, 1004);
    let (_, y) = delegate(&oc, Some(&session), &never, 1005);
    let wait = json!({"task_ids": [x, y], "mode": "any", "timeout": 60});
    let lines = prompt_then_open(
        &oc,
        &server,
        &session,
        &format!("CALL async_task_wait {wait}"),
        &one,
    );
    let first = output_of(&lines, "async_task_wait");
    assert!(first.starts_with("A task finished"), "{first}");
    assert!(first.contains("res-1004"), "{first}");
    assert!(
        first.contains(&format!("Task {y} (agent gated, \"job 1005\"): running")),
        "{first}"
    );

    let lines = oc.prompt(
        Some(&session),
        &format!("CALL async_task_cancel {}", json!({"task_id": y})),
    );
    let canceled = output_of(&lines, "async_task_cancel");
    assert!(
        canceled.contains(&format!("Task {y} (agent gated): canceled")),
        "{canceled}"
    );
    assert_eq!(home.show(&y)["status"], "canceled");
    assert!(common::poll_until(Duration::from_secs(10), || {
        common::processes_of_task(&y).is_empty()
    }));

    let lines = oc.prompt(
        Some(&session),
        &format!("CALL async_task_result {}", json!({"task_id": y})),
    );
    let result = output_of(&lines, "async_task_result");
    assert!(result.contains("canceled"), "{result}");
    assert!(home.inbox(&origin, &[]).is_empty());
    let conversation = last_conversation(&server);
    assert!(
        !conversation.iter().any(|m| m.starts_with("[legate]")),
        "results the tools showed are not posted again: {conversation:#?}"
    );
}

#[test]
fn finished_results_are_posted_into_the_idle_session_once() {
    let server = ModelServer::start().unwrap();
    let home = gated_home();
    let Some(oc) = OpenCode::start(&home, &server) else {
        return;
    };
    let gates = tempfile::tempdir().unwrap();
    let gate = gates.path().join("go");
    let (session, a) = delegate(&oc, None, &gate, 2001);
    let (_, b) = delegate(&oc, Some(&session), &gate, 2002);
    let (_, c) = delegate(&oc, Some(&session), &gate, 2003);
    let origin = format!("opencode:{session}");

    // The session is idle: the finishes wake it. Each result is measured from its finish to
    // the first model request holding it.
    std::fs::write(&gate, "").unwrap();
    let results = ["res-2001", "res-2002", "res-2003"];
    let mut delivered: Vec<Delivered> = [&a, &b, &c]
        .iter()
        .zip(results)
        .map(|(id, res)| delivery::await_delivered(&home, &server, id, res))
        .collect();
    assert!(common::poll_until(PATIENCE, || home
        .inbox(&origin, &[])
        .is_empty()));
    for id in [&a, &b, &c] {
        assert!(home.show(id)["acked_at"].is_string(), "{id} is read");
    }

    // A later turn's conversation holds each result once.
    oc.prompt(Some(&session), "and now something else");
    let conversation = last_conversation(&server);
    assert_eq!(
        conversation.last().map(String::as_str),
        Some("and now something else")
    );
    for (id, res) in [(&a, results[0]), (&b, results[1]), (&c, results[2])] {
        let posts: Vec<&String> = conversation.iter().filter(|m| m.contains(res)).collect();
        assert_eq!(posts.len(), 1, "{res} posted once: {conversation:#?}");
        assert!(
            posts[0].starts_with("[legate]") && posts[0].contains(&format!("Task {id} ")),
            "{}",
            posts[0]
        );
    }

    // The plugin's follower outlives a daemon restart: a task of the session delegated after
    // one (from the CLI, which starts the next daemon) is posted too.
    home.ok(&["daemon", "stop", "--yes"]);
    let late = home
        .ok(&[
            "run",
            "--origin",
            &origin,
            "gated",
            "--",
            "echo res-$((3000+1))",
        ])
        .trim()
        .to_string();
    delivered.push(delivery::await_delivered(&home, &server, &late, "res-3001"));
    assert!(common::poll_until(PATIENCE, || {
        home.show(&late)["acked_at"].is_string()
    }));
    delivery::report("opencode", "push-into-idle-session", &delivered);
}

#[test]
fn legate_setup_opencode_installs_the_plugin_and_on_request_the_mcp_entry_once() {
    let home = Home::new("");
    let user = tempfile::tempdir().unwrap();
    let project = common::agents::new_project();
    let plugin = user.path().join(".config/opencode/plugin/legate.ts");

    let said = setup_opencode(&home, user.path(), project.path(), &[]);
    assert!(
        said.contains(&format!(
            "wrote legate's OpenCode plugin into {}",
            plugin.display()
        )),
        "{said}"
    );
    assert!(said.contains("async_task"), "{said}");
    let text = std::fs::read_to_string(&plugin).unwrap();
    let pinned = text.lines().find(|l| l.starts_with("const SETUP")).unwrap();
    let legate = common::legate_bin().display().to_string();
    assert!(
        pinned.contains(&legate) && pinned.contains(&home.path().display().to_string()),
        "{pinned}"
    );
    assert!(
        !user.path().join(".config/opencode/opencode.json").exists(),
        "no MCP entry unless asked"
    );

    let again = setup_opencode(&home, user.path(), project.path(), &[]);
    assert!(again.contains("nothing changed"), "{again}");
    assert_eq!(std::fs::read_to_string(&plugin).unwrap(), text);

    // The project's: the plugin under .opencode, the MCP entry in its opencode.json, whose
    // other settings stay.
    let config = project.path().join("opencode.json");
    std::fs::write(&config, r#"{"model": "a/b"}"#).unwrap();
    let said = setup_opencode(&home, user.path(), project.path(), &["--project", "--mcp"]);
    assert!(
        project.path().join(".opencode/plugin/legate.ts").is_file(),
        "{said}"
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    assert_eq!(v["model"], "a/b");
    assert_eq!(v["mcp"]["legate"]["command"], json!([legate, "mcp"]));
    assert_eq!(
        v["mcp"]["legate"]["environment"]["LEGATE_HOME"],
        home.path().display().to_string()
    );
    let again = setup_opencode(&home, user.path(), project.path(), &["--project", "--mcp"]);
    assert_eq!(again.matches("nothing changed").count(), 2, "{again}");

    // --mcp belongs to OpenCode's setup.
    let out = home
        .cmd(&["setup", "codex", "--mcp"])
        .env("HOME", user.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--mcp is for `legate setup opencode`"));
    assert!(!user.path().join(".codex").exists());

    // A configuration legate cannot edit (comments) is left alone and the step left is named;
    // the plugin is installed all the same.
    let other = common::agents::new_project();
    std::fs::write(other.path().join("opencode.json"), "{ // mine\n}").unwrap();
    let out = home
        .cmd(&["setup", "opencode", "--project", "--mcp"])
        .current_dir(other.path())
        .env("HOME", user.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is not a JSON object legate can edit") && err.contains("one step is left"),
        "{err}"
    );
    assert!(other.path().join(".opencode/plugin/legate.ts").exists());
    assert_eq!(
        std::fs::read_to_string(other.path().join("opencode.json")).unwrap(),
        "{ // mine\n}"
    );
}
