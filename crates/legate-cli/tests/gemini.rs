//! The real Gemini CLI (npm `@google/gemini-cli`, pinned in `scripts/install-test-agents`)
//! driven through the `gemini` and `gemini-acp` presets as they are built in (only the
//! environment points them at the scripted model server's Gemini routes), in a fresh git
//! directory Gemini CLI has never been told to trust, as a user's new project would be; and
//! Gemini CLI as an MCP host of `legate serve`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Home;
use legate_test_model::{ModelServer, user_texts};
use serde_json::{Value, json};

/// The model every run names: without one, Gemini CLI first asks a classifier model.
const MODEL: &str = "gemini-2.5-flash";

/// A legate home whose `gemini` and `gemini-acp` presets run the real Gemini CLI against a
/// scripted model server, with a private HOME, and a new project directory to work in.
struct Setup {
    home: Home,
    server: ModelServer,
    gemini: PathBuf,
    project: tempfile::TempDir,
}

impl Setup {
    /// `None` (said on stderr) when the CLI cannot be installed.
    fn new() -> Option<Setup> {
        let gemini = common::agents::installed("gemini")?;
        let server = ModelServer::start().unwrap();
        let home = Home::new("");
        let project = common::agents::new_project();
        let setup = Setup {
            home,
            server,
            gemini,
            project,
        };
        setup.settings(json!({}));
        std::fs::create_dir_all(setup.gemini_home().join("tmp")).unwrap();
        let env = setup
            .env()
            .iter()
            .map(|(k, v)| format!("{k} = \"{v}\""))
            .collect::<Vec<_>>()
            .join(", ");
        setup.home.write_config(
            4,
            &format!(
                r#"
[agents.gemini]
model = "{MODEL}"
env = {{ {env} }}

[agents.gemini-acp]
model = "{MODEL}"
env = {{ {env} }}
"#
            ),
        );
        Some(setup)
    }

    /// Gemini CLI's HOME.
    fn gemini_home(&self) -> PathBuf {
        self.home.path().join("gemini-home")
    }

    /// Writes `~/.gemini/settings.json`: API-key auth, no update checks, no usage statistics,
    /// and `extra`'s keys.
    fn settings(&self, extra: Value) {
        let dir = self.gemini_home().join(".gemini");
        std::fs::create_dir_all(&dir).unwrap();
        let mut settings = json!({
            "security": {"auth": {"selectedType": "gemini-api-key"}},
            "general": {"enableAutoUpdate": false, "enableAutoUpdateNotification": false},
            "privacy": {"usageStatisticsEnabled": false}
        });
        for (k, v) in extra.as_object().unwrap() {
            settings[k] = v.clone();
        }
        std::fs::write(dir.join("settings.json"), settings.to_string()).unwrap();
    }

    /// The environment Gemini CLI runs with: the installed CLI first on PATH, the private HOME
    /// (and TMPDIR, where it writes error reports), and the scripted model server. Nothing
    /// about trust: that is the presets' business.
    fn env(&self) -> Vec<(&'static str, String)> {
        let bin = self.gemini.parent().unwrap().display().to_string();
        let path = std::env::var("PATH").unwrap_or_default();
        let h = self.gemini_home().display().to_string();
        vec![
            ("PATH", format!("{bin}:{path}")),
            ("HOME", h.clone()),
            ("TMPDIR", format!("{h}/tmp")),
            ("GEMINI_API_KEY", "x".into()),
            ("GOOGLE_GEMINI_BASE_URL", self.server.gemini_base_url()),
        ]
    }

    fn project(&self) -> &Path {
        self.project.path()
    }

    /// `legate run AGENT PROMPT` in the project; returns the task id.
    fn run(&self, agent: &str, prompt: &str) -> String {
        let cwd = self.project().to_str().unwrap();
        self.home
            .ok(&["run", "--cwd", cwd, agent, prompt])
            .trim()
            .to_string()
    }

    /// Waits for task `id` and returns it (`show --json`).
    fn finish(&self, id: &str) -> Value {
        let out = self.home.run(&["wait", "--json", "--timeout", "180s", id]);
        let waited: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
            panic!("wait: {}", String::from_utf8_lossy(&out.stderr));
        });
        assert_eq!(waited["timed_out"], false, "{waited}");
        self.home.show(id)
    }

    /// Runs Gemini CLI headless in the project with `prompt` (which may call tools); returns
    /// its stream-json events, stdout and stderr.
    fn ask_with_tools(&self, prompt: &str) -> (Vec<Value>, String, String) {
        let out = Command::new(&self.gemini)
            .args([
                "--skip-trust",
                "--output-format",
                "stream-json",
                "--model",
                MODEL,
            ])
            .arg(format!("--prompt={prompt}"))
            .envs(self.env())
            .current_dir(self.project())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let events = stdout
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        (events, stdout, stderr)
    }

    /// The task's log, for failure messages.
    fn log(&self, id: &str) -> String {
        self.home.ok(&["logs", id])
    }

    /// The user prompts of the last request the model server received.
    fn last_prompts(&self) -> Vec<String> {
        user_texts(self.server.requests().last().unwrap())
    }
}

