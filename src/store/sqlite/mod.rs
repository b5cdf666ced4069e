//! The SQLite backend — the only module with SQL, and the only one that names rusqlite.
//!
//! Writes go through one writer task that groups queued jobs into one transaction (each job in
//! its own savepoint, so a failing job rolls back alone) and answers every job only after the
//! transaction has committed: a caller that got `Ok` knows its change is durable, and one fsync
//! covers a whole batch. The blocking SQLite work runs in `spawn_blocking`, so the async runtime
//! never blocks (and tokio's paused test clock does not jump while a batch is in flight).
//!
//! Reads use a small pool of read-only connections; WAL lets them run beside the writer.
//!
//! The operations themselves are inherent methods of `Tx` spread over `read.rs`, `write.rs`,
//! `ingest.rs`, `schedules.rs` and `ledger.rs`; `tx.rs` hands them to the store's traits.

mod audit;
#[cfg(test)]
mod batch_tests;
mod health;
mod ingest;
mod ledger;
mod metrics;
mod prealloc;
mod read;
mod schedules;
mod schema;
mod secrets;
mod snapshot;
mod testing;
mod tokens;
mod tx;
mod ui;
mod wal_vfs;
mod write;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::{broadcast, mpsc};

pub use snapshot::read_recorded;
pub use testing::{PageLimit, WriteLock, set_page_limit};

/// The schema version this binary writes: `store::migrate` copies only a file at exactly
/// this version (it reads it, never migrates it).
pub(crate) fn schema_version() -> i64 {
    schema::known_version()
}

/// Migrates `conn` to this binary's schema (tests of code that reads a pagerd file).
#[cfg(test)]
pub(crate) fn migrate_for_tests(conn: &mut Connection) -> Result<()> {
    schema::migrate(conn)
}

use crate::config::settings::{StoreSettings, Synchronous};
use crate::domain::Event;
use crate::metrics::WriteStats;
use crate::store::page_feed::{FreshPage, PageFeed};
use crate::store::{Backend, BoxFuture, Error, EventFeed, ReadJob, Result, WriteJob, WriterDone};

/// One transaction's view of a connection: a read snapshot, or a write job's savepoint.
/// Implements `ReadTx` and `WriteTx`; a read job only ever gets it as a `&dyn ReadTx`, on a
/// read-only connection.
pub(crate) struct Tx<'a> {
    conn: &'a Connection,
    /// Events this job appended (or moved to the end of the sequence), in id order: the
    /// writer publishes them once the batch has committed.
    added: std::cell::RefCell<Vec<crate::domain::Event>>,
    /// The first and last id of the pages this job queued: the writer hands them to the
    /// outbox (see [`PageFeed`]).
    queued: std::cell::Cell<Option<(i64, i64)>>,
}

impl<'a> Tx<'a> {
    pub(crate) fn new(conn: &'a Connection) -> Self {
        Self {
            conn,
            added: Default::default(),
            queued: Default::default(),
        }
    }

    /// Remembers a page queued, for the outbox after the commit.
    fn queued(&self, id: i64) {
        self.queued.set(Some(span(self.queued.get(), (id, id))));
    }

    /// Remembers an event for publication after the commit.
    fn added(&self, ev: &crate::domain::Event) {
        self.added.borrow_mut().push(ev.clone());
    }

    fn conn(&self) -> &Connection {
        self.conn
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::*;
        // What may pass by itself (space freed, I/O back, the lock released) is `Unavailable`:
        // senders are told to retry.
        match e.sqlite_error_code() {
            Some(
                DiskFull | SystemIoFailure | DatabaseBusy | DatabaseLocked | CannotOpen | ReadOnly
                | OutOfMemory,
            ) => {
                last_unavailable::set(&e);
                Error::Unavailable(Box::new(e))
            }
            _ => Error::backend(e),
        }
    }
}

/// The last error of this thread that made the store unavailable: when SQLite rolls back a
/// whole batch after a job's error, the writer names that cause to every job of the batch.
mod last_unavailable {
    use std::cell::RefCell;

    thread_local! {
        static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
    }

    pub(super) fn set(e: &rusqlite::Error) {
        LAST.with(|l| *l.borrow_mut() = Some(e.to_string()));
    }

