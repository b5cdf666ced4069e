//! Durable state behind one interface — the only module that knows how state is kept.
//!
//! # The contract
//! Callers talk to the store in domain operations, never in SQL: [`ReadTx`] and [`WriteTx`]
//! (in `tx.rs`) list them, and a backend implements them. Today's backend is SQLite
//! ([`sqlite`]); a second one (PostgreSQL, for several daemons) implements the same traits
//! and [`Backend`], and nothing above the store changes.
//!
//! - **One closure is one transaction.** [`Store::write`] runs its closure inside one write
//!   transaction: every change it makes is kept, or (if it returns `Err`, or the commit fails)
//!   none is. Other writes never see its changes half done. [`Store::read`] runs its closure
//!   on one consistent snapshot.
//! - **An answered write is committed.** `Store::write` resolves only after the transaction
//!   is durably committed; a caller that got `Ok` may tell the world (answer an RPC, wake the
//!   timer). If it got `Err`, nothing of the closure is kept. (A networked backend that loses
//!   its connection during the commit cannot know the outcome; it must still answer `Err`,
//!   [`Error::Commit`], and callers rely on idempotent retries — dedup keys — as they do now.)
//! - **Errors are the store's own.** Operations return [`Result`] with [`Error`]; no
//!   backend driver type crosses this module's edge. A read closure returns a store
//!   [`Result`]; a write closure returns `anyhow::Result`, so a caller can refuse a change
//!   with its own error (the engine does, and downcasts it back); store errors convert into
//!   it with `?`.
//! - Closures run off the async runtime, on a backend thread: they must not block on async
//!   work, and should only do store operations and the decisions that need their results.
//!
//! - **Committed events are published in commit order.** Every event a write appends gets
//!   an id greater than every id committed before it (its **sequence**), and the backend
//!   sends it to [`Store::subscribe`] receivers after the commit, in id order.
//!
//! How a backend keeps the promise is its business. SQLite (`sqlite/`) groups queued writes
//! into one database transaction, each closure in a savepoint of its own, and commits once for
//! the whole batch (one fsync for many writes: what the throughput figures rest on).

/// An incident's columns as both backends select them (`incident_from_row` reads them in
/// this order), with `$next` as its next action's time.
macro_rules! incident_columns {
    ($next:literal) => {
        concat!(
            "i.id, i.service, i.dedup_key, i.severity, i.summary, i.source, i.details, i.links, \
             i.state, i.policy, i.level, i.loop_no, i.alert_count, i.created_at, \
             i.last_seen_at, i.acknowledged_at, i.acknowledged_by, i.resolved_at, i.resolved_by, \
             i.resolve_note, ",
            $next,
            ", i.last_summary, i.last_details, i.postmortem_required, i.postmortem_url"
        )
    };
}

pub mod cluster;
#[cfg(test)]
mod contract_tests;
mod error;
mod feed;
mod health;
pub mod page_feed;
pub mod pg_server;
pub mod sqlite;
// `pagerd migrate`: SQLite -> PostgreSQL (issue 13).
pub mod migrate;
mod tx;
mod types;
// The PostgreSQL backend and `store.url` (issue 13).
pub mod postgres;
pub mod url;

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::{broadcast, oneshot};

use crate::domain::Event;

pub use error::{Error, Result, fenced, unavailable};
pub use feed::EventFeed;
pub use page_feed::{FreshPage, PageFeed};
pub use tx::{ReadTx, WriteTx};
pub use types::{
    AttemptInfo, AttemptOutcome, DeliveredPage, HeartbeatState, IncidentFilter, LedgerEntry,
    NewToken, StoredPhase, StoredToken, StoredWindow, UiSession,
};

use crate::config::settings::StoreSettings;

/// A write job's body: runs in the transaction, says whether its changes are to be kept.
type JobRun = Box<dyn FnMut(&dyn WriteTx) -> bool + Send>;

