//! OpenCode (npm `opencode-ai`, pinned in `scripts/install-test-agents`) as legate's OpenCode
//! plugin runs in it: `opencode serve` with `integrations/opencode/legate.ts` installed by
//! `legate setup opencode` in a private HOME, its model the scripted
//! [`ModelServer`](legate_test_model::ModelServer), driven turn by turn with
//! `opencode run --attach`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::super::{Home, agents, poll_until};
use legate_test_model::{ModelServer, user_texts};
use serde_json::{Value, json};

/// How long a condition the tests wait for may take.
pub const PATIENCE: Duration = Duration::from_secs(90);

/// A running `opencode serve` with legate's plugin installed in its user configuration, on a
/// new git project, its model the scripted server and its legate the home of the test.
pub struct OpenCode {
    bin: PathBuf,
    child: Child,
    /// The server's base URL (`http://127.0.0.1:PORT`).
    pub url: String,
    env: Vec<(String, String)>,
    /// The project the server serves (a new git repository).
    pub project: tempfile::TempDir,
}

impl OpenCode {
    pub fn start(home: &Home, server: &ModelServer) -> Option<OpenCode> {
        let bin = agents::installed("opencode")?;
        let modules = agents::installed("opencode-plugin")?;
        let h = home.path().join("oc-home");
        let cfg = h.join(".config/opencode");
        std::fs::create_dir_all(&cfg).unwrap();
        // The plugin package, already there, so opencode installs nothing at start.
        std::os::unix::fs::symlink(&modules, cfg.join("node_modules")).unwrap();
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
        // Installed as a user would: it pins this legate and this home, so OpenCode needs
        // neither in its environment.
        setup_opencode(home, &h, &h, &[]);
        assert!(cfg.join("plugin/legate.ts").is_file());
        let config = json!({
            "$schema": "https://opencode.ai/config.json",
            "autoupdate": false, "share": "disabled",
            "model": "scripted/m", "small_model": "scripted/m",
            "provider": {"scripted": {"npm": "@ai-sdk/openai-compatible", "name": "scripted",
                "options": {"baseURL": server.base_url(), "apiKey": "x"}, "models": {"m": {"name": "m"}}}}
        });
        std::fs::write(h.join("opencode.json"), config.to_string()).unwrap();
        let s = |p: &Path| p.display().to_string();
        let env: Vec<(String, String)> = [
            ("HOME", s(&h)),
            ("OPENCODE_CONFIG", s(&h.join("opencode.json"))),
            ("OPENCODE_DISABLE_AUTOUPDATE", "1".into()),
            ("OPENCODE_DISABLE_SHARE", "1".into()),
            ("OPENCODE_DISABLE_MODELS_FETCH", "1".into()),
            ("OPENCODE_DISABLE_LSP_DOWNLOAD", "1".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let project = agents::new_project();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new(&bin);
        cmd.args([
            "serve",
            "--hostname",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ])
        .current_dir(project.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
        clean_env(&mut cmd, &env);
        let mut child = cmd.spawn().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("listening on") {
                    let _ = tx.send(());
                }
            }
        });
        let oc = OpenCode {
            bin,
            child,
            url: format!("http://127.0.0.1:{port}"),
            env,
            project,
        };
        rx.recv_timeout(PATIENCE)
            .expect("opencode serve says it listens");
        Some(oc)
    }