    pub(super) fn clear() {
        LAST.with(|l| *l.borrow_mut() = None);
    }

    pub(super) fn take() -> Option<String> {
        LAST.with(|l| l.borrow_mut().take())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::backend(e)
    }
}

/// Details, links and ledger lists are stored as JSON text.
impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::backend(e)
    }
}

/// `.context("what the store was doing")` on a driver result or a missing row, like
/// anyhow's, but into the store's [`Error`].
trait Context<T> {
    fn context(self, op: &'static str) -> Result<T>;
    fn with_context(self, op: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, op: &'static str) -> Result<T> {
        self.map_err(|e| e.into().context(op))
    }
    fn with_context(self, op: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| e.into().context(op()))
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, op: &'static str) -> Result<T> {
        self.ok_or_else(|| Error::Refused(op.to_string()))
    }
    fn with_context(self, op: impl FnOnce() -> String) -> Result<T> {
        self.ok_or_else(|| Error::Refused(op()))
    }
}

/// Prepared statements kept per connection. rusqlite's default of 16 is fewer than one
/// trigger and one delivery record use between them, so the writer re-prepared statements
/// (2 % of the daemon's CPU at saturation).
const STATEMENT_CACHE: usize = 128;

/// The backend handle: the writer's queue, the read pool and the feeds.
struct Sqlite {
    jobs: mpsc::UnboundedSender<WriteJob>,
    readers: Arc<ReadPool>,
    feeds: Feeds,
}

/// What the writer tells after each commit: the events and pages it committed, and the
/// commit's latency and size.
#[derive(Clone)]
struct Feeds {
    events: Arc<EventFeed>,
    pages: Arc<PageFeed>,
    stats: WriteStats,
}

/// Pages, and bytes of their text, the page feed holds for the outbox at most (see
/// [`PageFeed`]); beyond them, the outbox reads the database.
const PAGE_FEED_CAPACITY: (usize, usize) = (1024, 16 << 20);

struct ReadPool {
    path: PathBuf,
    busy_timeout: Duration,
    idle: Mutex<Vec<Connection>>,
}

/// Opens (creating if needed) the database, runs migrations, starts the writer task.
pub async fn open(path: &Path, settings: &StoreSettings) -> Result<(Arc<dyn Backend>, WriterDone)> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating data directory {}", dir.display()))?;
    }
    let path_buf = path.to_path_buf();
    let settings = settings.clone();
    let conn = tokio::task::spawn_blocking(move || -> Result<Connection> {
        let mut conn = open_writer(&path_buf, settings.synchronous)
            .with_context(|| format!("opening database {}", path_buf.display()))?;
        conn.busy_timeout(settings.busy_timeout)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // Small pages: each commit dirties one index leaf per new incident (dedup keys are
        // random), and every dirty page is written to the WAL and synced. 1 KiB pages
        // halve commit cost against the 4 KiB default. Takes effect on a new database.
        conn.pragma_update(None, "page_size", 1024)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        // The checkpointer thread moves WAL pages into the database, so commits never
        // stall on a checkpoint.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        // Savepoint (statement) journals stay in memory instead of a temp file per batch.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        schema::migrate(&mut conn)
            .with_context(|| format!("migrating database {}", path_buf.display()))?;
        // FULL: a committed batch survives power loss, which is what "accepted" promises.
        let sync = match settings.synchronous {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", sync)?;
        // Best effort: without it commits extend the WAL as they go, as before.
        if let Err(e) = prealloc::wal(&path_buf, Checkpointer::WAL_PREALLOCATE) {
            tracing::warn!(
                error = %e,
                "could not write the WAL out to its working size; commits will extend it"
            );
        }
        Ok(conn)
    })
    .await
    .map_err(|e| Error::backend(e).context("opening the database"))??;

    let checkpointer = Checkpointer::start(path)?;
    let (tx, rx) = mpsc::unbounded_channel();
    let limits = testing::LimitWatch::new(path);
    let last_event: i64 = conn
        .query_row(
            "SELECT COALESCE(MAX(id), 0) FROM incident_events",
            [],
            |r| r.get(0),
        )
        .context("reading the last event sequence")?;
    let feeds = Feeds {
        events: Arc::new(EventFeed::new(settings.event_buffer, last_event)),
        pages: Arc::new(PageFeed::new(PAGE_FEED_CAPACITY.0, PAGE_FEED_CAPACITY.1)),
        stats: WriteStats::default(),
    };
    let close = tokio_util::sync::CancellationToken::new();
    let writer = tokio::spawn(writer_loop(
        conn,
        rx,
        (settings.max_batch, settings.busy_timeout),
        checkpointer,
        limits,
        feeds.clone(),
        close.clone(),
    ));
    let readers = Arc::new(ReadPool {
        path: path.to_path_buf(),
        busy_timeout: settings.busy_timeout,
        idle: Mutex::new(Vec::new()),
    });
    let backend: Arc<dyn Backend> = Arc::new(Sqlite {
        jobs: tx,
        readers,
        feeds,
    });
    Ok((backend, WriterDone::new(writer, close)))
}

