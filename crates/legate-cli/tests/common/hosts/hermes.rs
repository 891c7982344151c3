//! Hermes (PyPI `hermes-agent[mcp]`, pinned in `scripts/install-test-agents`, in its own
//! virtual environment) run as `hermes -z` against the scripted model server's OpenAI chat
//! completions route.
//!
//! Its HOME holds `.hermes/config.yaml`: `model: {provider: custom, base_url: …/v1, default:
//! m}`, and `legate mcp` as the MCP server `legate` with `LEGATE_HOME` in its `env` (Hermes
//! passes stdio servers only a few variables besides) and a `timeout` above legate's longest
//! blocking call. At start Hermes probes the custom endpoint for a local model server
//! (`/api/tags`, `/props`, `/version`…); the scripted server answers those 404. Hermes hands
//! an MCP tool's result to the model inside `<untrusted_tool_result source="…">` after a
//! warning paragraph, so a `SAW:` reply shows that wrapper rather than the result's start.
//!
//! [`set_up`] configures a Hermes HOME the way users do (`legate setup hermes`, after the
//! model section), [`one_shot`] runs `hermes -z` in it, and [`Interactive`] drives the
//! interactive CLI in a tmux server of its own.

use super::{HostRun, host_command, host_home, run_host};
use crate::common::{Home, agents, legate_bin};
use legate_test_model::ModelServer;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Runs `hermes -z PROMPT` in `cwd` against `server`, with legate (in `home`) as its MCP
/// server; prints the final answer.
pub fn run(home: &Home, server: &ModelServer, cwd: &Path, prompt: &str) -> HostRun {
    let bin = agents::required("hermes");
    let dir = host_home(home.path(), "hermes");
    std::fs::create_dir_all(dir.join(".hermes")).unwrap();
    // JSON strings are YAML scalars: no quoting rules of YAML's own to get wrong.
    let quote = |s: &str| serde_json::Value::from(s).to_string();
    let config = [
        "model:".to_owned(),
        "  provider: custom".to_owned(),
        format!("  base_url: {}", quote(&server.base_url())),
        "  default: m".to_owned(),
        "mcp_servers:".to_owned(),
        "  legate:".to_owned(),
        format!(
            "    command: {}",
            quote(&legate_bin().display().to_string())
        ),
        "    args: [mcp]".to_owned(),
        "    env:".to_owned(),
        format!(
            "      LEGATE_HOME: {}",
            quote(&home.path().display().to_string())
        ),
        "    timeout: 620".to_owned(),
    ]
    .join("\n");
    std::fs::write(dir.join(".hermes/config.yaml"), config).unwrap();
    let mut c = host_command(&bin, &dir, cwd);
    c.args(["-z", prompt]);
    run_host("hermes", c, &dir)
}

/// A Hermes HOME in `home` configured as a user would: the model section pointing at
/// `server`, then `legate setup hermes` (run with that HOME and the test's `LEGATE_HOME`).
/// Returns the HOME.
pub fn set_up(home: &Home, server: &ModelServer) -> PathBuf {
    let dir = host_home(home.path(), "hermes");
    std::fs::create_dir_all(dir.join(".hermes")).unwrap();
    let quote = |s: &str| serde_json::Value::from(s).to_string();
    let model = format!(
        "model:\n  provider: custom\n  base_url: {}\n  default: m\n",
        quote(&server.base_url())
    );
    std::fs::write(dir.join(".hermes/config.yaml"), model).unwrap();
    let out = home
        .cmd(&["setup", "hermes"])
        .env("HOME", &dir)
        .env_remove("HERMES_HOME")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "legate setup hermes failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

/// Runs `hermes -z PROMPT` in `cwd` with the HOME `dir` ([`set_up`]).
pub fn one_shot(dir: &Path, cwd: &Path, prompt: &str) -> HostRun {
    let bin = agents::required("hermes");
    let mut c = host_command(&bin, dir, cwd);
    c.args(["-z", prompt]);
    run_host("hermes", c, dir)
}

/// The interactive Hermes CLI in a tmux server of its own (socket in its HOME), with the
/// environment [`host_command`] gives; the server, and Hermes with it, ends on drop.
pub struct Interactive {
    socket: PathBuf,
}

/// How long the interactive CLI may take to show its prompt.
const READY: Duration = Duration::from_secs(90);

impl Interactive {
    /// Starts `hermes` in `cwd` with the HOME `dir` ([`set_up`]) and waits for its prompt.
    pub fn start(dir: &Path, cwd: &Path) -> Interactive {
        let bin = agents::required("hermes");
        let tmp = dir.join("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        let path = format!(
            "{}:{}",
            bin.parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let tui = Interactive {
            socket: dir.join("tmux.sock"),
        };
        let env = [
            format!("PATH={path}"),
            format!("HOME={}", dir.display()),
            format!("TMPDIR={}", tmp.display()),
            "LANG=C.UTF-8".into(),
            "TERM=xterm-256color".into(),
        ];
        let mut argv: Vec<String> = vec!["env".into(), "-i".into()];
        argv.extend(env);
        argv.push(bin.display().to_string());
        let status = tui
            .tmux()
            .args([
                "new-session",
                "-d",
                "-x",
                "200",
                "-y",
                "50",
                "-s",
                "h",
                "-c",
            ])
            .arg(cwd)
            .args(&argv)
            .status()
            .unwrap();
        assert!(status.success(), "tmux could not start hermes");
        let ready = crate::common::poll_until(READY, || tui.screen().contains("Type your message"));
        assert!(ready, "hermes showed no prompt:\n{}", tui.screen());
        tui
    }

    fn tmux(&self) -> std::process::Command {
        let mut c = std::process::Command::new("tmux");
        c.arg("-S").arg(&self.socket).args(["-f", "/dev/null"]);
        c
    }

    /// Types `text` and Enter.
    pub fn say(&self, text: &str) {
        for keys in [&["-l", text][..], &["Enter"][..]] {
            let ok = self
                .tmux()
                .args(["send-keys", "-t", "h"])
                .args(keys)
                .status()
                .unwrap();
            assert!(ok.success(), "tmux send-keys failed");
        }
    }

    /// What the terminal shows now.
    pub fn screen(&self) -> String {
        let out = self
            .tmux()
            .args(["capture-pane", "-p", "-t", "h", "-S", "-200"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Interactive {
    fn drop(&mut self) {
        // Quit as a user does (Hermes then ends what it started), then end the server.
        self.say("/quit");
        crate::common::poll_until(Duration::from_secs(15), || {
            !self
                .tmux()
                .args(["has-session", "-t", "h"])
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
        let _ = self
            .tmux()
            .arg("kill-server")
            .stderr(std::process::Stdio::null())
            .status();
    }
}
