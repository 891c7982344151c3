//! Whose tasks these are: the origin every delegation through this server records, whose
//! inbox `finished_since_last_call` reads, and the scope whose later sessions receive results
//! the origin leaves unread (orphans, see `[retention] orphan_after`).
//!
//! A stdio server learns whom it serves as well as the host allows, in this order: the origin a
//! Hermes process registered for itself (see below); the Claude
//! Code session registered by its `SessionStart` hook; the session or chat the request's
//! `_meta` names ([`crate::identity::meta_origin`]); else the host (`clientInfo.name`) in the
//! project (the server's working directory, or its repository's top level):
//! `mcp:CLIENT:PROJECT`, which a later session of the same host in the same project shares.
//! Every origin of a stdio server has the scope `project:PROJECT`, except a chat named in
//! `_meta` (its own origin lasts; its results are not offered to other chats).
//!
//! A Claude Code session is recognised across its processes: its `SessionStart` hook (`legate
//! hook claude-code`) registers the session under the hook's nearest ancestors (Claude Code,
//! and the shell it may run hooks with), and a stdio MCP server that Claude Code started finds
//! the registration of its own nearest ancestors — the same Claude Code process. Only the
//! nearest [`LEVELS`] are used both ways, so a process shared further up (a terminal
//! multiplexer, a login shell) never ties another host's MCP server to the session. Tasks
//! delegated through MCP and through the session's shell commands then share the origin
//! `claude-code:SESSION`, which the hooks read.
//!
//! Hermes (0.19) tells an MCP server nothing about the chat it calls for: no `_meta`, and only
//! a few variables in the server's environment. Its `pre_llm_call` hook (`legate hook
//! hermes`), which Hermes runs at the start of every turn before any tool call, registers the
//! origin of its session under its parent — the Hermes process, which runs hooks without a
//! shell — and a stdio server Hermes started reads the registration of its nearest
//! [`LEVELS`] ancestors: its watchdog (Hermes starts stdio servers under one) and the same
//! Hermes process. An MCP server started further down (by an agent a Hermes tool ran) is
//! deeper, so it does not inherit the chat.
//!
//! Over HTTP each request is placed on its own (see [`Origin::http`]).

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::service::{RequestContext, RoleServer};

use crate::identity::{
    CLAUDE_SESSION_HEADER, MAX_ORIGIN_BYTES, ORIGIN_HEADER, client_part, host_project_origin,
    meta_origin, printable, project_scope, session_part,
};

/// How many ancestors are registered and looked up.
pub const LEVELS: usize = 2;

/// How a stdio server trusts its last look at the session registry.
const SESSION_RECHECK: Duration = Duration::from_secs(1);

/// How many origins' scopes a server remembers; past that it starts over (a scope forgotten
/// only means the next delegation of that origin is looked up again).
const MAX_REMEMBERED: usize = 1024;

/// How a server decides the origin (and scope) of each call.
#[derive(Debug, Clone)]
pub struct Origin {
    how: How,
    /// The scope of each origin this server resolved.
    scopes: Arc<Mutex<HashMap<String, Option<String>>>>,
}

/// The last look at the session registry: when, and the Claude Code origin found.
type Seen = Option<(Instant, Option<String>)>;

#[derive(Debug, Clone)]
enum How {
    Fixed(String, Option<String>),
    Host {
        sessions: PathBuf,
        hermes: PathBuf,
        project: PathBuf,
        seen: Arc<Mutex<Seen>>,
        hermes_seen: Arc<Mutex<Seen>>,
    },
    Http,
}

impl Origin {
    /// Always `origin` (`LEGATE_ORIGIN`, or chosen by whoever runs the server), with results
    /// left unread offered to later sessions of `scope`, if any.
    pub fn fixed(origin: String, scope: Option<String>) -> Origin {
        Origin::new(How::Fixed(origin, scope))
    }

    /// A stdio server working in `project`, finding Claude Code sessions registered in
    /// `sessions` and Hermes processes registered in `hermes` (see the module's documentation
    /// for the order).
    pub fn host(sessions: PathBuf, hermes: PathBuf, project: PathBuf) -> Origin {
        Origin::new(How::Host {
            sessions,
            hermes,
            project,
            seen: Arc::default(),
            hermes_seen: Arc::default(),
        })
    }

    /// Over HTTP, per request, in this order: the `X-Legate-Origin` header as given; the
    /// `X-Claude-Code-Session-Id` header (`claude-code:SESSION`, the origin its hooks use);
    /// the session or chat the request's `_meta` names; the MCP session
    /// (`mcp-http:SESSION`, scope `mcp-http:CLIENT`: the next session of the same client
    /// receives its orphans); else the client (`mcp-http:CLIENT`, from `clientInfo`, which a
    /// stateless client sends with every request), else `mcp-http`. Clients that send
    /// nothing distinguishing share one origin.
    pub fn http() -> Origin {
        Origin::new(How::Http)
    }

    fn new(how: How) -> Origin {
        Origin {
            how,
            scopes: Arc::default(),
        }
    }

    /// The origin of one call (printable, at most [`MAX_ORIGIN_BYTES`] bytes).
    pub fn resolve(&self, ctx: &RequestContext<RoleServer>) -> String {
        let (origin, scope) = self.decide(ctx);
        let mut scopes = self.scopes.lock().unwrap_or_else(|p| p.into_inner());
        if scopes.len() >= MAX_REMEMBERED && !scopes.contains_key(&origin) {
            scopes.clear();
        }
        scopes.insert(origin.clone(), scope);
        origin
    }

