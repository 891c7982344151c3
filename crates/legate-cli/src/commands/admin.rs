//! `legate agents`, `prune`, `daemon stop|status|--detach` and `completions`.

use std::time::Duration;

use anyhow::{Result, bail};
use clap::CommandFactory;
use clap_complete::Shell;
use legate_api::ClientError;
use legate_domain::agent::AgentView;
use legate_domain::api::{DaemonStatus, PruneReport, PruneRequest};
use legate_domain::size::parse_duration;
use legate_domain::terminal::one_line;

use crate::cli::Cli;
use crate::commands::print_json;
use crate::connect::connect;
use crate::exit;
use crate::paths::Paths;

/// Lists agents: found or missing, and their versions; with `check`, a failing version
/// command makes the exit code 1.
pub async fn agents(paths: &Paths, check: bool, json: bool) -> Result<i32> {
    let client = connect(paths).await?;
    let path = if check {
        "/v1/agents?check=true"
    } else {
        "/v1/agents?versions=true"
    };
    let agents: Vec<AgentView> = client.get(path).await?;
    let broken = agents
        .iter()
        .filter(|a| {
            a.available
                && a.version
                    .as_deref()
                    .is_some_and(|v| v.starts_with("error:"))
        })
        .count();
    if json {
        print_json(&agents)?;
    } else {
        for a in &agents {
            let state = if a.available { "found" } else { "missing" };
            let kind = if a.builtin { "built-in" } else { "config" };
            outln!(
                "{:<14} {:<8} {:<8} {}",
                a.name,
                state,
                kind,
                one_line(&a.description)
            );
            // The version is what the agent's program printed.
            let version = one_line(a.version.as_deref().unwrap_or(""));
            outln!("{:<14} {} {}", "", one_line(&a.program), version);
        }
    }
    Ok(if check && broken > 0 {
        exit::ERROR
    } else {
        exit::OK
    })
}

/// Removes finished tasks (those that finished longer ago than `older_than`, when given).
pub async fn prune(
    paths: &Paths,
    older_than: Option<&str>,
    unacked: bool,
    json: bool,
) -> Result<i32> {
    let age = match older_than.map(str::trim) {
        None | Some("0") => Duration::ZERO,
        Some(t) => parse_duration(t).map_err(|m| anyhow::anyhow!("--older-than: {m}"))?,
    };
    let client = connect(paths).await?;
    let report: PruneReport = client
        .post(
            "/v1/prune",
            &PruneRequest {
                older_than_ms: age.as_millis() as u64,
                unacked,
            },
        )
        .await?;
    if json {
        print_json(&report)?;
    } else {
        outln!(
            "removed {} task(s), {} event(s) and {} bytes of logs",
            report.tasks,
            report.events,
            report.log_bytes
        );
        if report.kept_unacked > 0 {
            outln!(
                "kept {} finished task(s) whose results are still unread (see `legate inbox`; --unacked removes them too)",
                report.kept_unacked
            );
        }
    }
    Ok(exit::OK)
}

/// How long a daemon that accepted a stop may take to exit: it ends its agents first (TERM,
/// their grace period, KILL).
const STOP_DEADLINE: Duration = Duration::from_secs(30);

/// Stops the daemon if it runs, and tells the truth about it: success only once its process
/// has exited. One that does not answer or does not exit is reported as still running (exit
/// code [`exit::NO_ANSWER`]) — or, with `force`, killed with SIGKILL.
pub async fn daemon_stop(paths: &Paths, force: bool, json: bool) -> Result<i32> {
    let client = crate::connect::existing(paths).await?;
    let (pid, accepted) = match client.get::<DaemonStatus>("/v1/daemon").await {
        Ok(status) => match client.post_empty("/v1/daemon/stop").await {
            Ok(_) | Err(ClientError::Connect { .. } | ClientError::Dropped(_)) => {
                (Some(status.pid), true)
            }
            Err(ClientError::Timeout { .. }) => (Some(status.pid), false),
            Err(e) => return Err(e.into()),
        },
        Err(ClientError::Connect { .. }) => {
            if json {
                print_json(&serde_json::json!({"running": false}))?;
            } else {
                outln!("no legate daemon is running");
            }
            return Ok(exit::OK);
        }
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
    if accepted && exited(pid, STOP_DEADLINE).await {
        if json {
            print_json(&serde_json::json!({"running": false, "stopped_pid": pid}))?;
        } else {
            outln!("stopped the legate daemon (pid {pid})");
        }
        return Ok(exit::OK);
    }
    if force {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        if exited(pid, Duration::from_secs(5)).await {
            if json {
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
    if json {
        print_json(&serde_json::json!({"running": true, "pid": pid}))?;
    }
    errln!("error: the legate daemon (pid {pid}) is still running: {why}");
    errln!("hint: {}", exit::unresponsive_hint(Some(pid)));
    Ok(exit::NO_ANSWER)
}

/// Whether process `pid` is gone (or a zombie) within `limit`.
async fn exited(pid: u32, limit: Duration) -> bool {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let alive = legate_runner::procfs::stat(pid as i32).is_some_and(|s| s.state != 'Z');
        if !alive {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Reports whether the daemon runs, without starting it.
pub async fn daemon_status(paths: &Paths, json: bool) -> Result<i32> {
    let client = crate::connect::existing(paths).await?;
    match client.get::<DaemonStatus>("/v1/daemon").await {
        Ok(s) => {
            if json {
                let mut v = serde_json::to_value(&s)?;
                v["running"] = true.into();
                print_json(&v)?;
            } else {
                outln!(
                    "running: pid {}, version {}, since {}",
                    s.pid,
                    s.version,
                    s.started_at
                );
                outln!("socket:  {}", s.socket);
                outln!("store:   {}", s.store);
                let counts: Vec<String> = s
                    .counts
                    .iter()
                    .filter(|&(_, n)| *n > 0)
                    .map(|(st, n)| format!("{n} {st}"))
                    .collect();
                outln!(
                    "tasks:   {}",
                    if counts.is_empty() {
                        "none".into()
                    } else {
                        counts.join(", ")
                    }
                );
            }
            Ok(exit::OK)
        }
        Err(ClientError::Connect { .. }) => {
            if json {
                print_json(&serde_json::json!({"running": false, "socket": paths.socket}))?;
            } else {
                outln!("not running (socket {})", paths.socket.display());
            }
            Ok(exit::ERROR)
        }
        Err(e) => Err(e.into()),
    }
}

/// Starts the daemon in the background and returns once it answers.
pub async fn daemon_detach(paths: &Paths, json: bool) -> Result<i32> {
    let client = crate::connect::connect(paths).await?;
    let s: DaemonStatus = client.get("/v1/daemon").await?;
    if json {
        print_json(&s)?;
    } else {
        outln!("legate daemon running (pid {}, socket {})", s.pid, s.socket);
    }
    Ok(exit::OK)
}

/// Prints completions for a shell.
pub fn completions(shell: Shell) -> Result<i32> {
    let mut cmd = Cli::command();
    // Into memory first: `generate` panics when its writer fails (a closed pipe).
    let mut text = Vec::new();
    clap_complete::generate(shell, &mut cmd, "legate", &mut text);
    out!("{}", String::from_utf8_lossy(&text));
    Ok(exit::OK)
}
