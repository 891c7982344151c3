//! One capture and finish path for both runners: the same scenario run by an exec agent and an
//! ACP agent (the fake agent in either mode) ends alike — output past the log cap kept as the
//! tail or failing the task by the agent's `on_output_cap`, a full log disk failing the task
//! with `log_write_failed`, and an agent killed by a signal recorded with its signal.
//!
//! Mounting needs root; where `mount` is refused the full-disk case prints why and is not run.

mod common;

use std::time::Instant;

use common::{Home, Tmpfs, fake_agent};

/// The agent of each runner, and how it floods about 2 MB of output in one turn.
const RUNNERS: [(&str, &str); 2] = [("exec", "flood 2000000"), ("acp", "flood 2000 1000")];

/// A home whose log cap is `cap`, with an exec and an ACP agent of each cap policy: `exec`,
/// `acp` (truncate) and `exec-strict`, `acp-strict` (fail).
fn home(cap: &str) -> Home {
    let fake = fake_agent().display().to_string();
    let home = Home::new("");
    home.write_config(
        4,
        &format!(
            r#"
[agents.exec]
command = ["{fake}", "{{prompt}}"]

[agents.exec-strict]
command = ["{fake}", "{{prompt}}"]
on_output_cap = "fail"

[agents.acp]
kind = "acp"
command = ["{fake}", "--acp"]

[agents.acp-strict]
kind = "acp"
command = ["{fake}", "--acp"]
on_output_cap = "fail"
"#
        ),
    );
    let cfg = std::fs::read_to_string(home.path().join("config.toml"))
        .unwrap()
        .replace(
            "kill_grace = \"1s\"",
            &format!("kill_grace = \"1s\"\nlog_cap = \"{cap}\""),
        );
    std::fs::write(home.path().join("config.toml"), cfg).unwrap();
    home
}

/// Runs `prompt` on `agent` to its end; returns the task as `show` gives it.
fn run(home: &Home, agent: &str, prompt: &str) -> serde_json::Value {
    let started = Instant::now();
    let id = home.submit(agent, prompt);
    home.wait_all(std::slice::from_ref(&id));
    println!("{agent}: {prompt:?} ran in {:?}", started.elapsed());
    let mut t = home.show(&id);
    t["log"] = home.ok(&["logs", &id]).into();
    t
}

#[test]
fn output_past_the_cap_is_truncated_for_both_runners() {
    let home = home("64KiB");
    for (agent, flood) in RUNNERS {
        let t = run(&home, agent, &format!("{flood}; print the end"));
        assert_eq!(t["status"], "succeeded", "{agent}: {}", t["error"]);
        let log = t["log"].as_str().unwrap();
        assert!(
            log.len() <= 64 * 1024 + 200,
            "{agent}: log is {} bytes",
            log.len()
        );
        assert!(
            log.starts_with("[legate: output exceeded the log cap"),
            "{agent}: {}",
            &log[..100]
        );
        assert!(log.trim_end().ends_with("the end"), "{agent}");
        let dropped = t["metadata"]["output_dropped_bytes"].as_u64().unwrap();
        assert!(dropped > 1_000_000, "{agent}: dropped {dropped}");
    }
}

#[test]
fn output_past_the_cap_fails_the_task_for_both_runners_under_fail() {
    let home = home("64KiB");
    for (agent, flood) in RUNNERS {
        let agent = format!("{agent}-strict");
        let t = run(&home, &agent, &format!("{flood}; print the end"));
        assert_eq!(t["status"], "failed", "{agent}");
        assert_eq!(t["error"]["kind"], "output_too_large", "{agent}: {t}");
        let log = t["log"].as_str().unwrap();
        assert!(
            log.len() <= 64 * 1024 + 200,
            "{agent}: log is {} bytes",
            log.len()
        );
        assert!(!log.contains("the end"), "{agent}: it was ended early");
    }
}

#[test]
fn a_full_log_disk_fails_the_task_for_both_runners() {
    for (agent, flood) in RUNNERS {
        // A cap far over the disk's size: the disk fills before the cap is reached.
        let home = home("16MiB");
        let Some(_logs) = Tmpfs::mount(&home.path().join("logs"), "512k") else {
            return;
        };
        let t = run(&home, agent, &format!("{flood}; print the end"));
        assert_eq!(t["status"], "failed", "{agent}");
        assert_eq!(t["error"]["kind"], "log_write_failed", "{agent}: {t}");
        let message = t["error"]["message"].as_str().unwrap();
        assert!(message.contains("No space left"), "{agent}: {message}");
        assert!(home.daemon_pid().is_some(), "{agent}: the daemon is up");
        home.ok(&["daemon", "stop", "--yes"]);
    }
}

#[test]
fn an_agent_killed_by_a_signal_is_recorded_with_it_for_both_runners() {
    let home = home("64KiB");
    for (agent, _) in RUNNERS {
        let t = run(&home, agent, "print before; signal SEGV");
        assert_eq!(t["status"], "failed", "{agent}");
        assert_eq!(t["error"]["kind"], "signaled", "{agent}: {t}");
        assert_eq!(t["signal"], 11, "{agent}: {t}");
        assert!(t["exit_code"].is_null(), "{agent}: {t}");
        assert!(
            t["error"]["message"].as_str().unwrap().contains("SIGSEGV"),
            "{agent}: {t}"
        );
    }
}
