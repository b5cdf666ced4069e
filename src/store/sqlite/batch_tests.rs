//! How the writer runs one batch: replayable jobs without a savepoint each, run again apart
//! when one of them fails; other batches with a savepoint per job; the kept jobs' pages
//! handed to the page feed. Driven on `run_batch` itself, so which jobs share a batch is
//! exact.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;

use super::{Feeds, Tx, run_batch, schema};
use crate::domain::{PageKind, Position};
use crate::metrics::WriteStats;
use crate::store::contract_tests::alert;
use crate::store::{EventFeed, PageFeed, WriteJob};

/// A job that inserts an incident with `key`, queues a page for it to a person named `key`,
/// and then fails if `fail`: how often it ran, and what its completion heard
/// (`Some(commit error or None)`).
struct Probe {
    runs: Arc<AtomicUsize>,
    heard: Arc<Mutex<Option<Option<String>>>>,
}

fn job(key: &'static str, fail: bool, replayable: bool) -> (WriteJob, Probe) {
    let runs = Arc::new(AtomicUsize::new(0));
    let heard = Arc::new(Mutex::new(None));
    let (r, h) = (runs.clone(), heard.clone());
    let job = WriteJob {
        run: Box::new(move |tx| {
            r.fetch_add(1, Ordering::SeqCst);
            let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
            let pos = Position::default();
            tx.insert_incident(&alert(key), "p", pos, now)
                .and_then(|id| tx.enqueue_page(id, PageKind::Page, key, "webhook", pos, now, now))
                .is_ok()
                && !fail
        }),
        finish: Box::new(move |e| *h.lock().unwrap() = Some(e.map(|e| e.to_string()))),
        replayable,
    };
    (job, Probe { runs, heard })
}