    /// Answers `GET PATH` (e.g. `/session/ID`) of the server's HTTP API as JSON.
    pub fn api(&self, path: &str) -> Value {
        let url = format!("{}{path}", self.url);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let res = reqwest::get(&url).await.unwrap();
            assert!(res.status().is_success(), "GET {url}: {}", res.status());
            res.json::<Value>().await.unwrap()
        })
    }

    /// Answers `POST PATH` with the JSON `body` (e.g. a new session) as JSON.
    pub fn api_post(&self, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.url);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let res = reqwest::Client::new()
                .post(&url)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(res.status().is_success(), "POST {url}: {}", res.status());
            res.json::<Value>().await.unwrap()
        })
    }

    /// Sends `text` (on stdin, unquoted) as a user message to `session` (a new session when
    /// `None`) with `opencode run --attach`, waits for the turn to end and returns its JSON
    /// lines.
    pub fn prompt(&self, session: Option<&str>, text: &str) -> Vec<Value> {
        self.run(&["--attach", &self.url], session, text)
    }

    /// Sends `text` as [`prompt`](Self::prompt) does, but with `opencode run` serving the
    /// session in its own process (no `--attach`, so no server that listens).
    pub fn prompt_alone(&self, text: &str) -> Vec<Value> {
        self.run(&[], None, text)
    }

    fn run(&self, extra: &[&str], session: Option<&str>, text: &str) -> Vec<Value> {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("run")
            .args(extra)
            .args(["--format", "json"])
            .current_dir(self.project.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(s) = session {
            cmd.args(["--session", s]);
        }
        clean_env(&mut cmd, &self.env);
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "opencode run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Drop for OpenCode {
    fn drop(&mut self) {
        // TERM lets the plugin end its follower; KILL if it does not exit in time.
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let ended = poll_until(Duration::from_secs(10), || {
            self.child.try_wait().is_ok_and(|s| s.is_some())
        });
        if !ended {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `legate setup opencode ARGS` for the user whose HOME is `user_home`, in `cwd`, with
/// the legate home `home`; returns what it said on stderr.
pub fn setup_opencode(home: &Home, user_home: &Path, cwd: &Path, args: &[&str]) -> String {
    let mut argv = vec!["setup", "opencode"];
    argv.extend_from_slice(args);
    let out = home
        .cmd(&argv)
        .current_dir(cwd)
        .env("HOME", user_home)
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "legate {argv:?}: {said}");
    said
}

/// `cmd` with `env` and none of the variables that would tie it to a legate task or store
/// (the plugin reaches the store `legate setup` pinned).
pub fn clean_env(cmd: &mut Command, env: &[(String, String)]) {
    for k in [
        "LEGATE_HOME",
        "LEGATE_BIN",
        "XDG_CONFIG_HOME",
        "LEGATE_CONFIG",
        "LEGATE_DEPTH",
        "LEGATE_TASK_ID",
        "LEGATE_ORIGIN",
        "LEGATE_TOKEN",
    ] {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
}

/// The session a turn ran in.
pub fn session_of(lines: &[Value]) -> String {
    lines
        .iter()
        .find_map(|l| l["sessionID"].as_str())
        .expect("opencode printed a session id")
        .to_string()
}

/// The outputs (or errors) of the calls of `tool` in a turn.
pub fn tool_outputs(lines: &[Value], tool: &str) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l["type"] == "tool_use" && l["part"]["tool"] == tool)
        .map(|l| {
            let state = &l["part"]["state"];
            state["output"]
                .as_str()
                .or(state["error"].as_str())
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// The one output of `tool` in a turn.
pub fn output_of(lines: &[Value], tool: &str) -> String {
    let outs = tool_outputs(lines, tool);
    assert_eq!(outs.len(), 1, "one call of {tool} in {lines:#?}");
    outs[0].clone()
}

/// The user messages of the last request that carried tools (the conversation as the model
/// last saw it).
pub fn last_conversation(server: &ModelServer) -> Vec<String> {
    server
        .requests()
        .iter()
        .rev()
        .find(|r| r.get("tools").is_some())
        .map(user_texts)
        .unwrap_or_default()
}

/// Whether any request's user messages hold `needle`.
pub fn model_saw(server: &ModelServer, needle: &str) -> bool {
    server
        .requests()
        .iter()
        .any(|r| user_texts(r).iter().any(|t| t.contains(needle)))
}

/// Runs `prompt` in `session` on another thread, creates `gate` once the model received it (so
/// the tool it calls is under way before the tasks end), and returns the turn's lines.
pub fn prompt_then_open(
    oc: &OpenCode,
    server: &ModelServer,
    session: &str,
    prompt: &str,
    gate: &Path,
) -> Vec<Value> {
    std::thread::scope(|s| {
        let turn = s.spawn(|| oc.prompt(Some(session), prompt));
        assert!(poll_until(PATIENCE, || model_saw(server, prompt)));
        std::fs::write(gate, "").unwrap();
        turn.join().unwrap()
    })
}
