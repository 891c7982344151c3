//! `legate hook hermes`: Hermes' `pre_llm_call` shell hook. Hermes runs it at the start of
//! every turn, before the turn's first model request (and so before any tool call), with a
//! JSON payload on stdin (`hook_event_name`, `session_id`, `cwd`, `extra.platform`, …; the
//! wire format of Hermes 0.19 `agent/shell_hooks.py`). It answers `{"context": "…"}` with the
//! conversation's unread results, which Hermes appends to the turn's user message, and
//! acknowledges them once printed; it prints nothing when there are none.
//!
//! Hermes sends its MCP servers nothing that names the conversation, so the hook also tells
//! `legate mcp` whose turn it is: it registers the conversation's origin for the Hermes
//! process (`legate_mcp::origin::register_hermes`), which the MCP server Hermes started reads.
//! The origin is:
//! - in the interactive CLI (`HERMES_INTERACTIVE=1`), `hermes:SESSION`: the session's own,
//!   which legate's Hermes plugin also follows to wake the idle session;
//! - in one-shot runs (`hermes -z`, a new session each time), `mcp:hermes:PROJECT`, shared by
//!   the runs in one project, so the next run receives what an earlier one delegated;
//! - in a gateway (`HERMES_GATEWAY_SESSION`, or a messaging platform), none: one process
//!   serves every chat and its MCP server cannot tell them apart, so the hook neither
//!   registers nor injects, and the chats share the project's origin over MCP.
//!
//! Hermes' background review (a fork of the agent that reviews the conversation for memory
//! and skills every few turns) shares the session id; its turns, which start with
//! [`REVIEW_PROMPT_START`], are left alone, so a result goes to the conversation itself.

use std::path::Path;

use anyhow::{Context, Result};
use legate_domain::api::{InboxQuery, InboxResponse};
use serde::Deserialize;
use serde_json::json;

use crate::connect::connect;
use crate::exit;
use crate::paths::Paths;

/// The fields of Hermes' shell-hook payload that legate uses.
#[derive(Debug, Deserialize)]
struct HermesInput {
    hook_event_name: String,
    #[serde(default)]
    session_id: String,
    /// Hermes' working directory: the project.
    #[serde(default)]
    cwd: Option<String>,
    /// The hook's other arguments (`platform` among them).
    #[serde(default)]
    extra: serde_json::Map<String, serde_json::Value>,
}

/// How every prompt of Hermes' background review fork begins (Hermes 0.19
/// `agent/background_review.py`).
pub const REVIEW_PROMPT_START: &str = "Review the conversation above and ";

/// How the Hermes process running the hook serves conversations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The interactive CLI: one conversation at a time, woken by the plugin.
    Interactive,
    /// `hermes -z`: one prompt, then the process ends.
    OneShot,
    /// A gateway (messaging, TUI or desktop backend): many chats in one process.
    Gateway,
}

impl Mode {
    /// The mode a hook call tells: Hermes' `platform` for the turn and the variables Hermes
    /// set in its own environment (which the hook inherits).
    pub fn of(platform: &str, interactive: bool, gateway: bool) -> Mode {
        if gateway || !(platform.is_empty() || platform == "cli") {
            Mode::Gateway
        } else if interactive {
            Mode::Interactive
        } else {
            Mode::OneShot
        }
    }

    /// The mode of this hook call.
    fn here(platform: &str) -> Mode {
        let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty() && v != "0");
        Mode::of(
            platform,
            std::env::var_os("HERMES_INTERACTIVE").is_some_and(|v| v == "1"),
            set("HERMES_GATEWAY_SESSION"),
        )
    }
}

/// The origin of a Hermes conversation: `hermes:SESSION` in the interactive CLI,
/// `mcp:hermes:PROJECT` for one-shot runs, none in a gateway (or for an empty session id in
/// the CLI).
pub fn hermes_origin(mode: Mode, session_id: &str, project: &Path) -> Option<String> {
    match mode {
        Mode::Interactive => {
            legate_mcp::identity::session_part(session_id).map(|s| format!("hermes:{s}"))
        }
        Mode::OneShot => Some(legate_mcp::identity::host_project_origin(
            Some("hermes"),
            project,
        )),
        Mode::Gateway => None,
    }
}

