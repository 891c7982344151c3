//! Agent presets end to end: the fake agent speaks each CLI's JSON format through the preset's
//! own parser and resume arguments; follow-ups continue the session; agent errors are
//! classified; progress and stalls become events; `legate agents` finds CLIs and versions.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Home, fake_agent};
use serde_json::Value;

/// Each preset, driven by the fake agent speaking its format. Only the program changes: the
/// parser, the resume arguments and the prompt mode are the preset's own.
fn preset_home() -> Home {
    let fake = fake_agent().display().to_string();
    let extra = format!(
        r#"
[agents.f-claude]
preset = "claude"
command = ["{fake}", "--format", "claude", "--stdin", "{{args}}"]
env = {{ FAKE_AGENT_SESSIONS = "@SESSIONS@" }}

[agents.f-codex]
preset = "codex"
command = ["{fake}", "--format", "codex", "{{args}}", "--", "{{prompt}}"]
env = {{ FAKE_AGENT_SESSIONS = "@SESSIONS@" }}

[agents.f-gemini]
preset = "gemini"
command = ["{fake}", "--format", "gemini", "{{args}}", "{{prompt}}"]
model = "gemini-test"
env = {{ FAKE_AGENT_SESSIONS = "@SESSIONS@" }}

[agents.f-opencode]
preset = "opencode"
command = ["{fake}", "--format", "opencode", "--stdin", "{{args}}"]
env = {{ FAKE_AGENT_SESSIONS = "@SESSIONS@" }}

[agents.stall-cancel]
command = ["{fake}", "{{prompt}}"]
stall_timeout = "1s"
on_stall = "cancel"

[agents.stall-report]
command = ["{fake}", "{{prompt}}"]
stall_timeout = "1s"
"#
    );
    let home = Home::new("");
    let sessions = home.path().join("sessions");
    home.write_config(
        4,
        &extra.replace("@SESSIONS@", &sessions.display().to_string()),
    );
    home
}

