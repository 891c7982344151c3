//! `legate worker`: an engine without an API socket that runs tasks from a shared (Postgres)
//! store. Any number run on any number of machines; submissions reach the store through any
//! daemon, and every frontend sees the same tasks.

use anyhow::{Result, anyhow, bail};
use legate_engine::ConfigSource;
use tokio::signal::unix::{SignalKind, signal};
use tracing::info;

use crate::cli::Engine;
use crate::paths::Paths;

/// Runs a worker until SIGTERM or SIGINT; returns the exit code. Its running tasks are then
/// ended and marked interrupted (requeued by their agents' policy).
pub fn run(paths: &Paths, engine: &Engine) -> Result<i32> {
    if !engine.shared_store() {
        bail!(
            "a worker takes tasks from a shared store: give --store postgres://USER@HOST/DB (or LEGATE_STORE; the same for every worker and daemon)"
        );
    }
    if engine.slots == Some(0) {
        bail!(
            "--slots 0 (LEGATE_SLOTS) would never run anything: give at least 1, or leave it out"
        );
    }
    super::init_tracing();
    let config = ConfigSource::open(Some(paths.config.clone())).map_err(|e| anyhow!("{e}"))?;
    paths.prepare_private_dirs()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let service = super::start_engine(paths, config, "worker", engine).await?;
        info!(pid = std::process::id(), "legate worker ready");
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        tokio::select! {
            _ = term.recv() => info!("SIGTERM"),
            _ = int.recv() => info!("SIGINT"),
        }
        service.shutdown().await;
        info!("legate worker stopped");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(0)
}