/// Whether the hook acts on this call: a `pre_llm_call` of the conversation itself (not of
/// its background review, whose turn starts with `prompt`).
pub fn answers(event: &str, prompt: &str) -> bool {
    event == "pre_llm_call" && !prompt.starts_with(REVIEW_PROMPT_START)
}

/// Answers one Hermes hook call.
pub async fn hook(paths: &Paths) -> Result<i32> {
    let raw = super::hook::read_payload()?;
    let input: HermesInput = serde_json::from_str(&raw).context(
        "the hook payload is not Hermes shell-hook JSON with `hook_event_name`; run this \
         command only from the `hooks:` of Hermes' config.yaml (legate setup hermes)",
    )?;
    let prompt = input
        .extra
        .get("user_message")
        .and_then(|m| m.as_str())
        .unwrap_or_default();
    if !answers(&input.hook_event_name, prompt) {
        return Ok(exit::OK);
    }
    let cwd = match input.cwd.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => std::path::PathBuf::from(c),
        None => std::env::current_dir().context("reading the working directory")?,
    };
    let project = legate_mcp::identity::project_dir(&cwd);
    let platform = input
        .extra
        .get("platform")
        .and_then(|p| p.as_str())
        .unwrap_or_default();
    let Some(origin) = hermes_origin(Mode::here(platform), &input.session_id, &project) else {
        return Ok(exit::OK);
    };
    crate::paths::ensure_private_dir(&paths.run_dir)?;
    legate_mcp::origin::register_hermes(&super::mcp::hermes_sessions_dir(paths), &origin)
        .context("registering the Hermes session for its MCP server")?;

    let client = connect(paths).await?;
    let q = InboxQuery {
        origin: origin.clone(),
        ack: false,
        limit: Some(20),
        scope: Some(legate_mcp::identity::project_scope(&project)),
        orphans: false,
    };
    let inbox: InboxResponse = client.inbox(&q).await?;
    if inbox.tasks.is_empty() && inbox.orphans.is_empty() {
        return Ok(exit::OK);
    }
    let text = super::hook::injected_text(&inbox, paths.config_or_default().hooks.result_chars);
    {
        let mut out = std::io::stdout().lock();
        crate::out::checked(
            crate::json_out::write_line(&mut out, &json!({ "context": text })),
            "stdout",
        );
    }
    // Printed: read, each in its own origin's inbox.
    super::inbox::ack_shown(&client, inbox.tasks.iter().chain(&inbox.orphans)).await?;
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_hermes_process_has_its_origin() {
        let p = Path::new("/src/app");
        assert_eq!(Mode::of("cli", true, false), Mode::Interactive);
        assert_eq!(Mode::of("", false, false), Mode::OneShot);
        assert_eq!(Mode::of("cli", true, true), Mode::Gateway);
        assert_eq!(Mode::of("telegram", false, false), Mode::Gateway);
        assert_eq!(
            hermes_origin(Mode::Interactive, "20261201_1_ab", p).as_deref(),
            Some("hermes:20261201_1_ab")
        );
        assert_eq!(hermes_origin(Mode::Interactive, " ", p), None);
        assert_eq!(
            hermes_origin(Mode::OneShot, "x", p).as_deref(),
            Some("mcp:hermes:/src/app")
        );
        assert_eq!(hermes_origin(Mode::Gateway, "x", p), None);
    }

    #[test]
    fn only_the_conversations_own_turns_are_answered() {
        assert!(answers("pre_llm_call", "fix the bug"));
        assert!(!answers("post_llm_call", "fix the bug"));
        assert!(!answers(
            "pre_llm_call",
            "Review the conversation above and consider saving to memory if appropriate."
        ));
    }
}
