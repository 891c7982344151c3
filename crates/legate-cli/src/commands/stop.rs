//! `legate daemon stop [--yes] [--drain] [--force]`.
//!
//! Stopping interrupts the running tasks, so it is never silent about them: with tasks
//! running it lists them and asks on a terminal, and without one refuses unless `--yes` is
//! given (exit [`exit::REFUSED`]; nothing is stopped). `--drain` stops without interrupting:
//! the daemon accepts no new task, finishes the running and queued ones, then exits.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use anyhow::{Result, bail};
use legate_api::{Client, ClientError};
use legate_domain::api::{DaemonStatus, ListQuery};
use legate_domain::terminal::one_line;
use legate_domain::{Status, Task};

use crate::commands::print_json;
use crate::commands::reconnect::alive;
use crate::exit;
use crate::paths::Paths;

/// How long a daemon that accepted a stop may take to exit: it ends its agents first (TERM,
/// their grace period, KILL).
const STOP_DEADLINE: Duration = Duration::from_secs(30);

/// How many running tasks the warning names.
const NAMED: usize = 20;

/// What `daemon stop` was asked.
#[derive(Debug, Clone, Copy)]
pub struct StopOptions {
    /// SIGKILL a daemon that does not stop.
    pub force: bool,
    /// Interrupt running tasks without asking.
    pub yes: bool,
    /// Let the tasks finish first.
    pub drain: bool,
    /// Print JSON.
    pub json: bool,
}

/// Stops the daemon if it runs, and tells the truth about it: success only once its process
/// has exited. One that does not answer or does not exit is reported as still running (exit
/// code [`exit::NO_ANSWER`]) — or, with `force`, killed with SIGKILL.
pub async fn daemon_stop(paths: &Paths, o: StopOptions) -> Result<i32> {
    let client = crate::connect::existing(paths).await?;
    let (pid, accepted) = match client.daemon_status().await {
        Ok(status) => {
            if o.drain {
                return drain(&client, status.pid, o.json).await;
            }
            if !o.yes && !confirmed(&client, &status).await? {
                return Ok(exit::REFUSED);
            }
            match client.stop_daemon().await {
                Ok(_) | Err(ClientError::Connect { .. } | ClientError::Dropped(_)) => {
                    (Some(status.pid), true)
                }
                Err(ClientError::Timeout { .. }) => (Some(status.pid), false),
                Err(e) => return Err(e.into()),
            }
        }
        Err(ClientError::Connect { .. }) => match crate::connect::lock_holder(paths) {
            // Alive but unreachable: only a signal can stop it.
            Some((pid, _)) => {
                if let Some(why) = crate::connect::unreachable_daemon(paths) {
                    errln!("legate: {why}");
                }
                (Some(pid as u32), false)
            }
            None => {
                if o.json {
                    print_json(&serde_json::json!({"running": false}))?;
                } else {
                    outln!("no legate daemon is running");
                }
                return Ok(exit::OK);
            }
        },
        Err(ClientError::Timeout { pid, .. }) => (pid, false),
        Err(e) => return Err(e.into()),
    };
    let Some(pid) = pid else {
        bail!(
            "the legate daemon at {} did not answer and its pid is unknown; find it with `pgrep -f 'legate daemon'`",
            paths.socket.display()
        );
    };
    // It removes its socket first, then ends its tasks; its process exiting is the proof.
    if accepted && exited(pid, Some(STOP_DEADLINE)).await {
        if o.json {
            print_json(&serde_json::json!({"running": false, "stopped_pid": pid}))?;
        } else {
            outln!("stopped the legate daemon (pid {pid})");
        }
        return Ok(exit::OK);
    }
    if o.force {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        if exited(pid, Some(Duration::from_secs(5))).await {
            if o.json {
                print_json(&serde_json::json!({"running": false, "killed_pid": pid}))?;
            } else {
                outln!(
                    "killed the legate daemon (pid {pid}) with SIGKILL; its running tasks are marked interrupted, and what is left of their agents ended, when the next daemon starts"
                );
            }
            return Ok(exit::OK);
        }
    }
    let why = if accepted {
        format!(
            "it accepted the stop but has not exited after {}s",
            STOP_DEADLINE.as_secs()
        )
    } else {
        format!(
            "it did not answer within {}s",
            client.timeout().as_secs_f64()
        )
    };
    if o.json {
        print_json(&serde_json::json!({"running": true, "pid": pid}))?;
    }
    errln!("error: the legate daemon (pid {pid}) is still running: {why}");
    errln!("hint: {}", exit::unresponsive_hint(Some(pid)));
    Ok(exit::NO_ANSWER)
}

/// How many tasks of `status` are in `which`.
fn count(status: &DaemonStatus, which: &[Status]) -> u64 {
    status
        .counts
        .iter()
        .filter(|(s, _)| which.contains(s))
        .map(|(_, n)| n)
        .sum()
}

/// Whether stopping may interrupt what runs: nothing runs, or the user says yes on a
/// terminal. Without a terminal nobody can be asked, and the answer is no.
async fn confirmed(client: &Client, status: &DaemonStatus) -> Result<bool> {
    let running = count(status, &[Status::Running]);
    if running == 0 {
        return Ok(true);
    }
    let q = ListQuery {
        status: vec![legate_domain::Status::Running],
        limit: Some(NAMED as u32),
        ..ListQuery::default()
    };
    let tasks: Vec<Task> = client.tasks(&q).await.unwrap_or_default();
    errln!(
        "legate: {running} task(s) are running; stopping the daemon interrupts them (they end as `interrupted`, or run again from the start when their agent has retry_interrupted):"
    );
    for t in &tasks {
        errln!("  {} {} {}", t.id, one_line(&t.agent), one_line(&t.title));
    }
    if running > tasks.len() as u64 {
        errln!("  … and {} more", running - tasks.len() as u64);
    }
    let tty = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !tty {
        errln!(
            "legate: not stopped: nobody to ask (no terminal). `legate daemon stop --drain` lets them finish first; `legate daemon stop --yes` interrupts them"
        );
        return Ok(false);
    }
    err!("Stop the daemon and interrupt them? (--drain lets them finish) [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    let yes = matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes");
    if !yes {
        errln!("legate: not stopped");
    }
    Ok(yes)
}

/// `--drain`: the daemon accepts no new task, finishes what it holds, then exits; returns
/// once it has (however long its tasks take; Ctrl-C stops only this command's waiting).
async fn drain(client: &Client, pid: u32, json: bool) -> Result<i32> {
    let status = client.drain().await?;
    let left = count(&status, &[Status::Queued, Status::Running]);
    if !json {
        errln!(
            "legate: the daemon (pid {pid}) is draining: it accepts no new task and stops once its {left} queued or running task(s) have finished"
        );
    }
    exited(pid, None).await;
    if json {
        print_json(&serde_json::json!({"running": false, "stopped_pid": pid, "drained": true}))?;
    } else {
        outln!("stopped the legate daemon (pid {pid}) after its tasks finished");
    }
    Ok(exit::OK)
}

/// Whether process `pid` is gone (or a zombie) within `limit` (`None`: however long it
/// takes).
async fn exited(pid: u32, limit: Option<Duration>) -> bool {
    let deadline = limit.map(|l| std::time::Instant::now() + l);
    let mut pause = Duration::from_millis(10);
    loop {
        if !alive(pid) {
            return true;
        }
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            return false;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}
