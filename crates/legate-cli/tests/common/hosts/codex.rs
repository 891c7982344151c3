//! Codex (`@openai/codex`, pinned in `scripts/install-test-agents`) run as `codex exec`
//! against the scripted model server's OpenAI Responses route.
//!
//! Its HOME holds `.codex/config.toml`: the model `m` of a provider `scripted` whose
//! `base_url` is the server's `/v1` with `wire_api = "responses"`; `legate setup codex` then
//! adds `legate mcp` as the MCP server `legate` (approved tools, the `LEGATE_*`/`XDG_*`
//! variables Codex would drop, the store pinned), so the run shows that setup is all a user
//! needs for `codex exec`.

use super::{HostRun, host_command, host_home, run_host};
use crate::common::{Home, agents};
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
"#,
        base = quote(&server.base_url()),
    );
    std::fs::write(dir.join(".codex/config.toml"), config).unwrap();
    let setup = home
        .cmd(&["setup", "codex"])
        .env("HOME", &dir)
        .env_remove("CODEX_HOME")
        .env("LEGATE_HOME", home.path())
        .output()
        .unwrap();
    assert!(
        setup.status.success(),
        "legate setup codex: {}",
        String::from_utf8_lossy(&setup.stderr)
    );
    let mut c = host_command(&bin, &dir, cwd);
    // No LEGATE_HOME in Codex's environment: the entry setup wrote pins the store.
    c.args(["exec", "--skip-git-repo-check", "--json", prompt]);
    run_host("codex", c, &dir)
}
