//! Tasks for the agent `opencode` delegated through legate's OpenCode plugin run as child
//! sessions of the calling session in the same OpenCode server (the real `opencode serve`,
//! whose model is the scripted model server): they show in the server's session tree with
//! their `parentID`, are gathered, capped and queued, canceled (the child session aborted),
//! and their results are pushed into the idle parent.
//!
//! A child's prompt is plain text (`child job N`), which the scripted model answers with
//! `turn 1: child job N | earlier: `; that answer is the child's result. A prompt holding
//! `SLOW<seconds>` makes the child's model call take that long; the parent's own message writes
//! it JSON-escaped (`SL\u004fW`), so only the child's request is slowed.

mod common;

use std::time::Duration;

use common::Home;
use common::hosts::delivery::{self, Delivered};
use common::hosts::opencode::{OpenCode, PATIENCE, last_conversation, output_of, session_of};
use legate_test_model::{ModelServer, user_texts};
use serde_json::{Value, json};

/// Delegates `prompt` (raw JSON string text, so escapes stay for the model) to the agent
/// `opencode` from `session` (a new one when `None`); returns the session, the task id and
/// what async_task answered.
fn delegate_child(oc: &OpenCode, session: Option<&str>, prompt: &str) -> (String, String, String) {
    let call = format!(
        r#"CALL async_task {{"agent": "opencode", "prompt": "{prompt}", "description": "child"}}"#
    );
    let lines = oc.prompt(session, &call);
    let out = output_of(&lines, "async_task");
    let id = out
        .strip_prefix("Task ")
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("async_task answered: {out}"))
        .to_string();
    assert!(out.contains("delegated to opencode-session"), "{out}");
    (session_of(&lines), id, out)
}

/// The child sessions of `session`, as the server lists them.
fn children(oc: &OpenCode, session: &str) -> Vec<Value> {
    oc.api(&format!("/session/{session}/children"))
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The child session of `session` that runs task `id` (its title names the task).
fn child_of_task(oc: &OpenCode, session: &str, id: &str) -> Option<Value> {
    children(oc, session)
        .into_iter()
        .find(|c| c["title"].as_str().is_some_and(|t| t.contains(id)))
}

/// The assistant messages of a session.
fn assistant_messages(oc: &OpenCode, session: &str) -> Vec<Value> {
    oc.api(&format!("/session/{session}/message"))
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["info"]["role"] == "assistant")
        .cloned()
        .collect()
}

/// Whether some model request's user messages hold a `[legate]` post holding `needle`.
fn posted(server: &ModelServer, needle: &str) -> bool {
    server.requests().iter().any(|r| {
        user_texts(r)
            .iter()
            .any(|t| t.starts_with("[legate]") && t.contains(needle))
    })
}

/// Delegates `child job N` whose model call takes a minute, from `session`; returns the task
/// and its child session once the child's model call is under way.
fn start_slow_child(
    oc: &OpenCode,
    server: &ModelServer,
    session: &str,
    n: u32,
) -> (String, String) {
    let (_, id, _) = delegate_child(oc, Some(session), &format!(r"child job {n} SL\u004fW60"));
    let asked = format!("child job {n} SLOW60");
    assert!(common::poll_until(PATIENCE, || {
        server
            .requests()
            .iter()
            .any(|r| user_texts(r).contains(&asked))
    }));
    let child = child_of_task(oc, session, &id).expect("the child session of the task");
    (id, child["id"].as_str().unwrap().to_string())
}

/// Asserts that the child session's turn was aborted and the session is idle.
fn assert_aborted(oc: &OpenCode, child_id: &str) {
    assert!(
        common::poll_until(PATIENCE, || {
            assistant_messages(oc, child_id)
                .last()
                .is_some_and(|m| m["info"]["error"]["name"] == "MessageAbortedError")
        }),
        "the child session was aborted: {:#?}",
        assistant_messages(oc, child_id)
    );
    let status = oc.api("/session/status");
    assert!(
        status[child_id].is_null() || status[child_id]["type"] == "idle",
        "{status}"
    );
}

