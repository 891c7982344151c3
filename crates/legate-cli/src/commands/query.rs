//! `legate ls`, `show` and `result`.

use std::io::IsTerminal;

use anyhow::{Result, bail};
use legate_domain::Task;
use legate_domain::api::{ListQuery, parse_task_ref};
use legate_domain::terminal::one_line;

use crate::cli::LsArgs;
use crate::commands::print_json;
use crate::commands::wait::print_outcome;
use crate::connect::connect;
use crate::exit;
use crate::paths::Paths;
use crate::render;

/// Lists tasks.
pub async fn ls(paths: &Paths, args: LsArgs, json: bool) -> Result<i32> {
    if let Some(s) = &args.status {
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            part.parse::<legate_domain::Status>()
                .map_err(|m| anyhow::anyhow!("--status: {m}"))?;
        }
    }
    let q = ListQuery {
        status: args.status,
        agent: args.agent,
        label: args.label,
        origin: None,
        limit: Some(args.limit),
    };
    let client = connect(paths).await?;
    let tasks: Vec<Task> = client
        .get(&format!("/v1/tasks?{}", serde_urlencoded::to_string(&q)?))
        .await?;
    if json {
        print_json(&tasks)?;
    } else if std::io::stdout().is_terminal() {
        println!("{}", render::table(&tasks));
    } else {
        for t in &tasks {
            println!(
                "{}\t{}\t{}\t{}",
                t.id,
                t.status,
                one_line(&t.agent),
                one_line(&t.title)
            );
        }
    }
    Ok(exit::OK)
}

/// Shows one task.
pub async fn show(paths: &Paths, id: &str, prompt: bool, json: bool) -> Result<i32> {
    parse_task_ref(id)?;
    let client = connect(paths).await?;
    let task: Task = client
        .get(&format!("/v1/tasks/{id}?prompt={prompt}"))
        .await?;
    if json {
        print_json(&task)?;
    } else {
        let chain = predecessors(&client, &task).await;
        print!("{}", render::details(&task, &paths.logs_dir, &chain));
        print_last_steps(&client, &task).await;
    }
    Ok(exit::OK)
}

/// The last steps the agent reported, if it reported any (`legate logs --steps` has all).
async fn print_last_steps(client: &legate_api::Client, task: &Task) {
    const SHOWN: usize = 10;
    let q = format!(
        "/v1/events?task={}&kind=progress,permission,stalled&limit=10000",
        task.id
    );
    let Ok(events) = client.get::<Vec<legate_domain::Event>>(&q).await else {
        return;
    };
    let lines: Vec<String> = events
        .iter()
        .filter_map(|e| crate::commands::steps::describe(e).map(|d| d.0))
        .collect();
    if lines.is_empty() {
        return;
    }
    println!(
        "\nsteps (last {} of {}; all: legate logs --steps {}):",
        lines.len().min(SHOWN),
        lines.len(),
        task.id
    );
    for l in &lines[lines.len().saturating_sub(SHOWN)..] {
        println!("  {l}");
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
        next = match client.get::<Task>(&format!("/v1/tasks/{id}")).await {
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
    let task: Task = client.get(&format!("/v1/tasks/{id}")).await?;
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
