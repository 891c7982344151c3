//! `legate inbox --follow`: one line per result as it arrives in an origin's inbox, each
//! acknowledged once it was written, until the reader or the process that started it goes.
//!
//! Made for Claude Code's plugin monitor (`--claude-code`): Claude Code turns every stdout
//! line of a monitor into a notification that wakes an idle session. The session is the one
//! the `SessionStart` hook registered for this process's nearest ancestors (as `legate mcp`
//! finds it, so a `/clear` is followed), else `CLAUDE_CODE_SESSION_ID`, which Claude Code sets
//! for its monitors. Only the session's own inbox is read (orphans of earlier sessions reach
//! it through the hooks).
//!
//! Exactly once: what the follower printed is acknowledged, so the hooks (which read the
//! same inbox) do not inject it again; what the hooks took is no longer unread, so the
//! follower does not print it. At start it prints what is already unread.
//!
//! A Claude Code follower records which session it serves ([`monitored`]): the `Stop` hook
//! then lets the session stop while its tasks still run, since the follower will wake it.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use legate_api::{Client, ClientError, EventFeed};
use legate_domain::Task;
use legate_domain::api::{AckRequest, EventsQuery, InboxQuery};
use legate_domain::terminal::one_line;

use crate::commands::reconnect::{Start, reconnect};
use crate::connect::connect;
use crate::exit;
use crate::paths::Paths;

/// How often the follower looks whether the processes above it are still there and whether
/// the session changed.
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// The most characters of a result's first line a line shows.
const FIRST_LINE_CHARS: usize = 160;

/// How many results one inbox read takes.
const PAGE: u32 = 50;

/// Whose inbox `legate inbox --follow` follows.
#[derive(Debug, Clone, Copy)]
pub enum Whose<'a> {
    /// This origin (default: `$LEGATE_ORIGIN`, else `cli:$USER`).
    Origin(Option<&'a str>),
    /// The Claude Code session this process runs under (see the module's documentation).
    ClaudeCode,
}