/// The writer's connection: under `synchronous = FULL` through the VFS that writes each
/// commit's WAL frames in one call (see [`wal_vfs`]).
fn open_writer(path: &Path, sync: Synchronous) -> rusqlite::Result<Connection> {
    if sync == Synchronous::Full {
        match wal_vfs::register() {
            Ok(()) => {
                return Connection::open_with_flags_and_vfs(
                    path,
                    rusqlite::OpenFlags::default(),
                    wal_vfs::NAME,
                );
            }
            Err(e) => tracing::warn!(error = %e, "WAL writes go frame by frame"),
        }
    }
    Connection::open(path)
}

impl Backend for Sqlite {
    fn submit(&self, job: WriteJob) -> Result<()> {
        self.jobs.send(job).map_err(|_| Error::Stopped)
    }

    fn subscribe(&self) -> (broadcast::Receiver<Event>, i64) {
        self.feeds.events.subscribe()
    }

    fn page_feed(&self) -> Option<Arc<PageFeed>> {
        Some(self.feeds.pages.clone())
    }

    fn write_stats(&self) -> Option<WriteStats> {
        Some(self.feeds.stats.clone())
    }

    fn read(&self, job: ReadJob) -> BoxFuture<Result<()>> {
        let pool = self.readers.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || -> Result<()> {
                let mut conn = pool.get()?;
                {
                    let tx = conn.transaction()?;
                    job(&Tx::new(&tx));
                    tx.finish()?;
                }
                pool.put(conn);
                Ok(())
            })
            .await
            .map_err(|_| Error::ReadPanicked)?
        })
    }
}

impl ReadPool {
    fn get(&self) -> Result<Connection> {
        if let Some(conn) = self.idle.lock().expect("read pool poisoned").pop() {
            return Ok(conn);
        }
        let conn = Connection::open_with_flags(
            &self.path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("opening {} for reading", self.path.display()))?;
        conn.busy_timeout(self.busy_timeout)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(conn)
    }

    fn put(&self, conn: Connection) {
        let mut idle = self.idle.lock().expect("read pool poisoned");
        // Keep a few warm connections; more would only hold memory.
        if idle.len() < 8 {
            idle.push(conn);
        }
    }
}