/// One write closure with its types erased: it runs inside the backend's transaction and
/// says whether its changes are to be kept; its [`Completion`] is called once the outcome of
/// the commit is known.
pub struct WriteJob {
    run: JobRun,
    finish: Completion,
    replayable: bool,
}

impl WriteJob {
    /// Runs the job once and hands back its completion (backends that never run a job twice).
    pub fn run_once(mut self, tx: &dyn WriteTx) -> (bool, Completion) {
        let ok = (self.run)(tx);
        (ok, self.finish)
    }

    /// Runs the job; a replayable job may be run again after a rollback of the whole
    /// transaction, and its last run is the one its completion reports.
    pub fn run(&mut self, tx: &dyn WriteTx) -> bool {
        (self.run)(tx)
    }

    /// Whether running it again is harmless: it changes nothing but the store, and a later
    /// run replaces what an earlier one computed (see [`Store::write_replayable`]).
    pub fn replayable(&self) -> bool {
        self.replayable
    }

    /// Reports the commit's outcome to whoever waits for the job.
    pub fn finish(self, commit_error: Option<&Error>) {
        (self.finish)(commit_error)
    }

    /// The same job, with `after` run once its completion has.
    pub fn then(self, after: impl FnOnce() + Send + 'static) -> Self {
        let finish = self.finish;
        Self {
            run: self.run,
            finish: Box::new(move |e| {
                finish(e);
                after();
            }),
            replayable: self.replayable,
        }
    }
}

/// Called with `None` once a job's kept changes are durably committed, or with the error
/// that stopped the commit (then none of them are kept).
pub type Completion = Box<dyn FnOnce(Option<&Error>) + Send>;

/// One read closure with its types erased; it sends its own result back.
pub type ReadJob = Box<dyn FnOnce(&dyn ReadTx) + Send>;

/// A future a backend returns; boxed so `Backend` stays usable as a trait object.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What a storage backend provides to [`Store`].
pub trait Backend: Send + Sync + 'static {
    /// Queues a write job. The backend runs it in a transaction (alone, or with others if it
    /// can keep them apart, as SQLite's savepoints do), then calls its completion once the
    /// commit is known. `Err` (nothing queued) only if the backend has stopped.
    fn submit(&self, job: WriteJob) -> Result<()>;

    /// The feed of committed incident events, in commit (= id) order: the backend sends the
    /// events a job appended only after its transaction committed, and before the job's
    /// caller hears back. Also returns the sequence the receiver starts after (it gets
    /// exactly the later ones). A receiver further behind than the backend's buffer gets
    /// `Lagged`.
    fn subscribe(&self) -> (broadcast::Receiver<Event>, i64);

    /// Runs a read job on one consistent snapshot, off the async runtime. Resolves after the
    /// job ran; `Err` if it could not run.
    fn read(&self, job: ReadJob) -> BoxFuture<Result<()>>;

    /// The feed of pages this process's writer committed, if the backend hands them over
    /// (see [`PageFeed`]). A backend with a feed publishes to it after every commit that
    /// queued pages, so the outbox needs no other wake for them; without one, whoever queued
    /// pages wakes the outbox.
    fn page_feed(&self) -> Option<Arc<PageFeed>> {
        None
    }

    /// The writer's commit latency and batch sizes, for `/metrics`, if the backend keeps them.
    fn write_stats(&self) -> Option<crate::metrics::WriteStats> {
        None
    }

    /// Calls `waker` whenever another process committed to the same database (several
    /// nodes): the timer and the outbox look again. A single-node backend never calls it.
    fn on_remote_change(&self, waker: Arc<dyn Fn() + Send + Sync>) {
        let _ = waker;
    }

    /// Calls `waker` whenever a token was revoked through any process on the same database
    /// (several nodes): token caches are emptied. A single-node backend never calls it.
    fn on_tokens_changed(&self, waker: Arc<dyn Fn() + Send + Sync>) {
        let _ = waker;
    }

    /// Calls `waker` whenever an override or maintenance window was added or removed through
    /// any process on the same database (several nodes). A single-node backend never calls it.
    fn on_schedules_changed(&self, waker: Arc<dyn Fn() + Send + Sync>) {
        let _ = waker;
    }
}

