//! `legate mcp` (stdio): the MCP server, a client of the daemon like every other frontend
//! (`legate serve` serves it over HTTP).

use anyhow::{Context, Result};
use legate_mcp::{LegateMcp, Origin};
use rmcp::ServiceExt;

use crate::connect::connect_lasting;
use crate::exit;
use crate::paths::Paths;

/// Where Claude Code sessions are registered by the `SessionStart` hook.
pub fn claude_sessions_dir(paths: &Paths) -> std::path::PathBuf {
    paths.run_dir.join("claude-code")
}

/// Where Hermes processes register the origin of their current session (`legate hook
/// hermes`).
pub fn hermes_sessions_dir(paths: &Paths) -> std::path::PathBuf {
    paths.run_dir.join("hermes")
}

/// Serves MCP on stdin/stdout until the host closes it; with `no_tasks`, without the MCP
/// tasks extension.
pub async fn stdio(paths: &Paths, no_tasks: bool) -> Result<i32> {
    let client = connect_lasting(paths).await?;
    // The project: where the host started this server (its repository's top level).
    let cwd = std::env::current_dir().context("reading the working directory")?;
    let project = legate_mcp::identity::project_dir(&cwd);
    let origin = match std::env::var("LEGATE_ORIGIN")
        .ok()
        .filter(|o| !o.is_empty())
    {
        Some(o) => Origin::fixed(o, Some(legate_mcp::identity::project_scope(&project))),
        None => Origin::host(
            claude_sessions_dir(paths),
            hermes_sessions_dir(paths),
            project,
        ),
    };
    let mut server = LegateMcp::new(client, origin, paths.config_or_default().mcp.result_chars);
    if no_tasks {
        server = server.without_tasks();
    }
    let server = server
        .serve(rmcp::transport::stdio())
        .await
        .context("starting the MCP session on stdin/stdout")?;
    server.waiting().await.context("the MCP session failed")?;
    Ok(exit::OK)
}
