//! `legate hook claude-code`: brings delegated results back into a Claude Code conversation
//! and keeps a session from ending while its children still run.
//!
//! Claude Code runs the hook with a JSON payload on stdin (`session_id`, `hook_event_name`,
//! ...). Tasks belong to the session through their origin `claude-code:SESSION`: the
//! `SessionStart` hook exports `LEGATE_ORIGIN` for the session's shell commands, and the MCP
//! server uses the same origin.

use std::io::{Read, Write};

use anyhow::{Context, Result, bail};
use legate_domain::Task;
use legate_domain::api::{InboxQuery, InboxResponse, StopGateRequest, StopGateResponse};
use legate_domain::terminal::{multi_line, one_line};
use serde::Deserialize;
use serde_json::json;

use crate::cli::HookHost;
use crate::connect::connect;
use crate::exit;
use crate::paths::Paths;

/// The fields of Claude Code's hook input that legate uses.
#[derive(Debug, Deserialize)]
struct HookInput {
    session_id: String,
    hook_event_name: String,
    /// Set only when the hook fires inside a subagent, which shares its parent's session id.
    #[serde(default)]
    agent_id: Option<String>,
    /// The session's working directory: its project receives results earlier sessions there
    /// left unread.
    #[serde(default)]
    cwd: Option<String>,
}

/// The origin of tasks delegated from a Claude Code session.
pub fn claude_code_origin(session_id: &str) -> String {
    format!("claude-code:{session_id}")
}

/// Answers one hook call.
pub async fn hook(paths: &Paths, host: HookHost) -> Result<i32> {
    match host {
        HookHost::ClaudeCode => claude_code(paths).await,
        HookHost::Hermes => super::hermes_hook::hook(paths).await,
    }
}

/// Answers one Claude Code hook call.
async fn claude_code(paths: &Paths) -> Result<i32> {
    let raw = read_payload()?;
    let input: HookInput = serde_json::from_str(&raw).context(
        "the hook payload is not Claude Code hook JSON with `session_id` and `hook_event_name`; \
         run this command only from Claude Code's hooks settings",
    )?;
    // The session part the MCP server and the monitor use too (printable, cut to a length).
    let Some(session) = legate_mcp::identity::session_part(&input.session_id) else {
        bail!("the hook payload has an empty session_id");
    };
    let origin = claude_code_origin(&session);
    // A subagent shares its parent's session id, so the session's tasks are its parent's as far
    // as legate can tell: its hooks neither take the parent's results (they would be
    // acknowledged in a context the parent never sees) nor hold its stop (`SubagentStop` never
    // blocks).
    let subagent = input.agent_id.is_some();
    let answer = match input.hook_event_name.as_str() {
        "SessionStart" => {
            export_origin(&origin)?;
            // The session's MCP server (a sibling under the same Claude Code process) finds it,
            // in the run directory, which must be private first.
            crate::paths::ensure_private_dir(&paths.run_dir)?;
            legate_mcp::origin::register_claude_session(
                &super::mcp::claude_sessions_dir(paths),
                &input.session_id,
            )
            .context("registering the Claude Code session for its MCP server")?;
            None
        }
        event @ ("UserPromptSubmit" | "PostToolUse") if !subagent => {
            let client = connect(paths).await?;
            // The project's orphans too, as a stdio MCP server started there reads them.
            let scope = input.cwd.as_deref().filter(|c| !c.is_empty()).map(|c| {
                let project = legate_mcp::identity::project_dir(std::path::Path::new(c));
                legate_mcp::identity::project_scope(&project)
            });
            let q = InboxQuery {
                origin: origin.clone(),
                ack: true,
                limit: Some(20),
                scope,
                orphans: false,
            };
            let inbox: InboxResponse = client.inbox(&q).await?;
            let text = injected_text(&inbox, paths.config_or_default().hooks.result_chars);
            (!text.is_empty()).then(|| {
                json!({"hookSpecificOutput": {
                    "hookEventName": event,
                    "additionalContext": text,
                }})
            })
        }
        "Stop" if !subagent => {
            let client = connect(paths).await?;
            let gate: StopGateResponse = client
                .stop_gate(&StopGateRequest {
                    origin: origin.clone(),
                    max_blocks: None,
                })
                .await?;
            // A session its plugin's monitor follows goes idle and is woken by the result.
            let hold = !super::follow::monitored(paths, &origin);
            let chars = paths.config_or_default().hooks.result_chars;
            gate.block
                .then(|| stop_answer(&gate, chars, hold))
                .filter(|a| a.as_object().is_some_and(|o| !o.is_empty()))
        }
        // Other events (`SubagentStop` among them) carry nothing legate acts on.
        _ => None,
    };
    if let Some(a) = answer {
        let mut out = std::io::stdout().lock();
        crate::out::checked(crate::json_out::write_line(&mut out, &a), "stdout");
    }
    Ok(exit::OK)
}

/// Makes the session's shell commands delegate with this session's origin.
fn export_origin(origin: &str) -> Result<()> {
    let Some(file) = std::env::var_os("CLAUDE_ENV_FILE") else {
        return Ok(());
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)
        .with_context(|| format!("opening CLAUDE_ENV_FILE {}", file.to_string_lossy()))?;
    let quoted = shlex::try_quote(origin).context("the session id cannot be quoted")?;
    writeln!(f, "export LEGATE_ORIGIN={quoted}")?;
    Ok(())
}