/// Follows `whose` inbox until stdout's reader goes (exit 141) or one of the nearest
/// ancestors does (exit 0). Errors: the daemon cannot be reached at start; it refused a
/// request.
pub async fn follow(paths: &Paths, whose: Whose<'_>) -> Result<i32> {
    let above = Ancestors::now();
    let closed = crate::out::stdout_closed();
    tokio::pin!(closed);
    if let Whose::Origin(given) = whose {
        crate::commands::run::read_origin(given)?;
    }
    let mut client = connect(paths).await?;
    let mut said = false;
    let mut origin = loop {
        if let Some(o) = origin_of(paths, whose) {
            break o;
        }
        if !std::mem::replace(&mut said, true) {
            errln!(
                "legate: waiting for the Claude Code session this runs under to register (this is \
                 the monitor of legate's Claude Code plugin; outside Claude Code, follow an inbox \
                 with --origin)"
            );
        }
        tokio::select! {
            () = &mut closed => std::process::exit(crate::out::CLOSED_PIPE),
            () = tokio::time::sleep(LOOK_EVERY) => {}
        }
        if !above.alive() {
            return Ok(exit::OK);
        }
    };
    if matches!(whose, Whose::ClaudeCode) {
        announce(paths, &origin);
    }
    let mut cursor = 0;
    let mut look = tokio::time::interval(LOOK_EVERY);
    'subscribe: loop {
        let mut feed = match subscribe(&client, &origin, cursor).await {
            Ok(feed) => feed,
            Err(e) if e.daemon_went_away() || matches!(e, ClientError::Protocol(_)) => {
                client = back(paths, &client, &above, &mut closed).await?;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        // What is unread already, then whatever each finish of the origin brings.
        let mut unread = true;
        loop {
            if unread {
                match print_unread(&client, &origin).await {
                    Ok(()) => unread = false,
                    Err(e) if e.daemon_went_away() => {
                        client = back(paths, &client, &above, &mut closed).await?;
                        continue 'subscribe;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            tokio::select! {
                () = &mut closed => std::process::exit(crate::out::CLOSED_PIPE),
                next = feed.next() => match next {
                    Ok(Some(e)) => {
                        cursor = e.seq;
                        unread = true;
                    }
                    Ok(None) => continue 'subscribe,
                    Err(e) if e.daemon_went_away() || matches!(e, ClientError::Protocol(_)) => {
                        client = back(paths, &client, &above, &mut closed).await?;
                        continue 'subscribe;
                    }
                    Err(e) => return Err(e.into()),
                },
                _ = look.tick() => {
                    if !above.alive() {
                        return Ok(exit::OK);
                    }
                    if let Some(now) = origin_of(paths, whose).filter(|o| *o != origin) {
                        origin = now;
                        announce(paths, &origin);
                        continue 'subscribe;
                    }
                }
            }
        }
    }
}

/// Where monitors say which session they serve: one file per monitor process (`PID-START`,
/// mode 0600, in a 0700 directory) holding its origin.
fn monitors_dir(paths: &Paths) -> PathBuf {
    paths.run_dir.join("claude-code-monitors")
}

/// Records that this process follows `origin`, for the `Stop` hook ([`monitored`]). A failure
/// only means the hook holds the session's stops as it does without a monitor.
fn announce(paths: &Paths, origin: &str) {
    let me = std::process::id() as i32;
    let Some(start) = legate_runner::procfs::stat(me).map(|s| s.start_time) else {
        return;
    };
    if crate::paths::ensure_private_dir(&paths.run_dir).is_ok() {
        let _ =
            legate_mcp::origin::register_processes(&monitors_dir(paths), &[(me, start)], origin);
    }
}

/// Whether a live monitor follows `origin` (a Claude Code session whose plugin monitor is
/// armed, which wakes it when a result arrives); records of monitors that are gone are
/// removed.
pub fn monitored(paths: &Paths, origin: &str) -> bool {
    legate_mcp::origin::live_records(&monitors_dir(paths))
        .iter()
        .any(|r| std::fs::read_to_string(r).is_ok_and(|o| o == origin))
}

/// The origin followed now, if it can be told yet (a Claude Code session may not be
/// registered yet when Claude Code arms its monitors).
fn origin_of(paths: &Paths, whose: Whose<'_>) -> Option<String> {
    match whose {
        Whose::Origin(given) => Some(crate::commands::run::origin(given)),
        Whose::ClaudeCode => {
            legate_mcp::origin::claude_session(&super::mcp::claude_sessions_dir(paths))
                .or_else(|| std::env::var("CLAUDE_CODE_SESSION_ID").ok())
                .and_then(|s| legate_mcp::identity::session_part(&s))
                .map(|s| super::hook::claude_code_origin(&s))
        }
    }
}

/// The origin's finishes from event `cursor` on.
async fn subscribe(client: &Client, origin: &str, cursor: i64) -> Result<EventFeed, ClientError> {
    let q = EventsQuery {
        origin: Some(origin.to_string()),
        kind: Some("finished".into()),
        after: cursor,
        ..EventsQuery::default()
    };
    client.subscribe(&q).await
}

/// Prints a line for each unread result of `origin` and acknowledges those printed, page by
/// page.
async fn print_unread(client: &Client, origin: &str) -> Result<(), ClientError> {
    loop {
        let q = InboxQuery {
            origin: origin.to_string(),
            ack: false,
            limit: Some(PAGE),
            scope: None,
            orphans: false,
        };
        let inbox = client.inbox(&q).await?;
        if inbox.tasks.is_empty() {
            return Ok(());
        }
        for t in &inbox.tasks {
            outln!("{}", line(t));
        }
        let req = AckRequest {
            origin: origin.to_string(),
            ids: inbox.tasks.iter().map(|t| t.id.to_string()).collect(),
            all: false,
        };
        client.ack(&req).await?;
        if inbox.tasks.len() < PAGE as usize {
            return Ok(());
        }
    }
}

/// One finished task as one line (see [`line_of`]).
pub fn line(t: &Task) -> String {
    let text = t
        .error
        .as_ref()
        .map(|e| e.message.as_str())
        .or(t.result.as_deref());
    line_of(t.id.as_str(), &t.agent, &t.status.to_string(), text)
}

/// A task's id, agent, status, the first line of `text` (its error, else its result: at most
/// [`FIRST_LINE_CHARS`] characters), and how to read all of it, on one line.
fn line_of(id: &str, agent: &str, status: &str, text: Option<&str>) -> String {
    let first = text
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("(no output)");
    let mut cut: String = first.chars().take(FIRST_LINE_CHARS).collect();
    if cut.len() < first.len() {
        cut.push('…');
    }
    format!(
        "legate: task {id} (agent {agent}) {status}: {first} — all of it: `legate result {id}`",
        agent = one_line(agent),
        first = one_line(&cut),
    )
}

/// Waits for the daemon to come back, unless the reader or the processes above go first.
async fn back(
    paths: &Paths,
    gone: &Client,
    above: &Ancestors,
    closed: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> Result<Client> {
    let doing = "following results";
    let again = reconnect(paths, gone, doing, Start::Never);
    tokio::pin!(again);
    let mut look = tokio::time::interval(LOOK_EVERY);
    loop {
        tokio::select! {
            () = &mut *closed => std::process::exit(crate::out::CLOSED_PIPE),
            c = &mut again => return c,
            _ = look.tick() => {
                if !above.alive() {
                    std::process::exit(exit::OK);
                }
            }
        }
    }
}

/// The nearest ancestors (pid and start time) as they were at start: for a Claude Code
/// monitor, the shell Claude Code runs it with and Claude Code itself.
struct Ancestors(Vec<(i32, u64)>);

impl Ancestors {
    fn now() -> Ancestors {
        let mut up = legate_runner::procfs::ancestors(std::process::id() as i32);
        up.truncate(legate_mcp::origin::LEVELS);
        Ancestors(up)
    }

    /// Whether every one of them still runs (the same process, not a new one with its pid).
    fn alive(&self) -> bool {
        self.0.iter().all(|&(pid, start)| {
            legate_runner::procfs::stat(pid).is_some_and(|s| s.start_time == start)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_shows_the_first_line_cut_short_and_how_to_read_the_rest() {
        let text = format!("\n  RESULT-1 {}\nsecond", "x".repeat(300));
        let l = line_of("t1", "fake", "succeeded", Some(&text));
        assert!(
            l.starts_with("legate: task t1 (agent fake) succeeded: RESULT-1 x"),
            "{l}"
        );
        assert!(l.contains("x…"), "{l}");
        assert!(!l.contains("second") && !l.contains('\n'), "{l}");
        assert!(l.ends_with("`legate result t1`"), "{l}");
        let none = line_of("t2", "fake\u{1b}[31m", "failed", None);
        assert!(
            none.contains("failed: (no output)") && !none.contains('\u{1b}'),
            "{none}"
        );
    }
}