    /// The scope recorded on tasks `origin` delegates, and whose orphans its inbox reads: the
    /// one found when `origin` was last resolved by this server.
    pub fn scope_of(&self, origin: &str) -> Option<String> {
        let scopes = self.scopes.lock().unwrap_or_else(|p| p.into_inner());
        scopes.get(origin).cloned().flatten()
    }

    fn decide(&self, ctx: &RequestContext<RoleServer>) -> (String, Option<String>) {
        match &self.how {
            How::Fixed(o, scope) => (o.clone(), scope.clone()),
            How::Host {
                sessions,
                hermes,
                project,
                seen,
                hermes_seen,
            } => {
                let scope = Some(project_scope(project));
                if let Some(origin) = recheck(hermes_seen, || hermes_origin(hermes)) {
                    return (origin, scope);
                }
                if let Some(claude) = registered(sessions, seen) {
                    return (claude, scope);
                }
                if let Some(chat) = meta_origin(&ctx.meta) {
                    return (chat, None);
                }
                let client = ctx.client_info().map(|c| c.name);
                (host_project_origin(client.as_deref(), project), scope)
            }
            How::Http => http_origin(ctx),
        }
    }
}

/// The Claude Code session registered by the nearest ancestor, as its origin. The
/// registration changes only when the host starts a session (or clears one): looking once a
/// second is enough.
fn registered(sessions: &Path, seen: &Mutex<Seen>) -> Option<String> {
    recheck(seen, || {
        claude_session(sessions)
            .and_then(|s| session_part(&s))
            .map(|s| format!("claude-code:{s}"))
    })
}

/// `look`'s answer, looked up again at most once per [`SESSION_RECHECK`].
fn recheck(seen: &Mutex<Seen>, look: impl FnOnce() -> Option<String>) -> Option<String> {
    let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((at, origin)) = seen.as_ref()
        && at.elapsed() < SESSION_RECHECK
    {
        return origin.clone();
    }
    let origin = look();
    *seen = Some((Instant::now(), origin.clone()));
    origin
}

fn http_origin(ctx: &RequestContext<RoleServer>) -> (String, Option<String>) {
    let header = |name: &str| {
        ctx.extensions
            .get::<axum::http::request::Parts>()
            .and_then(|p| p.headers.get(name))
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.trim().is_empty())
            .map(str::to_string)
    };
    if let Some(o) = header(ORIGIN_HEADER) {
        return (printable(&o, MAX_ORIGIN_BYTES), None);
    }
    if let Some(s) = header(CLAUDE_SESSION_HEADER).and_then(|s| session_part(&s)) {
        return (format!("claude-code:{s}"), None);
    }
    if let Some(chat) = meta_origin(&ctx.meta) {
        return (chat, None);
    }
    let client = ctx
        .client_info()
        .map(|c| format!("mcp-http:{}", client_part(Some(&c.name))));
    if let Some(s) = header("mcp-session-id").and_then(|s| session_part(&s)) {
        let scope = client.unwrap_or_else(|| "mcp-http".into());
        return (format!("mcp-http:{s}"), Some(scope));
    }
    (client.unwrap_or_else(|| "mcp-http".into()), None)
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
    register_processes(dir, &nearest_ancestors(), session_id)
}

/// Registers `origin` (a Hermes session's) for the parent of this process: the Hermes process
/// running the hook. Registrations of processes that are gone are removed; `dir` is made
/// 0700 and each record 0600, whatever the umask; the caller checks the directory above it.
pub fn register_hermes(dir: &Path, origin: &str) -> std::io::Result<()> {
    let mut parent = legate_runner::procfs::ancestors(std::process::id() as i32);
    parent.truncate(1);
    register_processes(dir, &parent, origin)
}

/// The origin a Hermes process registered for itself, when it is one of this process's
/// nearest ancestors (Hermes 0.19 starts a stdio server under a watchdog process of its own).
pub fn hermes_origin(dir: &Path) -> Option<String> {
    nearest_ancestors()
        .into_iter()
        .find_map(|(pid, start)| std::fs::read_to_string(dir.join(record_name(pid, start))).ok())
        .map(|o| printable(&o, MAX_ORIGIN_BYTES))
        .filter(|o| !o.is_empty())
}

/// Writes `text` as the record of each of `processes` (pid, start time) in `dir`, then removes
/// the records of processes that are gone. `dir` is created 0700 and each record 0600.
pub fn register_processes(dir: &Path, processes: &[(i32, u64)], text: &str) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    for &(pid, start) in processes {
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(dir.join(record_name(pid, start)))?
            .write_all(text.as_bytes())?;
    }
    live_records(dir);
    Ok(())
}

/// The records in `dir` (named `PID-START`) of processes still alive; those of processes that
/// are gone are removed.
pub fn live_records(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut live = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let alive = name
            .split_once('-')
            .and_then(|(p, s)| Some((p.parse::<i32>().ok()?, s.parse::<u64>().ok()?)))
            .is_some_and(|(p, s)| {
                legate_runner::procfs::stat(p).is_some_and(|st| st.start_time == s)
            });
        if alive {
            live.push(entry.path());
        } else {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    live
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
