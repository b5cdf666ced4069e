//! The writer thread: group commit. It takes every queued job (up to `store.max_batch`),
//! runs them in one transaction — first the cluster-wide writer lock, then each job in a
//! savepoint of its own, so a failing job rolls back alone — commits once, publishes the
//! kept jobs' events, then answers every job.
//!
//! A lost connection is reopened with a backoff; while the server cannot be reached, jobs
//! are answered at once with `Unavailable` (senders are told to retry, `/readyz` shows it).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::feed::{CHANGES_CHANNEL, Pump};
use super::{Conn, Tx, WRITER_LOCK, schema};
use crate::config::settings::StoreSettings;
use crate::domain::Event;
use crate::metrics::WriteStats;
use crate::store::{Completion, Error, EventFeed, Result, WriteJob};

/// What the writer thread hands back once connected and migrated.
pub(super) struct Handles {
    pub jobs: Sender<WriteJob>,
    pub events: Arc<EventFeed>,
    pub pump: Arc<Pump>,
    pub stats: WriteStats,
    /// Asks the thread to commit what is queued and stop.
    pub close: Sender<()>,
    /// Resolves when the thread has stopped.
    pub finished: tokio::sync::oneshot::Receiver<()>,
}

/// Longest wait between two reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Starts the writer thread; it connects and migrates first, then answers on the returned
/// channel and runs until every job sender is gone or it is closed.
pub(super) fn start(
    config: postgres::Config,
    settings: StoreSettings,
) -> std::sync::mpsc::Receiver<Result<Handles>> {
    let (started_tx, started_rx) = std::sync::mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name("pagerd-pg-writer".into())
        .spawn(move || {
            let opened = (|| -> Result<(Conn, i64)> {
                let mut conn = Conn::connect(&config, "writer")?;
                schema::migrate(&mut conn.client)?;
                let last: i64 = conn
                    .client
                    .query_one("SELECT COALESCE(MAX(id), 0) FROM incident_events", &[])
                    .map_err(|e| Error::from(e).context("reading the last event sequence"))?
                    .get(0);
                Ok((conn, last))
            })();
            let (conn, last) = match opened {
                Ok(opened) => opened,
                Err(e) => {
                    let _ = started_tx.send(Err(e));
                    return;
                }
            };
            let (jobs_tx, jobs) = crossbeam_channel::unbounded();
            let (close_tx, close) = crossbeam_channel::bounded::<()>(1);
            let (finished_tx, finished) = tokio::sync::oneshot::channel::<()>();
            let events = Arc::new(EventFeed::new(settings.event_buffer, last));
            let pump = Arc::new(Pump::new(events.clone()));
            let stats = WriteStats::default();
            let handles = Handles {
                jobs: jobs_tx,
                events: events.clone(),
                pump: pump.clone(),
                stats: stats.clone(),
                close: close_tx,
                finished,
            };
            if started_tx.send(Ok(handles)).is_err() {
                return;
            }
            let mut writer = Writer {
                config,
                conn: Some(conn),
                backoff: Duration::from_millis(100),
                next_try: Instant::now(),
                down: None,
                pump,
                stats,
                max_batch: settings.max_batch.max(1),
            };
            writer.run(jobs, close);
            drop(writer);
            let _ = finished_tx.send(());
        });
    if let Err(e) = spawned {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let _ = tx.send(Err(Error::backend(e).context("starting the store writer")));
        return rx;
    }
    started_rx
}

/// The writer's state: its connection (if up) and when it may try to reconnect.
struct Writer {
    config: postgres::Config,
    conn: Option<Conn>,
    backoff: Duration,
    next_try: Instant,
    /// Why the last connection attempt failed, told to the jobs answered meanwhile.
    down: Option<String>,
    pump: Arc<Pump>,
    stats: WriteStats,
    max_batch: usize,
}

impl Writer {
    /// Takes jobs until every sender is gone (all `Store` clones dropped) or a close is asked
    /// for; then commits what is queued and returns.
    fn run(&mut self, jobs: Receiver<WriteJob>, close: Receiver<()>) {
        loop {
            let first = crossbeam_channel::select! {
                recv(jobs) -> job => match job {
                    Ok(job) => job,
                    Err(_) => break,
                },
                // Closed by the owner (or its runtime is gone): take nothing new, commit
                // what is queued, then stop.
                recv(close) -> _ => {
                    let queued: Vec<WriteJob> = jobs.try_iter().collect();
                    let mut queued = queued.into_iter().peekable();
                    while queued.peek().is_some() {
                        let batch: Vec<WriteJob> = queued.by_ref().take(self.max_batch).collect();
                        self.batch(batch);
                    }
                    break;
                }
            };
            let mut batch = Vec::with_capacity(self.max_batch.min(1024));
            batch.push(first);
            while batch.len() < self.max_batch {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            self.batch(batch);
        }
        tracing::debug!("store writer drained and stopped");
    }

    /// The connection, reconnecting if it was lost and the backoff allows.
    fn connection(&mut self) -> std::result::Result<&mut Conn, String> {
        if self.conn.as_ref().is_some_and(Conn::is_closed) {
            self.conn = None;
        }
        if self.conn.is_none() {
            if Instant::now() < self.next_try
                && let Some(why) = &self.down
            {
                return Err(why.clone());
            }
            match Conn::connect(&self.config, "writer") {
                Ok(conn) => {
                    if self.down.take().is_some() {
                        tracing::info!("store connection is back");
                    }
                    self.backoff = Duration::from_millis(100);
                    self.conn = Some(conn);
                }
                Err(e) => {
                    let why = format!("{:#}", anyhow::Error::from(e));
                    tracing::warn!(error = %why, retry_in = ?self.backoff, "store unreachable");
                    self.next_try = Instant::now() + self.backoff;
                    self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                    self.down = Some(why.clone());
                    return Err(why);
                }
            }
        }
        Ok(self.conn.as_mut().expect("connected above"))
    }

    /// Runs one batch and answers its jobs; a panic inside a job ends the process (nothing
    /// was answered as committed, and the daemon must not run deaf).
    fn batch(&mut self, jobs: Vec<WriteJob>) {
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let (pump, stats) = (self.pump.clone(), self.stats.clone());
            match self.connection() {
                Ok(conn) => run_batch(conn, jobs, &pump, &stats),
                Err(why) => refuse(jobs, &why),
            }
        }));
        if run.is_err() {
            tracing::error!("store writer panicked; exiting");
            std::process::exit(70);
        }
    }
}

