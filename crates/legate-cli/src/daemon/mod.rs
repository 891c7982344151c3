//! The daemon: one per user, holding the lock, the store, the engine and the API socket.

pub(crate) mod lock;
pub(crate) mod socket;
mod store;
mod worker;

pub use worker::run as run_worker;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use legate_api::server::{AppState, serve_until};
use legate_engine::{ConfigSource, EngineSettings, Service, WorkSettings};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Notify;
use tracing::{info, warn};

use crate::cli::Engine;
use crate::connect::ALREADY_RUNNING;
use crate::paths::Paths;

/// How long a stopping daemon gives the requests under way to be answered before it closes
/// their connections (a followed stream may stay open).
const ANSWER_GRACE: Duration = Duration::from_secs(2);

/// Runs the daemon in the foreground until stopped; returns the exit code.
pub fn run(paths: &Paths, new_session: bool, engine: &Engine) -> Result<i32> {
    if new_session {
        // Detach from the starting terminal's session so its hangup does not reach us.
        let _ = nix::unistd::setsid();
    }
    init_tracing();
    let config = ConfigSource::open(Some(paths.config.clone())).map_err(|e| anyhow!("{e}"))?;
    paths.prepare_private_dirs()?;
    let Some(_lock) = lock::acquire(&paths.lock, &paths.socket, &paths.config)? else {
        let (pid, socket) = lock::recorded(&paths.lock)
            .map(|(p, s)| (p.to_string(), s.display().to_string()))
            .unwrap_or_else(|| ("?".into(), paths.socket.display().to_string()));
        errln!(
            "a legate daemon already runs for the store in {} (pid {pid}, socket {socket}); \
             one store has one daemon",
            paths.data_dir.display()
        );
        return Ok(ALREADY_RUNNING);
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(serve_until_stopped(paths, config, engine))?;
    Ok(0)
}

/// Opens the store and starts the engine on it, taking what `engine` narrows it to.
async fn start_engine(
    paths: &Paths,
    config: ConfigSource,
    role: &str,
    engine: &Engine,
) -> Result<Service> {
    let opened = store::open(paths, role, engine).await?;
    let recovery = if role == "worker" {
        // Sibling workers on this machine may be alive: only lapsed leases are taken back.
        legate_store::RescueScope::Expired
    } else {
        opened.recovery
    };
    let settings = EngineSettings {
        logs_dir: paths.logs_dir.clone(),
        worktrees_dir: paths.data_dir.join("worktrees"),
        owner: opened.owner,
        lease_ttl: engine.lease_ttl,
        recovery,
        event_buffer: legate_engine::DEFAULT_EVENT_BUFFER,
        work: WorkSettings {
            agents: engine.agents.clone().map(|a| a.into_iter().collect()),
            slots: engine.slots,
            shared: opened.shared,
        },
    };
    Service::start(opened.store, config, settings)
        .await
        .map_err(|e| anyhow!("{e}"))
}

async fn serve_until_stopped(paths: &Paths, config: ConfigSource, engine: &Engine) -> Result<()> {
    let service = start_engine(paths, config, "daemon", engine).await?;
    let (listener, mut inode) = socket::listen(&paths.socket)?;
    let stop = Arc::new(Notify::new());
    let state = AppState {
        service: service.clone(),
        stop: stop.clone(),
        socket: paths.socket.display().to_string(),
    };
    info!(pid = std::process::id(), socket = %paths.socket.display(), "legate daemon ready");
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let (close, closed) = tokio::sync::watch::channel(false);
    let until_closed = move || {
        let mut closed = closed.clone();
        async move {
            let _ = closed.wait_for(|c| *c).await;
        }
    };
    let mut server = tokio::spawn(serve_until(listener, state.clone(), until_closed()));
    // Listeners made again after the socket file was removed.
    let mut again = Vec::new();
    let mut check = tokio::time::interval(socket::CHECK_EVERY);
    let mut served = false;
    loop {
        tokio::select! {
            r = &mut server => {
                r.context("the API server failed")?.context("the API server failed")?;
                served = true;
                break;
            }
            _ = stop.notified() => { info!("stop requested"); break; }
            _ = term.recv() => { info!("SIGTERM"); break; }
            _ = int.recv() => { info!("SIGINT"); break; }
            _ = check.tick() => {
                if !socket::gone(&paths.socket, inode) {
                    continue;
                }
                match socket::listen(&paths.socket) {
                    Ok((listener, ino)) => {
                        warn!(socket = %paths.socket.display(), "the socket file was removed; listening there again");
                        inode = ino;
                        again.push(tokio::spawn(serve_until(listener, state.clone(), until_closed())));
                    }
                    // Said once per inode change, not at every check.
                    Err(e) => {
                        warn!("the socket file was removed and cannot be made again: {e:#}");
                        inode = std::fs::symlink_metadata(&paths.socket).map_or(0, |m| std::os::unix::fs::MetadataExt::ino(&m));
                    }
                }
            }
        }
    }
    // New clients find no daemon (and wait for this one to exit before starting the next);
    // the waits under way are answered `shutting_down`, so their clients reconnect.
    let _ = std::fs::remove_file(&paths.socket);
    service.stopping();
    let _ = close.send(true);
    let all = async {
        if !served {
            let _ = (&mut server).await;
        }
        for s in &mut again {
            let _ = s.await;
        }
    };
    if tokio::time::timeout(ANSWER_GRACE, all).await.is_err() {
        server.abort();
        for s in &again {
            s.abort();
        }
    }
    service.shutdown().await;
    info!("legate daemon stopped");
    Ok(())
}

pub(crate) fn init_tracing() {
    let mut filter = tracing_subscriber::EnvFilter::try_from_env("LEGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // sqlx warns of a store URL's parameters it does not know with their values, which may
    // be secrets (`?sslpassword=…`): whatever the filter, that never reaches the log.
    if let Ok(quiet) = "sqlx_postgres::options::parse=error".parse() {
        filter = filter.add_directive(quiet);
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}
