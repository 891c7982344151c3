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

use super::{HostRun, host_command, host_home, run_host};
use crate::common::{Home, agents, legate_bin};
use legate_test_model::ModelServer;
use std::path::Path;

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
