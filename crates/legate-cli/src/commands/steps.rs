//! `legate logs --steps`: what an agent reported doing (its progress steps, permission
//! answers, stalls) as readable lines, instead of its raw output.

use std::io::Write;

use anyhow::Result;
use legate_domain::api::EventsQuery;
use legate_domain::terminal::multi_line;
use legate_domain::{Event, EventKind};

use crate::connect::connect;
use crate::exit;
use crate::paths::Paths;

/// The kinds shown, and the ones that end a followed task.
pub(crate) const KINDS: &str = "progress,permission,stalled,finished,interrupted,requeued";

/// Prints a task's steps; with `follow`, keeps printing until the task ends.
pub async fn steps(paths: &Paths, id: &str, follow: bool) -> Result<i32> {
    legate_domain::api::parse_task_ref(id)?;
    let client = connect(paths).await?;
    let task = client.task(id, false).await?;
    let query = |after: i64, limit: Option<u32>| EventsQuery {
        task: Some(task.id.to_string()),
        kind: Some(KINDS.into()),
        after,
        limit,
        ..EventsQuery::default()
    };
    let mut out = std::io::stdout().lock();
    let mut cursor = 0;
    let mut ended = false;
    loop {
        let page = client.events(&query(cursor, Some(1000))).await?;
        let Some(last) = page.last() else { break };
        cursor = last.seq;
        for e in &page {
            ended = crate::out::checked(print(&mut out, e), "stdout");
        }
    }
    if follow && !ended && !task.status.is_terminal() {
        let mut feed = client.subscribe(&query(cursor, None)).await?;
        while let Ok(Some(e)) = feed.next().await {
            if crate::out::checked(print(&mut out, &e), "stdout") {
                break;
            }
        }
    }
    Ok(exit::OK)
}

/// Prints one event as a line; true when it ends the task's run.
fn print(out: &mut impl Write, e: &Event) -> std::io::Result<bool> {
    let Some((line, ends)) = describe(e) else {
        return Ok(false);
    };
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(ends)
}

/// One event as a readable line (its text neutralised for a terminal; a message may span
/// lines), and whether it ends the task's run; `None` for kinds that are not steps.
pub(crate) fn describe(e: &Event) -> Option<(String, bool)> {
    let d = &e.data;
    let s = |k: &str| multi_line(d[k].as_str().unwrap_or_default()).into_owned();
    let (line, ends) = match e.kind {
        EventKind::Progress => match d["kind"].as_str() {
            Some("tool") => (format!("[{}] {}", s("tool"), s("text")), false),
            Some("thinking") => (format!("(thinking) {}", s("text")), false),
            Some("notice") => (format!("! {}", s("text")), false),
            _ => (format!("› {}", s("text")), false),
        },
        EventKind::Permission => (
            format!(
                "[permission {}] {} ({})",
                s("decision"),
                s("tool"),
                s("tool_kind")
            ),
            false,
        ),
        EventKind::Stalled => (
            format!(
                "! stalled: nothing for {} ms ({})",
                d["idle_ms"],
                s("action")
            ),
            false,
        ),
        EventKind::Finished => (format!("= {}", s("status")), true),
        EventKind::Interrupted => ("= interrupted".to_string(), false),
        EventKind::Requeued => ("= requeued for another attempt".to_string(), false),
        _ => return None,
    };
    Some((line, ends))
}