/// Cheap to clone; all clones share the same backend (for SQLite: one writer, one read pool).
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
    health: Arc<health::Health>,
}

/// Resolves when the backend has finished every queued job and closed the database.
pub struct WriterDone {
    task: tokio::task::JoinHandle<()>,
    close: tokio_util::sync::CancellationToken,
}

impl WriterDone {
    pub fn new(
        task: tokio::task::JoinHandle<()>,
        close: tokio_util::sync::CancellationToken,
    ) -> Self {
        Self { task, close }
    }

    /// Waits until every `Store` clone is dropped and the queue is committed.
    pub async fn wait(self) {
        let _ = self.task.await;
    }

    /// Stops the writer although `Store` clones remain (tasks that were cut off at a stop):
    /// what is queued is committed, later writes are refused as `Stopped`.
    pub async fn close(self) {
        self.close.cancel();
        let _ = self.task.await;
    }
}

impl Store {
    /// Opens (creating if needed) the SQLite database at `path`, runs migrations and starts
    /// the writer. The writer stops once every clone of the `Store` is dropped and the queue
    /// is drained; `WriterDone` resolves then.
    pub async fn open(path: &Path, settings: &StoreSettings) -> Result<(Store, WriterDone)> {
        let (backend, done) = sqlite::open(path, settings).await?;
        Ok((Store::new(backend), done))
    }

    /// Opens the store `url` names (SQLite or PostgreSQL; see [`url`]).
    pub async fn open_url(
        url: &url::StoreUrl,
        settings: &StoreSettings,
    ) -> Result<(Store, WriterDone)> {
        match url {
            url::StoreUrl::Sqlite(path) => Store::open(path, settings).await,
            url::StoreUrl::Postgres(url) => {
                let (backend, done) = postgres::open(url, settings).await?;
                Ok((Store::new(backend), done))
            }
        }
    }

    /// Opens the store the settings name (`store.url`, else `data_dir/pagerd.db`).
    pub async fn open_settings(
        settings: &crate::config::settings::Settings,
    ) -> anyhow::Result<(Store, WriterDone)> {
        let url = settings.store_url()?;
        Ok(Store::open_url(&url, &settings.store).await?)
    }

