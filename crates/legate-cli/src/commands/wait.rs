//! `legate wait`, and the waiting behind `run --wait`.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::Result;
use legate_api::Client;
use legate_domain::api::{WaitMode, WaitRequest, WaitResponse};
use legate_domain::size::parse_duration;
use legate_domain::terminal::{multi_line, one_line};
use legate_domain::{Status, Task};

use crate::cli::WaitArgs;
use crate::commands::print_json;
use crate::connect::connect;
use crate::exit;
use crate::paths::Paths;

/// How often the progress line is refreshed on a terminal.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// The longest single wait request: a longer wait is made of several, so a daemon that stops
/// answering is noticed within this (plus the request timeout) however long the wait.
const WAIT_SLICE: Duration = Duration::from_secs(60);

/// `legate wait`.
pub async fn wait(paths: &Paths, args: WaitArgs, json: bool) -> Result<i32> {
    let timeout = match &args.timeout {
        Some(t) => Some(parse_duration(t).map_err(|m| anyhow::anyhow!("--timeout: {m}"))?),
        None => None,
    };
    let client = connect(paths).await?;
    until_done(&client, &args.ids, args.any, timeout, json, false).await
}

/// Waits (showing progress on a terminal), prints the outcome, returns the exit code.
/// With `print_result` (for `run --wait`) the single task's result is printed as the answer.
pub async fn until_done(
    client: &Client,
    ids: &[String],
    any: bool,
    timeout: Option<Duration>,
    json: bool,
    print_result: bool,
) -> Result<i32> {
    let mode = if any { WaitMode::Any } else { WaitMode::All };
    let live = !json && std::io::stderr().is_terminal();
    let deadline = timeout.map(|t| Instant::now() + t);
    let res = loop {
        let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let every = if live { PROGRESS_EVERY } else { WAIT_SLICE };
        let slice = remaining.map_or(every, |r| r.min(every));
        let req = WaitRequest {
            ids: ids.to_vec(),
            mode,
            timeout_ms: Some(slice.as_millis() as u64),
            ack_origin: Some(super::run::origin(None)),
        };
        let res: WaitResponse = client.post_waiting("/v1/wait", &req, slice).await?;
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
    if print_result {
        let task = &res.tasks[0];
        if json {
            print_json(task)?;
        } else {
            print_outcome(task);
        }
    } else if json {
        print_json(&res)?;
    } else {
        out!("{}", crate::render::task_lines(&res.tasks));
    }
    if res.timed_out {
        if !json {
            errln!("legate: gave up waiting; the task(s) are still running (see `legate ls`)");
        }
        return Ok(exit::WAIT_TIMEOUT);
    }
    let relevant: Vec<&Task> = if any {
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
            .map(|e| format!("{} ({})", one_line(&e.message), e.kind.as_str()))
            .unwrap_or_default();
        errln!("legate: task {} {}: {why}", task.id, task.status);
    }
}

fn progress(tasks: &[Task]) {
    let done = tasks.iter().filter(|t| t.status.is_terminal()).count();
    let running = tasks.iter().filter(|t| t.status == Status::Running).count();
    err!(
        "\r\x1b[2Kwaiting: {done}/{} done, {running} running, {} queued",
        tasks.len(),
        tasks.len() - done - running
    );
    let _ = std::io::stderr().flush();
}