/// Takes every job queued (up to `max_batch`), runs them in one transaction, commits once,
/// then answers them all. Ends when every `Store` clone is dropped and the queue is drained.
async fn writer_loop(
    mut conn: Connection,
    mut rx: mpsc::UnboundedReceiver<WriteJob>,
    // Jobs per batch at most; how long a BEGIN waits for a write lock another connection holds.
    (max_batch, lock_wait): (usize, Duration),
    checkpointer: Checkpointer,
    mut limits: testing::LimitWatch,
    feeds: Feeds,
    close: tokio_util::sync::CancellationToken,
) {
    let mut batch: Vec<WriteJob> = Vec::with_capacity(max_batch);
    let mut last = 0;
    let mut closed = false;
    loop {
        let n = tokio::select! {
            biased;
            n = rx.recv_many(&mut batch, max_batch) => n,
            // Closed by the owner: take nothing new, commit what is queued, then stop.
            _ = close.cancelled(), if !closed => {
                rx.close();
                closed = true;
                continue;
            }
        };
        if n == 0 {
            break;
        }
        if last > 8 && batch.len() < last {
            // Busy: let the request handlers already running queue their jobs too, so one
            // commit (and its fsync) serves them all instead of splitting into two batches.
            for _ in 0..16 {
                tokio::task::yield_now().await;
            }
            while batch.len() < max_batch {
                match rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
        }
        last = batch.len();
        let jobs = std::mem::take(&mut batch);
        let feeds = feeds.clone();
        let result = tokio::task::spawn_blocking(move || {
            limits.apply(&conn);
            run_batch(&mut conn, jobs, &feeds, lock_wait);
            (conn, limits)
        })
        .await;
        match result {
            Ok((c, l)) => {
                conn = c;
                limits = l;
                checkpointer.poke();
            }
            Err(e) => {
                // A panic inside a job: the connection is gone with it. Nothing was answered
                // as committed, so callers see an error; the process must not run deaf.
                tracing::error!(error = %e, "store writer panicked; exiting");
                std::process::exit(70);
            }
        }
    }
    drop(conn);
    let _ = tokio::task::spawn_blocking(move || checkpointer.finish()).await;
    tracing::debug!("store writer drained and stopped");
}

/// Copies committed WAL frames into the database file from its own connection and thread,
/// at most every `PAUSE`, so the writer's commits only append to the WAL.
struct Checkpointer {
    poke: std::sync::mpsc::SyncSender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Checkpointer {
    const PAUSE: Duration = Duration::from_millis(200);
    const WAL_LIMIT: u64 = 64 * 1024 * 1024;
    /// What the WAL is written out to at start: the limit, and what a checkpoint's pause
    /// adds before the restart at 1,000 alerts/s (about 3.4 MiB).
    const WAL_PREALLOCATE: u64 = Self::WAL_LIMIT + Self::WAL_LIMIT / 8;

    fn start(path: &Path) -> Result<Self> {
        let mut conn = Connection::open(path)
            .with_context(|| format!("opening {} for checkpoints", path.display()))?;
        // A RESTART holds the write lock while it waits for readers to move on; SQLite's
        // busy_timeout would wait in sleeps of 1, 2, 5, 10… ms, but readers finish in
        // microseconds, so poll finely (about 2 s at most; a checkpoint that gives up is
        // retried on the next round).
        conn.busy_handler(Some(|tries| {
            std::thread::sleep(Duration::from_micros(100));
            tries < 20_000
        }))?;
        let (poke, rx) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("pagerd-checkpoint".into())
            .spawn(move || {
                while rx.recv().is_ok() {
                    // PASSIVE never blocks the writer or readers. But the WAL only starts over
                    // once no reader holds an old snapshot, which under steady load may never
                    // happen by itself: past a size, RESTART waits for readers (briefly
                    // holding the writer) and makes the next commit write from the start of
                    // the file. Not TRUNCATE: shrinking and syncing a 64 MiB file under the
                    // write lock stalled every commit for 34–55 ms every ~3 s at 1,000
                    // alerts/s (BENCHMARKS.md); the file stays at its size and is reused.
                    // How much of the WAL is in use (frames), not the file's size: a
                    // restarted file keeps its size.
                    let t0 = std::time::Instant::now();
                    let frames = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                        Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
                    });
                    // Beside the writer's batch trace: a slow commit during a checkpoint's
                    // sync shows here.
                    if let Ok((log, copied)) = &frames {
                        tracing::trace!(
                            log,
                            copied,
                            us = t0.elapsed().as_micros() as u64,
                            "checkpoint"
                        );
                    }
                    let frames = frames.map(|(log, _)| log);
                    let page_size: i64 = conn
                        .query_row("PRAGMA page_size", [], |r| r.get(0))
                        .unwrap_or(4096);
                    match frames {
                        Ok(n) if n.saturating_mul(page_size) as u64 > Self::WAL_LIMIT => {
                            let t0 = std::time::Instant::now();
                            let restarted =
                                conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()));
                            tracing::trace!(us = t0.elapsed().as_micros() as u64, "WAL restart");
                            if let Err(e) = restarted {
                                tracing::warn!(error = %e, "WAL restart failed; will retry");
                            }
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; will retry"),
                    }
                    std::thread::sleep(Self::PAUSE);
                }
                // The writer is gone: fold the whole WAL in and truncate it.
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())) {
                    tracing::warn!(error = %e, "final WAL checkpoint failed");
                }
            })
            .context("starting the checkpoint thread")?;
        Ok(Self { poke, thread })
    }

    /// After a commit: ask for a checkpoint unless one is already pending.
    fn poke(&self) {
        let _ = self.poke.try_send(());
    }

    fn finish(self) {
        drop(self.poke);
        let _ = self.thread.join();
    }
}

