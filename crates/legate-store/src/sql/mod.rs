//! The statements both backends run alike, written once.
//!
//! Every statement here uses numbered placeholders (`$1`, `$2`…), which Postgres reads and
//! sqlx's SQLite driver binds by number too, and SQL both dialects share; the few expressions
//! that differ (JSON in text columns) come from [`Sql::dialect`]. A statement runs on anything
//! that is [`Sql`]: a SQLite or a Postgres connection, or a transaction on one (`&mut *tx`).
//! What truly differs stays with its backend: claiming, rescue's selection, notifications,
//! connections and transactions, migrations.

mod engines;
mod events;
mod inbox;
mod lifecycle;
mod prune;
mod rescue;
mod tasks;

pub(crate) use engines::{cursor, hold_role, output, put_output, release_role, set_cursor};
pub(crate) use events::{append, events_after, last_seq};
pub(crate) use inbox::{ack, orphans, unread};
pub(crate) use lifecycle::{
    cancel_queued, finish, finished_event, heartbeat, record_event, record_process, request_cancel,
};
pub(crate) use prune::{prune_candidates, remove};
pub(crate) use rescue::rescue;
pub(crate) use tasks::{counts, get, ids_with_prefix, insert, list, patch_metadata};

use async_trait::async_trait;
use legate_domain::{Event, EventKind, Task, TaskId};
use sqlx::{PgConnection, SqliteConnection};

use crate::StoreError;
use crate::rows::{built, event_from_row, task_from_row};

/// One value bound to a placeholder.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'a> {
    /// Text, or NULL.
    Text(Option<&'a str>),
    /// A 64-bit integer, or NULL.
    Int(Option<i64>),
    /// Bytes (a BLOB in SQLite, `bytea` in Postgres).
    Bytes(&'a [u8]),
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(Some(v))
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(Some(v))
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Arg::Text(v)
    }
}

impl<'a> From<&'a Option<String>> for Arg<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Arg::Text(v.as_deref())
    }
}

impl<'a> From<&'a TaskId> for Arg<'a> {
    fn from(v: &'a TaskId) -> Self {
        Arg::Text(Some(v.as_str()))
    }
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}

impl<'a> From<&'a [u8]> for Arg<'a> {
    fn from(v: &'a [u8]) -> Self {
        Arg::Bytes(v)
    }
}

/// The arguments of a statement, in placeholder order: `args![a, b]` is `[Arg::from(a), …]`.
macro_rules! args {
    ($($a:expr),* $(,)?) => { [$($crate::sql::Arg::from($a)),*] };
}
pub(crate) use args;

/// Which SQL a backend speaks where the two differ: the JSON held in text columns, and
/// row locks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// SQLite's JSON functions.
    Sqlite,
    /// Postgres' `jsonb`.
    Postgres,
}

impl Dialect {
    /// A condition: the JSON array of strings in `column` holds the text bound to `mark`.
    pub(crate) fn array_holds(self, column: &str, mark: &str) -> String {
        match self {
            Dialect::Sqlite => {
                format!("EXISTS (SELECT 1 FROM json_each({column}) WHERE value = {mark})")
            }
            Dialect::Postgres => format!("{column}::jsonb @> jsonb_build_array({mark}::text)"),
        }
    }

    /// An expression: the text at `path` in the JSON object in `column` (NULL when absent);
    /// `path` is a key, or keys joined by dots for nested objects (`worktree.state`).
    pub(crate) fn field(self, column: &str, path: &str) -> String {
        match self {
            Dialect::Sqlite => format!("json_extract({column}, '$.{path}')"),
            Dialect::Postgres => {
                format!("({column}::jsonb)#>>'{{{}}}'", path.replace('.', ","))
            }
        }
    }

    /// What a `SELECT` of rows about to change adds so that rows another transaction has
    /// locked are skipped rather than waited for (Postgres); SQLite has one writer anyway.
    pub(crate) fn skip_locked(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// An expression: the JSON object in `column` with the fields of the object bound to
    /// `mark` put in.
    pub(crate) fn merged(self, column: &str, mark: &str) -> String {
        match self {
            Dialect::Sqlite => format!("json_patch({column}, {mark})"),
            Dialect::Postgres => format!("({column}::jsonb || {mark}::jsonb)::text"),
        }
    }
}

/// Numbered placeholders (`$1`, `$2`…) for SQL built piece by piece.
#[derive(Default)]
pub(crate) struct Marks(usize);

impl Marks {
    /// The next placeholder.
    pub(crate) fn next(&mut self) -> String {
        self.0 += 1;
        format!("${}", self.0)
    }