fn keys(conn: &Connection) -> Vec<String> {
    let mut stmt = conn
        .prepare("SELECT dedup_key FROM incidents ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// What one batch left: the keys committed, each job's probe, and the pages the feed got.
struct Outcome {
    keys: Vec<String>,
    seen: Vec<(usize, Option<String>)>,
    fed: Vec<String>,
}

/// Runs `jobs` as one batch on a fresh database, with an outbox taking the page feed.
fn batch(jobs: Vec<(&'static str, bool, bool)>) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = Connection::open(dir.path().join("t.db")).unwrap();
    schema::migrate(&mut conn).unwrap();
    let (jobs, probes): (Vec<_>, Vec<_>) = jobs
        .into_iter()
        .map(|(key, fail, replayable)| job(key, fail, replayable))
        .unzip();
    let feeds = Feeds {
        events: Arc::new(EventFeed::new(16, 0)),
        pages: Arc::new(PageFeed::new(16, 1 << 20)),
        stats: WriteStats::default(),
    };
    feeds.pages.open();
    run_batch(&mut conn, jobs, &feeds, Duration::from_secs(5));
    let taken = feeds.pages.take();
    assert!(!taken.look, "every page read back");
    // As the outbox's own read gives them.
    let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let read = Tx::new(&conn)
        .pending_pages("webhook", now, &[], &[], 100)
        .unwrap();
    let fed: Vec<_> = taken
        .pages
        .iter()
        .map(|f| format!("{:?}", f.page))
        .collect();
    let read: Vec<_> = read.iter().map(|p| format!("{p:?}")).collect();
    assert_eq!(fed, read);
    assert!(taken.pages.iter().all(|f| f.next_attempt_at == now));
    let seen = probes
        .iter()
        .map(|p| {
            let heard = p.heard.lock().unwrap().clone();
            (
                p.runs.load(Ordering::SeqCst),
                heard.expect("every job is answered"),
            )
        })
        .collect();
    Outcome {
        keys: keys(&conn),
        seen,
        fed: taken.pages.into_iter().map(|f| f.page.person).collect(),
    }
}

#[test]
fn replayable_jobs_that_all_succeed_run_once_each_in_one_transaction() {
    let Outcome { keys, seen, fed } = batch(vec![
        ("a", false, true),
        ("b", false, true),
        ("c", false, true),
    ]);
    assert_eq!(keys, ["a", "b", "c"]);
    assert_eq!(fed, ["a", "b", "c"]);
    assert_eq!(seen, vec![(1, None), (1, None), (1, None)]);
}

#[test]
fn a_failing_replayable_job_rolls_back_alone_the_batch_running_again_apart() {
    let Outcome { keys, seen, fed } = batch(vec![
        ("a", false, true),
        ("b", true, true),
        ("c", false, true),
    ]);
    // b's insert is gone; a and c are kept. a and b ran twice: bare, rolled back at b's
    // failure, then apart; c was not reached by the bare run.
    assert_eq!(keys, ["a", "c"]);
    assert_eq!(fed, ["a", "c"]);
    assert_eq!(seen, vec![(2, None), (2, None), (1, None)]);
}

#[test]
fn a_batch_with_a_job_that_must_run_once_keeps_every_job_apart() {
    let Outcome { keys, seen, fed } = batch(vec![
        ("a", false, true),
        ("b", true, false),
        ("c", false, true),
    ]);
    assert_eq!(keys, ["a", "c"]);
    // b's page took an id that c's then reused: the span read back holds only kept pages.
    assert_eq!(fed, ["a", "c"]);
    assert_eq!(seen, vec![(1, None), (1, None), (1, None)]);
}

#[test]
fn without_an_outbox_taking_them_pages_are_not_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = Connection::open(dir.path().join("t.db")).unwrap();
    schema::migrate(&mut conn).unwrap();
    let feeds = Feeds {
        events: Arc::new(EventFeed::new(16, 0)),
        pages: Arc::new(PageFeed::new(16, 1 << 20)),
        stats: WriteStats::default(),
    };
    run_batch(
        &mut conn,
        vec![job("a", false, true).0],
        &feeds,
        Duration::from_secs(5),
    );
    feeds.pages.open();
    let taken = feeds.pages.take();
    assert!(taken.pages.is_empty() && !taken.look);
    assert_eq!(keys(&conn), ["a"]);
}

/// A WAL database, and its write lock held from another connection.
fn locked_db() -> (tempfile::TempDir, Connection, super::testing::WriteLock) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let mut conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    schema::migrate(&mut conn).unwrap();
    let lock = super::testing::WriteLock::take(&path).unwrap();
    (dir, conn, lock)
}

/// The writer's BEGIN waits for a write lock another connection holds (a WAL restart, a
/// backup), takes it once released, and gives the connection its busy timeout back.
#[test]
fn begin_waits_for_a_held_write_lock_and_takes_it_when_released() {
    let (_dir, conn, lock) = locked_db();
    let held = std::time::Instant::now();
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        lock.release().unwrap();
    });
    let tx = super::begin_immediate(&conn, Duration::from_secs(30)).unwrap();
    assert!(
        held.elapsed() >= Duration::from_millis(50),
        "BEGIN did not wait for the lock"
    );
    tx.commit().unwrap();
    releaser.join().unwrap();
    let timeout: i64 = conn
        .pragma_query_value(None, "busy_timeout", |r| r.get(0))
        .unwrap();
    assert_eq!(timeout, 30_000, "the connection's busy timeout is back");
}

/// A lock held past the wait: BEGIN gives up with SQLITE_BUSY after waiting it out.
#[test]
fn begin_gives_up_after_its_wait() {
    let (_dir, conn, lock) = locked_db();
    let t0 = std::time::Instant::now();
    let err = super::begin_immediate(&conn, Duration::from_millis(100))
        .map(|_| ())
        .unwrap_err();
    assert!(t0.elapsed() >= Duration::from_millis(100), "gave up early");
    assert_eq!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy),
        "{err}"
    );
    lock.release().unwrap();
    assert!(super::begin_immediate(&conn, Duration::from_millis(100)).is_ok());
}
