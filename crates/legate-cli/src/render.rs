//! Text for people: the task table and the details view. Task text goes through
//! [`legate_domain::terminal`], so no control character from a task reaches the terminal.

use std::path::Path;

use comfy_table::presets::NOTHING;
use comfy_table::{Cell, Color, Table};
use legate_domain::terminal::{multi_line, one_line};
use legate_domain::{Status, Task, Timestamp};

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

fn color(s: Status) -> Color {
    match s {
        Status::Queued => Color::Grey,
        Status::Running => Color::Cyan,
        Status::Succeeded => Color::Green,
        Status::Failed | Status::TimedOut => Color::Red,
        Status::Canceled | Status::Interrupted => Color::Yellow,
    }
}

fn runtime(t: &Task) -> String {
    match (t.started_at, t.finished_at) {
        (Some(s), Some(f)) => span(f.0 - s.0),
        (Some(s), None) => span(now_ms() - s.0),
        _ => String::new(),
    }
}

/// The `ls` table (for terminals).
pub fn table(tasks: &[Task]) -> String {
    let mut t = Table::new();
    t.load_preset(NOTHING);
    t.set_header(["ID", "STATUS", "AGENT", "AGE", "RUNTIME", "TITLE"]);
    for task in tasks {
        t.add_row(vec![
            Cell::new(&task.id),
            Cell::new(task.status).fg(color(task.status)),
            Cell::new(one_line(&task.agent)),
            Cell::new(format!("{} ago", span(now_ms() - task.created_at.0))),
            Cell::new(runtime(task)),
            Cell::new(one_line(&task.title.chars().take(60).collect::<String>())),
        ]);
    }
    t.to_string()
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
