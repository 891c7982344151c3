//! `legate agents`, `prune`, `daemon status|--detach` and `completions`.

use std::time::Duration;

use anyhow::Result;
use clap::CommandFactory;
use clap_complete::Shell;
use legate_api::ClientError;
use legate_domain::agent::AgentView;
use legate_domain::api::{AgentsQuery, PruneRequest};
use legate_domain::size::parse_duration;
use legate_domain::terminal::one_line;

use crate::cli::{Cli, Engine, EngineArgs};
use crate::commands::print_json;
use crate::connect::connect;
use crate::exit;
use crate::paths::Paths;

/// Lists agents: found or missing, and their versions; with `check`, a failing version
/// command makes the exit code 1.
pub async fn agents(paths: &Paths, check: bool, json: bool) -> Result<i32> {
    let client = connect(paths).await?;
    // Looked up as this command's tasks would be: on its PATH.
    let q = AgentsQuery {
        check,
        versions: !check,
        path: std::env::var("PATH").ok(),
    };
    let agents: Vec<AgentView> = client.agents(&q).await?;
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
            let line = format!(
                "{:<14} {:<8} {:<8} {}",
                a.name,
                state,
                kind,
                one_line(&a.description)
            );
            outln!("{}", crate::columns::line_for_stdout(&line));
            // The version is what the agent's program printed.
            let version = one_line(a.version.as_deref().unwrap_or(""));
            let line = format!("{:<14} {} {}", "", one_line(&a.program), version);
            outln!("{}", crate::columns::line_for_stdout(&line));
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
    force: bool,
    json: bool,
) -> Result<i32> {
    let age = match older_than.map(str::trim) {
        None | Some("0") => Duration::ZERO,
        Some(t) => parse_duration(t).map_err(|m| anyhow::anyhow!("--older-than: {m}"))?,
    };
    let client = connect(paths).await?;
    let report = client
        .prune(&PruneRequest {
            older_than_ms: age.as_millis() as u64,
            unacked,
            force,
        })
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
        if !report.kept_worktrees.is_empty() {
            let ids: Vec<String> = report
                .kept_worktrees
                .iter()
                .map(ToString::to_string)
                .collect();
            if force {
                outln!(
                    "kept {} finished task(s) whose worktree could not be discarded (a follow-up still works in it, or its repository is gone): {} (legate discard ID says why)",
                    ids.len(),
                    ids.join(" ")
                );
            } else {
                outln!(
                    "kept {} finished task(s) whose worktree holds unmerged changes: {} (legate merge or legate discard them; --force removes them, worktree and all)",
                    ids.len(),
                    ids.join(" ")
                );
            }
        }
    }
    Ok(exit::OK)
}

/// Reports whether the daemon runs, without starting it.
pub async fn daemon_status(paths: &Paths, json: bool) -> Result<i32> {
    let client = crate::connect::existing(paths).await?;
    match client.daemon_status().await {
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
                if s.draining {
                    outln!(
                        "state:   draining: accepts no new task, stops once its queued and running tasks have finished"
                    );
                }
            }
            Ok(exit::OK)
        }
        Err(ClientError::Connect { .. }) => {
            if json {
                print_json(&serde_json::json!({"running": false, "socket": paths.socket}))?;
            } else if let Some(why) = crate::connect::unreachable_daemon(paths) {
                outln!("{why}");
            } else {
                outln!("not running (socket {})", paths.socket.display());
            }
            Ok(exit::ERROR)
        }
        Err(e) => Err(e.into()),
    }
}

/// Starts the daemon in the background and returns once it answers.
pub async fn daemon_detach(paths: &Paths, engine: &EngineArgs, json: bool) -> Result<i32> {
    let settings = engine.check().map_err(anyhow::Error::msg)?;
    match crate::connect::reachable(paths).await? {
        None => crate::connect::start_daemon(engine).await?,
        Some(running) if settings != Engine::default() => {
            let s = running.daemon_status().await?;
            errln!(
                "legate: warning: a daemon already runs for this store (pid {}, store {}); the \
                 settings given (--store, --slots… or their LEGATE_* variables) apply only to a \
                 daemon this command starts: `legate daemon stop` first to use them",
                s.pid,
                s.store
            );
        }
        Some(_) => {}
    }
    let client = crate::connect::connect(paths).await?;
    let s = client.daemon_status().await?;
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
