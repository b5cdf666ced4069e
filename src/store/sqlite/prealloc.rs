//! The WAL file written out to its working size when the store opens.
//!
//! A commit that makes the WAL longer changes the file's size and allocates blocks, so its
//! `fdatasync` also commits the file system's journal. Until the WAL first reached the size
//! at which the checkpointer restarts it (64 MiB: about four seconds at 1,000 alerts/s),
//! every commit paid that: commit p50 265 µs against 180 µs once the file was written out
//! (BENCHMARKS.md). PostgreSQL zero-fills each WAL segment before it uses it for the same
//! reason (`wal_init_zero`).
//!
//! Zeros after the last frame are no frames to SQLite: recovery reads frames until one's
//! salt does not match the header's, as it does in a restarted WAL that keeps its old size
//! and frames. So only the end of the file is written, never a byte SQLite wrote.

use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The WAL beside `db`.
fn wal_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_os_string();
    p.push("-wal");
    PathBuf::from(p)
}

/// Writes zeros from the end of `db`'s WAL up to `size` bytes and syncs them; whether the
/// file grew. Call it while the database is open in WAL mode (SQLite deletes a WAL it finds
/// beside an empty database) and before anything else writes. On an error the file is cut
/// back to where it ended, so a full disk loses nothing to this.
pub(super) fn wal(db: &Path, size: u64) -> io::Result<bool> {
    let path = wal_path(db);
    let file = std::fs::OpenOptions::new().write(true).open(&path)?;
    let end = file.metadata()?.len();
    if end >= size {
        return Ok(false);
    }
    let zeros = vec![0u8; 1 << 20];
    let fill = || -> io::Result<()> {
        let mut at = end;
        while at < size {
            let n = (size - at).min(zeros.len() as u64) as usize;
            file.write_all_at(&zeros[..n], at)?;
            at += n as u64;
        }
        file.sync_all()
    };
    if let Err(e) = fill() {
        let _ = file.set_len(end);
        return Err(e);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(path: &Path) -> (i64, String) {
        let c = rusqlite::Connection::open(path).unwrap();
        let n = c
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        let check = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        (n, check)
    }

    /// What a crash leaves: the database and its WAL as they are on disk, copied while the
    /// connection that wrote them is still open (nothing checkpointed on close).
    fn crash_image(from: &Path, to: &Path) {
        std::fs::copy(from, to).unwrap();
        std::fs::copy(wal_path(from), wal_path(to)).unwrap();
    }

    #[test]
    fn committed_frames_before_and_after_the_zeros_survive_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        let c = rusqlite::Connection::open(&db).unwrap();
        c.pragma_update(None, "journal_mode", "WAL").unwrap();
        c.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)", [])
            .unwrap();
        let insert = |n: i64| {
            for _ in 0..n {
                c.execute("INSERT INTO t (v) VALUES (randomblob(500))", [])
                    .unwrap();
            }
        };
        insert(50);
        let before = std::fs::metadata(wal_path(&db)).unwrap().len();
        assert!(before > 0, "the WAL holds the frames");
        assert!(wal(&db, 4 << 20).unwrap());
        assert_eq!(std::fs::metadata(wal_path(&db)).unwrap().len(), 4 << 20);
        assert!(!wal(&db, 1 << 20).unwrap(), "never shrinks");

        // Frames written after the zeros were: recovery finds them all and stops at the
        // zeros, not reading them as frames.
        insert(30);
        let image = dir.path().join("image.db");
        crash_image(&db, &image);
        assert_eq!(rows(&image), (80, "ok".to_string()));

        // After a restart the WAL is rewritten from its start: older frames and zeros lie
        // behind the new ones, and recovery takes only the new ones.
        c.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))
            .unwrap();
        insert(20);
        assert_eq!(std::fs::metadata(wal_path(&db)).unwrap().len(), 4 << 20);
        let image = dir.path().join("image2.db");
        crash_image(&db, &image);
        assert_eq!(rows(&image), (100, "ok".to_string()));
    }

    #[tokio::test]
    async fn the_store_writes_its_wal_out_when_it_opens() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        let (store, writer) = crate::store::Store::open(&db, &Default::default())
            .await
            .unwrap();
        let len = std::fs::metadata(wal_path(&db)).unwrap().len();
        assert!(len >= super::super::Checkpointer::WAL_PREALLOCATE, "{len}");
        drop(store);
        writer.wait().await;
    }

    #[test]
    fn a_missing_wal_is_an_error_and_nothing_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("none.db");
        assert!(wal(&db, 1 << 20).is_err());
        assert!(!wal_path(&db).exists());
    }
}
