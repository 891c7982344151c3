//! Getting back to the store's daemon after it went away (stopped, restarted, crashed) in
//! the middle of a long call: `wait`, `run --wait`, `send --wait` and `logs -f` go on with the
//! next daemon — started as auto-start does — instead of failing, since the task lives on
//! (interrupted, or requeued and running again) and needs a daemon to end. `events -f`, which
//! only watches, waits for a daemon to come back without starting one.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use legate_api::{Client, ClientError};

use crate::connect::{reachable, start_daemon};
use crate::paths::Paths;

/// How long a stopping daemon may take to exit before the next one is started anyway: it
/// ends its agents first (TERM, their grace period, KILL).
const STOPPING_PATIENCE: Duration = Duration::from_secs(60);

/// How long starting the next daemon may keep failing before giving up.
const START_PATIENCE: Duration = Duration::from_secs(60);

/// The longest pause between two looks.
const MAX_PAUSE: Duration = Duration::from_secs(1);

/// Whether `e` means the daemon went away (reconnect), not that it refused the request.
pub(crate) fn went_away(e: &anyhow::Error) -> bool {
    e.downcast_ref::<ClientError>()
        .is_some_and(ClientError::daemon_went_away)
}

/// Whether a reconnect starts the next daemon or waits for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// Start one when none answers (what the task needs to end).
    IfNeeded,
    /// Wait, however long, for someone to start one.
    Never,
}

/// Reaches the store's daemon again after `gone` (the client whose daemon went away): waits
/// for that daemon's process to exit, then connects to whichever daemon answers, starting one
/// when none does (as `start` says). Says once on stderr what is happening (`doing`: what goes
/// on after). Errors: no daemon could be started (its own reason) within [`START_PATIENCE`].
pub(crate) async fn reconnect(
    paths: &Paths,
    gone: &Client,
    doing: &str,
    start: Start,
) -> Result<Client> {
    let how = match start {
        Start::IfNeeded => "reconnecting",
        Start::Never => "waiting for it to come back",
    };
    errln!("legate: the daemon went away; {how}, then {doing}");
    if let Some(pid) = gone.daemon_pid() {
        let patience = Instant::now() + STOPPING_PATIENCE;
        let mut pause = Duration::from_millis(10);
        while alive(pid) && Instant::now() < patience {
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }
    let patience = Instant::now() + START_PATIENCE;
    let mut pause = Duration::from_millis(20);
    loop {
        if let Some(client) = reachable(paths).await? {
            return Ok(client);
        }
        if start == Start::Never {
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_PAUSE);
            continue;
        }
        // Several waiters may start one each: the daemons race for the store's lock, one
        // wins, and every starter finds it.
        match start_daemon(&crate::cli::EngineArgs::default()).await {
            Ok(()) => continue,
            Err(e) if Instant::now() >= patience => {
                return Err(e).context("the daemon went away and could not be started again");
            }
            Err(_) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_PAUSE);
            }
        }
    }
}

/// Whether process `pid` still runs (a zombie does not).
pub(crate) fn alive(pid: u32) -> bool {
    legate_runner::procfs::stat(pid as i32).is_some_and(|s| s.state != 'Z')
}
