//! Durability off the writer's thread: the writer commits with `synchronous = NORMAL` (the
//! batch's frames are written to the WAL, not synced) and hands the batch here; this thread
//! `fdatasync`s the WAL once for every batch waiting, then publishes their events and answers
//! their callers, in commit order.
//!
//! So the writer executes batch k+1 while batch k's sync runs (at saturation a commit's sync
//! was a third of the writer's cycle, BENCHMARKS.md), and a caller still hears `Ok` only once
//! its change is on disk: every frame of a batch was written before its `COMMIT` returned,
//! and the sync that answers it starts after that. SQLite itself still syncs the WAL header
//! when the WAL starts over, and before every checkpoint, as under `FULL`.
//!
//! What changes: another connection may read a batch in the ~millisecond before its sync
//! (nobody has been told it is accepted yet). A process crash loses nothing of it (the
//! frames are in the OS's cache); only a power loss in that window can, and then a page that
//! went out for it may go out again when the sender retries — the outbox's at-least-once.

use std::fs::File;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::domain::Event;
use crate::store::{Completion, Error, EventFeed};

/// One committed (or failed) batch, waiting to be made durable and answered.
pub(super) struct Batch {
    /// The events of the jobs kept, in sequence order.
    pub events: Vec<Event>,
    pub completions: Vec<Completion>,
    /// Why the batch did not commit (then it needs no sync, and publishes nothing).
    pub err: Option<Error>,
}

/// Makes what was written durable (`fdatasync` of the WAL).
type SyncFn = Box<dyn FnMut() -> std::io::Result<()> + Send>;

pub(super) struct Syncer {
    batches: mpsc::Sender<Batch>,
    thread: JoinHandle<()>,
}

impl Syncer {
    /// `wal`: the WAL file to sync before answering, or `None` when commits are durable (or
    /// not asked to be, `synchronous = "normal"`) without it.
    pub(super) fn start(wal: Option<File>, events: Arc<EventFeed>) -> std::io::Result<Self> {
        Self::with_sync(
            wal.map(|f| Box::new(move || f.sync_data()) as SyncFn),
            events,
        )
    }

    fn with_sync(sync: Option<SyncFn>, events: Arc<EventFeed>) -> std::io::Result<Self> {
        let (batches, rx) = mpsc::channel::<Batch>();
        let thread = std::thread::Builder::new()
            .name("pagerd-sync".into())
            .spawn(move || run(rx, sync, &events))?;
        Ok(Self { batches, thread })
    }

    /// After the writer's `COMMIT` (or its failure).
    pub(super) fn hand(&self, batch: Batch) {
        if let Err(mpsc::SendError(batch)) = self.batches.send(batch) {
            // The thread is gone (it exits the process on a failed sync, so only a panic
            // gets here): nothing may be answered as durable.
            let err = Error::Unavailable("the store's sync thread stopped".into());
            for done in batch.completions {
                done(Some(&err));
            }
        }
    }

    /// Answers everything handed so far, then stops.
    pub(super) fn finish(self) {
        drop(self.batches);
        let _ = self.thread.join();
    }
}

fn run(rx: mpsc::Receiver<Batch>, mut sync: Option<SyncFn>, events: &EventFeed) {
    while let Ok(first) = rx.recv() {
        // Every batch committed meanwhile shares this sync.
        let mut group = vec![first];
        group.extend(rx.try_iter());
        if let Some(sync) = &mut sync
            && group.iter().any(|b| b.err.is_none())
        {
            let t0 = std::time::Instant::now();
            if let Err(e) = sync() {
                // After a failed fsync the kernel may have dropped the dirty pages: what was
                // committed can no longer be called durable, nor retried safely in this
                // process. Restarting recovers from what the disk has (PostgreSQL does the
                // same); nobody was told these batches were accepted.
                tracing::error!(error = %e, "syncing the WAL failed; exiting so a restart recovers");
                std::process::exit(70);
            }
            tracing::trace!(
                batches = group.len(),
                sync_us = t0.elapsed().as_micros() as u64,
                "WAL synced"
            );
        }
        for batch in group {
            if batch.err.is_none() {
                events.publish(batch.events);
            }
            for done in batch.completions {
                done(batch.err.as_ref());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use chrono::Utc;

    use super::*;
    use crate::domain::EventKind;

    fn event(id: i64) -> Event {
        Event {
            id,
            incident_id: 1,
            service: "db".into(),
            kind: EventKind::Note,
            at: Utc::now(),
            level: None,
            person: None,
            channel: None,
            actor: None,
            message: format!("event {id}"),
        }
    }

    /// What happened, in order: `sync`, `answer N`, `answer N failed`.
    type Log = Arc<Mutex<Vec<String>>>;

    fn batch(log: &Log, n: i64, err: Option<Error>) -> Batch {
        let log = log.clone();
        Batch {
            events: vec![event(n)],
            completions: vec![Box::new(move |e: Option<&Error>| {
                let what = if e.is_some() { " failed" } else { "" };
                log.lock().unwrap().push(format!("answer {n}{what}"));
            })],
            err,
        }
    }

    #[test]
    fn batches_are_answered_after_a_sync_in_commit_order_and_failed_ones_publish_nothing() {
        let log: Log = Default::default();
        let feed = Arc::new(EventFeed::new(16, 0));
        let (mut rx, _) = feed.subscribe();
        let sync_log = log.clone();
        let syncer = Syncer::with_sync(
            Some(Box::new(move || {
                sync_log.lock().unwrap().push("sync".into());
                Ok(())
            })),
            feed.clone(),
        )
        .unwrap();
        syncer.hand(batch(&log, 1, None));
        syncer.hand(batch(&log, 2, Some(Error::Unavailable("disk full".into()))));
        syncer.hand(batch(&log, 3, None));
        syncer.finish();
        let log = log.lock().unwrap().clone();
        // Every answer of a kept batch comes after a sync that started after it was handed;
        // one sync may cover several batches.
        assert_eq!(log.first().map(String::as_str), Some("sync"), "{log:?}");
        let answers: Vec<&String> = log.iter().filter(|l| l.starts_with("answer")).collect();
        assert_eq!(
            answers,
            ["answer 1", "answer 2 failed", "answer 3"],
            "{log:?}"
        );
        // The failed batch's event is not published; the others are, in order.
        let mut got = Vec::new();
        while let Ok(ev) = rx.try_recv() {
            got.push(ev.id);
        }
        assert_eq!(got, [1, 3]);
    }

    #[test]
    fn a_batch_that_failed_needs_no_sync() {
        let syncs = Arc::new(Mutex::new(0));
        let counted = syncs.clone();
        let log: Log = Default::default();
        let syncer = Syncer::with_sync(
            Some(Box::new(move || {
                *counted.lock().unwrap() += 1;
                Ok(())
            })),
            Arc::new(EventFeed::new(16, 0)),
        )
        .unwrap();
        syncer.hand(batch(&log, 1, Some(Error::Unavailable("disk full".into()))));
        syncer.finish();
        assert_eq!(*syncs.lock().unwrap(), 0);
        assert_eq!(*log.lock().unwrap(), ["answer 1 failed"]);
    }
}
