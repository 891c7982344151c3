//! `legate hook claude-code` with payloads in Claude Code's documented hook input format.

mod common;

use std::io::Write;
use std::process::{Output, Stdio};

use common::Home;
use serde_json::{Value, json};

/// The fields Claude Code sends with every hook, plus the event's own.
fn payload(session: &str, event: &str, extra: Value) -> Value {
    let mut p = json!({
        "session_id": session,
        "transcript_path": format!("/home/u/.claude/projects/p/{session}.jsonl"),
        "cwd": "/home/u/project",
        "permission_mode": "default",
        "hook_event_name": event,
    });
    p.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    p
}

fn prompt_submit(session: &str) -> Value {
    payload(
        session,
        "UserPromptSubmit",
        json!({"prompt": "what did the helpers find?"}),
    )
}

fn post_tool_use(session: &str) -> Value {
    payload(
        session,
        "PostToolUse",
        json!({
            "tool_name": "Bash",
            "tool_input": {"command": "ls", "description": "list files"},
            "tool_response": {"stdout": "a b", "stderr": "", "interrupted": false},
            "tool_use_id": "toolu_01ABC"
        }),
    )
}

fn stop(session: &str, event: &str) -> Value {
    payload(session, event, json!({"stop_hook_active": false}))
}

/// Runs the hook with `input` on stdin (and extra environment).
fn hook_raw(home: &Home, input: &[u8], env: &[(&str, &str)]) -> Output {
    let mut cmd = home.cmd(&["hook", "claude-code"]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// Runs the hook; `None` when it printed nothing (Claude Code proceeds as usual).
fn hook(home: &Home, input: &Value) -> Option<Value> {
    let o = hook_raw(home, input.to_string().as_bytes(), &[]);
    assert!(
        o.status.success(),
        "hook failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8(o.stdout).unwrap();
    (!out.trim().is_empty())
        .then(|| serde_json::from_str(&out).expect("the hook prints one JSON object"))
}

/// Delegates from a Claude Code session, as its shell commands do after `SessionStart`.
fn delegate(home: &Home, session: &str, prompt: &str) -> String {
    let o = home
        .cmd(&["run", "fake", prompt])
        .env("LEGATE_ORIGIN", format!("claude-code:{session}"))
        .output()
        .unwrap();
    assert!(o.status.success());
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

#[test]
fn results_reach_the_conversation_once_and_only_their_own_sessions() {
    let home = Home::new("[hooks]\nresult_chars = 100\n");
    // SessionStart exports the session's origin for its shell commands.
    let env_file = home.path().join("claude-env.sh");
    let start = payload("S1", "SessionStart", json!({"source": "startup"}));
    let o = hook_raw(
        &home,
        start.to_string().as_bytes(),
        &[("CLAUDE_ENV_FILE", env_file.to_str().unwrap())],
    );
    assert!(o.status.success() && o.stdout.is_empty());
    assert_eq!(
        std::fs::read_to_string(&env_file).unwrap(),
        "export LEGATE_ORIGIN=claude-code:S1\n"
    );

    assert_eq!(
        hook(&home, &prompt_submit("S1")),
        None,
        "nothing finished yet"
    );
    let long = "x".repeat(300);
    let a = delegate(&home, "S1", "print found the bug in parser.rs");
    let b = delegate(&home, "S1", &format!("print {long}"));
    let c = delegate(&home, "S2", "print other session");
    // Waiting as someone else does not read the session's results for it.
    home.wait_all(&[a.clone(), b.clone(), c.clone()]);

    let out = hook(&home, &post_tool_use("S1")).expect("results are injected");
    assert_eq!(out["hookSpecificOutput"]["hookEventName"], "PostToolUse");
    let context = out["hookSpecificOutput"]["additionalContext"]
        .as_str()
        .unwrap();
    for needle in [
        a.as_str(),
        b.as_str(),
        "found the bug in parser.rs",
        "succeeded",
        "earlier characters left out",
        &format!("legate result {b}"),
    ] {
        assert!(
            context.contains(needle),
            "{needle:?} missing from:\n{context}"
        );
    }
    assert!(!context.contains(&c), "another session's result leaked in");
    assert!(!context.contains(&long), "the long result is capped");
    assert_eq!(hook(&home, &post_tool_use("S1")), None, "delivered once");
    assert_eq!(hook(&home, &prompt_submit("S1")), None, "delivered once");

    let out = hook(&home, &prompt_submit("S2")).expect("S2's own result");
    assert_eq!(
        out["hookSpecificOutput"]["hookEventName"],
        "UserPromptSubmit"
    );
    assert!(
        out["hookSpecificOutput"]["additionalContext"]
            .as_str()
            .unwrap()
            .contains(&c)
    );
}

#[test]
fn stop_is_blocked_while_children_run_and_let_go_when_done_or_after_the_limit() {
    let home = Home::new("[hooks]\nmax_stop_blocks = 2\n");
    assert_eq!(
        hook(&home, &stop("S", "Stop")),
        None,
        "nothing delegated: stop"
    );
    let child = delegate(&home, "S", "sleep 60000");

    for n in 1..=2 {
        let out = hook(&home, &stop("S", "Stop")).expect("blocked while the child runs");
        assert_eq!(out["decision"], "block");
        let reason = out["reason"].as_str().unwrap();
        assert!(
            reason.contains(&child) && reason.contains(&format!("legate wait --result {child}")),
            "{reason}"
        );
        assert!(reason.contains(&format!("{n} of at most 2")), "{reason}");
    }
    assert_eq!(
        hook(&home, &stop("S", "Stop")),
        None,
        "let go after the limit"
    );
    // The count starts again.
    let out = hook(&home, &stop("S", "Stop")).expect("blocked again");
    assert_eq!(out["decision"], "block");
    assert!(out["reason"].as_str().unwrap().contains("1 of at most 2"));

    // Once the child has ended, its unread result goes on with the conversation one more
    // time, carrying it, once: as additional context (Claude Code shows a block's reason to
    // the model twice), with no block since nothing runs.
    home.ok(&["cancel", &child]);
    let out = hook(&home, &stop("S", "Stop")).expect("the unread result is shown");
    assert_eq!(out["hookSpecificOutput"]["hookEventName"], "Stop", "{out}");
    let context = out["hookSpecificOutput"]["additionalContext"]
        .as_str()
        .unwrap();
    assert!(
        context.contains(&child) && context.contains("canceled"),
        "{context}"
    );
    assert!(
        out.get("decision").is_none() && out.get("reason").is_none(),
        "{out}"
    );
    assert_eq!(hook(&home, &stop("S", "Stop")), None, "nothing left: stop");
    assert_eq!(hook(&home, &prompt_submit("S")), None, "already delivered");
}

/// What Claude Code adds to a hook's payload when the hook fires inside a subagent.
fn in_subagent(mut p: Value) -> Value {
    let extra = json!({
        "agent_id": "a4f2c81",
        "agent_type": "general-purpose",
        "agent_transcript_path": "/home/u/.claude/projects/p/subagents/agent-a4f2c81.jsonl",
    });
    p.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    p
}

#[test]
fn a_subagent_is_neither_held_for_its_parents_tasks_nor_handed_their_results() {
    let home = Home::new("");
    // The parent delegated; its subagent shares the session id.
    let running = delegate(&home, "S", "sleep 60000");
    let done = delegate(&home, "S", "print for the parent's eyes");
    home.wait_all(std::slice::from_ref(&done));

    let sub_stop = in_subagent(stop("S", "SubagentStop"));
    assert_eq!(
        hook(&home, &sub_stop),
        None,
        "a subagent's stop is never held"
    );
    assert_eq!(
        hook(&home, &in_subagent(post_tool_use("S"))),
        None,
        "a subagent's tool use does not take the parent's results"
    );
    assert_eq!(hook(&home, &in_subagent(prompt_submit("S"))), None);

    // The parent still gets its result, and its own stop is still held.
    let out = hook(&home, &post_tool_use("S")).expect("the parent's result");
    let context = out["hookSpecificOutput"]["additionalContext"]
        .as_str()
        .unwrap();
    assert!(context.contains(&done) && context.contains("for the parent's eyes"));
    let out = hook(&home, &stop("S", "Stop")).expect("the parent waits for its task");
    assert!(out["reason"].as_str().unwrap().contains(&running));
    // Even a SubagentStop without an agent id holds nothing.
    assert_eq!(hook(&home, &stop("S", "SubagentStop")), None);
    home.ok(&["cancel", &running]);
}

#[test]
fn following_the_stop_hooks_advice_shows_the_result_it_marks_read() {
    let home = Home::new("");
    let child = delegate(
        &home,
        "S",
        // The title is the first line: the result text is not in it.
        "sleep 300\nprint the bug is in parser.rs line 12",
    );
    let out = hook(&home, &stop("S", "Stop")).expect("blocked while the child runs");
    let reason = out["reason"].as_str().unwrap();
    // The command the model is told to run, run as its shell would (with the session's origin).
    let advised = reason
        .split('`')
        .find(|c| c.starts_with("legate wait"))
        .unwrap_or_else(|| panic!("no wait command advised: {reason}"));
    let words: Vec<&str> = advised.split_whitespace().skip(1).collect();
    let o = home
        .cmd(&words)
        .env("LEGATE_ORIGIN", "claude-code:S")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("the bug is in parser.rs line 12"),
        "following the advice shows the result: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    // Shown, so read: nothing holds the stop, nothing comes again.
    assert_eq!(hook(&home, &stop("S", "Stop")), None);
    assert_eq!(hook(&home, &prompt_submit("S")), None);
    assert!(home.show(&child)["status"] == "succeeded");
}

#[test]
fn bad_hook_input_is_refused_and_other_events_pass() {
    let home = Home::new("");
    let o = hook_raw(&home, b"not json", &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Claude Code hook JSON"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = hook_raw(&home, br#"{"hook_event_name":"Stop"}"#, &[]);
    assert_eq!(o.status.code(), Some(1));
    let o = hook_raw(
        &home,
        br#"{"session_id":" ","hook_event_name":"Stop"}"#,
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("empty session_id"));
    let note = payload(
        "S",
        "Notification",
        json!({"message": "Claude needs your permission"}),
    );
    assert_eq!(hook(&home, &note), None);
    let o = home.run(&["hook", "codex"]);
    assert_eq!(o.status.code(), Some(2), "an unknown host is a usage error");
}

/// `legate inbox --follow --claude-code` as the plugin's monitor runs it, for the session
/// `CLAUDE_CODE_SESSION_ID` names, its stdout a pipe the test reads without blocking.
struct Monitor {
    child: std::process::Child,
    out: std::fs::File,
    seen: String,
}

impl Monitor {
    fn start(home: &Home, session: &str) -> Monitor {
        use nix::fcntl::{FcntlArg, OFlag, fcntl};
        // Close-on-exec: no other process may hold the read end open.
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
        fcntl(&read, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).unwrap();
        let child = home
            .cmd(&["inbox", "--follow", "--claude-code"])
            .env("CLAUDE_CODE_SESSION_ID", session)
            .stdout(Stdio::from(write))
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Monitor {
            child,
            out: std::fs::File::from(read),
            seen: String::new(),
        }
    }

    /// The lines printed so far, once there are at least `n`.
    fn lines(&mut self, n: usize) -> Vec<String> {
        use std::io::Read;
        let printed = common::poll_until(std::time::Duration::from_secs(30), || {
            let mut buf = [0u8; 4096];
            while let Ok(k @ 1..) = self.out.read(&mut buf) {
                self.seen.push_str(&String::from_utf8_lossy(&buf[..k]));
            }
            self.seen.lines().count() >= n
        });
        assert!(printed, "{n} line(s) expected, printed:\n{}", self.seen);
        self.seen.lines().map(str::to_string).collect()
    }

    /// Closes the pipe (Claude Code gone) and returns the monitor's exit code once it ended.
    fn close(mut self) -> Option<i32> {
        drop(self.out);
        let mut status = None;
        let ended = common::poll_until(std::time::Duration::from_secs(30), || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        assert!(ended, "the monitor outlived its reader");
        status.and_then(|s| s.code())
    }
}

#[test]
fn the_monitor_and_the_hooks_deliver_each_result_once_between_them() {
    let home = Home::new("");
    let early = delegate(&home, "M", "shout early");
    home.wait_all(std::slice::from_ref(&early));

    // At start the monitor prints what is unread, one line, and marks it read.
    let mut monitor = Monitor::start(&home, "M");
    let first = &monitor.lines(1)[0];
    assert!(
        first.starts_with(&format!(
            "legate: task {early} (agent fake) succeeded: EARLY"
        )) && first.ends_with(&format!("`legate result {early}`")),
        "{first}"
    );
    let read = common::poll_until(std::time::Duration::from_secs(30), || {
        home.inbox("claude-code:M", &[]).is_empty()
    });
    assert!(read, "what the monitor printed is marked read");
    assert_eq!(hook(&home, &prompt_submit("M")), None, "not injected again");

    // Then each result as it arrives.
    let late = delegate(&home, "M", "sleep 100; shout late");
    let second = &monitor.lines(2)[1];
    assert!(
        second.contains(&late) && second.contains("LATE"),
        "{second}"
    );
    assert_eq!(hook(&home, &post_tool_use("M")), None, "not injected again");

    // A session its monitor follows is let stop while its tasks run: the monitor wakes it.
    let running = delegate(&home, "M", "sleep 60000");
    assert_eq!(hook(&home, &stop("M", "Stop")), None, "not held");
    home.ok(&["cancel", &running]);
    let third = &monitor.lines(3)[2];
    assert!(
        third.contains(&running) && third.contains("canceled"),
        "{third}"
    );

    // The monitor ends when its reader goes, as a reader that went away ends any follow.
    assert_eq!(monitor.close(), Some(141));

    // What the hooks injected meanwhile, a monitor started later does not print.
    let taken = delegate(&home, "M", "shout taken");
    home.wait_all(std::slice::from_ref(&taken));
    let out = hook(&home, &post_tool_use("M")).expect("the hook injects it");
    assert!(out.to_string().contains("TAKEN"), "{out}");
    let next = delegate(&home, "M", "shout next");
    home.wait_all(std::slice::from_ref(&next));
    let mut monitor = Monitor::start(&home, "M");
    let first = &monitor.lines(1)[0];
    assert!(first.contains(&next) && !first.contains(&taken), "{first}");
    assert_eq!(monitor.close(), Some(141));

    // With no monitor left, the stop is held for running tasks again.
    let running = delegate(&home, "M", "sleep 60000");
    let out = hook(&home, &stop("M", "Stop")).expect("held");
    assert_eq!(out["decision"], "block", "{out}");
    home.ok(&["cancel", &running]);
}
