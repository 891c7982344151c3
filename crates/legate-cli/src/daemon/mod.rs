//! The daemon: one per user, holding the lock, the store, the engine and the API socket.

mod lock;
mod store;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use legate_api::server::{AppState, serve};
use legate_engine::{ConfigSource, EngineSettings, Service};
use tokio::net::UnixListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Notify;
use tracing::info;

use crate::connect::ALREADY_RUNNING;
use crate::paths::Paths;

/// How long a claim lasts without a heartbeat.
const LEASE_TTL: Duration = Duration::from_secs(60);

/// Runs the daemon in the foreground until stopped; returns the exit code.
pub fn run(paths: &Paths, new_session: bool) -> Result<i32> {
    if new_session {
        // Detach from the starting terminal's session so its hangup does not reach us.
        let _ = nix::unistd::setsid();
    }
    init_tracing();
    let config = ConfigSource::open(Some(paths.config.clone())).map_err(|e| anyhow!("{e}"))?;
    paths.prepare_private_dirs()?;
    let Some(_lock) = lock::acquire(&paths.lock)? else {
        eprintln!(
            "a legate daemon is already running (socket {})",
            paths.socket.display()
        );
        return Ok(ALREADY_RUNNING);
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(serve_until_stopped(paths, config))?;
    Ok(0)
}

async fn serve_until_stopped(paths: &Paths, config: ConfigSource) -> Result<()> {
    let opened = store::open(paths).await?;
    let settings = EngineSettings {
        logs_dir: paths.logs_dir.clone(),
        owner: opened.owner,
        lease_ttl: LEASE_TTL,
        recovery: opened.recovery,
        event_buffer: legate_engine::DEFAULT_EVENT_BUFFER,
    };
    let service = Service::start(opened.store, config, settings)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    // We hold the lock, so a socket file left here belongs to a dead daemon.
    let _ = std::fs::remove_file(&paths.socket);
    let listener = UnixListener::bind(&paths.socket)
        .with_context(|| format!("cannot listen on {}", paths.socket.display()))?;
    std::fs::set_permissions(&paths.socket, std::fs::Permissions::from_mode(0o600))?;
    let stop = Arc::new(Notify::new());
    let state = AppState {
        service: service.clone(),
        stop: stop.clone(),
        socket: paths.socket.display().to_string(),
    };
    info!(pid = std::process::id(), socket = %paths.socket.display(), "legate daemon ready");
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        r = serve(listener, state) => r.context("the API server failed")?,
        _ = stop.notified() => info!("stop requested"),
        _ = term.recv() => info!("SIGTERM"),
        _ = int.recv() => info!("SIGINT"),
    }
    let _ = std::fs::remove_file(&paths.socket);
    service.shutdown().await;
    info!("legate daemon stopped");
    Ok(())
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LEGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}
