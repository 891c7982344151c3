//! Whose tasks these are: the origin every delegation through this server records, and whose
//! inbox `finished_since_last_call` reads.
//!
//! A Claude Code session is recognised across its processes: its `SessionStart` hook (`legate
//! hook claude-code`) registers the session under the hook's nearest ancestors (Claude Code,
//! and the shell it may run hooks with), and a stdio MCP server that Claude Code started finds
//! the registration of its own nearest ancestors — the same Claude Code process. Only the
//! nearest [`LEVELS`] are used both ways, so a process shared further up (a terminal
//! multiplexer, a login shell) never ties another host's MCP server to the session. Tasks delegated through MCP and through the session's shell
//! commands then share the origin `claude-code:SESSION`, which the hooks read.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::service::{RequestContext, RoleServer};

/// How many ancestors are registered and looked up.
pub const LEVELS: usize = 2;

/// How long a stdio server trusts its last look at the session registry.
const SESSION_RECHECK: Duration = Duration::from_secs(1);

/// How a server decides the origin of each call.
#[derive(Debug, Clone)]
pub enum Origin {
    /// Always this one (`LEGATE_ORIGIN`, or chosen by whoever runs the server).
    Fixed(String),
    /// A stdio server under an agent host: the Claude Code session registered by the nearest
    /// ancestor, else `fallback` (one per server process).
    Host {
        /// Where sessions are registered.
        sessions: PathBuf,
        /// The origin when no session is registered.
        fallback: String,
        /// The last answer and when it was found.
        seen: Arc<Mutex<Option<(Instant, String)>>>,
    },
    /// Over HTTP: one origin per MCP session (`Mcp-Session-Id`), else `fallback`.
    Http {
        /// The origin of requests outside a session.
        fallback: String,
    },
}

impl Origin {
    /// A stdio server's origin: the Claude Code session registered in `sessions` by the
    /// nearest ancestor, else `fallback`.
    pub fn host(sessions: PathBuf, fallback: String) -> Origin {
        Origin::Host {
            sessions,
            fallback,
            seen: Arc::default(),
        }
    }

    /// The origin of one call.
    pub fn resolve(&self, ctx: &RequestContext<RoleServer>) -> String {
        match self {
            Origin::Fixed(o) => o.clone(),
            Origin::Host {
                sessions,
                fallback,
                seen,
            } => {
                // The registration changes only when the host starts a session (or clears
                // one): looking once a second is enough.
                let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
                if let Some((at, origin)) = seen.as_ref()
                    && at.elapsed() < SESSION_RECHECK
                {
                    return origin.clone();
                }
                let origin = claude_session(sessions)
                    .map(|s| format!("claude-code:{s}"))
                    .unwrap_or_else(|| fallback.clone());
                *seen = Some((Instant::now(), origin.clone()));
                origin
            }
            Origin::Http { fallback } => ctx
                .extensions
                .get::<axum::http::request::Parts>()
                .and_then(|p| p.headers.get("mcp-session-id"))
                .and_then(|v| v.to_str().ok())
                .map(|s| format!("mcp-http:{s}"))
                .unwrap_or_else(|| fallback.clone()),
        }
    }
}

fn nearest_ancestors() -> Vec<(i32, u64)> {
    let mut up = legate_runner::procfs::ancestors(std::process::id() as i32);
    up.truncate(LEVELS);
    up
}

fn record_name(pid: i32, start: u64) -> String {
    format!("{pid}-{start}")
}

/// Registers a Claude Code session for the nearest ancestors of this process (the hook's);
/// registrations of processes that are gone are removed. `dir` is created 0700 and each
/// record 0600, whatever the umask; the caller checks the directory above it.
pub fn register_claude_session(dir: &Path, session_id: &str) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    for (pid, start) in nearest_ancestors() {
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(dir.join(record_name(pid, start)))?
            .write_all(session_id.as_bytes())?;
    }
    for entry in std::fs::read_dir(dir)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let alive = name
            .split_once('-')
            .and_then(|(p, s)| Some((p.parse::<i32>().ok()?, s.parse::<u64>().ok()?)))
            .is_some_and(|(p, s)| {
                legate_runner::procfs::stat(p).is_some_and(|st| st.start_time == s)
            });
        if !alive {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// The Claude Code session registered for one of this process's nearest ancestors, nearest
/// first, if any.
pub fn claude_session(dir: &Path) -> Option<String> {
    nearest_ancestors()
        .into_iter()
        .find_map(|(pid, start)| std::fs::read_to_string(dir.join(record_name(pid, start))).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}
