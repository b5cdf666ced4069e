//! Hooks for tests that need the database to refuse writes for a while: another connection
//! holding the write lock, or a page limit standing in for a full disk.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

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

/// How big the database may grow, set by a test (SQLite's `max_page_count` on the writer's
/// connection), to stand in for a full disk: writes that need a new page fail with
/// "database or disk is full" until the limit is lifted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageLimit {
    /// No page more than the database has now.
    FullNow,
    /// SQLite's own limit again.
    Lifted,
}

/// Limits per database file (canonical path); `GENERATION` moves on every change so the writer
/// looks only when something changed.
static LIMITS: Mutex<Vec<(PathBuf, PageLimit)>> = Mutex::new(Vec::new());
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Sets the page limit of the database at `db` (a running daemon's writer applies it before
/// its next batch).
pub fn set_page_limit(db: &Path, limit: PageLimit) {
    let key = db.canonicalize().unwrap_or_else(|_| db.to_path_buf());
    let mut limits = LIMITS.lock().expect("page limits poisoned");
    limits.retain(|(p, _)| *p != key);
    limits.push((key, limit));
    GENERATION.fetch_add(1, Ordering::Release);
}

/// The writer's side: applies a limit set for its database when one changed.
pub(super) struct LimitWatch {
    path: PathBuf,
    seen: u64,
    original: Option<i64>,
}

impl LimitWatch {
    pub(super) fn new(db: &Path) -> Self {
        Self {
            path: db.canonicalize().unwrap_or_else(|_| db.to_path_buf()),
            seen: 0,
            original: None,
        }
    }

    pub(super) fn apply(&mut self, conn: &Connection) {
        let generation = GENERATION.load(Ordering::Acquire);
        if generation == self.seen {
            return;
        }
        self.seen = generation;
        let limit = LIMITS
            .lock()
            .expect("page limits poisoned")
            .iter()
            .find(|(p, _)| *p == self.path)
            .map(|(_, l)| *l);
        let Some(limit) = limit else { return };
        let result = (|| -> rusqlite::Result<()> {
            let current: i64 = conn.query_row("PRAGMA max_page_count", [], |r| r.get(0))?;
            let original = *self.original.get_or_insert(current);
            let pages: i64 = match limit {
                PageLimit::FullNow => {
                    // Free pages (a migration that rebuilt a table leaves some) would still
                    // take writes: pack the file first, so "full" means full.
                    conn.execute_batch("VACUUM")?;
                    conn.query_row("PRAGMA page_count", [], |r| r.get(0))?
                }
                PageLimit::Lifted => original,
            };
            conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))
        })();
        if let Err(e) = result {
            tracing::warn!(error = %e, "test page limit not applied");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::settings::StoreSettings;
    use crate::domain::{NewAlert, Position, Severity};
    use crate::store::{Store, unavailable};

    #[tokio::test]
    async fn a_full_database_refuses_writes_as_unavailable_until_the_limit_is_lifted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let (store, writer) = Store::open(&path, &StoreSettings::default()).await.unwrap();
        let insert = |i: usize| {
            let store = store.clone();
            async move {
                store
                    .write(move |tx| {
                        let alert = NewAlert {
                            service: "svc".into(),
                            dedup_key: format!("k{i}"),
                            severity: Severity::High,
                            summary: "x".repeat(200),
                            source: String::new(),
                            details: Default::default(),
                            links: vec![],
                        };
                        Ok(tx.insert_incident(
                            &alert,
                            "p",
                            Position::default(),
                            chrono::Utc::now(),
                        )?)
                    })
                    .await
            }
        };
        insert(0).await.unwrap();
        assert!(store.check_writes().await.is_ok());
        set_page_limit(&path, PageLimit::FullNow);
        let mut refused = None;
        for i in 1..1_000 {
            if let Err(e) = insert(i).await {
                refused = Some(e);
                break;
            }
        }
        let e = refused.expect("a full database refuses a write");
        assert!(unavailable(&e).is_some(), "{e:#}");
        let problem = store.check_writes().await.unwrap_err();
        assert!(problem.contains("database or disk is full"), "{problem}");

        set_page_limit(&path, PageLimit::Lifted);
        insert(5_000).await.unwrap();
        // Healthy again once a probe (at most every 250 ms) commits.
        let mut polls = 0;
        while store.check_writes().await.is_err() {
            polls += 1;
            assert!(polls < 100, "the probe never succeeded");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        drop(store);
        writer.wait().await;
    }
}