#[test]
fn the_gemini_preset_answers_in_an_untrusted_directory_and_resumes() {
    let Some(s) = Setup::new() else { return };
    let id = s.run("gemini", "hello gemini");
    let t = s.finish(&id);
    assert_eq!(t["status"], "succeeded", "{t}\n{}", s.log(&id));
    assert_eq!(t["result"], "turn 1: hello gemini | earlier:", "{t}");
    let session = t["metadata"]["session_id"].as_str().unwrap().to_string();
    assert_eq!(session.len(), 36, "a UUID: {t}");
    assert!(
        t["metadata"]["usage"]["output_tokens"].as_u64().unwrap() > 0,
        "{t}"
    );

    let next = s.home.ok(&["send", &id, "and then?"]).trim().to_string();
    let f = s.finish(&next);
    assert_eq!(f["status"], "succeeded", "{f}\n{}", s.log(&next));
    assert_eq!(f["metadata"]["session_id"], session.as_str());
    let sent = s.server.requests().last().unwrap().to_string();
    assert!(
        sent.contains("hello gemini") && sent.contains("and then?"),
        "the resumed session carries the first prompt: {sent}"
    );
}

#[test]
fn the_gemini_acp_preset_answers_and_its_follow_up_loads_the_session() {
    let Some(s) = Setup::new() else { return };
    let id = s.run("gemini-acp", "hello acp");
    let t = s.finish(&id);
    assert_eq!(t["status"], "succeeded", "{t}\n{}", s.log(&id));
    assert_eq!(t["result"], "turn 1: hello acp | earlier:", "{t}");
    let session = t["metadata"]["session_id"].as_str().unwrap().to_string();

    // Sent at once, usually within the minute the session was created.
    let next = s.home.ok(&["send", &id, "after load"]).trim().to_string();
    let f = s.finish(&next);
    assert_eq!(f["status"], "succeeded", "{f}\n{}", s.log(&next));
    assert_eq!(f["metadata"]["session_id"], session.as_str());
    assert_eq!(
        f["result"], "turn 2: after load | earlier: hello acp",
        "the answer recalls the first prompt, and the replayed history stays out of it"
    );
    assert_eq!(s.last_prompts(), ["hello acp", "after load"]);
}

#[test]
fn rate_limits_are_classified_for_both_presets() {
    let Some(s) = Setup::new() else { return };
    for agent in ["gemini", "gemini-acp"] {
        let id = s.run(agent, "RATE_LIMIT please");
        let t = s.finish(&id);
        assert_eq!(t["status"], "failed", "{agent}: {t}");
        assert_eq!(
            t["error"]["kind"],
            "rate_limited",
            "{agent}: {t}\n{}",
            s.log(&id)
        );
    }
}

#[test]
fn gemini_calls_legate_tools_over_streamable_http() {
    let Some(s) = Setup::new() else { return };
    let (mut serve, url) = common::mcp::serve(&s.home, "gemini-token");
    s.settings(json!({"mcpServers": {"legate": {
        "httpUrl": url,
        "headers": {"Authorization": "Bearer gemini-token"},
        "trust": true
    }}}));
    let prompt =
        r#"CALL delegate {"agent": "fake", "prompt": "print delegated over http", "wait": true}"#;
    let (events, stdout, stderr) = s.ask_with_tools(prompt);
    let _ = serve.kill();
    let _ = serve.wait();
    let of = |kind: &'static str| events.iter().filter(move |e| e["type"] == kind);
    assert!(
        of("tool_use").any(|e| e["tool_name"] == "mcp_legate_delegate"),
        "Gemini CLI offered and called legate's delegate tool:\n{stdout}\n{stderr}"
    );
    assert!(
        of("tool_result").any(|e| e["status"] == "success"),
        "{stdout}\n{stderr}"
    );
    assert!(
        !stderr.contains("unknown format"),
        "legate's tool schemas use only formats JSON Schema defines:\n{stderr}"
    );
    let answer: String = of("message")
        .filter(|e| e["role"] == "assistant")
        .filter_map(|e| e["content"].as_str())
        .collect();
    assert!(answer.starts_with("SAW: "), "{answer}");
    let sent = s.server.requests().last().unwrap().to_string();
    assert!(
        sent.contains("delegated over http"),
        "the delegated task's result reached the model: {sent}"
    );
    let tasks = s.home.ls(&[]);
    assert!(
        tasks
            .iter()
            .any(|t| t["agent"] == "fake" && t["status"] == "succeeded"),
        "{tasks:?}"
    );
}

#[test]
fn legate_setup_gemini_lets_gemini_p_call_legates_tools_over_stdio() {
    let Some(s) = Setup::new() else { return };
    // A user's existing settings (the API-key auth) stay as they are.
    let out = s
        .home
        .cmd(&["setup", "gemini"])
        .env("HOME", s.gemini_home())
        .env("LEGATE_HOME", s.home.path())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("settings.json"), "{said}");
    let file = s.gemini_home().join(".gemini/settings.json");
    let settings: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(
        settings["security"]["auth"]["selectedType"],
        "gemini-api-key"
    );
    assert_eq!(settings["mcpServers"]["legate"]["trust"], true);
    // Running it again changes nothing.
    let again = s
        .home
        .cmd(&["setup", "gemini"])
        .env("HOME", s.gemini_home())
        .env("LEGATE_HOME", s.home.path())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing changed"));

    let prompt =
        r#"CALL delegate {"agent": "fake", "prompt": "print delegated over stdio", "wait": true}"#;
    let (events, stdout, stderr) = s.ask_with_tools(prompt);
    let of = |kind: &'static str| events.iter().filter(move |e| e["type"] == kind);
    assert!(
        of("tool_use").any(|e| e["tool_name"] == "mcp_legate_delegate"),
        "Gemini CLI offered and called legate's delegate tool:\n{stdout}\n{stderr}"
    );
    let sent = s.server.requests().last().unwrap().to_string();
    assert!(
        sent.contains("delegated over stdio"),
        "the delegated task's result reached the model: {sent}"
    );
    let tasks = s.home.ls(&[]);
    assert!(
        tasks
            .iter()
            .any(|t| t["agent"] == "fake" && t["status"] == "succeeded"),
        "{tasks:?}"
    );
}
