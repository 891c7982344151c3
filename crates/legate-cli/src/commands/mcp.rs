//! `legate mcp` (stdio) and `legate serve` (streamable HTTP): the MCP server, a client of the
//! daemon like every other frontend.

use std::net::SocketAddr;

use anyhow::{Context, Result, bail};
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

/// Serves MCP over HTTP until interrupted.
pub async fn serve(paths: &Paths, listen: SocketAddr) -> Result<i32> {
    let token = std::env::var("LEGATE_TOKEN").ok().filter(|t| !t.is_empty());
    if token.is_none() && !listen.ip().is_loopback() {
        bail!(
            "refusing to serve {listen} without a token: anyone who can reach it could run agents; \
             set LEGATE_TOKEN to a secret (clients send `Authorization: Bearer TOKEN`) or listen on 127.0.0.1"
        );
    }
    let client = connect_lasting(paths).await?;
    let app = legate_mcp::http::router(client, paths.config_or_default().mcp.result_chars, token);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    println!("http://{addr}/mcp");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("the HTTP server failed")?;
    Ok(exit::OK)
}
