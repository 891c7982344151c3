//! `legate wait`, and the waiting behind `run --wait` and `send --wait`.
//!
//! Only what shows a result marks it read: `wait --result` and `run --wait` acknowledge the
//! results they print; a plain `wait` (ids and statuses) leaves them in the inbox.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::Result;
use legate_api::Client;
use legate_domain::api::{ListQuery, WaitMode, WaitRequest, WaitResponse};
use legate_domain::size::parse_duration;
use legate_domain::terminal::{multi_line, one_line};
use legate_domain::{Delegation, Status, Task, TaskId};

use crate::cli::WaitArgs;
use crate::commands::print_json;
use crate::commands::reconnect::{Start, reconnect, went_away};
use crate::commands::run::origin;
use crate::connect::connect;
use crate::exit;
use crate::paths::Paths;

/// How often the progress line is refreshed on a terminal.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// The longest single wait request: a longer wait is made of several, so a daemon that stops
/// answering is noticed within this (plus the request timeout) however long the wait.
const WAIT_SLICE: Duration = Duration::from_secs(60);

/// What a wait prints once the tasks are done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Show {
    /// Each task's id, status and title (`wait`); nothing is acknowledged.
    Statuses,
    /// Each finished task's result text (`wait --result`); those are acknowledged.
    Results,
    /// The one task's result as the command's answer (`run --wait`, `send --wait`);
    /// acknowledged.
    Answer,
}

/// One wait: for which tasks, until when, and what to print.
#[derive(Debug, Clone)]
pub(crate) struct Waiting {
    /// Task ids or prefixes.
    pub ids: Vec<String>,
    /// Return when the first is done instead of all.
    pub any: bool,
    /// Give up after this long.
    pub timeout: Option<Duration>,
    /// Print JSON.
    pub json: bool,
    /// What to print.
    pub show: Show,
}

/// `legate wait`: for the given tasks; without ids, inside a task for the unfinished tasks it
/// delegated, elsewhere for every unfinished task of this origin.
pub async fn wait(paths: &Paths, args: WaitArgs, json: bool) -> Result<i32> {
    let timeout = match &args.timeout {
        Some(t) => Some(parse_duration(t).map_err(|m| anyhow::anyhow!("--timeout: {m}"))?),
        None => None,
    };
    let client = connect(paths).await?;
    // Inside a task, that task and those it runs under end only after this command: waiting
    // for them would never end.
    let inside = Delegation::from_env().ok().and_then(|d| d.parent);
    let under = match &inside {
        Some(id) => running_under(&client, id.clone()).await,
        None => Vec::new(),
    };
    let mut ids = args.ids;
    if let Some((given, task)) = ids.iter().find_map(|i| {
        under
            .iter()
            .find(|u| u.starts_with(i.as_str()))
            .map(|u| (i, u))
    }) {
        anyhow::bail!(
            "{given} is task {task}, which this command runs in (or under): it ends only after \
             this command, so waiting for it would never end; wait for the tasks it delegated \
             (`legate wait` without ids waits for those)"
        );
    }
    if ids.is_empty() {
        // Inside a task: the tasks it delegated (whatever their origin), not every task of
        // the origin, which may be another task's or the user's.
        let (whose, q) = match &inside {
            Some(task) => (
                format!("task {task}"),
                ListQuery {
                    parent: Some(task.to_string()),
                    ..ListQuery::default()
                },
            ),
            None => {
                let me = origin(None);
                (
                    one_line(&me).into_owned(),
                    ListQuery {
                        origin: Some(me),
                        ..ListQuery::default()
                    },
                )
            }
        };
        ids = unfinished(&client, q).await?;
        if ids.is_empty() {
            if json {
                print_json(&WaitResponse {
                    tasks: Vec::new(),
                    timed_out: false,
                })?;
            }
            errln!(
                "legate: nothing to wait for: no queued or running task of {whose} (see `legate ls`)"
            );
            return Ok(exit::OK);
        }
    }
    let show = if args.result {
        Show::Results
    } else {
        Show::Statuses
    };
    let w = Waiting {
        ids,
        any: args.any,
        timeout,
        json,
        show,
    };
    until_done(paths, client, &w).await
}

/// `task` and the tasks it runs under (its parent, theirs…), as far as they are stored.
async fn running_under(client: &Client, task: TaskId) -> Vec<String> {
    let mut chain = Vec::new();
    let mut next = Some(task);
    while let Some(id) = next.take() {
        if chain.len() >= 100 || chain.contains(&id.to_string()) {
            break;
        }
        chain.push(id.to_string());
        next = client
            .task(id.as_str(), false)
            .await
            .ok()
            .and_then(|t| t.parent);
    }
    chain
}

