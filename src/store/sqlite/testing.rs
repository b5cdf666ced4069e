//! A hook for tests that need the database to refuse writes for a while.

use std::path::Path;

use rusqlite::Connection;

use super::Context;
use crate::store::Result;

/// Holds the database's write lock from a connection of its own, as another process could:
/// while it is held, the writer's batches wait `busy_timeout` and then fail to commit.
/// Released by [`WriteLock::release`] or on drop.
pub struct WriteLock {
    conn: Connection,
}

impl WriteLock {
    /// Takes the write lock of the database at `path`.
    pub fn take(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)
            .with_context(|| format!("opening {} to lock it", path.display()))?;
        conn.execute_batch("BEGIN IMMEDIATE")
            .context("taking the write lock")?;
        Ok(Self { conn })
    }

    /// Gives the lock back (the open transaction is rolled back: it wrote nothing).
    pub fn release(self) -> Result<()> {
        self.conn
            .execute_batch("ROLLBACK")
            .context("releasing the write lock")
    }
}