/// The server cannot be reached: every job is run against a transaction that is not there
/// (its first store operation fails with `Unavailable`, naming why) and answered so.
fn refuse(jobs: Vec<WriteJob>, why: &str) {
    let why = format!("PostgreSQL unreachable: {why}");
    answer_unrun(jobs, &Error::Unavailable(why.into()));
}

/// Answers jobs no transaction can run with `err`.
fn answer_unrun(jobs: impl IntoIterator<Item = WriteJob>, err: &Error) {
    let statements = Default::default();
    for job in jobs {
        let (_, done) = job.run_once(&Tx::down(&statements, err.to_string()));
        done(Some(err));
    }
}

/// Runs the jobs in one transaction, commits it, publishes the events of the kept jobs, then
/// answers every job with the outcome.
///
/// The advisory lock taken first makes writers of all nodes commit one at a time, and events
/// get their ids inside it: ids are in commit order across nodes, and publishing here, after
/// the commit and before any caller hears back, keeps this node's feed in that order too.
fn run_batch(conn: &mut Conn, jobs: Vec<WriteJob>, pump: &Pump, stats: &WriteStats) {
    let t0 = Instant::now();
    let n = jobs.len();
    let mut t_commit = t0;
    // Each job's completion, and its own error if its savepoint could not be kept.
    let mut completions: Vec<(Completion, Option<Error>)> = Vec::with_capacity(n);
    let mut committed: Vec<Event> = Vec::new();
    let mut kept = false;
    let mut jobs = jobs.into_iter();
    let Conn { client, statements } = conn;
    // Held from before the batch until its events are published: the listener must not read
    // this batch's events from the database in between (it would publish only their final
    // state, and a repeat line moved twice would skip a sequence a Watch was promised).
    let held = pump.hold();
    let outcome = (|| -> Result<()> {
        let mut tx = client.transaction()?;
        // One round trip: the lock, and the first job's savepoint.
        tx.batch_execute(&format!(
            "SELECT pg_advisory_xact_lock({WRITER_LOCK}); SAVEPOINT job"
        ))?;
        for job in jobs.by_ref() {
            let view = Tx::new(&mut tx, statements);
            let (ok, done) = job.run_once(&view);
            let added = view.added.into_inner();
            if !ok {
                // The savepoint stays, ready for the next job.
                tx.batch_execute("ROLLBACK TO SAVEPOINT job")?;
                completions.push((done, None));
                continue;
            }
            // Keep this job's changes and open the next job's savepoint in one round trip.
            match tx.batch_execute("RELEASE SAVEPOINT job; SAVEPOINT job") {
                Ok(()) => {
                    kept = true;
                    committed.extend(added);
                    completions.push((done, None));
                }
                // The job ignored a failed statement and returned Ok: PostgreSQL refuses the
                // rest of its savepoint, so it alone is rolled back (else COMMIT would roll
                // back the whole batch) and told.
                Err(e) => {
                    let e = Error::from(e);
                    if e.is_unavailable() {
                        completions.push((done, None));
                        return Err(e);
                    }
                    tx.batch_execute("ROLLBACK TO SAVEPOINT job")?;
                    completions.push((done, Some(e.context("keeping a write"))));
                }
            }
        }
        // Other nodes hear of it (on commit): their Watch streams, timer and outbox.
        if kept {
            tx.execute(
                "SELECT pg_notify($1, $2)",
                &[&CHANGES_CHANNEL, &pump.instance],
            )?;
        }
        t_commit = Instant::now();
        // Lost during COMMIT, the outcome is unknown: the caller is told it failed and relies
        // on idempotent retries.
        tx.commit().map_err(|e| Error::Commit(e.to_string()))
    })();
    tracing::trace!(
        jobs = n,
        exec_us = (t_commit - t0).as_micros() as u64,
        commit_us = t_commit.elapsed().as_micros() as u64,
        "write batch"
    );
    let err = outcome.err();
    if let Some(e) = &err {
        tracing::error!(error = %e, jobs = n, "write batch failed to commit");
        if client.is_closed() {
            // Statements die with their connection; the writer reconnects on the next batch.
            statements.borrow_mut().clear();
        }
    } else {
        stats.batch(n, t0.elapsed().as_secs_f64());
        pump.publish_local(&held, client, committed);
    }
    drop(held);
    for (done, own) in completions {
        done(err.as_ref().or(own.as_ref()));
    }
    // Jobs the batch never reached (it failed first) are answered with its error too.
    answer_unrun(jobs, &err.unwrap_or(Error::StoppedBeforeCommit));
}
