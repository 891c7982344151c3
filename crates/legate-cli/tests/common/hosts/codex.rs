//! Codex (`@openai/codex`, pinned in `scripts/install-test-agents`) run as `codex exec`
//! against the scripted model server's OpenAI Responses route.
//!
//! Its HOME holds `.codex/config.toml`: the model `m` of a provider `scripted` whose
//! `base_url` is the server's `/v1` with `wire_api = "responses"`, and `legate mcp` as the MCP
//! server `legate` with `default_tools_approval_mode = "approve"` (`codex exec` cannot ask for
//! approval) and `env_vars = ["LEGATE_HOME"]` (Codex starts MCP servers with a reduced
//! environment that drops every `LEGATE_*` not listed). `LEGATE_HOME` is set in Codex's own
//! environment, so the run also shows it passes through.

use super::{HostRun, host_command, host_home, run_host};
use crate::common::{Home, agents, legate_bin};
use legate_test_model::ModelServer;
use std::path::Path;

/// Runs `codex exec --json PROMPT` in `cwd` against `server`, with legate (in `home`) as its
/// MCP server; prints Codex's JSON lines.
pub fn run(home: &Home, server: &ModelServer, cwd: &Path, prompt: &str) -> HostRun {
    let bin = agents::required("codex");
    let dir = host_home(home.path(), "codex");
    std::fs::create_dir_all(dir.join(".codex")).unwrap();
    let quote = |s: &str| serde_json::Value::from(s).to_string();
    let config = format!(
        r#"model = "m"
model_provider = "scripted"
check_for_update_on_startup = false

[model_providers.scripted]
name = "scripted"
base_url = {base}
wire_api = "responses"

[mcp_servers.legate]
command = {legate}
args = ["mcp"]
env_vars = ["LEGATE_HOME"]
default_tools_approval_mode = "approve"
"#,
        base = quote(&server.base_url()),
        legate = quote(&legate_bin().display().to_string()),
    );
    std::fs::write(dir.join(".codex/config.toml"), config).unwrap();
    let mut c = host_command(&bin, &dir, cwd);
    c.args(["exec", "--skip-git-repo-check", "--json", prompt])
        .env("LEGATE_HOME", home.path());
    run_host("codex", c, &dir)
}
