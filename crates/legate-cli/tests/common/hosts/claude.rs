//! Claude Code (`@anthropic-ai/claude-code`, pinned in `scripts/install-test-agents`) run as
//! `claude -p` against the scripted model server's Anthropic Messages route.
//!
//! Its HOME holds only `.claude.json` with `hasCompletedOnboarding`; `ANTHROPIC_BASE_URL` and
//! `ANTHROPIC_API_KEY` (any value) point it at the server. `--mcp-config` names `legate mcp`
//! (with the test's `LEGATE_HOME` in the server entry's `env`), `--strict-mcp-config` keeps any
//! other server out, and `--allowedTools mcp__legate` lets `-p` call legate's tools (it refuses
//! tools not allowed). Claude Code defers MCP tools behind its `ToolSearch` tool: the scripted
//! model loads a deferred tool with it before calling it (see `legate-test-model`).

use super::{HostRun, host_command, host_home, run_host};
use crate::common::{Home, agents, legate_bin};
use legate_test_model::ModelServer;
use serde_json::json;
use std::path::Path;

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
        .args(["--strict-mcp-config", "--allowedTools", "mcp__legate"])
        .env("ANTHROPIC_BASE_URL", format!("http://{}", server.addr()))
        .env("ANTHROPIC_API_KEY", "scripted-model-key")
        .env("DISABLE_AUTOUPDATER", "1")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1");
    run_host("claude", c, &dir)
}
