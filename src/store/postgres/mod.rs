//! The PostgreSQL backend — the only module that names the `postgres` driver. Chosen by a
//! `postgres://` `store.url`; several daemons may share one database.
//!
//! The driver is the sync `postgres` client, like rusqlite a blocking one: the store's
//! closures are sync and run on backend threads. That client runs a small tokio runtime of
//! its own and panics on a tokio worker or blocking thread, so the writer and the readers are
//! plain `std::thread`s that own their connections (`writer.rs`, `reader.rs`); jobs reach
//! them over channels. Async callers wait for an answer inside `spawn_blocking`, so tokio's
//! paused test clock does not jump while PostgreSQL works (as SQLite's blocking batches do).
//!
//! The operations are inherent methods of `Tx` in `read.rs`, `write.rs`, `ingest.rs`,
//! `schedules.rs`, `ledger.rs`, …, each a faithful translation of SQLite's; `tx.rs` hands
//! them to the store's traits.

mod audit;
pub mod cluster;
mod feed;
mod health;
mod ingest;
mod ledger;
mod metrics;
mod read;
mod reader;
mod schedules;
pub mod schema;
mod secrets;
mod tokens;
mod tx;
mod ui;
mod write;
mod writer;

#[cfg(test)]
mod cluster_tests;
#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use postgres::types::{FromSql, ToSql};
use postgres::{Client, NoTls, Row, Statement, Transaction};
use tokio::sync::broadcast;

use crate::config::settings::StoreSettings;
use crate::domain::Event;
use crate::metrics::WriteStats;
use crate::store::{Backend, BoxFuture, Error, EventFeed, ReadJob, Result, WriteJob, WriterDone};

pub(crate) use super::sqlite::{from_ms, to_ms};

/// The key of the transaction-level advisory lock every write batch takes first: writers of
/// all nodes commit one at a time, so event ids (from the identity) are assigned in commit
/// order, and `Watch` on any node can follow the sequence.
pub const WRITER_LOCK: i64 = 0x7061_6765_7264_0001;

/// The key of the advisory lock migrations run under: two nodes starting at once migrate
/// one after the other.
pub const MIGRATE_LOCK: i64 = 0x7061_6765_7264_0002;

/// Reader threads, each with a connection of its own.
const READERS: usize = 4;

/// Statement parameters, as the driver takes them.
pub(crate) type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

/// A connection and the statements prepared on it (prepared once, run many times).
pub(crate) struct Conn {
    client: Client,
    statements: RefCell<HashMap<String, Statement>>,
}

impl Conn {
    /// Connects; `what` names the connection in errors ("writer", "reader").
    fn connect(config: &postgres::Config, what: &str) -> Result<Self> {
        let mut client = config
            .connect(NoTls)
            .map_err(|e| Error::from(e).context(format!("connecting the store {what}")))?;
        if let Some(set) = session_settings(what) {
            client
                .batch_execute(set)
                .map_err(|e| Error::from(e).context(format!("setting up the store {what}")))?;
        }
        Ok(Self {
            client,
            statements: Default::default(),
        })
    }

    fn is_closed(&self) -> bool {
        self.client.is_closed()
    }
}

/// Per-connection settings by role. A writer's transaction holds the cluster-wide writer
/// lock (and, for the leader, a share lock on the lease row): if its process stalls mid-
/// transaction (SIGSTOP, a long GC-like pause, a hung VM), every node's writes and the lease
/// would wait for it. The server ends such a session after 2 s idle in its transaction,
/// releasing the locks; the stalled node's batch fails (callers retry) and it reconnects. A
/// batch never idles that long between its statements (jobs run in microseconds). The
/// lease connection gives up on a lock after 1 s rather than hang past a renewal.
fn session_settings(what: &str) -> Option<&'static str> {
    match what {
        "writer" => Some("SET idle_in_transaction_session_timeout = 2000"),
        "lease" => Some("SET lock_timeout = 1000; SET idle_in_transaction_session_timeout = 2000"),
        _ => None,
    }
}

/// One transaction's view of a connection: a read snapshot, or a write job's savepoint.
/// Implements `ReadTx` and `WriteTx`; a read job only ever gets it as a `&dyn ReadTx`, in a
/// read-only transaction.
pub(crate) struct Tx<'a, 't> {
    /// `None` while the server cannot be reached: every operation fails with `down`.
    tx: RefCell<Option<&'a mut Transaction<'t>>>,
    statements: &'a RefCell<HashMap<String, Statement>>,
    down: Option<String>,
    /// Events this job appended (or moved to the end of the sequence), in id order: the
    /// writer publishes them once the batch has committed.
    added: RefCell<Vec<Event>>,
}

