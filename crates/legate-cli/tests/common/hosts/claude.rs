//! Claude Code (`@anthropic-ai/claude-code`, pinned in `scripts/install-test-agents`) run as
//! `claude -p` against the scripted model server's Anthropic Messages route.
//!
//! Its HOME holds only `.claude.json` with `hasCompletedOnboarding`; `ANTHROPIC_BASE_URL` and
//! `ANTHROPIC_API_KEY` (any value) point it at the server. `--mcp-config` names `legate mcp`
//! (with the test's `LEGATE_HOME` in the server entry's `env`), `--strict-mcp-config` keeps any
//! other server out, and `--allowedTools mcp__legate` lets `-p` call legate's tools (it refuses
//! tools not allowed). Claude Code defers MCP tools behind its `ToolSearch` tool: the scripted
//! model loads a deferred tool with it before calling it (see `legate-test-model`).
//!
//! [`set_up`] instead prepares the HOME as a user of `legate setup claude-code` has it: the
//! plugin (MCP server, hooks, monitor) installed and its tools allowed in settings, and
//! [`run_set_up`] runs `claude -p` with nothing else (no `--mcp-config`, no `--allowedTools`).

use super::{HostRun, host_command, host_home, run_host};
use crate::common::{Home, agents, legate_bin};
use legate_test_model::ModelServer;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The API key Claude Code is given (any value: the scripted model checks none).
pub const API_KEY: &str = "scripted-model-key";

/// Runs `claude -p PROMPT` in `cwd` against `server`, with legate (in `home`) as its MCP server;
/// prints stream-json (`--output-format stream-json --verbose`).
pub fn run(home: &Home, server: &ModelServer, cwd: &Path, prompt: &str) -> HostRun {
    let bin = agents::required("claude");
    let dir = host_home(home.path(), "claude");
    let state = json!({"hasCompletedOnboarding": true, "autoUpdates": false});
    std::fs::write(dir.join(".claude.json"), state.to_string()).unwrap();
    let mcp = json!({"mcpServers": {"legate": {
        "type": "stdio",
        "command": legate_bin(),
        "args": ["mcp"],
        "env": {"LEGATE_HOME": home.path()}
    }}});
    let config = dir.join("mcp.json");
    std::fs::write(&config, mcp.to_string()).unwrap();
    let mut c = host_command(&bin, &dir, cwd);
    c.args(["-p", prompt, "--output-format", "stream-json", "--verbose"])
        .arg("--mcp-config")
        .arg(&config)
        .args(["--strict-mcp-config", "--allowedTools", "mcp__legate"]);
    point_at(&mut c, server);
    run_host("claude", c, &dir)
}

/// Claude Code's HOME inside `home`, prepared as after `legate setup claude-code` (run there
/// with the test's `LEGATE_HOME`): `.claude.json` with onboarding done, the API key accepted
/// and `project` trusted (so the interactive TUI asks nothing), the plugin under
/// `.claude/skills/legate`, its tools allowed in `.claude/settings.json`.
pub fn set_up(home: &Home, project: &Path) -> PathBuf {
    let dir = host_home(home.path(), "claude");
    let key_end = &API_KEY[API_KEY.len().saturating_sub(20)..];
    let state = json!({
        "hasCompletedOnboarding": true,
        "autoUpdates": false,
        "customApiKeyResponses": {"approved": [key_end], "rejected": []},
        "projects": {project.display().to_string(): {"hasTrustDialogAccepted": true}},
    });
    std::fs::write(dir.join(".claude.json"), state.to_string()).unwrap();
    let setup = home
        .cmd(&["setup", "claude-code"])
        .env("HOME", &dir)
        .env_remove("CLAUDE_CONFIG_DIR")
        .output()
        .unwrap();
    assert!(
        setup.status.success(),
        "legate setup claude-code: {}",
        String::from_utf8_lossy(&setup.stderr)
    );
    dir
}

/// Points a Claude Code command at `server`.
pub fn point_at(c: &mut Command, server: &ModelServer) {
    c.env("ANTHROPIC_BASE_URL", format!("http://{}", server.addr()))
        .env("ANTHROPIC_API_KEY", API_KEY)
        .env("DISABLE_AUTOUPDATER", "1")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1");
}

/// Runs `claude -p PROMPT` in `cwd` against `server` with the HOME [`set_up`] prepared and no
/// other option legate would need: everything comes from the setup.
pub fn run_set_up(home: &Home, server: &ModelServer, cwd: &Path, prompt: &str) -> HostRun {
    let bin = agents::required("claude");
    let dir = set_up(home, cwd);
    let mut c = host_command(&bin, &dir, cwd);
    c.args(["-p", prompt, "--output-format", "stream-json", "--verbose"]);
    point_at(&mut c, server);
    run_host("claude", c, &dir)
}
