//! `legate mcp` (stdio): the MCP server, a client of the daemon like every other frontend
//! (`legate serve` serves it over HTTP).

use anyhow::{Context, Result};
use legate_domain::TaskId;
use legate_mcp::{LegateMcp, Origin};
use rmcp::ServiceExt;

use crate::connect::connect_lasting;
use crate::exit;
use crate::paths::Paths;

/// Where Claude Code sessions are registered by the `SessionStart` hook.
pub fn claude_sessions_dir(paths: &Paths) -> std::path::PathBuf {
    paths.run_dir.join("claude-code")
}

/// Serves MCP on stdin/stdout until the host closes it.
pub async fn stdio(paths: &Paths) -> Result<i32> {
    let client = connect_lasting(paths).await?;
    let origin = match std::env::var("LEGATE_ORIGIN")
        .ok()
        .filter(|o| !o.is_empty())
    {
        Some(o) => Origin::Fixed(o),
        None => Origin::host(
            claude_sessions_dir(paths),
            format!("mcp:{}", TaskId::generate()),
        ),
    };
    let server = LegateMcp::new(client, origin, paths.config_or_default().mcp.result_chars)
        .serve(rmcp::transport::stdio())
        .await
        .context("starting the MCP session on stdin/stdout")?;
    server.waiting().await.context("the MCP session failed")?;
    Ok(exit::OK)
}