impl<'a, 't> Tx<'a, 't> {
    pub(crate) fn new(
        tx: &'a mut Transaction<'t>,
        statements: &'a RefCell<HashMap<String, Statement>>,
    ) -> Self {
        Self {
            tx: RefCell::new(Some(tx)),
            statements,
            down: None,
            added: Default::default(),
        }
    }

    /// A view without a transaction, for answering jobs while the server is unreachable:
    /// each operation fails with `Unavailable(why)`.
    pub(crate) fn down(statements: &'a RefCell<HashMap<String, Statement>>, why: String) -> Self {
        Self {
            tx: RefCell::new(None),
            statements,
            down: Some(why),
            added: Default::default(),
        }
    }

    /// Remembers an event for publication after the commit.
    fn added(&self, ev: &Event) {
        self.added.borrow_mut().push(ev.clone());
    }

    /// Runs `f` on the transaction, or fails if there is none.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Transaction<'t>) -> std::result::Result<T, postgres::Error>,
    ) -> Result<T> {
        let mut tx = self.tx.borrow_mut();
        match tx.as_mut() {
            Some(tx) => Ok(f(tx)?),
            None => Err(Error::Unavailable(
                self.down.clone().unwrap_or_default().into(),
            )),
        }
    }

    /// The prepared statement for `sql` (prepared on first use on this connection).
    fn statement(&self, sql: &str) -> Result<Statement> {
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let s = self.with(|tx| tx.prepare(sql))?;
        self.statements
            .borrow_mut()
            .insert(sql.to_string(), s.clone());
        Ok(s)
    }

    fn query(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>> {
        let s = self.statement(sql)?;
        self.with(|tx| tx.query(&s, params))
    }

    fn query_opt(&self, sql: &str, params: Params<'_>) -> Result<Option<Row>> {
        let s = self.statement(sql)?;
        self.with(|tx| tx.query_opt(&s, params))
    }

    fn query_one(&self, sql: &str, params: Params<'_>) -> Result<Row> {
        let s = self.statement(sql)?;
        self.with(|tx| tx.query_one(&s, params))
    }

    fn execute(&self, sql: &str, params: Params<'_>) -> Result<u64> {
        let s = self.statement(sql)?;
        self.with(|tx| tx.execute(&s, params))
    }
}

