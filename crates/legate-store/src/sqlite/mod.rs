//! The embedded SQLite backend: one file, WAL, one writer connection and a few readers.
//!
//! Durability: accepting a task commits with `synchronous = FULL`, so every task id handed out
//! is on disk before the call returns (see `SqliteStore::writer` for the other writes). One writer connection serialises
//! writes inside the process (SQLite allows one writer anyway), which also makes each claim's
//! cap check atomic; readers never block it thanks to WAL.

mod claim;
mod health;
mod writing;

use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use legate_domain::id::IdPrefix;
use legate_domain::{
    Event, EventFilter, EventKind, NewTask, Outcome, ProcessInfo, Status, Task, TaskId, Timestamp,
};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, SqlitePool};

use self::writing::Writing;
use crate::sql;
use crate::{
    ClaimRequest, Claimed, Inserted, Lease, OutputTail, PruneCandidates, Pruned, RescueScope,
    Rescued, Store, StoreError, TaskFilter,
};

/// How long a statement waits for a lock held by another process before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs `$body` (which may use `?` and yields the result) in a transaction on the writer
/// connection set for `$durable` (see `SqliteStore::writer`), and commits it; the result goes
/// through `Writing::done`, so a failed write never leaves the connection inside a transaction.
macro_rules! in_transaction {
    ($store:expr, $durable:expr, |$tx:ident| $body:block) => {{
        let mut w = $store.writer($durable).await?;
        let res: Result<_, StoreError> = async {
            let mut $tx = w.begin().await?;
            let out = $body;
            $tx.commit().await?;
            Ok(out)
        }
        .await;
        w.done(res)
    }};
}

/// The SQLite store.
pub struct SqliteStore {
    path: PathBuf,
    writer: SqlitePool,
    reader: SqlitePool,
    /// Whether the writer connection is at `synchronous = FULL` right now.
    sync_full: AtomicBool,
    /// Set when a statement found the file damaged: every later write is refused with it.
    damaged: std::sync::Mutex<Option<String>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, checks it (`PRAGMA quick_check`)
    /// and brings its schema up to date. The file is created 0600 whatever the umask, and made
    /// 0600 if it was more open, with its `-wal` and `-shm` files (SQLite gives those the
    /// database file's mode when it creates them).
    ///
    /// Errors: [`StoreError::Damaged`] when the file is not a database or fails the check —
    /// nothing is written to it then; [`StoreError::Database`] when it cannot be opened.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        make_private(path).map_err(sqlx::Error::Io)?;
        let base = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT);
        health::check(path).await?;
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(base.clone().create_if_missing(true))
            .await
            .map_err(|e| health::damaged_or(path, e.into()))?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&writer)
            .await
            .map_err(|e| health::damaged_or(path, e.into()))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(0)
            .idle_timeout(Some(Duration::from_secs(60)))
            .connect_with(base)
            .await?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            writer,
            reader,
            sync_full: AtomicBool::new(true),
            damaged: std::sync::Mutex::new(None),
        })
    }

    /// The writer connection, set for the kind of write to come (`None`: either will do, as for
    /// claims, which recovery redoes anyway). `Some(true)` transactions (accepting a task) commit with
    /// `synchronous = FULL`: the WAL is fsynced before the id is returned. The others (claims,
    /// process records, finishes, cancels) use `NORMAL`: they survive a crash of the daemon
    /// (the OS has the pages) and reach the disk with the next fsync — which every later FULL
    /// commit or checkpoint performs, since the WAL is written in order. A power cut can undo
    /// the last few of them; recovery then treats those tasks as running or queued again.
    /// `Some(false)` is that cheaper mode.
    ///
    /// The write's result must go through [`Writing::done`]: a database error (disk full, I/O,
    /// busy, a failed `COMMIT`) or a write abandoned half way closes the connection, so the
    /// next write starts on a fresh one instead of inside a transaction that never ends.
    async fn writer(&self, durable: Option<bool>) -> Result<Writing<'_>, StoreError> {
        self.refuse_if_damaged()?;
        let mut w = Writing {
            conn: self.writer.acquire().await?,
            store: self,
            clean: false,
        };
        if let Some(durable) = durable
            && self.sync_full.load(Ordering::Relaxed) != durable
        {
            let pragma = if durable {
                "PRAGMA synchronous = FULL"
            } else {
                "PRAGMA synchronous = NORMAL"
            };
            sqlx::query(pragma).execute(&mut *w.conn).await?;
            self.sync_full.store(durable, Ordering::Relaxed);
        }
        Ok(w)
    }

    /// Closes the pools, waiting for statements under way.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// Creates the database file 0600 if missing; takes group and other bits off it and off its
