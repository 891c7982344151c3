//! Reaching the daemon, starting it when it is not running.
//!
//! Race-free: every starter spawns `legate daemon`; the daemons race for an exclusive lock,
//! one wins, the others exit with [`ALREADY_RUNNING`], and every starter waits for the
//! winner's socket.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use legate_api::Client;

use crate::paths::Paths;

/// Exit code of a daemon that found another one holding the lock.
pub const ALREADY_RUNNING: i32 = 75;

/// How long a starter waits for the daemon's socket.
const START_DEADLINE: Duration = Duration::from_secs(15);

/// How long the daemon may take to answer a request: `LEGATE_CLIENT_TIMEOUT` (e.g. `10s`),
/// else [`legate_api::client::DEFAULT_REQUEST_TIMEOUT`].
pub fn client_timeout() -> Result<Duration> {
    match std::env::var("LEGATE_CLIENT_TIMEOUT")
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        None => Ok(legate_api::client::DEFAULT_REQUEST_TIMEOUT),
        Some(v) => legate_domain::size::parse_duration(&v)
            .map_err(|m| anyhow::anyhow!("LEGATE_CLIENT_TIMEOUT: {m}")),
    }
}

/// A client of the daemon socket (not starting it), with the configured request timeout.
pub fn client(paths: &Paths) -> Result<Client> {
    Ok(Client::new(&paths.socket).with_timeout(client_timeout()?))
}

/// A client of the running daemon, starting one if needed.
pub async fn connect(paths: &Paths) -> Result<Client> {
    let client = client(paths)?;
    if client.is_up().await {
        return Ok(client);
    }
    let child = spawn_daemon(paths)?;
    wait_ready(paths, child).await?;
    Ok(client)
}

/// A client that also brings the daemon back if it goes away (for long-lived frontends).
pub async fn connect_lasting(paths: &Paths) -> Result<Client> {
    let client = connect(paths).await?;
    let paths = paths.clone();
    let starter: legate_api::Starter = std::sync::Arc::new(move || {
        let paths = paths.clone();
        Box::pin(async move {
            let child = spawn_daemon(&paths).map_err(|e| format!("{e:#}"))?;
            wait_ready(&paths, child)
                .await
                .map_err(|e| format!("{e:#}"))
        })
    });
    Ok(client.with_starter(starter))
}

/// Starts a detached daemon process (its own session, output to the daemon log).
pub fn spawn_daemon(paths: &Paths) -> Result<Child> {
    if let Some(dir) = paths.daemon_log.parent() {
        crate::paths::ensure_private_dir(dir)?;
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&paths.daemon_log)
        .with_context(|| format!("cannot open the daemon log {}", paths.daemon_log.display()))?;
    let exe = std::env::current_exe().context("cannot find the legate executable")?;
    Command::new(exe)
        .args(["daemon", "--session"])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("cannot start the legate daemon")
}

/// Waits for the daemon's socket to answer, or reports why the daemon died.
pub async fn wait_ready(paths: &Paths, mut child: Child) -> Result<()> {
    let client = client(paths)?;
    let deadline = Instant::now() + START_DEADLINE;
    let mut exited_ok = false;
    loop {
        if client.is_up().await {
            return Ok(());
        }
        if !exited_ok && let Some(status) = child.try_wait()? {
            if status.code() == Some(ALREADY_RUNNING) {
                // Another starter's daemon won the lock; its socket is coming.
                exited_ok = true;
            } else {
                bail!(
                    "the legate daemon failed to start:\n{}",
                    last_lines(&paths.daemon_log, 8)
                );
            }
        }
        if Instant::now() >= deadline {
            bail!(
                "the legate daemon did not come up within {}s; see {}",
                START_DEADLINE.as_secs(),
                paths.daemon_log.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn last_lines(path: &std::path::Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
