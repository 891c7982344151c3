//! Which store the daemon uses: the SQLite file under the data directory, or the Postgres
//! database named by `LEGATE_STORE` (shared with other machines' daemons).

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use legate_store::postgres::PgStore;
use legate_store::sqlite::SqliteStore;
use legate_store::{RescueScope, Store};

use crate::paths::Paths;

/// The opened store, this daemon's lease owner id, and what it takes back at start.
pub struct Opened {
    /// Whether other engines share it.
    pub shared: bool,
    /// The store.
    pub store: Arc<dyn Store>,
    /// This daemon's lease owner id.
    pub owner: String,
    /// The running tasks that belong to this daemon's dead predecessors.
    pub recovery: RescueScope,
}

/// Opens the store `LEGATE_STORE` names (`postgres://…`, with `LEGATE_STORE_SCHEMA` for a
/// schema of its own), else the SQLite file.
pub async fn open(paths: &Paths, role: &str) -> Result<Opened> {
    // Owner ids name the role, machine and user, so a daemon on a shared store can tell its
    // own predecessors' leases from other machines' and from workers'.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    let prefix = format!("{role}-{host}-{}-", nix::unistd::geteuid());
    let owner = format!(
        "{prefix}{}-{}",
        std::process::id(),
        legate_domain::TaskId::generate()
    );
    match std::env::var("LEGATE_STORE").ok().filter(|s| !s.is_empty()) {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let schema = std::env::var("LEGATE_STORE_SCHEMA")
                .ok()
                .filter(|s| !s.is_empty());
            // Each engine's connections carry its owner id as application_name, so an
            // operator (or a test) can tell them apart in pg_stat_activity.
            let store = PgStore::connect_as(&url, schema.as_deref(), &owner)
                .await
                .context("cannot open the Postgres task store named by LEGATE_STORE")?;
            Ok(Opened {
                shared: true,
                store: Arc::new(store),
                owner,
                recovery: RescueScope::OwnedByPrefix(prefix),
            })
        }
        Some(other) => bail!(
            "LEGATE_STORE={:?} is not a store legate knows: use postgres://USER@HOST/DB, or unset it for the SQLite file",
            legate_domain::redact_url(&other)
        ),
        None => {
            let store = SqliteStore::open(&paths.db)
                .await
                .with_context(|| format!("cannot open the task store {}", paths.db.display()))?;
            Ok(Opened {
                shared: false,
                store: Arc::new(store),
                recovery: RescueScope::NotOwnedBy(owner.clone()),
                owner,
            })
        }
    }
}
