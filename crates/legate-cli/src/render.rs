//! Text for people: the task table and the details view. Task text goes through
//! [`legate_domain::terminal`], so no control character from a task reaches the terminal.

use std::path::Path;

use legate_domain::terminal::{multi_line, one_line};
use legate_domain::{Status, Task, Timestamp};

use comfy_table::Color;

use crate::columns::{self, Cell, Column};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `1.2s`, `3m04s`, `2h10m`, `3d4h`.
pub fn span(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        _ if ms < 10_000 => format!("{:.1}s", ms.max(0) as f64 / 1000.0),
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{}h", s / 86400, (s % 86400) / 3600),
    }
}

/// A status as a cell, in its colour.
pub fn status_cell(s: Status) -> Cell {
    let color = match s {
        Status::Queued => Color::DarkGrey,
        Status::Running => Color::Cyan,
        Status::Succeeded => Color::Green,
        Status::Failed | Status::TimedOut => Color::Red,
        Status::Canceled | Status::Interrupted => Color::Yellow,
    };
    Cell {
        text: s.to_string(),
        color: Some(color),
    }
}

fn runtime(t: &Task) -> String {
    match (t.started_at, t.finished_at) {
        (Some(s), Some(f)) => span(f.0 - s.0),
        (Some(s), None) => span(now_ms() - s.0),
        _ => String::new(),
    }
}

/// Shown under `ls --help`.
pub const LS_LAYOUT: &str = "On a terminal, a table as wide as the terminal ($COLUMNS when set, \
else the terminal's width, else 100 columns); titles that do not fit end in \"…\". Into a pipe or \
file: one task per line, tab-separated id, status, agent and whole title. When --limit leaves \
tasks out, stderr says how many are shown of how many.";

/// The `ls` columns on a terminal.
const LS_COLUMNS: [Column; 6] = [
    Column::fixed("ID"),
    Column::fixed("STATUS"),
    Column::capped("AGENT", 16),
    Column::fixed("AGE"),
    Column::fixed("RUNTIME"),
    Column::flex("TITLE"),
];

/// The `ls` table for a terminal `width` columns wide (titles cut to fit, ending in "…").
pub fn table(tasks: &[Task], width: usize, color: bool) -> String {
    let rows: Vec<Vec<Cell>> = tasks
        .iter()
        .map(|task| {
            vec![
                task.id.to_string().into(),
                status_cell(task.status),
                one_line(&task.agent).into_owned().into(),
                format!("{} ago", span(now_ms() - task.created_at.0)).into(),
                runtime(task).into(),
                one_line(&task.title).into_owned().into(),
            ]
        })
        .collect();
    columns::aligned(&LS_COLUMNS, &rows, true, width, color)
}

/// Tasks as `id status title` lines for stdout: aligned on a terminal, tab-separated into a
/// pipe (`wait`, `cancel`).
pub fn task_lines(tasks: &[Task]) -> String {
    const COLUMNS: [Column; 3] = [
        Column::fixed("ID"),
        Column::fixed("STATUS"),
        Column::flex("TITLE"),
    ];
    let rows: Vec<Vec<Cell>> = tasks
        .iter()
        .map(|t| {
            vec![
                t.id.to_string().into(),
                status_cell(t.status),
                one_line(&t.title).into_owned().into(),
            ]
        })
        .collect();
    columns::for_stdout(&COLUMNS, &rows, false)
}

fn ts(t: Option<Timestamp>) -> String {
    t.map(|t| t.to_rfc3339()).unwrap_or_else(|| "-".into())
}

/// The `show` view.
pub fn details(t: &Task, logs_dir: &Path, chain: &[String]) -> String {
    let mut out = String::new();
    // A value of several lines continues indented under itself.
    let mut line = |k: &str, v: String| {
        let lines: Vec<_> = v.split('\n').map(one_line).collect();
        out.push_str(&format!("{k:<10} {}\n", lines.join("\n           ")));
    };
    line("id", t.id.to_string());
    line("title", t.title.clone());
    line("agent", t.agent.clone());
    line("status", t.status.to_string());
    line("attempt", t.attempt.to_string());
    line("origin", t.origin.clone());
    if let Some(p) = &t.parent {
        line("parent", p.to_string());
    }
    line("depth", t.depth.to_string());
    line("cwd", t.cwd.clone().unwrap_or_else(|| "-".into()));
    if let Some(w) = &t.worktree {
        line("worktree", worktree_line(&t.id, t.status, w));
    }
    if !t.labels.is_empty() {
        line("labels", t.labels.join(", "));
    }
    line("priority", t.priority.to_string());
    line(
        "timeout",
        t.timeout_ms
            .map(|ms| span(ms as i64))
            .unwrap_or_else(|| "none".into()),
    );
    if let Some(k) = &t.dedupe_key {
        line("key", k.clone());
    }
    line("created", ts(Some(t.created_at)));
    line("started", ts(t.started_at));
    line("finished", ts(t.finished_at));
    if !runtime(t).is_empty() {
        line("runtime", runtime(t));
    }
    if let Some(c) = t.exit_code {
        line("exit code", c.to_string());
    }
    if let Some(s) = t.signal {
        line("signal", s.to_string());
    }
    if let Some(p) = t.process {
        line("pid", format!("{} (group {})", p.pid, p.pgid));
    }
    if let Some(e) = &t.error {
        line("error", format!("{}: {}", e.kind.as_str(), e.message));
    }
    if let Some(s) = t.metadata["session_id"].as_str() {
        line("session", s.to_string());
    }
    if let Some(u) = t.metadata.get("usage") {
        line("usage", u.to_string());
    }
    if !chain.is_empty() {
        line("chain", format!("{} → {} (this)", chain.join(" → "), t.id));
    }
    line(
        "log",
        logs_dir
            .join(t.id.as_str())
            .join("output.log")
            .display()
            .to_string(),
    );
    if let Some(p) = &t.prompt {
        out.push_str("\nprompt:\n");
        out.push_str(&multi_line(p));
        out.push('\n');
    }
    if let Some(r) = &t.result {
        out.push_str("\nresult:\n");
        out.push_str(&multi_line(r));
        if !r.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// A task's worktree for `show`: state, where, and what changed.
fn worktree_line(
    id: &legate_domain::TaskId,
    status: Status,
    w: &legate_domain::Worktree,
) -> String {
    let short = |c: &str| c.get(..12).unwrap_or(c).to_string();
    let mut text = format!("{} from {}", w.state.as_str(), short(&w.base));
    if let (Some(path), Some(branch)) = (&w.path, &w.branch) {
        let place = if w.state.exists() {
            path.as_str()
        } else {
            "removed"
        };
        text.push_str(&format!(", branch {branch} ({place})"));
    }
    if w.state != legate_domain::WorktreeState::Pending {
        text.push_str(&format!(
            "\n{} file(s) changed, +{} -{}, {} commit(s)",
            w.files_changed,
            w.insertions,
            w.deletions,
            w.commits.len()
        ));
    }
    if let Some(next) = &w.continued_by {
        text.push_str(&format!("\ncontinued by task {next}"));
    }
    if w.state.exists() && status.is_terminal() {
        text.push_str(&format!(
            "\nreview: legate diff {id}; then legate merge {id} or legate discard {id}"
        ));
    }
    text
}