/// `-wal` and `-shm` files.
fn make_private(path: &Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        if let Ok(meta) = std::fs::metadata(&p)
            && meta.mode() & 0o077 != 0
        {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn insert(&self, new: NewTask) -> Result<Inserted, StoreError> {
        in_transaction!(self, Some(true), |tx| { sql::insert(&mut *tx, new).await? })
    }

    async fn insert_batch(&self, new: Vec<NewTask>) -> Result<Vec<Inserted>, StoreError> {
        in_transaction!(self, Some(true), |tx| {
            let mut out = Vec::with_capacity(new.len());
            for n in new {
                out.push(sql::insert(&mut *tx, n).await?);
            }
            out
        })
    }

    async fn get(&self, id: &TaskId, with_prompt: bool) -> Result<Option<Task>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        sql::get(&mut *conn, id, with_prompt).await
    }

    async fn patch_metadata(
        &self,
        id: &TaskId,
        patch: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Option<Task>, StoreError> {
        let mut w = self.writer(Some(false)).await?;
        let res = sql::patch_metadata(&mut *w, id, patch).await;
        w.done(res)
    }

    async fn ids_with_prefix(
        &self,
        prefix: &IdPrefix,
        max: u32,
    ) -> Result<Vec<TaskId>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        sql::ids_with_prefix(&mut *conn, prefix, max).await
    }

    async fn list(&self, filter: &TaskFilter) -> Result<Vec<Task>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        sql::list(&mut *conn, filter).await
    }

    async fn counts(&self) -> Result<Vec<(Status, u64)>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        sql::counts(&mut *conn).await
    }

    async fn claim(&self, req: &ClaimRequest) -> Result<Vec<Claimed>, StoreError> {
        in_transaction!(self, None, |tx| { claim::claim(&mut tx, req).await? })
    }

    async fn record_process(&self, lease: &Lease, process: ProcessInfo) -> Result<(), StoreError> {
        // One statement: it commits by itself, no explicit transaction needed.
        let mut w = self.writer(Some(false)).await?;
        let res = sql::record_process(&mut *w, lease, process).await;
        w.done(res)
    }

    async fn heartbeat(&self, owner: &str, ttl: Duration) -> Result<u64, StoreError> {
        let mut w = self.writer(Some(false)).await?;
        let res = sql::heartbeat(&mut *w, owner, ttl).await;
        w.done(res)
    }

    async fn finish(&self, lease: &Lease, outcome: Outcome) -> Result<(Task, Event), StoreError> {
        in_transaction!(self, Some(false), |tx| {
            sql::finish(&mut *tx, lease, outcome).await?
        })
    }

    async fn cancel_queued(&self, id: &TaskId) -> Result<Option<(Task, Event)>, StoreError> {
        in_transaction!(self, Some(false), |tx| {
            sql::cancel_queued(&mut *tx, id).await?
        })
    }

    async fn request_cancel(&self, id: &TaskId) -> Result<Option<Event>, StoreError> {
        in_transaction!(self, Some(false), |tx| {
            sql::request_cancel(&mut *tx, id).await?
        })
    }

    async fn rescue(
        &self,
        scope: &RescueScope,
        requeue: &BTreeSet<String>,
        reason: &str,
    ) -> Result<Vec<Rescued>, StoreError> {
        in_transaction!(self, Some(false), |tx| {
            sql::rescue(&mut *tx, scope, requeue, reason).await?
        })
    }

    async fn record_event(
        &self,
        lease: &Lease,
        kind: EventKind,
        data: serde_json::Value,
    ) -> Result<Event, StoreError> {
        in_transaction!(self, Some(false), |tx| {
            sql::record_event(&mut *tx, lease, kind, data).await?
        })
    }

    async fn events_after(
        &self,
        after: i64,
        limit: u32,
        filter: &EventFilter,
    ) -> Result<Vec<Event>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        sql::events_after(&mut *conn, after, limit, filter).await
    }

    async fn last_seq(&self) -> Result<i64, StoreError> {
        sql::last_seq(&mut *self.reader.acquire().await?).await
    }

    async fn inbox(&self, origin: &str, limit: u32) -> Result<Vec<Task>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        sql::unread(&mut *conn, origin, limit).await
    }

    async fn ack(&self, origin: &str, ids: Option<&[TaskId]>) -> Result<Vec<TaskId>, StoreError> {
        in_transaction!(self, Some(false), |tx| {
            sql::ack(&mut *tx, origin, ids).await?
        })
    }

    async fn take_inbox(&self, origin: &str, limit: u32) -> Result<Vec<Task>, StoreError> {
        in_transaction!(self, Some(false), |tx| {
            let tasks = sql::unread(&mut *tx, origin, limit).await?;
            let ids: Vec<TaskId> = tasks.iter().map(|t| t.id.clone()).collect();
            sql::ack(&mut *tx, origin, Some(&ids)).await?;
            tasks
        })
    }

    async fn orphans(
        &self,
        scope: Option<&str>,
        before: Timestamp,
        limit: u32,
    ) -> Result<Vec<Task>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        sql::orphans(&mut *conn, scope, before, limit).await
    }

    async fn prune_candidates(
        &self,
        before: Option<Timestamp>,
        unacked: bool,
    ) -> Result<PruneCandidates, StoreError> {
        let mut conn = self.reader.acquire().await?;
        sql::prune_candidates(&mut *conn, before, unacked).await
    }

    async fn remove(&self, ids: &[TaskId], unacked: bool) -> Result<Pruned, StoreError> {
        in_transaction!(self, Some(false), |tx| {
            sql::remove(&mut *tx, ids, unacked).await?
        })
    }

    async fn cursor(&self, name: &str) -> Result<i64, StoreError> {
        let mut conn = self.reader.acquire().await?;
        sql::cursor(&mut *conn, name).await
    }

    async fn set_cursor(&self, name: &str, seq: i64) -> Result<(), StoreError> {
        let mut w = self.writer(Some(false)).await?;
        let res = sql::set_cursor(&mut *w, name, seq).await;
        w.done(res)
    }

    async fn put_output(&self, lease: &Lease, total: u64, tail: &[u8]) -> Result<(), StoreError> {
        let mut w = self.writer(Some(false)).await?;
        let res = sql::put_output(&mut *w, lease, total, tail).await;
        w.done(res)
    }

    async fn output(&self, id: &TaskId) -> Result<Option<OutputTail>, StoreError> {
        sql::output(&mut *self.reader.acquire().await?, id).await
    }

    async fn hold_role(&self, role: &str, owner: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut w = self.writer(Some(false)).await?;
        let res = sql::hold_role(&mut *w, role, owner, ttl).await;
        w.done(res)
    }

    async fn release_role(&self, role: &str, owner: &str) -> Result<(), StoreError> {
        let mut w = self.writer(Some(false)).await?;
        let res = sql::release_role(&mut *w, role, owner).await;
        w.done(res)
    }

    fn describe(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }
}