fn events_of(home: &Home, id: &str) -> Vec<Value> {
    home.ok(&["events", "--task", id])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn wait_json(home: &Home, id: &str) -> Value {
    let out = home.run(&["wait", "--json", "--timeout", "60s", id]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["tasks"][0].clone()
}

#[test]
fn every_preset_parses_its_format_and_continues_its_session() {
    let home = preset_home();
    for agent in ["f-claude", "f-codex", "f-gemini", "f-opencode"] {
        let id = home.submit(
            agent,
            "print looking; tool bash ls -la; print the answer is 42",
        );
        let t = wait_json(&home, &id);
        assert_eq!(t["status"], "succeeded", "{agent}: {t}");
        let shown = home.show(&id);
        assert_eq!(shown["result"], "the answer is 42", "{agent}");
        let session = shown["metadata"]["session_id"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(session.starts_with("fake-"), "{agent}: {shown}");
        assert!(shown["metadata"]["usage"].is_object(), "{agent}: {shown}");

        let events = events_of(&home, &id);
        let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
        let progress: Vec<&Value> = events.iter().filter(|e| e["kind"] == "progress").collect();
        assert!(
            progress
                .iter()
                .any(|e| e["data"]["kind"] == "tool" && e["data"]["text"] == "ls -la"),
            "{agent}: {events:?}"
        );
        assert!(
            progress.iter().any(|e| e["data"]["kind"] == "text"),
            "{agent}"
        );
        let steps = home.ok(&["logs", "--steps", &id]);
        assert!(
            steps.contains("] ls -la")
                && steps.contains("› the answer is 42")
                && steps.ends_with("= succeeded\n"),
            "{agent}: {steps}"
        );
        assert!(
            home.ok(&["show", &id]).contains("steps (last 3 of 3"),
            "{agent}"
        );
        let last_progress = kinds.iter().rposition(|k| *k == "progress").unwrap();
        assert!(
            last_progress < kinds.iter().position(|k| *k == "finished").unwrap(),
            "{agent}: progress after finished: {kinds:?}"
        );

        // The follow-up resumes the same session: the agent recalls the first prompt.
        let next = home.ok(&["send", &id, "recall"]).trim().to_string();
        assert_eq!(wait_json(&home, &next)["status"], "succeeded", "{agent}");
        let follow = home.show(&next);
        let result = follow["result"].as_str().unwrap();
        assert!(
            result.contains("earlier: print looking"),
            "{agent}: {result}"
        );
        assert_eq!(follow["metadata"]["follows"], id.as_str());
        assert_eq!(follow["metadata"]["session_id"], session.as_str());
        let text = home.ok(&["show", &next]);
        assert!(text.contains(&format!("{id} → {next} (this)")), "{text}");
    }
}

#[test]
fn agent_reported_errors_are_classified() {
    let home = preset_home();
    let cases = [
        (
            "f-claude",
            "agent-error Invalid API key · Please run /login",
            "auth_failed",
        ),
        (
            "f-codex",
            "agent-error stream error: 429 Too Many Requests",
            "rate_limited",
        ),
        (
            "f-gemini",
            "agent-error the request was refused for safety",
            "refused",
        ),
        ("f-opencode", "agent-error the model crashed", "agent_error"),
    ];
    for (agent, prompt, kind) in cases {
        let id = home.submit(agent, prompt);
        let t = wait_json(&home, &id);
        assert_eq!(t["status"], "failed", "{agent}");
        let shown = home.show(&id);
        assert_eq!(shown["error"]["kind"], kind, "{agent}: {shown}");
        let said = prompt.strip_prefix("agent-error ").unwrap();
        assert!(
            shown["error"]["message"].as_str().unwrap().contains(said),
            "{shown}"
        );
    }
}

#[test]
fn follow_ups_need_a_finished_resumable_task_and_change_nothing_otherwise() {
    let home = preset_home();
    let running = home.submit("f-codex", "sleep 20000");
    let plain = home.submit("fake", "print hi");
    home.wait_all(std::slice::from_ref(&plain));
    let before = home.ls(&[]).len();
    let cases: [(&[&str], &str); 4] = [
        (&["send", &running, "more"], "wait for it first"),
        (&["send", &plain, "more"], "cannot continue a session"),
        (&["send", "ZZZZZZZZ", "more"], "no task"),
        (&["send", &plain], "prompt is empty"),
    ];
    for (args, says) in cases {
        let out = home.run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.to_lowercase().contains(says), "{args:?}: {err}");
    }
    assert_eq!(
        home.ls(&[]).len(),
        before,
        "a refused follow-up stored nothing"
    );
    home.ok(&["cancel", &running]);
}

#[test]
fn a_silent_task_is_reported_stalled_and_canceled_by_policy() {
    let home = preset_home();
    let cancel = home.submit("stall-cancel", "print starting; sleep 30000");
    let report = home.submit("stall-report", "sleep 1600; print still here");
    assert_eq!(wait_json(&home, &cancel)["status"], "failed");
    assert_eq!(home.show(&cancel)["error"]["kind"], "stalled");
    assert_eq!(wait_json(&home, &report)["status"], "succeeded");
    for (id, action) in [(&cancel, "cancel"), (&report, "report")] {
        let stalled: Vec<Value> = events_of(&home, id)
            .into_iter()
            .filter(|e| e["kind"] == "stalled")
            .collect();
        assert_eq!(stalled.len(), 1, "{id}: {stalled:?}");
        assert_eq!(stalled[0]["data"]["action"], action);
        assert_eq!(stalled[0]["data"]["idle_ms"], 1000);
    }
}

#[test]
fn agents_lists_presets_found_or_missing_with_versions() {
    let home = Home::new("");
    let bin = home.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = |name: &str, body: &str| {
        let p = bin.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    script("claude", "echo '2.1.328 (Claude Code)'");
    script("gemini", "echo 'gemini: cannot start' >&2; exit 3");
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let list = |check: bool| {
        let mut args = vec!["agents", "--json"];
        if check {
            args.push("--check");
        }
        let out = home.cmd(&args).env("PATH", &path).output().unwrap();
        let agents: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code(), agents)
    };
    let (code, agents) = list(false);
    assert_eq!(code, Some(0));
    let get = |agents: &[Value], n: &str| agents.iter().find(|a| a["name"] == n).unwrap().clone();
    let claude = get(&agents, "claude");
    assert_eq!(claude["available"], true);
    assert_eq!(claude["version"], "2.1.328 (Claude Code)");
    assert_eq!(claude["resumable"], true);
    assert_eq!(claude["max_running"], 2);
    let codex = get(&agents, "codex");
    assert_eq!(codex["available"], false);
    assert!(codex["program"].as_str().unwrap().contains("not on PATH"));
    assert!(
        get(&agents, "gemini")["version"]
            .as_str()
            .unwrap()
            .starts_with("error:")
    );
    let (code, _) = list(true);
    assert_eq!(
        code,
        Some(1),
        "--check fails when a found CLI's version command fails"
    );
    // Text output says found / missing.
    let out = home.cmd(&["agents"]).env("PATH", &path).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("claude") && l.contains("found")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("codex") && l.contains("missing")),
        "{text}"
    );
}
