//! The ACP runner end to end against the fake agent's ACP mode (the agent side of the same
//! `agent-client-protocol` crate): answers, progress, permissions answered by policy and
//! reported, cancel through `session/cancel`, follow-ups through `session/load`, and errors.

mod common;

use std::time::Duration;

use common::{Home, fake_agent, poll_until, processes_of_task};
use serde_json::Value;

fn acp_home() -> Home {
    let fake = fake_agent().display().to_string();
    let home = Home::new("");
    let sessions = home.path().join("sessions").display().to_string();
    home.write_config(
        4,
        &format!(
            r#"
[agents.acp]
kind = "acp"
command = ["{fake}", "--acp"]
permissions = ["read", "search"]
env = {{ FAKE_AGENT_SESSIONS = "{sessions}" }}

[agents.acp-yes]
kind = "acp"
command = ["{fake}", "--acp"]
permissions = "allow"
env = {{ FAKE_AGENT_SESSIONS = "{sessions}" }}
"#
        ),
    );
    home
}

fn wait_json(home: &Home, id: &str) -> Value {
    let out = home.run(&["wait", "--json", "--timeout", "60s", id]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["tasks"][0].clone()
}

fn events_of(home: &Home, id: &str, kind: &str) -> Vec<Value> {
    home.ok(&["events", "--task", id, "--kind", kind])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_turn_gives_the_answer_progress_and_reported_permission_answers() {
    let home = acp_home();
    let script = "print looking around; tool read README.md; permission edit rewrite main.rs; permission read open Cargo.toml; print all done";
    let id = home.submit("acp", script);
    assert_eq!(wait_json(&home, &id)["status"], "succeeded");
    let t = home.show(&id);
    let result = t["result"].as_str().unwrap();
    assert!(result.ends_with("all done"), "{result}");
    assert!(
        result.contains("permission rewrite main.rs: denied"),
        "{result}"
    );
    assert!(
        result.contains("permission open Cargo.toml: allowed"),
        "{result}"
    );
    assert!(
        !result.contains("looking around"),
        "the answer is what follows the last tool call"
    );
    assert!(
        t["metadata"]["session_id"]
            .as_str()
            .unwrap()
            .starts_with("fake-acp-")
    );

    let perms = events_of(&home, &id, "permission");
    let decisions: Vec<(&str, &str)> = perms
        .iter()
        .map(|e| {
            (
                e["data"]["tool"].as_str().unwrap(),
                e["data"]["decision"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        decisions,
        [
            ("rewrite main.rs", "denied"),
            ("open Cargo.toml", "allowed")
        ]
    );
    assert_eq!(perms[0]["data"]["tool_kind"], "edit");
    let progress = events_of(&home, &id, "progress");
    assert!(
        progress.iter().any(|e| e["data"]["kind"] == "tool"
            && e["data"]["tool"] == "read"
            && e["data"]["text"] == "README.md"),
        "{progress:?}"
    );
    assert!(
        progress
            .iter()
            .any(|e| e["data"]["text"] == "looking around"),
        "{progress:?}"
    );
    let steps = home.ok(&["logs", "--steps", &id]);
    assert!(
        steps.contains("[permission denied] rewrite main.rs (edit)"),
        "{steps}"
    );
    assert!(steps.contains("[read] README.md"), "{steps}");
    let log = home.ok(&["logs", &id]);
    assert!(
        log.contains("[permission denied: rewrite main.rs (edit)]"),
        "{log}"
    );

    let allowed = home.submit("acp-yes", "permission execute rm -rf build");
    wait_json(&home, &allowed);
    assert!(
        home.show(&allowed)["result"]
            .as_str()
            .unwrap()
            .contains("rm -rf build: allowed")
    );
}

#[test]
fn a_follow_up_loads_the_session_without_replaying_it_into_the_answer() {
    let home = acp_home();
    let first = home.submit("acp", "print the first prompt was answered");
    wait_json(&home, &first);
    let next = home.ok(&["send", &first, "recall"]).trim().to_string();
    assert_eq!(wait_json(&home, &next)["status"], "succeeded");
    let t = home.show(&next);
    let result = t["result"].as_str().unwrap();
    assert_eq!(result, "earlier: print the first prompt was answered");
    assert_eq!(
        t["metadata"]["session_id"],
        home.show(&first)["metadata"]["session_id"]
    );
    // A third turn sees both earlier prompts: the chain is one session.
    let third = home.ok(&["send", &next, "recall"]).trim().to_string();
    wait_json(&home, &third);
    assert_eq!(
        home.show(&third)["result"],
        "earlier: print the first prompt was answered / recall"
    );
    assert!(
        home.ok(&["show", &third])
            .contains(&format!("{first} → {next} → {third} (this)"))
    );
}

#[test]
fn cancel_ends_the_turn_through_the_protocol_and_leaves_no_process() {
    let home = acp_home();
    let id = home.submit("acp", "print started; sleep 60000; print never");
    assert!(poll_until(Duration::from_secs(20), || !events_of(
        &home, &id, "progress"
    )
    .is_empty()
        || home.show(&id)["status"] == "running"
            && !processes_of_task(&id).is_empty()));
    home.ok(&["cancel", &id]);
    assert_eq!(wait_json(&home, &id)["status"], "canceled");
    assert!(poll_until(Duration::from_secs(10), || processes_of_task(
        &id
    )
    .is_empty()));
    let timed = home
        .ok(&["run", "--timeout", "1s", "acp", "sleep 60000"])
        .trim()
        .to_string();
    assert_eq!(wait_json(&home, &timed)["status"], "timed_out");
}

#[test]
fn refusals_errors_and_crashes_are_failures_that_say_what_happened() {
    let home = acp_home();
    let cases = [
        ("print hmm; refuse", "refused", "refusal"),
        (
            "agent-error rate limit reached (429)",
            "rate_limited",
            "rate limit",
        ),
        ("print bye; exit 3", "agent_error", "exit status: 3"),
        (
            "eprint cannot reach the model; exit 3",
            "agent_error",
            "stderr:\n  cannot reach the model",
        ),
    ];
    for (script, kind, says) in cases {
        let id = home.submit("acp", script);
        assert_eq!(wait_json(&home, &id)["status"], "failed", "{script}");
        let t = home.show(&id);
        assert_eq!(t["error"]["kind"], kind, "{script}: {t}");
        assert!(
            t["error"]["message"].as_str().unwrap().contains(says),
            "{script}: {t}"
        );
    }
    // A follow-up of a session the agent does not know fails with the agent's words.
    let id = home.submit("acp", "print fine");
    wait_json(&home, &id);
    std::fs::remove_dir_all(home.path().join("sessions")).unwrap();
    let next = home.ok(&["send", &id, "recall"]).trim().to_string();
    assert_eq!(wait_json(&home, &next)["status"], "failed");
    assert!(
        home.show(&next)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("session/load")
    );
}
