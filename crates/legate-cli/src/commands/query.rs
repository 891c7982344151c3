//! `legate ls`, `show` and `result`.

use std::io::IsTerminal;

use anyhow::{Result, bail};
use legate_domain::Task;
use legate_domain::api::{EventsQuery, ListQuery, parse_task_ref};
use legate_domain::terminal::one_line;

use crate::cli::LsArgs;
use crate::commands::print_json;
use crate::commands::wait::print_outcome;
use crate::connect::connect;
use crate::exit;
use crate::paths::Paths;
use crate::render;

/// The most tasks the daemon lists at once.
const MAX_LIST: u32 = 100_000;

/// Lists tasks.
pub async fn ls(paths: &Paths, args: LsArgs, json: bool) -> Result<i32> {
    let status = match &args.status {
        Some(s) => {
            legate_domain::Status::parse_list(s).map_err(|m| anyhow::anyhow!("--status: {m}"))?
        }
        None => Vec::new(),
    };
    if args.status.is_some() && status.is_empty() {
        anyhow::bail!(
            "--status is empty; name one or more statuses, comma-separated (e.g. --status \
             queued,running), or leave it out for all"
        );
    }
    let limit = if args.all { MAX_LIST } else { args.limit };
    // One more than shown, to know whether some were left out.
    let q = ListQuery {
        status,
        agent: args.agent,
        label: args.label,
        origin: None,
        parent: args.parent,
        limit: Some(limit.saturating_add(1).min(MAX_LIST)),
    };
    let client = connect(paths).await?;
    let mut tasks = client.tasks(&q).await?;
    let left_out = tasks.len() > limit as usize;
    if left_out {
        // Oldest first: the newest `limit` are the last ones.
        tasks.drain(..tasks.len() - limit as usize);
    }
    if json {
        print_json(&tasks)?;
    } else if std::io::stdout().is_terminal() {
        let width = crate::columns::terminal_width();
        out!(
            "{}",
            render::table(&tasks, width, crate::columns::colors_wanted())
        );
    } else {
        for t in &tasks {
            outln!(
                "{}\t{}\t{}\t{}",
                t.id,
                t.status,
                one_line(&t.agent),
                one_line(&t.title)
            );
        }
    }
    if left_out {
        let of = match total(&client, &q).await {
            Some(m) => format!(" of {m}"),
            None => String::new(),
        };
        errln!(
            "legate: showing the newest {}{of} task{} (--all shows every task, --limit N more)",
            tasks.len(),
            if tasks.len() == 1 && of.is_empty() {
                ""
            } else {
                "s"
            }
        );
    }
    Ok(exit::OK)
}

/// How many tasks match `q` in all, when the daemon's counts tell (filters by status only).
async fn total(client: &legate_api::Client, q: &ListQuery) -> Option<u64> {
    if q.agent.is_some() || q.label.is_some() {
        return None;
    }
    let s = client.daemon_status().await.ok()?;
    let wanted = &q.status;
    Some(
        s.counts
            .iter()
            .filter(|&(st, _)| wanted.is_empty() || wanted.contains(st))
            .map(|(_, n)| n)
            .sum(),
    )
}

/// Shows one task.
pub async fn show(paths: &Paths, id: &str, prompt: bool, json: bool) -> Result<i32> {
    parse_task_ref(id)?;
    let client = connect(paths).await?;
    let task = client.task(id, prompt).await?;
    if json {
        // A queued task also says why it waits (`queue`: `ahead`, `reason`).
        let mut shown = serde_json::to_value(&task)?;
        if let Some(q) = queue_state(&client, &task).await {
            shown["queue"] = serde_json::to_value(q)?;
        }
        print_json(&shown)?;
    } else {
        let chain = predecessors(&client, &task).await;
        out!("{}", render::details(&task, &paths.logs_dir, &chain));
        print_queue_state(&client, &task).await;
        print_last_steps(&client, &task).await;
    }
    Ok(exit::OK)
}

/// Why a queued task has not started (nothing for other tasks, or when the daemon cannot say).
async fn print_queue_state(client: &legate_api::Client, task: &Task) {
    if let Some(q) = queue_state(client, task).await {
        let ahead = match q.ahead {
            0 => "first in the queue".to_string(),
            n => format!("{n} queued ahead of it"),
        };
        outln!("{:<10} {} ({ahead})", "waiting", one_line(&q.reason));
    }
}

/// Why a queued task waits, if it is queued and the daemon can say.
async fn queue_state(
    client: &legate_api::Client,
    task: &Task,
) -> Option<legate_domain::api::QueueState> {
    if task.status != legate_domain::Status::Queued {
        return None;
    }
    client.queue_state(task.id.as_str()).await.ok()
}

/// The last steps the agent reported, if it reported any (`legate logs --steps` has all).
async fn print_last_steps(client: &legate_api::Client, task: &Task) {
    const SHOWN: usize = 10;
    let q = EventsQuery {
        task: Some(task.id.to_string()),
        kind: Some("progress,permission,stalled".into()),
        limit: Some(10_000),
        ..EventsQuery::default()
    };
    let Ok(events) = client.events(&q).await else {
        return;
    };
    let lines: Vec<String> = events
        .iter()
        .filter_map(|e| crate::commands::steps::describe(e).map(|d| d.0))
        .collect();
    if lines.is_empty() {
        return;
    }
    outln!(
        "\nsteps (last {} of {}; all: legate logs --steps {}):",
        lines.len().min(SHOWN),
        lines.len(),
        task.id
    );
    for l in &lines[lines.len().saturating_sub(SHOWN)..] {
        outln!("  {l}");
    }
}

/// The tasks a follow-up continues, oldest first (as far back as they are still stored).
async fn predecessors(client: &legate_api::Client, task: &Task) -> Vec<String> {
    let mut chain = Vec::new();
    let mut next = task.metadata["follows"].as_str().map(str::to_string);
    while let Some(id) = next.take() {
        if chain.len() >= 100 || chain.contains(&id) {
            break;
        }
        next = match client.task(&id, false).await {
            Ok(t) => t.metadata["follows"].as_str().map(str::to_string),
            Err(_) => None,
        };
        chain.push(id);
    }
    chain.reverse();
    chain
}

/// Marks a finished task's result read once it was printed, when it is the reader's own (its
/// origin is this command's). A failure is ignored: the result stays in the inbox.
async fn shown(client: &legate_api::Client, task: &Task) {
    let me = crate::commands::run::origin(None);
    let _ = client.mark_shown(&me, task).await;
}

/// Prints a finished task's result (and marks it read); exits with its outcome.
pub async fn result(paths: &Paths, id: &str, json: bool) -> Result<i32> {
    parse_task_ref(id)?;
    let client = connect(paths).await?;
    let task = client.task(id, false).await?;
    if !task.status.is_terminal() {
        bail!(
            "task {} is still {}; wait for it with `legate wait {}` or follow it with `legate logs -f {}`",
            task.id,
            task.status,
            task.id,
            task.id
        );
    }
    if json {
        print_json(&serde_json::json!({
            "id": task.id, "status": task.status, "result": task.result, "error": task.error,
        }))?;
    } else {
        print_outcome(&task);
    }
    shown(&client, &task).await;
    Ok(exit::for_status(task.status))
}