#[test]
fn opencode_tasks_run_as_child_sessions_gathered_and_canceled() {
    let server = ModelServer::start().unwrap();
    let home = Home::new("");
    let Some(oc) = OpenCode::start(&home, &server) else {
        return;
    };

    // Fan out three children; the agent runs two at a time, so the third queues.
    let slow = r"SL\u004fW20";
    let (session, a, _) = delegate_child(&oc, None, &format!("child job 1 {slow}"));
    let (_, b, _) = delegate_child(&oc, Some(&session), &format!("child job 2 {slow}"));
    let (_, c, third) = delegate_child(&oc, Some(&session), &format!("child job 3 {slow}"));
    assert!(third.contains("(queued)"), "{third}");
    let origin = format!("opencode:{session}");
    for id in [&a, &b, &c] {
        let t = home.show(id);
        assert_eq!(t["agent"], "opencode-session", "{t}");
        assert_eq!(t["origin"], origin.as_str(), "{t}");
    }
    let listed = home.ok(&["ls"]);
    assert!(
        [&a, &b, &c].iter().all(|id| listed.contains(id.as_str())),
        "{listed}"
    );

    // Gather them.
    let wait = json!({"task_ids": [a, b, c], "mode": "all", "timeout": 120});
    let lines = oc.prompt(Some(&session), &format!("CALL async_task_wait {wait}"));
    let gathered = output_of(&lines, "async_task_wait");
    assert!(gathered.starts_with("All the tasks finished"), "{gathered}");
    for (id, n) in [(&a, 1), (&b, 2), (&c, 3)] {
        assert!(gathered.contains(&format!("Task {id} ")), "{gathered}");
        assert!(
            gathered.contains(&format!("turn 1: child job {n} SLOW20")),
            "{gathered}"
        );
        assert_eq!(home.show(id)["status"], "succeeded");
    }

    // Each is a child session of the calling one in the server, with the tools children may
    // not use denied, and the session legate recorded for its task.
    let kids = children(&oc, &session);
    assert_eq!(kids.len(), 3, "{kids:#?}");
    for id in [&a, &b, &c] {
        let child = child_of_task(&oc, &session, id).expect("a child session per task");
        assert_eq!(child["parentID"], session.as_str(), "{child}");
        let child_id = child["id"].as_str().unwrap();
        assert_eq!(home.show(id)["metadata"]["session_id"], child_id);
        let api = oc.api(&format!("/session/{child_id}"));
        assert_eq!(api["parentID"], session.as_str(), "{api}");
        let denied: Vec<&str> = api["permission"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["action"] == "deny")
            .filter_map(|r| r["permission"].as_str())
            .collect();
        for tool in ["todowrite", "todoread", "task", "question"] {
            assert!(denied.contains(&tool), "{tool} denied: {api}");
        }
    }

    // Cancel one under way: the task ends canceled and its child session is aborted.
    let (d, child_id) = start_slow_child(&oc, &server, &session, 4);
    let lines = oc.prompt(
        Some(&session),
        &format!("CALL async_task_cancel {}", json!({"task_id": d})),
    );
    let canceled = output_of(&lines, "async_task_cancel");
    assert!(canceled.contains("canceled"), "{canceled}");
    assert!(common::poll_until(PATIENCE, || home.show(&d)["status"] == "canceled"));
    assert!(common::poll_until(Duration::from_secs(10), || {
        common::processes_of_task(&d).is_empty()
    }));
    assert_aborted(&oc, &child_id);
    let conversation = last_conversation(&server);
    assert!(
        !conversation.iter().any(|m| m.starts_with("[legate]")),
        "results the tools showed are not posted: {conversation:#?}"
    );

    // The daemon stops under a running child: the task ends interrupted (a remote session is
    // not followed again by the next daemon) and its child session is aborted.
    let (e, child_id) = start_slow_child(&oc, &server, &session, 9);
    home.ok(&["daemon", "stop", "--yes"]);
    assert!(common::poll_until(PATIENCE, || home.show(&e)["status"] == "interrupted"));
    assert_aborted(&oc, &child_id);
    let said = format!("Task {e} (agent opencode-session, \"child\"): interrupted");
    assert!(
        common::poll_until(PATIENCE, || posted(&server, &said)),
        "the interrupted task was posted into the parent: {:#?}",
        last_conversation(&server)
    );
}

