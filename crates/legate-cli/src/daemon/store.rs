//! Which store the daemon uses: the SQLite file under the data directory, or the Postgres
//! database named by `--store` / `LEGATE_STORE` (shared with other machines' daemons).

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use legate_store::postgres::PgStore;
use legate_store::sqlite::SqliteStore;
use legate_store::{RescueScope, Store, StoreError};

use crate::cli::Engine;
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

/// Opens the store `engine` names (`postgres://…`, with a schema of its own when it gives
/// one), else the SQLite file.
pub async fn open(paths: &Paths, role: &str, engine: &Engine) -> Result<Opened> {
    // Owner ids name the role, machine, user and data directory, so a daemon on a shared
    // store can tell its own predecessors' leases (one data directory has one daemon: its
    // lock) from other machines', other homes' and workers'.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    let home = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        paths.data_dir.hash(&mut h);
        h.finish() as u32
    };
    let prefix = format!("{role}-{host}-{}-{home:08x}-", nix::unistd::geteuid());
    let owner = format!(
        "{prefix}{}-{}",
        std::process::id(),
        legate_domain::TaskId::generate()
    );
    match engine.store.as_deref() {
        Some(url) => {
            // Each engine's connections carry its owner id as application_name, so an
            // operator (or a test) can tell them apart in pg_stat_activity.
            let store = PgStore::connect_as(url, engine.store_schema.as_deref(), &owner)
                .await
                .context(
                    "cannot open the Postgres task store named by --store (or LEGATE_STORE)",
                )?;
            Ok(Opened {
                shared: true,
                store: Arc::new(store),
                owner,
                recovery: RescueScope::OwnedByPrefix(prefix),
            })
        }
        None => {
            refuse_lost_store(paths)?;
            let store = SqliteStore::open(&paths.db).await.map_err(|e| match e {
                StoreError::Damaged { path, detail } => anyhow::anyhow!(
                    "the task store {p} is damaged: {detail}\n\
                     legate will not write to it. Restore it from a backup, or move its directory \
                     aside (with its -wal and -shm files) to start with an empty store:\n    \
                     mv {data} {data}.damaged && mv {logs} {logs}.old",
                    p = path.display(),
                    data = paths.data_dir.display(),
                    logs = paths.logs_dir.display(),
                ),
                other => anyhow::Error::new(other)
                    .context(format!("cannot open the task store {}", paths.db.display())),
            })?;
            Ok(Opened {
                shared: false,
                store: Arc::new(store),
                recovery: RescueScope::NotOwnedBy(owner.clone()),
                owner,
            })
        }
    }
}

/// Refuses to start on an empty or missing database while task logs remain: the store was
/// deleted or emptied (and would otherwise silently start again from nothing, every task and
/// result gone from `ls`). Moving the logs aside says "start empty" on purpose.
fn refuse_lost_store(paths: &Paths) -> Result<()> {
    let size = std::fs::metadata(&paths.db).map(|m| m.len()).ok();
    if size.is_some_and(|s| s > 0) {
        return Ok(());
    }
    let logs = std::fs::read_dir(&paths.logs_dir)
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .count()
        })
        .unwrap_or(0);
    if logs == 0 {
        return Ok(());
    }
    let state = match size {
        Some(_) => "is empty (0 bytes)",
        None => "is missing",
    };
    bail!(
        "the task store {db} {state}, but {logs} task log directories remain in {dir}: \
         the database was deleted or emptied, and every task and result in it is gone.\n\
         Restore {db} from a backup; or, to start with an empty store on purpose, move the old \
         logs aside first:\n    mv {dir} {dir}.old",
        db = paths.db.display(),
        dir = paths.logs_dir.display(),
    )
}
