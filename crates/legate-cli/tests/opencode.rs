//! The real opencode CLI (npm `opencode-ai`, pinned in `scripts/install-test-agents`) driven
//! through the `opencode` preset and through `opencode acp`, answering from the scripted
//! OpenAI-compatible model server on 127.0.0.1. Follow-ups prove the session was resumed: the
//! model server receives the first prompt in the second request's history. Every task runs in
//! a new git project opencode has never seen.

mod common;

use common::Home;
use legate_test_model::{ModelServer, user_texts};
use serde_json::Value;

/// A legate home whose `oc` (opencode preset) and `oc-acp` (opencode-acp preset) agents run
/// the real opencode against `server`, with a private HOME so no user config leaks in, and the
/// new project the tasks run in.
struct Setup {
    home: Home,
    project: tempfile::TempDir,
}

impl Setup {
    /// Delegates `prompt` to `agent` in the project; returns the id.
    fn submit(&self, agent: &str, prompt: &str) -> String {
        let project = self.project.path().display().to_string();
        let id = self.home.ok(&["run", "--cwd", &project, agent, prompt]);
        id.trim().to_string()
    }
}

fn opencode_home(server: &ModelServer) -> Option<Setup> {
    let bin = common::agents::installed("opencode")?.display().to_string();
    let home = Home::new("");
    let h = home.path().join("oc-home");
    let cfg = h.join(".config/opencode");
    std::fs::create_dir_all(cfg.join("node_modules")).unwrap();
    // opencode installs its plugin package at start unless it is already listed as present.
    std::fs::write(
        cfg.join("package.json"),
        r#"{"dependencies":{"@opencode-ai/plugin":"1.18.33"}}"#,
    )
    .unwrap();
    std::fs::write(
        cfg.join("package-lock.json"),
        r#"{"lockfileVersion":3,"packages":{"":{"dependencies":{"@opencode-ai/plugin":"1.18.33"}}}}"#,
    )
    .unwrap();
    let config = serde_json::json!({
        "$schema": "https://opencode.ai/config.json",
        "autoupdate": false, "share": "disabled",
        "model": "scripted/m", "small_model": "scripted/m",
        "provider": {"scripted": {"npm": "@ai-sdk/openai-compatible", "name": "scripted",
            "options": {"baseURL": server.base_url(), "apiKey": "x"}, "models": {"m": {"name": "m"}}}}
    });
    std::fs::write(h.join("opencode.json"), config.to_string()).unwrap();
    let h = h.display();
    let env = format!(
        r#"env = {{ HOME = "{h}", OPENCODE_CONFIG = "{h}/opencode.json", OPENCODE_DISABLE_AUTOUPDATE = "1", OPENCODE_DISABLE_SHARE = "1", OPENCODE_DISABLE_MODELS_FETCH = "1", OPENCODE_DISABLE_LSP_DOWNLOAD = "1" }}"#
    );
    home.write_config(
        4,
        &format!(
            r#"
[agents.oc]
preset = "opencode"
command = ["{bin}", "run", "--format", "json", "{{args}}"]
{env}

[agents.oc-acp]
preset = "opencode-acp"
command = ["{bin}", "acp"]
{env}
"#
        ),
    );
    Some(Setup {
        home,
        project: common::agents::new_project(),
    })
}

fn finish(home: &Home, id: &str) -> Value {
    let out = home.run(&["wait", "--json", "--timeout", "120s", id]);
    assert!(
        serde_json::from_slice::<Value>(&out.stdout).is_ok(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    home.show(id)
}

/// The user prompts of the model requests that carried tools (opencode's own title requests
/// carry none).
fn conversations(server: &ModelServer) -> Vec<Vec<String>> {
    server
        .requests()
        .iter()
        .filter(|r| r.get("tools").is_some())
        .map(user_texts)
        .collect()
}

#[test]
fn the_opencode_preset_delegates_resumes_and_classifies_errors() {
    let server = ModelServer::start().unwrap();
    let Some(setup) = opencode_home(&server) else {
        return;
    };
    let home = &setup.home;
    let id = setup.submit("oc", "hello there");
    let t = finish(home, &id);
    assert_eq!(
        t["cwd"].as_str(),
        Some(setup.project.path().to_str().unwrap()),
        "{t}"
    );
    assert_eq!(t["status"], "succeeded", "{t}\n{}", home.ok(&["logs", &id]));
    assert!(
        t["result"]
            .as_str()
            .unwrap()
            .contains("turn 1: hello there"),
        "{t}"
    );
    let session = t["metadata"]["session_id"].as_str().unwrap();
    assert!(session.starts_with("ses"), "{t}");
    assert!(
        t["metadata"]["usage"]["output_tokens"].as_u64().unwrap() > 0,
        "{t}"
    );

    let next = home
        .ok(&["send", &id, "second question"])
        .trim()
        .to_string();
    let f = finish(home, &next);
    assert_eq!(f["status"], "succeeded", "{f}");
    let answer = f["result"].as_str().unwrap();
    assert!(
        answer.contains("turn 2: second question") && answer.contains("earlier: hello there"),
        "{answer}"
    );
    assert_eq!(f["metadata"]["session_id"], session);
    let last = conversations(&server).pop().unwrap();
    assert_eq!(
        last.len(),
        2,
        "the resumed request carries the first prompt: {last:?}"
    );

    let limited = setup.submit("oc", "RATE_LIMIT please");
    let r = finish(home, &limited);
    assert_eq!(r["status"], "failed");
    assert_eq!(r["error"]["kind"], "rate_limited", "{r}");
}

#[test]
fn opencode_over_acp_delegates_and_resumes_with_session_load() {
    let server = ModelServer::start().unwrap();
    let Some(setup) = opencode_home(&server) else {
        return;
    };
    let home = &setup.home;
    let id = setup.submit("oc-acp", "hello acp");
    let t = finish(home, &id);
    assert_eq!(t["status"], "succeeded", "{t}\n{}", home.ok(&["logs", &id]));
    assert!(
        t["result"]
            .as_str()
            .unwrap()
            .starts_with("turn 1: hello acp"),
        "{t}"
    );
    assert!(
        t["metadata"]["session_id"]
            .as_str()
            .unwrap()
            .starts_with("ses")
    );

    let next = home.ok(&["send", &id, "after load"]).trim().to_string();
    let f = finish(home, &next);
    assert_eq!(
        f["status"],
        "succeeded",
        "{f}\n{}",
        home.ok(&["logs", &next])
    );
    let answer = f["result"].as_str().unwrap();
    assert!(
        answer.starts_with("turn 2: after load | earlier: hello acp"),
        "the replayed history stays out of the answer: {answer}"
    );

    let slow = setup.submit("oc-acp", "SLOW30 then answer");
    assert!(common::poll_until(
        std::time::Duration::from_secs(60),
        || conversations(&server)
            .iter()
            .any(|c| c.last().is_some_and(|l| l.contains("SLOW30")))
    ));
    home.ok(&["cancel", &slow]);
    let c = finish(home, &slow);
    assert_eq!(c["status"], "canceled", "{c}");
    assert!(common::poll_until(
        std::time::Duration::from_secs(10),
        || common::processes_of_task(&slow).is_empty()
    ));
}