#[test]
fn child_results_are_pushed_into_the_idle_parent_and_subagents_deliver_to_the_root() {
    let server = ModelServer::start().unwrap();
    let home = Home::new("");
    let Some(oc) = OpenCode::start(&home, &server) else {
        return;
    };

    // Three conversations delegate a child each and go idle: each child's result is posted
    // into its parent, measured from the child task's finish to the parent's model request.
    let mut delivered: Vec<Delivered> = Vec::new();
    let mut parents = Vec::new();
    for n in 5..=7 {
        let (session, id, _) = delegate_child(&oc, None, &format!("child job {n}"));
        parents.push((session, id, n));
    }
    for (session, id, n) in &parents {
        let marker = format!("turn 1: child job {n} |");
        delivered.push(delivery::await_delivered(&home, &server, id, &marker));
        assert!(
            posted(&server, &marker),
            "{marker} posted as a [legate] message"
        );
        let origin = format!("opencode:{session}");
        assert!(common::poll_until(PATIENCE, || home
            .inbox(&origin, &[])
            .is_empty()));
    }
    delivery::report("opencode", "child-session-push", &delivered);
    let session = parents[0].0.clone();
    let origin = format!("opencode:{session}");

    // An OpenCode serving its session in its own process (`opencode run` without a server that
    // listens) cannot hold a child session: async_task says so, and no task is made.
    let before = home.ok(&["ls", "--json"]);
    let lines = oc.prompt_alone(
        r#"CALL async_task {"agent": "opencode", "prompt": "child job 10", "description": "x"}"#,
    );
    let refused = output_of(&lines, "async_task");
    assert!(refused.contains("does not listen"), "{refused}");
    assert_eq!(home.ok(&["ls", "--json"]), before);

    // A subagent session (a child of the conversation) delegates: the task belongs to the
    // root session, whose inbox gets the result and into which it is posted.
    let sub = oc.api_post(
        "/session",
        json!({"parentID": session, "title": "a subagent"}),
    );
    let sub_id = sub["id"].as_str().unwrap().to_string();
    let lines = oc.prompt(
        Some(&sub_id),
        r#"CALL async_task {"agent": "opencode", "prompt": "child job 8", "description": "from a subagent"}"#,
    );
    let out = output_of(&lines, "async_task");
    let id = out
        .strip_prefix("Task ")
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .to_string();
    assert_eq!(home.show(&id)["origin"], origin.as_str());
    let child = common::poll_until(PATIENCE, || child_of_task(&oc, &sub_id, &id).is_some());
    assert!(child, "the task's child session is a child of the subagent");
    assert!(
        common::poll_until(PATIENCE, || posted(&server, "turn 1: child job 8")),
        "the subagent's result was posted into the root: {:#?}",
        last_conversation(&server)
    );
    let root_posts = server
        .requests()
        .iter()
        .rev()
        .find(|r| {
            user_texts(r)
                .iter()
                .any(|t| t.contains("turn 1: child job 8"))
        })
        .map(user_texts)
        .unwrap_or_default();
    assert!(
        root_posts.iter().any(|t| t.contains("child job 5")),
        "posted into the root's conversation: {root_posts:#?}"
    );

    // The daemon is killed under a running child: the next daemon marks the task interrupted
    // and ends what is left of its run, which aborts the child session; the parent is told.
    let (k, child_id) = start_slow_child(&oc, &server, &session, 11);
    let pid = home.daemon_pid().expect("a daemon runs");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // Asked until the next daemon answers (the killed one's socket may still take a call).
    let status = || {
        let out = home.run(&["show", "--json", &k]);
        serde_json::from_slice::<Value>(&out.stdout).unwrap_or_default()["status"].clone()
    };
    assert!(common::poll_until(PATIENCE, || status() == "interrupted"));
    assert_aborted(&oc, &child_id);
    let said = format!("Task {k} (agent opencode-session, \"child\"): interrupted");
    assert!(
        common::poll_until(PATIENCE, || posted(&server, &said)),
        "the interrupted task was posted into the idle parent: {:#?}",
        last_conversation(&server)
    );
}
