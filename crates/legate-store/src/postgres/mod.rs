//! The Postgres backend: the shared engine when work spans machines. Every worker claims from
//! the same tables; a claim holds a transaction-scoped advisory lock, so the caps hold across
//! all of them, and skips rows other transactions have locked.

mod batch;
mod claim;
mod listen;

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use legate_domain::id::IdPrefix;
use legate_domain::{
    Event, EventFilter, EventKind, NewTask, Outcome, ProcessInfo, Status, Task, TaskId, Timestamp,
};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, Executor, PgPool};

use crate::sql;
use crate::{
    ClaimRequest, Claimed, Inserted, Lease, OutputTail, PruneCandidates, Pruned, RescueScope,
    Rescued, Store, StoreError, TaskFilter,
};

/// The longest schema name: `legate_changes_` and it make a 63-byte channel name.
pub const SCHEMA_MAX: usize = 63 - "legate_changes_".len();

/// The Postgres store.
pub struct PgStore {
    pool: PgPool,
    describe: String,
    /// Where event commits are announced (`LISTEN`).
    channel: String,
    /// The group-committing writer of process records, stored output and finishes.
    writer: tokio::sync::mpsc::UnboundedSender<batch::Write>,
}

impl PgStore {
    /// Connects to `url` and brings the schema up to date. With `schema`, legate's tables live
    /// in that schema (created if needed) — one database can then hold several installations,
    /// or one test run each.
    pub async fn connect(url: &str, schema: Option<&str>) -> Result<Self, StoreError> {
        Self::connect_as(url, schema, "legate").await
    }

    /// Why `name` cannot be a schema of legate's, or `None`: lowercase ASCII letters, digits
    /// and `_`, not starting with a digit, at most [`SCHEMA_MAX`] bytes — so it is the same
    /// name unquoted or quoted (Postgres folds unquoted names to lowercase) and its
    /// notification channel `legate_changes_NAME` fits Postgres' 63-byte identifiers.
    pub fn schema_problem(name: &str) -> Option<String> {
        let fits = name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if name.is_empty() || !fits || name.starts_with(|c: char| c.is_ascii_digit()) {
            return Some(format!(
                "'{name}' is not a schema name legate uses: lowercase letters, digits and '_', not starting with a digit"
            ));
        }
        (name.len() > SCHEMA_MAX).then(|| {
            format!(
                "'{name}' is {} bytes long: a schema name has at most {SCHEMA_MAX} (its notification channel must fit Postgres' 63)",
                name.len()
            )
        })
    }