    /// A store over any backend.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Self {
            backend,
            health: Arc::default(),
        }
    }

    /// `Ok` while the store takes writes; else why not. While writes are refused, this also
    /// probes (at most every 250 ms) with a write that must grow the store, and reports
    /// healthy again once one commits.
    pub async fn check_writes(&self) -> std::result::Result<(), String> {
        let Some((problem, probe)) = self.health.problem() else {
            return Ok(());
        };
        if probe {
            const BYTES: usize = 32 * 1024;
            let grew = self.write(|tx| Ok(tx.probe_space(true, BYTES)?)).await;
            if grew.is_ok() && self.write(|tx| Ok(tx.probe_space(false, 0)?)).await.is_ok() {
                self.health.recovered();
                return Ok(());
            }
        }
        Err(problem)
    }

    /// Runs `f` as one write transaction; resolves after it is durably committed.
    /// An `Err` from `f` rolls back all of `f`'s changes and only those.
    pub async fn write<R, F>(&self, f: F) -> anyhow::Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&dyn WriteTx) -> anyhow::Result<R> + Send + 'static,
    {
        let mut f = Some(f);
        self.submit(
            move |tx| match f.take() {
                Some(f) => f(tx),
                // Not replayable: a backend never runs it twice.
                None => Err(anyhow::anyhow!("a write job ran twice")),
            },
            false,
        )
        .await
    }

    /// As [`Store::write`], for a hot path: `f` may run more than once (the backend may
    /// run a batch of such jobs without keeping each apart, and run them again, apart, if
    /// one fails), so it must change nothing but the store; what its last run returns is
    /// the answer. SQLite then needs no savepoint per job.
    pub async fn write_replayable<R, F>(&self, f: F) -> anyhow::Result<R>
    where
        R: Send + 'static,
        F: FnMut(&dyn WriteTx) -> anyhow::Result<R> + Send + 'static,
    {
        self.submit(f, true).await
    }

    async fn submit<R, F>(&self, mut f: F, replayable: bool) -> anyhow::Result<R>
    where
        R: Send + 'static,
        F: FnMut(&dyn WriteTx) -> anyhow::Result<R> + Send + 'static,
    {
        let (done_tx, done_rx) = oneshot::channel::<anyhow::Result<R>>();
        // The last run's result, for the completion.
        let slot: Arc<std::sync::Mutex<Option<anyhow::Result<R>>>> = Arc::default();
        let kept = slot.clone();
        let job = WriteJob {
            run: Box::new(move |tx| {
                let result = f(tx);
                let ok = result.is_ok();
                *kept.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
                ok
            }),
            finish: Box::new(move |commit_error| {
                let result = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
                let outcome = match (commit_error, result) {
                    (None, Some(result)) => result,
                    // Its own error says more than the batch's (nothing is kept either way).
                    (Some(_), Some(Err(own))) => Err(own),
                    (Some(e), _) => Err(Error::Commit(e.to_string()).into()),
                    (None, None) => Err(anyhow::anyhow!("a write job was answered unrun")),
                };
                let _ = done_tx.send(outcome);
            }),
            replayable,
        };
        let outcome = match self.backend.submit(job) {
            Ok(()) => done_rx
                .await
                .unwrap_or_else(|_| Err(Error::StoppedBeforeCommit.into())),
            Err(e) => Err(e.into()),
        };
        if let Err(e) = &outcome
            && let Some(refusal) = unavailable(e)
        {
            let mut reason = refusal.to_string();
            let mut cause = std::error::Error::source(refusal);
            while let Some(c) = cause {
                reason = format!("{reason}: {c}");
                cause = c.source();
            }
            self.health.refused(reason);
        }
        outcome
    }

    /// Calls `waker` whenever another node committed (see [`Backend::on_remote_change`]).
    pub fn on_remote_change(&self, waker: Arc<dyn Fn() + Send + Sync>) {
        self.backend.on_remote_change(waker)
    }

    /// Calls `waker` whenever a token was revoked on any node (see
    /// [`Backend::on_tokens_changed`]).
    pub fn on_tokens_changed(&self, waker: Arc<dyn Fn() + Send + Sync>) {
        self.backend.on_tokens_changed(waker)
    }

    /// Calls `waker` whenever API-made schedule state changed on any node (see
    /// [`Backend::on_schedules_changed`]).
    pub fn on_schedules_changed(&self, waker: Arc<dyn Fn() + Send + Sync>) {
        self.backend.on_schedules_changed(waker)
    }

    /// The feed of pages this process committed, if the backend hands them over (see
    /// [`Backend::page_feed`]).
    pub fn page_feed(&self) -> Option<Arc<PageFeed>> {
        self.backend.page_feed()
    }

    /// The backend's commit latency and batch sizes, if it keeps them.
    pub fn write_stats(&self) -> Option<crate::metrics::WriteStats> {
        self.backend.write_stats()
    }

    /// Committed incident events from now on, in commit order, and the sequence they start
    /// after (see [`Backend::subscribe`]).
    pub fn subscribe(&self) -> (broadcast::Receiver<Event>, i64) {
        self.backend.subscribe()
    }

    /// Runs `f` on one consistent snapshot, off the async runtime. Reads fail only with the
    /// store's own errors, so `f` returns a store [`Result`].
    pub async fn read<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&dyn ReadTx) -> Result<R> + Send + 'static,
    {
        let (done_tx, done_rx) = oneshot::channel::<Result<R>>();
        let job: ReadJob = Box::new(move |r| {
            let _ = done_tx.send(f(r));
        });
        self.backend.read(job).await?;
        done_rx.await.map_err(|_| Error::ReadPanicked)?
    }
}
