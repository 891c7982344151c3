//! One write on the single writer connection, and what a failed one leaves behind.
//!
//! SQLite may roll a transaction back by itself when a statement or `COMMIT` fails with
//! `SQLITE_FULL` or `SQLITE_IOERR` ("an automatic rollback might occur", sqlite.org/lang_transaction.html),
//! or may keep it open; sqlx cannot tell which, and a connection whose idea of the transaction
//! differs from SQLite's stays broken: every later `BEGIN`, `PRAGMA` or `COMMIT` fails, or
//! worse, a nested savepoint "commits" into an outer transaction that never does. So a write
//! that fails in the database, or is abandoned half way (its future dropped), never hands its
//! connection back: it is closed (closing rolls back whatever was open) and the pool opens a
//! fresh one for the next write. Errors are rare; a reconnect costs a file open.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::Ordering;

use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqliteConnection};

use super::SqliteStore;
use crate::{StoreError, StoreErrorKind};

/// The writer connection lent to one write. Deref to the connection.
pub(super) struct Writing<'s> {
    pub(super) conn: PoolConnection<Sqlite>,
    pub(super) store: &'s SqliteStore,
    /// Set by [`Writing::done`] when the write ended without a database error.
    pub(super) clean: bool,
}

impl Writing<'_> {
    /// Ends the write with its result: the connection goes back to the pool unless the
    /// database failed, when it is closed (see the module docs). Returns `res` unchanged.
    pub(super) fn done<T>(mut self, res: Result<T, StoreError>) -> Result<T, StoreError> {
        self.clean = !matches!(res, Err(StoreError::Database(_)));
        match res {
            Err(e) if e.kind() == StoreErrorKind::Damaged => Err(self.store.mark_damaged(e)),
            res => res,
        }
    }
}

impl Deref for Writing<'_> {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.conn
    }
}

impl DerefMut for Writing<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.conn
    }
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        if !self.clean {
            self.conn.close_on_drop();
            // The next connection opens with the options' `synchronous = FULL`.
            self.store.sync_full.store(true, Ordering::Relaxed);
        }
    }
}