    /// Like [`PgStore::connect`], with `name` as the connections' `application_name`.
    pub async fn connect_as(
        url: &str,
        schema: Option<&str>,
        name: &str,
    ) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url.parse()?;
        let options = options.application_name(name);
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10));
        if let Some(schema) = schema {
            if let Some(problem) = Self::schema_problem(schema) {
                return Err(StoreError::Corrupt(problem));
            }
            let mut conn = sqlx::PgConnection::connect_with(&options).await?;
            let created = conn
                .execute(crate::rows::built(format!(
                    "CREATE SCHEMA IF NOT EXISTS \"{schema}\""
                )))
                .await;
            match created {
                Ok(_) => {}
                // Two engines starting at once both try to create it; one wins, which is
                // all that was wanted.
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23505") => {}
                Err(e) => return Err(e.into()),
            }
            conn.close().await?;
        }
        // Each installation (schema) has its own notification channel.
        let channel = format!("legate_changes_{}", schema.unwrap_or("public"));
        let mut setup = format!("SET legate.channel TO '{channel}'");
        if let Some(schema) = schema {
            setup.push_str(&format!("; SET search_path TO \"{schema}\""));
        }
        let pool = pool.after_connect(move |conn, _| {
            let setup = setup.clone();
            Box::pin(async move {
                conn.execute(crate::rows::built(setup)).await?;
                Ok(())
            })
        });
        let pool = pool.connect_with(options).await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        let describe = format!(
            "postgres:{}{}",
            legate_domain::redact_url(url),
            schema.map(|s| format!(" (schema {s})")).unwrap_or_default()
        );
        Ok(PgStore {
            writer: batch::spawn(pool.clone()),
            pool,
            describe,
            channel,
        })
    }

    /// Hands a write to the group-committing writer and waits for its answer.
    async fn write<T>(
        &self,
        write: batch::Write,
        answer: tokio::sync::oneshot::Receiver<Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let closed = || StoreError::Database(sqlx::Error::PoolClosed);
        self.writer.send(write).map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Runs `f` in one transaction and commits it.
macro_rules! in_tx {
    ($self:ident, |$tx:ident| $body:expr) => {{
        let mut $tx = $self.pool.begin().await?;
        let out = $body;
        $tx.commit().await?;
        Ok(out)
    }};
}

#[async_trait]
impl Store for PgStore {
    async fn insert(&self, new: NewTask) -> Result<Inserted, StoreError> {
        in_tx!(self, |tx| sql::insert(&mut *tx, new).await?)
    }

    async fn insert_batch(&self, new: Vec<NewTask>) -> Result<Vec<Inserted>, StoreError> {
        in_tx!(self, |tx| {
            let mut out = Vec::with_capacity(new.len());
            for n in new {
                out.push(sql::insert(&mut *tx, n).await?);
            }
            out
        })
    }

    async fn get(&self, id: &TaskId, with_prompt: bool) -> Result<Option<Task>, StoreError> {
        sql::get(&mut *self.pool.acquire().await?, id, with_prompt).await
    }

    async fn patch_metadata(
        &self,
        id: &TaskId,
        patch: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Option<Task>, StoreError> {
        sql::patch_metadata(&mut *self.pool.acquire().await?, id, patch).await
    }

    async fn ids_with_prefix(
        &self,
        prefix: &IdPrefix,
        max: u32,
    ) -> Result<Vec<TaskId>, StoreError> {
        sql::ids_with_prefix(&mut *self.pool.acquire().await?, prefix, max).await
    }

    async fn list(&self, filter: &TaskFilter) -> Result<Vec<Task>, StoreError> {
        sql::list(&mut *self.pool.acquire().await?, filter).await
    }

    async fn counts(&self) -> Result<Vec<(Status, u64)>, StoreError> {
        sql::counts(&mut *self.pool.acquire().await?).await
    }

    async fn claim(&self, req: &ClaimRequest) -> Result<Vec<Claimed>, StoreError> {
        in_tx!(self, |tx| claim::claim(&mut tx, req).await?)
    }

    async fn record_process(&self, lease: &Lease, process: ProcessInfo) -> Result<(), StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.write(batch::Write::Process(lease.clone(), process, tx), rx)
            .await
    }

    async fn heartbeat(&self, owner: &str, ttl: Duration) -> Result<u64, StoreError> {
        sql::heartbeat(&mut *self.pool.acquire().await?, owner, ttl).await
    }

    async fn finish(&self, lease: &Lease, outcome: Outcome) -> Result<(Task, Event), StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.write(batch::Write::Finish(lease.clone(), outcome, tx), rx)
            .await
    }

    async fn cancel_queued(&self, id: &TaskId) -> Result<Option<(Task, Event)>, StoreError> {
        in_tx!(self, |tx| sql::cancel_queued(&mut *tx, id).await?)
    }

    async fn request_cancel(&self, id: &TaskId) -> Result<Option<Event>, StoreError> {
        in_tx!(self, |tx| sql::request_cancel(&mut *tx, id).await?)
    }

    async fn rescue(
        &self,
        scope: &RescueScope,
        requeue: &BTreeSet<String>,
        reason: &str,
    ) -> Result<Vec<Rescued>, StoreError> {
        in_tx!(self, |tx| sql::rescue(&mut *tx, scope, requeue, reason)
            .await?)
    }

    async fn record_event(
        &self,
        lease: &Lease,
        kind: EventKind,
        data: serde_json::Value,
    ) -> Result<Event, StoreError> {
        in_tx!(self, |tx| sql::record_event(&mut *tx, lease, kind, data)
            .await?)
    }

    async fn events_after(
        &self,
        after: i64,
        limit: u32,
        filter: &EventFilter,
    ) -> Result<Vec<Event>, StoreError> {
        sql::events_after(&mut *self.pool.acquire().await?, after, limit, filter).await
    }

    async fn last_seq(&self) -> Result<i64, StoreError> {
        sql::last_seq(&mut *self.pool.acquire().await?).await
    }

    async fn inbox(&self, origin: &str, limit: u32) -> Result<Vec<Task>, StoreError> {
        sql::unread(&mut *self.pool.acquire().await?, origin, limit).await
    }

    async fn ack(&self, origin: &str, ids: Option<&[TaskId]>) -> Result<Vec<TaskId>, StoreError> {
        in_tx!(self, |tx| sql::ack(&mut *tx, origin, ids).await?)
    }

    async fn take_inbox(&self, origin: &str, limit: u32) -> Result<Vec<Task>, StoreError> {
        in_tx!(self, |tx| {
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
        sql::orphans(&mut *self.pool.acquire().await?, scope, before, limit).await
    }

    async fn prune_candidates(
        &self,
        before: Option<Timestamp>,
        unacked: bool,
    ) -> Result<PruneCandidates, StoreError> {
        sql::prune_candidates(&mut *self.pool.acquire().await?, before, unacked).await
    }

    async fn remove(&self, ids: &[TaskId], unacked: bool) -> Result<Pruned, StoreError> {
        in_tx!(self, |tx| sql::remove(&mut *tx, ids, unacked).await?)
    }

    async fn cursor(&self, name: &str) -> Result<i64, StoreError> {
        sql::cursor(&mut *self.pool.acquire().await?, name).await
    }

    async fn set_cursor(&self, name: &str, seq: i64) -> Result<(), StoreError> {
        sql::set_cursor(&mut *self.pool.acquire().await?, name, seq).await
    }

    async fn put_output(&self, lease: &Lease, total: u64, tail: &[u8]) -> Result<(), StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.write(
            batch::Write::Output(lease.clone(), total, tail.to_vec(), tx),
            rx,
        )
        .await
    }

    async fn output(&self, id: &TaskId) -> Result<Option<OutputTail>, StoreError> {
        sql::output(&mut *self.pool.acquire().await?, id).await
    }

    async fn hold_role(&self, role: &str, owner: &str, ttl: Duration) -> Result<bool, StoreError> {
        sql::hold_role(&mut *self.pool.acquire().await?, role, owner, ttl).await
    }

    async fn release_role(&self, role: &str, owner: &str) -> Result<(), StoreError> {
        sql::release_role(&mut *self.pool.acquire().await?, role, owner).await
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }

    async fn changes(
        &self,
    ) -> Result<Option<tokio::sync::mpsc::UnboundedReceiver<crate::Change>>, StoreError> {
        Ok(Some(listen::changes(&self.pool, &self.channel).await?))
    }
}
