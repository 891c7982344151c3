//! Reaching the daemon, starting it when it is not running.
//!
//! Race-free: every starter spawns `legate daemon`; the daemons race for an exclusive lock,
//! one wins, the others exit with [`ALREADY_RUNNING`], and every starter waits for the
//! winner's socket.

use std::fs::{File, OpenOptions, Permissions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use legate_api::Client;
use nix::fcntl::OFlag;

use crate::paths::Paths;

/// Exit code of a daemon that found another one holding the lock.
pub const ALREADY_RUNNING: i32 = 75;

/// How long a starter waits for the daemon's socket.
const START_DEADLINE: Duration = Duration::from_secs(15);

/// A client of the running daemon, starting one if needed.
pub async fn connect(paths: &Paths) -> Result<Client> {
    let client = Client::new(&paths.socket);
    if client.is_up().await? {
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
    paths.prepare_log_dir()?;
    let log = open_daemon_log(&paths.daemon_log)?;
    let exe = std::env::current_exe().context("cannot find the legate executable")?;
    Command::new(exe)
        .args(["daemon", "--session"])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("cannot start the legate daemon")
}

/// Opens the daemon's log for appending: created 0600 (whatever the umask), never through a
/// symlink, refused when another user owns it, and made private if it was not.
fn open_daemon_log(path: &Path) -> Result<File> {
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(OFlag::O_NOFOLLOW.bits())
        .open(path)
        .with_context(|| {
            format!(
                "cannot open the daemon log {} (it must be a file of yours, not a symlink)",
                path.display()
            )
        })?;
    let meta = log.metadata()?;
    let me = legate_engine::trust::me();
    if meta.uid() != me {
        bail!(
            "the daemon log {} is owned by uid {}, not by you (uid {me}); remove it and run legate again",
            path.display(),
            meta.uid()
        );
    }
    if meta.mode() & 0o077 != 0 {
        log.set_permissions(Permissions::from_mode(0o600))?;
    }
    Ok(log)
}

/// Waits for the daemon's socket to answer, or reports why the daemon died.
pub async fn wait_ready(paths: &Paths, mut child: Child) -> Result<()> {
    let client = Client::new(&paths.socket);
    let deadline = Instant::now() + START_DEADLINE;
    let mut exited_ok = false;
    loop {
        if client.is_up().await? {
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

fn last_lines(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
