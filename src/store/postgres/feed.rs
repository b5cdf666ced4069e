//! Watch on every node: the committed-event feed fed from two paths, in sequence order.
//!
//! Writers of all nodes commit one at a time (the writer lock), and events get their ids
//! inside it, so sequence order is commit order across nodes, and once a batch has committed
//! every lower id that will ever commit has. This node's writer publishes its own events
//! right after its commit — first catching up on lower ids other nodes committed that the
//! feed has not seen. A listener thread (LISTEN on [`CHANGES_CHANNEL`], which every batch
//! that keeps a change notifies) catches up on other nodes' events and wakes the loops
//! (a follower's write may bring a due action or page the leader must see). Both paths hold
//! one lock while they read and publish, and the feed skips ids it has published: each event
//! reaches the feed once, in order.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use postgres::Client;

use super::Conn;
use super::read::{EVENT_COLUMNS, event_from_row};
use crate::domain::Event;
use crate::store::{EventFeed, Result};

/// The channel every committing batch notifies, with its node's instance id as payload.
pub const CHANGES_CHANNEL: &str = "pagerd_changes";

/// Notified by a transaction that revoked a token: every node empties its token cache.
pub const TOKENS_CHANNEL: &str = "pagerd_tokens";

/// Notified by a transaction that added or removed an override or a maintenance window
/// through the API: every node re-reads them into the schedules it serves (the leader pages
/// by them).
pub const SCHEDULES_CHANNEL: &str = "pagerd_schedules";

impl super::Tx<'_, '_> {
    /// Tells every node (on commit) that API-made schedule state changed.
    pub(super) fn notify_schedules(&self) -> Result<()> {
        self.execute("SELECT pg_notify($1, '')", &[&SCHEDULES_CHANNEL])?;
        Ok(())
    }
}

/// Most events read per catch-up query.
const CATCH_UP_BATCH: i64 = 1000;

/// Without a notification, the listener still catches up this often (a notification can be
/// lost with a connection).
const QUIET_POLL: Duration = Duration::from_secs(1);

/// Called when another node committed something (wakes the timer and the outbox).
pub type Waker = Arc<dyn Fn() + Send + Sync>;

pub struct Pump {
    feed: Arc<EventFeed>,
    /// Held while reading and publishing, by the writer and the listener.
    lock: Mutex<()>,
    /// This process's id in notifications (its own are already published).
    pub(super) instance: String,
    wakers: Mutex<Vec<Waker>>,
    token_wakers: Mutex<Vec<Waker>>,
    schedule_wakers: Mutex<Vec<Waker>>,
}

impl Pump {
    pub fn new(feed: Arc<EventFeed>) -> Self {
        Self {
            feed,
            lock: Mutex::new(()),
            instance: uuid::Uuid::new_v4().simple().to_string(),
            wakers: Mutex::new(Vec::new()),
            token_wakers: Mutex::new(Vec::new()),
            schedule_wakers: Mutex::new(Vec::new()),
        }
    }

    pub fn on_remote_change(&self, waker: Waker) {
        self.wakers.lock().expect("wakers poisoned").push(waker);
    }

    pub fn on_tokens_changed(&self, waker: Waker) {
        self.token_wakers
            .lock()
            .expect("wakers poisoned")
            .push(waker);
    }

    pub fn on_schedules_changed(&self, waker: Waker) {
        self.schedule_wakers
            .lock()
            .expect("wakers poisoned")
            .push(waker);
    }

    fn schedules_changed(&self) {
        for w in self.schedule_wakers.lock().expect("wakers poisoned").iter() {
            w();
        }
    }

    fn tokens_changed(&self) {
        for w in self.token_wakers.lock().expect("wakers poisoned").iter() {
            w();
        }
    }

    fn wake(&self) {
        for w in self.wakers.lock().expect("wakers poisoned").iter() {
            w();
        }
    }

    /// The lock the writer holds over a batch, from before it starts until its events are
    /// published ([`Pump::publish_local`]).
    pub(super) fn hold(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().expect("pump poisoned")
    }