fn capped(text: &str, chars: usize) -> String {
    multi_line(legate_domain::task::result_tail(text, chars).0.trim_end()).into_owned()
}

/// The results, as the model should read them (Claude Code shows hook text in the user's
/// terminal too, so task text is neutralised).
pub(crate) fn finished_text(tasks: &[Task], chars: usize) -> String {
    results_text(
        "task(s) you delegated finished since you last heard",
        tasks,
        chars,
    )
}

/// What introduces orphans: results earlier sessions left unread.
pub(crate) const ORPHANS_HEADING: &str =
    "result(s) delegated from an earlier session in this project were never read";

/// Results under a heading saying whose they are.
pub(crate) fn results_text(heading: &str, tasks: &[Task], chars: usize) -> String {
    let mut s = format!("legate: {} {heading}:\n", tasks.len());
    for t in tasks {
        s.push_str(&format!(
            "\n## {} [{}] {} (agent {})\n",
            t.id,
            t.status,
            one_line(&t.title),
            one_line(&t.agent)
        ));
        if let Some(e) = &t.error {
            s.push_str(&format!(
                "error ({}): {}\n",
                e.kind.as_str(),
                multi_line(&e.message)
            ));
        }
        if let Some(r) = t.result.as_deref().filter(|r| !r.trim().is_empty()) {
            s.push_str(&capped(r, chars));
            s.push('\n');
        }
        s.push_str(&format!(
            "(full result: `legate result {id}`; output: `legate logs {id}`)\n",
            id = t.id
        ));
    }
    s
}

/// The answer to a `Stop` the gate holds. Results go in `additionalContext`, which Claude Code
/// (2.1.163 and later) adds to the conversation once and goes on with; a `reason` it shows the
/// model twice (as the hook's feedback and as its blocking error), so it only says which
/// tasks still run, and blocks the stop for them when `hold`.
fn stop_answer(gate: &StopGateResponse, chars: usize, hold: bool) -> serde_json::Value {
    let mut answer = serde_json::Map::new();
    if !gate.unread.is_empty() {
        let mut results = finished_text(&gate.unread, chars);
        results.push_str("\nUse these results before you finish.\n");
        answer.insert(
            "hookSpecificOutput".into(),
            json!({"hookEventName": "Stop", "additionalContext": results}),
        );
    }
    if hold && !gate.unfinished.is_empty() {
        answer.insert("decision".into(), json!("block"));
        answer.insert("reason".into(), json!(stop_reason(gate)));
    }
    serde_json::Value::Object(answer)
}

/// Why the stop is blocked: the tasks that still run, and what to do instead.
fn stop_reason(gate: &StopGateResponse) -> String {
    let mut s = String::new();
    if !gate.unfinished.is_empty() {
        let ids: Vec<String> = gate.unfinished.iter().map(|t| t.id.to_string()).collect();
        s.push_str(&format!(
            "{} task(s) you delegated through legate have not finished:\n",
            gate.unfinished.len()
        ));
        for t in &gate.unfinished {
            s.push_str(&format!(
                "- {} [{}] {} (agent {})\n",
                t.id,
                t.status,
                one_line(&t.title),
                one_line(&t.agent)
            ));
        }
        s.push_str(&format!(
            "Wait for their results before you finish: run `legate wait --result {}` (it prints each result; or call the MCP tool task_wait), then use them. \
             If they are no longer needed, cancel them with `legate cancel ID`.\n",
            ids.join(" ")
        ));
    }
    s.push_str(&format!(
        "(legate blocked this stop {} of at most {} times in a row.)",
        gate.blocks, gate.max_blocks
    ));
    s
}

/// The most a hook payload may hold, in bytes: hosts send a few kilobytes.
const MAX_PAYLOAD: u64 = 16 * 1024 * 1024;

/// A hook's JSON payload from stdin. Errors: it cannot be read, is not UTF-8, or is over
/// [`MAX_PAYLOAD`].
pub(crate) fn read_payload() -> Result<String> {
    let mut raw = String::new();
    std::io::stdin()
        .take(MAX_PAYLOAD + 1)
        .read_to_string(&mut raw)
        .context("reading the hook payload from stdin")?;
    if raw.len() as u64 > MAX_PAYLOAD {
        bail!(
            "the hook payload is over {} MiB; hooks get a few kilobytes of JSON from their host",
            MAX_PAYLOAD / 1024 / 1024
        );
    }
    Ok(raw)
}

/// What a hook adds to the conversation for an inbox read: the orphans first, then the
/// session's own finished tasks, each result cut to `chars`; empty when there is nothing.
pub(crate) fn injected_text(inbox: &InboxResponse, chars: usize) -> String {
    let mut text = String::new();
    if !inbox.orphans.is_empty() {
        text.push_str(&results_text(ORPHANS_HEADING, &inbox.orphans, chars));
    }
    if !inbox.tasks.is_empty() {
        text.push_str(&finished_text(&inbox.tasks, chars));
    }
    text
}
