//! `legate serve`: the MCP server over streamable HTTP, always behind a bearer token unless
//! the user explicitly serves loopback without one.

use std::net::SocketAddr;

use anyhow::{Context, Result, bail};
use legate_mcp::http::Guard;

use crate::connect::connect_lasting;
use crate::exit;
use crate::paths::Paths;
use crate::token::{self, Source};

/// Serves MCP over HTTP until interrupted. Prints the URL on stdout and, on stderr, how
/// clients authenticate.
pub async fn serve(
    paths: &Paths,
    listen: SocketAddr,
    allowed_origins: Vec<String>,
    no_token: bool,
) -> Result<i32> {
    for o in &allowed_origins {
        check_origin(o)?;
    }
    let loopback = listen.ip().is_loopback();
    let from_env = std::env::var("LEGATE_TOKEN").ok().filter(|t| !t.is_empty());
    let token = match (no_token, from_env) {
        (true, Some(_)) => bail!(
            "--no-token and LEGATE_TOKEN contradict each other: unset LEGATE_TOKEN to serve without a token, or drop --no-token"
        ),
        (true, None) if !loopback => bail!(
            "refusing to serve {listen} without a token: anyone who can reach it could run your agents as you; \
             drop --no-token (clients then send the token) or listen on 127.0.0.1"
        ),
        (true, None) => None,
        (false, Some(t)) if !token::is_valid(&t) => bail!(
            "LEGATE_TOKEN must be visible ASCII without spaces (it is sent as `Authorization: Bearer TOKEN`); \
             e.g. LEGATE_TOKEN=$(openssl rand -hex 32), or unset it to have legate make one"
        ),
        (false, Some(t)) => Some((t, Source::Env)),
        (false, None) => Some(token::load_or_create(&paths.serve_token)?),
    };
    let client = connect_lasting(paths).await?;
    let guard = Guard {
        token: token.as_ref().map(|(t, _)| t.clone()),
        loopback,
        allowed_origins,
    };
    let app = legate_mcp::http::router(client, paths.config_or_default().mcp.result_chars, guard);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let url = format!("http://{}/mcp", listener.local_addr()?);
    outln!("{url}");
    errln!("{}", how_to_connect(&url, token.map(|(_, s)| s), paths));
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("the HTTP server failed")?;
    Ok(exit::OK)
}

/// What clients must send, with a command to copy.
fn how_to_connect(url: &str, token: Option<Source>, paths: &Paths) -> String {
    let header = "--header \"Authorization: Bearer $LEGATE_TOKEN\"";
    match token {
        None => {
            "legate: WARNING: serving without a token (--no-token): every user of this machine \
                 can list your tasks, read their results and run your agents as you"
                .into()
        }
        Some(Source::Env) => format!(
            "legate: clients send `Authorization: Bearer $LEGATE_TOKEN` (the token this server has), e.g.\n  \
             claude mcp add --transport http legate {url} {header}"
        ),
        Some(how) => {
            let file = paths.serve_token.display().to_string();
            let quoted = shlex::try_quote(&file).map_or(file.clone(), |q| q.into_owned());
            let made = if how == Source::Created {
                "made now, kept for later starts"
            } else {
                "kept from an earlier start"
            };
            format!(
                "legate: clients send `Authorization: Bearer TOKEN` with the token in {file} ({made}; only you can read it), e.g.\n  \
                 export LEGATE_TOKEN=\"$(cat {quoted})\"\n  \
                 claude mcp add --transport http legate {url} {header}"
            )
        }
    }
}

/// Refuses an `--allow-origin` that is not `http(s)://host[:port]`.
fn check_origin(origin: &str) -> Result<()> {
    let rest = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    if rest.is_none_or(|r| r.is_empty() || r.contains(['/', '?', '#', '@', ' '])) {
        bail!(
            "--allow-origin {origin:?} is not an origin: give scheme://host:port without a path, \
             e.g. https://app.example:443 (or :* for any port)"
        );
    }
    Ok(())
}