/// Typed column reads that fail with the store's error instead of panicking.
pub(crate) trait RowExt {
    fn at<'r, T: FromSql<'r>>(&'r self, idx: usize) -> Result<T>;

    fn u32_at(&self, idx: usize) -> Result<u32> {
        let v: i64 = self.at(idx)?;
        u32::try_from(v).map_err(|_| Error::Corrupt(format!("column {idx}: {v} is out of range")))
    }

    fn opt_u32_at(&self, idx: usize) -> Result<Option<u32>> {
        let v: Option<i64> = self.at(idx)?;
        v.map(|v| {
            u32::try_from(v)
                .map_err(|_| Error::Corrupt(format!("column {idx}: {v} is out of range")))
        })
        .transpose()
    }

    /// Booleans are stored as 0/1 (the same columns as SQLite's).
    fn bool_at(&self, idx: usize) -> Result<bool> {
        Ok(self.at::<i64>(idx)? != 0)
    }

    fn ms_at(&self, idx: usize) -> Result<DateTime<Utc>> {
        Ok(from_ms(self.at(idx)?))
    }

    fn opt_ms_at(&self, idx: usize) -> Result<Option<DateTime<Utc>>> {
        Ok(self.at::<Option<i64>>(idx)?.map(from_ms))
    }
}

impl RowExt for Row {
    fn at<'r, T: FromSql<'r>>(&'r self, idx: usize) -> Result<T> {
        self.try_get(idx).map_err(Error::from)
    }
}

impl From<postgres::Error> for Error {
    fn from(e: postgres::Error) -> Self {
        // What may pass by itself (the connection back, space freed, a server restart) is
        // `Unavailable`: senders are told to retry.
        if may_pass(&e) {
            Error::Unavailable(Box::new(e))
        } else {
            Error::backend(e)
        }
    }
}

/// Whether `e` says the server or the connection is (for now) not there, rather than that
/// the statement was wrong: a closed connection, an I/O error, SQLSTATE class 08
/// (connection), 53 (insufficient resources: disk full, too many connections), 57P
/// (shutdown, crash recovery) or 40 (a serialization failure or deadlock: retrying works).
fn may_pass(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(code) => {
            let c = code.code();
            ["08", "53", "57P", "40"].iter().any(|p| c.starts_with(p))
        }
        None => {
            e.as_db_error().is_none()
                && std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
        }
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

/// The backend handle: the writer's queue, the readers' queue and the committed-event feed.
struct Postgres {
    jobs: crossbeam_channel::Sender<WriteJob>,
    reads: crossbeam_channel::Sender<reader::ReadMsg>,
    events: Arc<EventFeed>,
    stats: WriteStats,
    /// Other nodes' events and wake-ups (`feed.rs`).
    pump: Arc<feed::Pump>,
    stop_listening: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop_listening
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The connection settings of a `postgres://` URL, with pagerd's defaults where the URL
/// sets none (a connect timeout, the application name shown in `pg_stat_activity`).
fn config(url: &str, settings: &StoreSettings) -> Result<postgres::Config> {
    let mut config: postgres::Config = url.parse().map_err(|e: postgres::Error| {
        Error::Refused(format!(
            "store.url {}: {e}",
            crate::store::url::redacted(url)
        ))
    })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(settings.busy_timeout.max(Duration::from_secs(1)));
    }
    if config.get_application_name().is_none() {
        config.application_name("pagerd");
    }
    Ok(config)
}

/// Connects, runs migrations, starts the writer and the readers.
pub async fn open(url: &str, settings: &StoreSettings) -> Result<(Arc<dyn Backend>, WriterDone)> {
    let config = config(url, settings)?;
    let started = writer::start(config.clone(), settings.clone());
    // Connecting and migrating happen on the writer's thread; wait off the runtime.
    let handles = tokio::task::spawn_blocking(move || started.recv())
        .await
        .map_err(|e| Error::backend(e).context("starting the store writer"))?
        .map_err(|_| Error::Refused("the store writer exited while starting".into()))??;
    let writer::Handles {
        jobs,
        events,
        pump,
        stats,
        close,
        mut finished,
    } = handles;
    // `WriterDone` resolves when the thread has drained its queue; closing it asks the
    // thread to stop taking jobs.
    let cancel = tokio_util::sync::CancellationToken::new();
    let task = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = &mut finished => {}
                _ = cancel.cancelled() => {
                    let _ = close.try_send(());
                    let _ = finished.await;
                }
            }
        })
    };
    let done = WriterDone::new(task, cancel);
    let reads = reader::start(config.clone(), READERS);
    let listening = Arc::new(std::sync::atomic::AtomicBool::new(false));
    feed::listen(config, pump.clone(), listening.clone())
        .map_err(|e| Error::backend(e).context("starting the event listener"))?;
    let backend: Arc<dyn Backend> = Arc::new(Postgres {
        jobs,
        reads,
        events,
        stats,
        pump,
        stop_listening: listening,
    });
    Ok((backend, done))
}

impl Backend for Postgres {
    fn submit(&self, job: WriteJob) -> Result<()> {
        // A blocking task waits for the answer: while the writer thread works, tokio's paused
        // test clock must not auto-advance (the runtime would look idle). It ends when the
        // completion has run, or when the job is dropped unrun.
        let (wake, waiting) = std::sync::mpsc::sync_channel::<()>(0);
        let job = job.then(move || drop(wake));
        self.jobs.send(job).map_err(|_| Error::Stopped)?;
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn_blocking(move || {
                let _ = waiting.recv();
            });
        }
        Ok(())
    }

    fn subscribe(&self) -> (broadcast::Receiver<Event>, i64) {
        self.events.subscribe()
    }

    fn write_stats(&self) -> Option<WriteStats> {
        Some(self.stats.clone())
    }

    fn on_remote_change(&self, waker: Arc<dyn Fn() + Send + Sync>) {
        self.pump.on_remote_change(waker);
    }

    fn on_tokens_changed(&self, waker: Arc<dyn Fn() + Send + Sync>) {
        self.pump.on_tokens_changed(waker);
    }

    fn on_schedules_changed(&self, waker: Arc<dyn Fn() + Send + Sync>) {
        self.pump.on_schedules_changed(waker);
    }

    fn read(&self, job: ReadJob) -> BoxFuture<Result<()>> {
        let reads = self.reads.clone();
        Box::pin(async move {
            let (reply, answer) = std::sync::mpsc::sync_channel(1);
            reads.send((job, reply)).map_err(|_| Error::Stopped)?;
            tokio::task::spawn_blocking(move || answer.recv())
                .await
                .map_err(|_| Error::ReadPanicked)?
                .map_err(|_| Error::ReadPanicked)?
        })
    }
}
