//! `legate worker`: an engine without an API socket that runs tasks from a shared (Postgres)
//! store. Any number run on any number of machines; submissions reach the store through any
//! daemon, and every frontend sees the same tasks.

use anyhow::{Result, anyhow, bail};
use legate_engine::{ConfigSource, WorkSettings};
use tokio::signal::unix::{SignalKind, signal};
use tracing::info;

use crate::paths::Paths;

/// Runs a worker until SIGTERM or SIGINT; returns the exit code. Its running tasks are then
/// ended and marked interrupted (requeued by their agents' policy).
pub fn run(paths: &Paths, agents: Option<Vec<String>>, slots: Option<u32>) -> Result<i32> {
    let shared = std::env::var("LEGATE_STORE")
        .is_ok_and(|s| s.starts_with("postgres://") || s.starts_with("postgresql://"));
    if !shared {
        bail!(
            "a worker takes tasks from a shared store: set LEGATE_STORE=postgres://USER@HOST/DB (the same for every worker and daemon)"
        );
    }
    if slots == Some(0) {
        bail!("--slots 0 would never run anything: give at least 1, or leave it out");
    }
    super::init_tracing();
    let config = ConfigSource::open(Some(paths.config.clone())).map_err(|e| anyhow!("{e}"))?;
    paths.prepare_private_dirs()?;
    let work = WorkSettings {
        agents: agents.map(|a| a.into_iter().collect()),
        slots,
        shared: true,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let service = super::start_engine(paths, config, "worker", work).await?;
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