/// Runs the jobs in one transaction, commits it, publishes the events of the kept jobs, then
/// answers every job with the outcome.
///
/// Publishing here, on the one writer, after the commit and before any caller hears back, is
/// what keeps `Watch` in commit order: event ids are assigned in this order, and the feed
/// sees them in this order (callers finishing in any order publish nothing themselves).
fn run_batch(conn: &mut Connection, mut jobs: Vec<WriteJob>, feeds: &Feeds, lock_wait: Duration) {
    let t0 = std::time::Instant::now();
    let n = jobs.len();
    // Jobs that may run again need no savepoint each: the batch runs bare, and only if one of
    // them fails is it rolled back and run again, each job in its savepoint. A savepoint per
    // job cost about 7 % of the daemon's instructions under load (SQLite copies every page a
    // job touches that an earlier job of the batch had already changed).
    if jobs.iter().all(WriteJob::replayable) {
        match run_bare(conn, &mut jobs, &feeds.pages, lock_wait) {
            Bare::JobFailed => {}
            Bare::Done(outcome) => {
                return answer(jobs, outcome, feeds, (n, t0));
            }
        }
    }
    let mut t_commit = t0;
    let mut ran: Vec<WriteJob> = Vec::with_capacity(jobs.len());
    let mut committed = Committed::default();
    let outcome = (|| -> Result<()> {
        let tx = begin_immediate(conn, lock_wait)?;
        for mut job in jobs {
            // Cached statements, not rusqlite's `savepoint()`: that parses the SQL text anew
            // for every job.
            savepoint(&tx, "SAVEPOINT job")?;
            last_unavailable::clear();
            let view = Tx::new(&tx);
            let ok = job.run(&view);
            let queued = view.queued.get();
            let added = view.added.into_inner();
            ran.push(job);
            if ok {
                savepoint(&tx, "RELEASE job")?;
                committed.events.extend(added);
                committed.queued(queued);
            } else if tx.is_autocommit() {
                // SQLite rolled the whole transaction back (disk full, I/O error): the batch is
                // lost, and the jobs not yet run are answered unrun.
                let cause =
                    last_unavailable::take().unwrap_or_else(|| "a write failed".to_string());
                return Err(Error::Unavailable(
                    format!("{cause} (SQLite rolled back the whole batch)").into(),
                ));
            } else {
                savepoint(&tx, "ROLLBACK TO job")?;
                savepoint(&tx, "RELEASE job")?;
            }
        }
        committed.read_back(&tx, &feeds.pages);
        t_commit = std::time::Instant::now();
        Ok(tx.commit()?)
    })();
    tracing::trace!(
        jobs = n,
        exec_us = (t_commit - t0).as_micros() as u64,
        commit_us = t_commit.elapsed().as_micros() as u64,
        "write batch"
    );
    answer(ran, outcome.map(|()| committed), feeds, (n, t0));
}

/// What a batch committed, for the feeds.
#[derive(Default)]
struct Committed {
    events: Vec<Event>,
    /// The first and last id of the pages the kept jobs queued.
    queued: Option<(i64, i64)>,
    /// Those pages still pending at the end of the batch, if they were read back.
    pages: Option<Vec<FreshPage>>,
}

impl Committed {
    fn queued(&mut self, ids: Option<(i64, i64)>) {
        if let Some(ids) = ids {
            self.queued = Some(span(self.queued, ids));
        }
    }

    /// Reads the queued pages back in the batch's transaction, if an outbox takes them.
    /// Every page in the span is this batch's: the writer is the only one, and SQLite gives a
    /// new row the highest id yet (a rolled-back job's ids are reused within the batch, by
    /// its kept jobs).
    fn read_back(&mut self, conn: &Connection, feed: &PageFeed) {
        let Some((first, last)) = self.queued else {
            return;
        };
        if !feed.is_open() {
            return;
        }
        match Tx::new(conn).fresh_pages(first, last) {
            Ok(pages) => self.pages = Some(pages),
            // The outbox reads them from the database instead.
            Err(e) => tracing::debug!(error = %e, "new pages not read back"),
        }
    }
}