    /// The writer, right after a commit, holding [`Pump::hold`]: other nodes' events below
    /// ours first (if the feed has a gap there), then ours.
    pub(super) fn publish_local(
        &self,
        _held: &std::sync::MutexGuard<'_, ()>,
        client: &mut Client,
        committed: Vec<Event>,
    ) {
        if let Some(first) = committed.first().map(|e| e.id)
            && self.feed.last() < first - 1
            && let Err(e) = self.catch_up_locked(client, Some(first))
        {
            // The listener catches up later; these may then come after ours and be skipped
            // by a live Watch, which a reconnect (after_sequence) repairs.
            tracing::warn!(error = %e, "could not read other nodes' events before ours");
        }
        self.feed.publish(committed);
    }

    /// Publishes what committed after the feed's last sequence (below `before` if given).
    fn catch_up_locked(&self, client: &mut Client, before: Option<i64>) -> Result<usize> {
        let sql = format!("{EVENT_COLUMNS} WHERE e.id > $1 AND e.id < $2 ORDER BY e.id LIMIT $3");
        let mut n = 0;
        loop {
            let after = self.feed.last();
            let rows = client.query(
                &sql,
                &[&after, &before.unwrap_or(i64::MAX), &CATCH_UP_BATCH],
            )?;
            let got = rows.len();
            let events = rows
                .iter()
                .map(event_from_row)
                .collect::<Result<Vec<_>>>()?;
            n += got;
            self.feed.publish(events);
            if (got as i64) < CATCH_UP_BATCH {
                return Ok(n);
            }
        }
    }

    fn catch_up(&self, client: &mut Client) -> Result<usize> {
        let _held = self.lock.lock().expect("pump poisoned");
        self.catch_up_locked(client, None)
    }
}

/// Starts the listener thread; it ends when `stop` says so.
pub(super) fn listen(
    config: postgres::Config,
    pump: Arc<Pump>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    use std::sync::atomic::Ordering;
    std::thread::Builder::new()
        .name("pagerd-pg-listen".into())
        .spawn(move || {
            let mut backoff = Duration::from_millis(100);
            while !stop.load(Ordering::Relaxed) {
                let mut conn = match Conn::connect(&config, "listener") {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "event listener cannot connect; retrying");
                        std::thread::sleep(backoff);
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                        continue;
                    }
                };
                backoff = Duration::from_millis(100);
                if let Err(e) = run(&mut conn.client, &pump, &stop) {
                    tracing::warn!(error = %e, "event listener lost its connection; reconnecting");
                }
            }
        })
}

/// LISTENs, then catches up (what committed while it was not listening) and again on every
/// notification from another node, or every [`QUIET_POLL`].
fn run(client: &mut Client, pump: &Pump, stop: &std::sync::atomic::AtomicBool) -> Result<()> {
    use postgres::fallible_iterator::FallibleIterator;
    use std::sync::atomic::Ordering;
    client.batch_execute(&format!(
        "LISTEN {CHANGES_CHANNEL}; LISTEN {TOKENS_CHANNEL}; LISTEN {SCHEDULES_CHANNEL}"
    ))?;
    pump.catch_up(client)?;
    pump.wake();
    // A revocation may have been missed while not listening.
    pump.tokens_changed();
    let mut last_catch_up = std::time::Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let mut remote = false;
        let mut tokens = false;
        let mut schedules = false;
        {
            let mut notes = client.notifications();
            // Wait up to QUIET_POLL for one, then take whatever else is queued.
            let mut seen = |n: &postgres::Notification| {
                if n.channel() == TOKENS_CHANNEL {
                    tokens = true;
                } else if n.channel() == SCHEDULES_CHANNEL {
                    schedules = true;
                } else {
                    remote |= n.payload() != pump.instance;
                }
            };
            let first = notes.timeout_iter(QUIET_POLL).next()?;
            if let Some(n) = first {
                seen(&n);
                let mut queued = notes.iter();
                while let Some(n) = queued.next()? {
                    seen(&n);
                }
            }
        }
        if tokens {
            pump.tokens_changed();
        }
        if schedules {
            pump.schedules_changed();
        }
        if client.is_closed() {
            return Err(crate::store::Error::Unavailable(
                "listener connection closed".into(),
            ));
        }
        // Another node committed: catch up and wake the loops. This node's own commits are
        // published by its writer; reading them again here would only contend for the
        // feed's lock. Every QUIET_POLL, catch up anyway (cheap), should a notification
        // ever be missed.
        if remote || last_catch_up.elapsed() >= QUIET_POLL {
            last_catch_up = std::time::Instant::now();
            let n = pump.catch_up(client)?;
            if remote || n > 0 {
                pump.wake();
            }
        }
    }
    Ok(())
}