    /// `n` placeholders, comma-separated.
    pub(crate) fn list(&mut self, n: usize) -> String {
        (0..n).map(|_| self.next()).collect::<Vec<_>>().join(", ")
    }
}

/// A connection of either backend, running one statement with its arguments and decoding what
/// it returns. `sql` is assembled only from constant fragments and placeholders; values are
/// always bound, never formatted in.
#[async_trait]
pub(crate) trait Sql: Send {
    /// Which SQL this backend speaks where the two differ.
    fn dialect(&self) -> Dialect;
    /// Runs a statement; the number of rows it changed.
    async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError>;
    /// The tasks a statement returns, each row selected with `rows::COLUMNS` (and `prompt`
    /// when `with_prompt`).
    async fn tasks(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        with_prompt: bool,
    ) -> Result<Vec<Task>, StoreError>;
    /// The events a statement returns (`seq, task_id, kind, at, data, origin, labels`).
    async fn events(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Event>, StoreError>;
    /// The first column of every row, as text.
    async fn texts(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<String>, StoreError>;
    /// The first column of every row, as a 64-bit integer (NULL as `None`).
    async fn ints(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Option<i64>>, StoreError>;
    /// Rows of a text and a 64-bit integer.
    async fn text_ints(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Vec<(String, i64)>, StoreError>;
    /// Rows of two 64-bit integers and bytes.
    async fn int_int_bytes(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Vec<(i64, i64, Vec<u8>)>, StoreError>;
    /// Tells every engine listening that an event of `kind` commits with this transaction
    /// (Postgres `NOTIFY`; nothing on SQLite, where one process holds the store).
    async fn announce(&mut self, kind: EventKind) -> Result<(), StoreError>;
}

/// Implements [`Sql`] for a backend's connection type; the bodies are the same, the types of
/// the query and its arguments differ.
macro_rules! connection {
    ($conn:ty, $db:ty, $dialect:expr, |$c:ident, $kind:ident| $announce:expr) => {
        #[async_trait]
        impl Sql for $conn {
            fn dialect(&self) -> Dialect {
                $dialect
            }

            async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
                let q = bind::<$db>(sqlx::query(built(sql.to_owned())), args);
                Ok(q.execute(&mut *self).await?.rows_affected())
            }

            async fn tasks(
                &mut self,
                sql: &str,
                args: &[Arg<'_>],
                with_prompt: bool,
            ) -> Result<Vec<Task>, StoreError> {
                let q = bind::<$db>(sqlx::query(built(sql.to_owned())), args);
                let rows = q.fetch_all(&mut *self).await?;
                rows.iter().map(|r| task_from_row(r, with_prompt)).collect()
            }

            async fn events(
                &mut self,
                sql: &str,
                args: &[Arg<'_>],
            ) -> Result<Vec<Event>, StoreError> {
                let q = bind::<$db>(sqlx::query(built(sql.to_owned())), args);
                let rows = q.fetch_all(&mut *self).await?;
                rows.iter().map(event_from_row).collect()
            }

            async fn texts(
                &mut self,
                sql: &str,
                args: &[Arg<'_>],
            ) -> Result<Vec<String>, StoreError> {
                let q = bind::<$db>(sqlx::query(built(sql.to_owned())), args);
                let rows = q.fetch_all(&mut *self).await?;
                Ok(rows
                    .iter()
                    .map(|r| sqlx::Row::try_get(r, 0))
                    .collect::<Result<_, _>>()?)
            }

            async fn ints(
                &mut self,
                sql: &str,
                args: &[Arg<'_>],
            ) -> Result<Vec<Option<i64>>, StoreError> {
                let q = bind::<$db>(sqlx::query(built(sql.to_owned())), args);
                let rows = q.fetch_all(&mut *self).await?;
                Ok(rows
                    .iter()
                    .map(|r| sqlx::Row::try_get(r, 0))
                    .collect::<Result<_, _>>()?)
            }

            async fn text_ints(
                &mut self,
                sql: &str,
                args: &[Arg<'_>],
            ) -> Result<Vec<(String, i64)>, StoreError> {
                let q = bind::<$db>(sqlx::query(built(sql.to_owned())), args);
                let rows = q.fetch_all(&mut *self).await?;
                Ok(rows
                    .iter()
                    .map(|r| Ok((sqlx::Row::try_get(r, 0)?, sqlx::Row::try_get(r, 1)?)))
                    .collect::<Result<_, sqlx::Error>>()?)
            }

            async fn int_int_bytes(
                &mut self,
                sql: &str,
                args: &[Arg<'_>],
            ) -> Result<Vec<(i64, i64, Vec<u8>)>, StoreError> {
                let q = bind::<$db>(sqlx::query(built(sql.to_owned())), args);
                let rows = q.fetch_all(&mut *self).await?;
                Ok(rows
                    .iter()
                    .map(|r| {
                        Ok((
                            sqlx::Row::try_get(r, 0)?,
                            sqlx::Row::try_get(r, 1)?,
                            sqlx::Row::try_get(r, 2)?,
                        ))
                    })
                    .collect::<Result<_, sqlx::Error>>()?)
            }

            async fn announce(&mut self, $kind: EventKind) -> Result<(), StoreError> {
                let $c = self;
                $announce
            }
        }
    };
}

connection!(
    SqliteConnection,
    sqlx::Sqlite,
    Dialect::Sqlite,
    |_conn, _kind| Ok(())
);

connection!(
    PgConnection,
    sqlx::Postgres,
    Dialect::Postgres,
    |conn, kind| {
        // Delivered at commit, to every engine listening (see `PgStore::changes`).
        sqlx::query("SELECT pg_notify(current_setting('legate.channel', true), $1)")
            .bind(kind.as_str())
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
);

/// Binds `args` to `q` in order.
fn bind<'q, DB>(
    mut q: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>,
    args: &[Arg<'q>],
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>
where
    DB: sqlx::Database,
    Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q [u8]: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for a in args {
        q = match *a {
            Arg::Text(v) => q.bind(v),
            Arg::Int(v) => q.bind(v),
            Arg::Bytes(v) => q.bind(v),
        };
    }
    q
}