/// The smallest span holding both.
fn span(a: Option<(i64, i64)>, (first, last): (i64, i64)) -> (i64, i64) {
    a.map_or((first, last), |(f, l)| (f.min(first), l.max(last)))
}

/// BEGIN IMMEDIATE, waiting up to `wait` for the write lock in steps of 100 µs.
///
/// IMMEDIATE takes the lock at BEGIN, where a checkpoint holding it is waited for; a deferred
/// upgrade would fail at once instead. The wait is ours, not SQLite's busy handler: that
/// sleeps 1, 2, 5, 10 ms in turn, so a WAL restart holding the lock 9 ms kept the writer away
/// 18 ms (BENCHMARKS.md). Every other statement keeps the connection's busy timeout.
fn begin_immediate(
    conn: &Connection,
    wait: Duration,
) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    conn.busy_timeout(Duration::ZERO)?;
    let deadline = std::time::Instant::now() + wait;
    let tx = loop {
        match rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_micros(100));
            }
            r => break r,
        }
    };
    conn.busy_timeout(wait)?;
    tx
}

/// How a batch run without savepoints ended.
enum Bare {
    /// A job failed: nothing is kept, and the batch is to be run again job by job.
    JobFailed,
    /// Every job ran; the commit's outcome and what to publish.
    Done(Result<Committed>),
}

/// Runs replayable jobs in one transaction without a savepoint each, and commits.
fn run_bare(
    conn: &mut Connection,
    jobs: &mut [WriteJob],
    pages: &PageFeed,
    lock_wait: Duration,
) -> Bare {
    let t_lock = std::time::Instant::now();
    let tx = match begin_immediate(conn, lock_wait) {
        Ok(tx) => tx,
        Err(e) => return Bare::Done(Err(e.into())),
    };
    let t0 = std::time::Instant::now();
    let mut committed = Committed::default();
    for job in jobs.iter_mut() {
        last_unavailable::clear();
        let view = Tx::new(&tx);
        if !job.run(&view) {
            // Dropping `tx` rolls everything back (unless SQLite already did).
            return Bare::JobFailed;
        }
        committed.queued(view.queued.get());
        committed.events.extend(view.added.into_inner());
    }
    committed.read_back(&tx, pages);
    let t_commit = std::time::Instant::now();
    let outcome = tx.commit().map(|()| committed).map_err(Into::into);
    tracing::trace!(
        jobs = jobs.len(),
        exec_us = (t_commit - t0).as_micros() as u64,
        commit_us = t_commit.elapsed().as_micros() as u64,
        lock_us = (t0 - t_lock).as_micros() as u64,
        savepoints = false,
        "write batch"
    );
    Bare::Done(outcome)
}

/// Publishes what a batch committed, then answers its jobs (in that order: see `run_batch`).
fn answer(
    jobs: Vec<WriteJob>,
    outcome: Result<Committed>,
    feeds: &Feeds,
    (n, t0): (usize, std::time::Instant),
) {
    let err = match outcome {
        Ok(committed) => {
            feeds.stats.batch(n, t0.elapsed().as_secs_f64());
            feeds.events.publish(committed.events);
            if committed.queued.is_some() {
                feeds.pages.publish(committed.pages);
            }
            None
        }
        Err(e) => {
            tracing::error!(error = %e, jobs = jobs.len(), "write batch failed to commit");
            Some(e)
        }
    };
    for job in jobs {
        job.finish(err.as_ref());
    }
}

/// Runs one savepoint statement (`SAVEPOINT`, `RELEASE`, `ROLLBACK TO`) from the cache.
fn savepoint(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

/// Milliseconds since the Unix epoch: how instants are stored.
pub(crate) fn to_ms(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

// The backend-generic tests (a failing job rolls back alone, the writer drains before it
// stops, events in sequence order, the dedup constraint) are the store's contract tests,
// run on every backend: `store/contract_tests/`.