/// The ids of the queued and running tasks `q` selects.
async fn unfinished(client: &Client, q: ListQuery) -> Result<Vec<String>> {
    let q = ListQuery {
        status: vec![
            legate_domain::Status::Queued,
            legate_domain::Status::Running,
        ],
        limit: Some(100_000),
        ..q
    };
    let tasks = client.tasks(&q).await?;
    Ok(tasks.into_iter().map(|t| t.id.to_string()).collect())
}

/// Waits (showing progress on a terminal, reconnecting when the daemon goes away), prints
/// the outcome, returns the exit code.
pub(crate) async fn until_done(paths: &Paths, mut client: Client, w: &Waiting) -> Result<i32> {
    let mode = if w.any { WaitMode::Any } else { WaitMode::All };
    let live = !w.json && std::io::stderr().is_terminal();
    let deadline = w.timeout.map(|t| Instant::now() + t);
    let res = loop {
        let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let every = if live { PROGRESS_EVERY } else { WAIT_SLICE };
        let slice = remaining.map_or(every, |r| r.min(every));
        let req = WaitRequest {
            ids: w.ids.clone(),
            mode,
            timeout_ms: Some(slice.as_millis() as u64),
            ack_origin: None,
        };
        let res = match client.wait(&req, slice).await {
            Ok(res) => res,
            Err(e) => {
                let e = anyhow::Error::new(e);
                if !went_away(&e) {
                    return Err(e);
                }
                client = reconnect(paths, &client, "waiting", Start::IfNeeded).await?;
                continue;
            }
        };
        let expired = deadline.is_some_and(|d| Instant::now() >= d);
        if !res.timed_out || expired {
            break res;
        }
        if live {
            progress(&res.tasks);
        }
    };
    if live {
        err!("\r\x1b[2K");
    }
    print_waited(&res, w)?;
    // Results are read once they were shown: printing them went through (a reader that went
    // away ends the command before this), so mark them read now.
    if w.show != Show::Statuses {
        let me = origin(None);
        for t in &res.tasks {
            let _ = client.mark_shown(&me, t).await;
        }
    }
    if res.timed_out {
        if !w.json {
            errln!("legate: gave up waiting; the task(s) are still running (see `legate ls`)");
        }
        return Ok(exit::WAIT_TIMEOUT);
    }
    let relevant: Vec<&Task> = if w.any {
        res.tasks
            .iter()
            .filter(|t| t.status.is_terminal())
            .take(1)
            .collect()
    } else {
        res.tasks.iter().collect()
    };
    Ok(relevant
        .iter()
        .map(|t| exit::for_status(t.status))
        .find(|&c| c != exit::OK)
        .unwrap_or(exit::OK))
}

/// Prints what a wait found, as `w.show` says.
fn print_waited(res: &WaitResponse, w: &Waiting) -> Result<()> {
    match (w.show, w.json) {
        (Show::Answer, true) => print_json(&res.tasks[0])?,
        (Show::Answer, false) => print_outcome(&res.tasks[0]),
        (_, true) => print_json(res)?,
        (Show::Statuses, false) => out!("{}", crate::render::task_lines(&res.tasks)),
        (Show::Results, false) => {
            let done: Vec<&Task> = res
                .tasks
                .iter()
                .filter(|t| t.status.is_terminal())
                .collect();
            for t in &done {
                if done.len() > 1 {
                    outln!("## {} [{}] {}", t.id, t.status, one_line(&t.title));
                }
                print_outcome(t);
            }
        }
    }
    Ok(())
}

/// Prints a finished task's result on stdout (verbatim when stdout is not a terminal, as data
/// for the next program; neutralised on a terminal) and, unless it succeeded, why on stderr.
pub(crate) fn print_outcome(task: &Task) {
    if let Some(r) = &task.result {
        if std::io::stdout().is_terminal() {
            out!("{}", multi_line(r));
        } else {
            out!("{r}");
        }
        if !r.ends_with('\n') && !r.is_empty() {
            outln!();
        }
        let _ = std::io::stdout().flush();
    }
    if task.status != Status::Succeeded {
        let why = task
            .error
            .as_ref()
            .map(|e| format!("{} ({})", multi_line(&e.message), e.kind.as_str()))
            .unwrap_or_default();
        errln!("legate: task {} {}: {why}", task.id, task.status);
    }
}

fn progress(tasks: &[Task]) {
    let done = tasks.iter().filter(|t| t.status.is_terminal()).count();
    let running = tasks.iter().filter(|t| t.status == Status::Running).count();
    let line = format!(
        "waiting: {done}/{} done, {running} running, {} queued",
        tasks.len(),
        tasks.len() - done - running
    );
    err!("\r\x1b[2K{}", crate::columns::line_for_stderr(&line));
    let _ = std::io::stderr().flush();
}
