//! The outbox worker: a dispatcher that starts one delivery job per page (or per person on a
//! rate-limited channel) as the caps allow, and jobs that send and record on their own.
//!
//! # The states of a page
//! - **pending** (stored): due at `next_attempt_at`.
//! - **claimed** (in memory): a job holds it; the dispatcher's queries skip it, so it is never
//!   sent twice at once. A claim ends only once the job's outcome is recorded.
//! - **sending**: counts toward its channel's and provider host's cap.
//! - **sent, outcome not recorded**: the provider slot is free again, the claim is not. If the
//!   store refuses the write (disk full), the job retries it with backoff; the page is not
//!   sent again meanwhile.
//! - **recorded**: sent, failed for good, or pending again with a later `next_attempt_at`.
//!
//! A crash before the outcome is recorded leaves the page pending: it goes out again after the
//! restart with the same idempotency key (at least once; duplicates bounded by what was in
//! flight). A graceful stop starts nothing new and lets jobs in flight finish and record, for
//! at most `outbox.drain_timeout`.
//!
//! New pages come from the store's page feed where it has one (SQLite: the writer reads a
//! batch's pages back before its commit and hands them over after it), else from reading the
//! store after a wake. A fresh page starts at once only on a channel with nothing known to
//! be waiting and no coalescing; otherwise its channel is read, so priority order and
//! coalescing stay the database's.
//!
//! What to start next is [`crate::domain::dispatch::select`], a pure function.

#[cfg(test)]
mod feed_tests;
mod job;
mod record;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::Engine;
use super::timer::Failures;
use crate::config::settings::OutboxSettings;
use crate::domain::contact::Method;
use crate::domain::dispatch::{self, Candidate, Caps, InFlight};
use crate::domain::health::Loop;
use crate::domain::{Page, Severity};
use crate::notify::Channel;
use crate::store::{AttemptOutcome, FreshPage, PageFeed};

pub use record::decide;

/// The outcome of one attempt at a notification without an incident (a test page).
#[derive(Debug, Clone)]
pub struct NoticeOutcome {
    pub page_id: i64,
    pub channel: String,
    pub address: String,
    pub response: String,
    pub outcome: AttemptOutcome,
}

/// What the dispatcher and its jobs share.
struct Shared {
    engine: Engine,
    channels: HashMap<String, Arc<dyn Channel>>,
    /// The contact methods enabled (for fall-over).
    enabled: Vec<Method>,
    settings: OutboxSettings,
}

pub struct OutboxWorker {
    shared: Arc<Shared>,
}

/// A job in flight, as the dispatcher counts it.
struct Running {
    pages: Vec<i64>,
    channel: String,
    host: Option<String>,
    lane: Option<(String, String)>,
    sending: bool,
}

impl OutboxWorker {
    pub fn new(engine: Engine, channels: Vec<Arc<dyn Channel>>, settings: OutboxSettings) -> Self {
        let channels: HashMap<String, Arc<dyn Channel>> = channels
            .into_iter()
            .map(|c| (c.name().to_string(), c))
            .collect();
        let enabled = channels.values().filter_map(|c| c.method()).collect();
        Self {
            shared: Arc::new(Shared {
                engine,
                channels,
                enabled,
                settings,
            }),
        }
    }

    /// Runs until `shutdown`, then drains. Store errors never end it: they are retried with
    /// backoff (see [`Failures`]).
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let feed = self.shared.engine.page_feed().cloned();
        let _open = feed.as_ref().map(|f| FeedOpen::new(f.clone()));
        let mut d = Dispatcher::new(self.shared.clone(), feed.clone());
        let (done_tx, mut done_rx) = mpsc::unbounded_channel();
        let beats = self.shared.engine.loop_beats().clone();
        let mut failures = Failures::new("outbox worker").beating(beats.clone(), Loop::Outbox);
        let clock = self.shared.engine.clock();
        // Pages queued for channels not enabled any more fail for good (and fall over).
        loop {
            match d.find_orphans().await {
                Ok(()) => break,
                Err(e) => failures.record(e, &shutdown).await?,
            }
            if shutdown.is_cancelled() {
                return Ok(());
            }
        }
        loop {
            beats.turn(Loop::Outbox);
            d.take_fresh();
            while let Ok(id) = done_rx.try_recv() {
                d.sends_done(id);
            }
            while let Some(joined) = d.jobs.try_join_next_with_id() {
                d.ended(joined);
            }
            let next = match d.pass(&done_tx).await {
                Ok(Pass::Started) => {
                    failures.reset();
                    if d.waiting() {
                        // More may be due; let the jobs run first.
                        tokio::task::yield_now().await;
                        continue;
                    }
                    d.next
                }
                Ok(Pass::Idle(next)) => {
                    failures.reset();
                    next
                }
                Err(e) => {
                    failures.record(e, &shutdown).await?;
                    continue;
                }
            };
            // A job's sends ending frees room; only worth a wake while pages wait for room.
            // Otherwise the next turn counts them.
            let waiting = d.waiting();
            let woke = beats
                .idle(Loop::Outbox, async {
                    tokio::select! {
                        _ = shutdown.cancelled() => Woke::Stop,
                        _ = self.shared.engine.outbox_wake().notified() => Woke::Look,
                        _ = published(feed.as_deref()) => Woke::Fresh,
                        _ = clock.sleep_until(next) => Woke::Look,
                        Some(id) = done_rx.recv(), if waiting => Woke::SendsDone(id),
                        Some(joined) = d.jobs.join_next_with_id(), if !d.jobs.is_empty() => {
                            Woke::Ended(joined)
                        }
                    }
                })
                .await;
            match woke {
                Woke::Stop => break,
                Woke::Look => d.look_again(),
                Woke::Fresh => d.take_fresh(),
                Woke::SendsDone(id) => d.sends_done(id),
                Woke::Ended(joined) => d.ended(joined),
            }
        }
        d.drain(self.shared.settings.drain_timeout).await;
        Ok(())
    }
}

/// Resolves when the feed has something (never without a feed).
async fn published(feed: Option<&PageFeed>) {
    match feed {
        Some(f) => f.published().await,
        None => std::future::pending().await,
    }
}

/// The outbox takes from the page feed while this lives.
struct FeedOpen(Arc<PageFeed>);

impl FeedOpen {
    fn new(feed: Arc<PageFeed>) -> Self {
        feed.open();
        Self(feed)
    }
}

impl Drop for FeedOpen {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// What ended the dispatcher's wait.
enum Woke {
    Stop,
    /// New or due pages may be waiting.
    Look,
    /// The page feed has pages (or says to look).
    Fresh,
    SendsDone(tokio::task::Id),
    Ended(Joined),
}

/// A job's end as the `JoinSet` gives it.
type Joined = Result<(tokio::task::Id, job::End), tokio::task::JoinError>;

enum Pass {
    /// Jobs were started.
    Started,
    /// Nothing could start; the next stored page comes due then (if any).
    Idle(Option<DateTime<Utc>>),
}

struct Dispatcher {
    shared: Arc<Shared>,
    caps: Caps,
    in_flight: InFlight,
    running: HashMap<tokio::task::Id, Running>,
    jobs: JoinSet<job::End>,
    /// Channels with pending pages that are not enabled: their pages fail for good.
    orphans: Vec<String>,
    /// Channels that may have due pages no job took: only these are read, each when it has
    /// room. A read that leaves nothing behind takes its channel out (see
    /// [`dispatch::more_due`]); a wake from the store, a page coming due and a job whose pages
    /// are due again put channels back. So a finished send costs a read only when pages wait.
    dirty: HashSet<String>,
    /// When the next stored page comes due, as of the last read (or sooner, by a job's retry).
    next: Option<DateTime<Utc>>,
    feed: Option<Arc<PageFeed>>,
    /// Pages from the feed not yet considered; none of them is in a running job.
    fresh: Vec<FreshPage>,
}

impl Dispatcher {
    fn new(shared: Arc<Shared>, feed: Option<Arc<PageFeed>>) -> Self {
        let s = &shared.settings;
        let caps = Caps {
            total: s.concurrency,
            per_channel: s.per_channel,
            per_host: s.per_host,
        };
        Self {
            shared,
            caps,
            in_flight: InFlight::default(),
            running: HashMap::new(),
            jobs: JoinSet::new(),
            orphans: Vec::new(),
            dirty: HashSet::new(),
            next: None,
            feed,
            fresh: Vec::new(),
        }
    }

    /// Takes what the page feed has. Runs before every job's end is handled: a page a read
    /// started can be in the feed still (the writer publishes right after the commit, and
    /// the job's outcome is recorded by a later commit), and it must be seen in its running
    /// job, not started again.
    fn take_fresh(&mut self) {
        let Some(feed) = &self.feed else {
            return;
        };
        let taken = feed.take();
        if taken.look {
            self.look_again();
        }
        if taken.pages.is_empty() {
            return;
        }
        let running: HashSet<i64> = self
            .running
            .values()
            .flat_map(|r| r.pages.iter().copied())
            .collect();
        self.fresh.extend(
            taken
                .pages
                .into_iter()
                .filter(|f| !running.contains(&f.page.id)),
        );
    }

    /// Whether pages may wait for room: fresh ones not yet looked at, or channels to read.
    fn waiting(&self) -> bool {
        !self.fresh.is_empty() || !self.dirty.is_empty()
    }

    fn names(&self) -> impl Iterator<Item = &String> {
        self.shared.channels.keys().chain(self.orphans.iter())
    }

    /// Something new may be due (a wake from the store, the next page's time): every channel
    /// is read again when it has room, and the next due time with it.
    fn look_again(&mut self) {
        let names: Vec<String> = self.names().cloned().collect();
        self.dirty.extend(names);
        self.next = None;
    }

    fn rate_limited(&self, channel: &str) -> bool {
        self.shared
            .channels
            .get(channel)
            .is_some_and(|c| c.rate_limit().is_some())
    }

    async fn find_orphans(&mut self) -> anyhow::Result<()> {
        let pending = self
            .shared
            .engine
            .store()
            .read(|r| r.pending_channels())
            .await?;
        self.orphans = pending
            .into_iter()
            .filter(|c| !self.shared.channels.contains_key(c))
            .collect();
        self.look_again();
        Ok(())
    }

    fn host(&self, channel: &str) -> Option<String> {
        self.shared.channels.get(channel).and_then(|c| c.host())
    }

    /// Loads the due pages that can start on every channel with room that may have some, picks
    /// what starts, starts it.
    async fn pass(
        &mut self,
        done: &mpsc::UnboundedSender<tokio::task::Id>,
    ) -> anyhow::Result<Pass> {
        let now = self.shared.engine.clock().now();
        // Fresh pages start now only where nothing is known to wait: on a channel to be read
        // anyway (or coalesced per person) they go with the read, which sees them.
        let mut ready = Vec::new();
        for f in std::mem::take(&mut self.fresh) {
            let name = &f.page.channel;
            if self.dirty.contains(name)
                || self.rate_limited(name)
                || !self.shared.channels.contains_key(name)
            {
                self.dirty.insert(name.clone());
            } else if f.next_attempt_at > now {
                let at = f.next_attempt_at;
                self.next = Some(self.next.map_or(at, |n| n.min(at)));
            } else {
                ready.push(f.page);
            }
        }
        let mut queries = Vec::new();
        for name in self.names().filter(|n| self.dirty.contains(*n)) {
            let host = self.host(name);
            let room = self.in_flight.room(name, host.as_deref(), self.caps);
            let full = InFlight::default().room(name, host.as_deref(), self.caps);
            if !dispatch::worth_reading(room, self.in_flight.sending(name), full) {
                // Read once a job on it (or, for the total cap, any job) has sent; while it is
                // busy, once half of its room is free.
                continue;
            }
            let mut skip_ids = Vec::new();
            let mut skip_people = Vec::new();
            for r in self.running.values().filter(|r| &r.channel == name) {
                skip_ids.extend(&r.pages);
                if let Some((_, person)) = &r.lane {
                    skip_people.push(person.clone());
                }
            }
            let limit = dispatch::read_limit(room, self.rate_limited(name));
            queries.push((name.clone(), skip_ids, skip_people, limit));
        }
        if queries.is_empty() && ready.is_empty() {
            // Nothing may be waiting that could start: a wake, the next due time or a job
            // ending brings the loop back.
            return Ok(Pass::Idle(self.next));
        }
        let read = if queries.is_empty() {
            Vec::new()
        } else {
            let (read, next) = self
                .shared
                .engine
                .store()
                .read(move |r| {
                    let mut read = Vec::with_capacity(queries.len());
                    for (name, skip_ids, skip_people, limit) in queries {
                        let pages = r.pending_pages(&name, now, &skip_ids, &skip_people, limit)?;
                        read.push((name, limit, pages));
                    }
                    Ok((read, r.next_page_after(now)?))
                })
                .await
                .inspect_err(|_| {
                    // The fresh pages wait in the store: their channels are read on the retry.
                    for p in &ready {
                        self.dirty.insert(p.channel.clone());
                    }
                })?;
            self.next = next;
            read
        };
        let mut counts = Vec::with_capacity(read.len());
        // The fresh pages' channels were not read: disjoint from the read ones.
        let mut pages = ready;
        for (name, limit, p) in read {
            counts.push((name, limit, p.len()));
            pages.extend(p);
        }
        let candidates: Vec<Candidate> = pages.iter().map(|p| self.candidate(p)).collect();
        let jobs = dispatch::select(&candidates, &mut self.in_flight, self.caps);
        // A fresh page that did not start waits in the store: its channel is read next.
        let started: HashSet<usize> = jobs.iter().flatten().copied().collect();
        for (i, c) in candidates.iter().enumerate() {
            if !started.contains(&i) && !counts.iter().any(|(n, _, _)| n == &c.channel) {
                self.dirty.insert(c.channel.clone());
            }
        }
        for (name, limit, n) in counts {
            let started = jobs
                .iter()
                .flatten()
                .filter(|&&i| candidates[i].channel == name)
                .count();
            if dispatch::more_due(n, limit, started) {
                self.dirty.insert(name);
            } else {
                self.dirty.remove(&name);
            }
        }
        if jobs.is_empty() {
            return Ok(Pass::Idle(self.next));
        }
        let mut slots: Vec<Option<Page>> = pages.into_iter().map(Some).collect();
        for job in jobs {
            let first = &candidates[job[0]];
            let pages: Vec<Page> = job.iter().filter_map(|&i| slots[i].take()).collect();
            let running = Running {
                pages: pages.iter().map(|p| p.id).collect(),
                channel: first.channel.clone(),
                host: first.host.clone(),
                lane: first
                    .rate_limited
                    .then(|| (first.channel.clone(), first.person.clone())),
                sending: true,
            };
            let handle = self.jobs.spawn(job::run(
                self.shared.clone(),
                pages,
                first.rate_limited,
                done.clone(),
            ));
            self.running.insert(handle.id(), running);
        }
        Ok(Pass::Started)
    }

    fn candidate(&self, p: &Page) -> Candidate {
        let channel = self.shared.channels.get(&p.channel);
        Candidate {
            id: p.id,
            channel: p.channel.clone(),
            host: channel.and_then(|c| c.host()),
            person: p.person.clone(),
            // Notifications without an incident (handoffs, test pages) are not coalesced.
            rate_limited: p.incident.is_some() && channel.and_then(|c| c.rate_limit()).is_some(),
            severity: p.incident.as_ref().map_or(Severity::Medium, |i| i.severity),
            due: p.due_at,
        }
    }

    /// A job's sends are over: its channel and host have room again.
    fn sends_done(&mut self, id: tokio::task::Id) {
        if let Some(r) = self.running.get_mut(&id)
            && r.sending
        {
            r.sending = false;
            self.in_flight.sends_done(&r.channel, r.host.as_deref());
        }
    }

    /// A job ended (its outcomes recorded, or it panicked): its pages are free again, and
    /// those not ended for good are due again now or later.
    fn ended(&mut self, joined: Joined) {
        self.take_fresh();
        let (id, again_at) = match joined {
            Ok((id, end)) => (id, end.again_at),
            Err(e) => {
                if e.is_panic() {
                    tracing::error!(error = %e, "a delivery job panicked; its pages stay queued");
                }
                (e.id(), Some(self.shared.engine.clock().now()))
            }
        };
        self.sends_done(id);
        let Some(r) = self.running.remove(&id) else {
            return;
        };
        self.in_flight.recorded(r.lane.as_ref());
        if r.lane.is_some() {
            // While the lane was busy, reads skipped its person's other pages on the channel
            // and could find it empty: read it again now, or a page queued meanwhile would
            // wait for an unrelated wake.
            self.dirty.insert(r.channel.clone());
        }
        if let Some(at) = again_at {
            if at <= self.shared.engine.clock().now() {
                self.dirty.insert(r.channel);
            } else {
                self.next = Some(self.next.map_or(at, |n| n.min(at)));
            }
        }
    }

    /// Graceful stop: jobs in flight finish and record, for at most `limit`.
    async fn drain(mut self, limit: std::time::Duration) {
        if self.jobs.is_empty() {
            return;
        }
        let n = self.jobs.len();
        tracing::info!(jobs = n, "outbox: letting deliveries in flight finish");
        let all = async {
            while let Some(joined) = self.jobs.join_next_with_id().await {
                self.ended(joined);
            }
        };
        if tokio::time::timeout(limit, all).await.is_err() {
            let left: HashSet<i64> = self
                .running
                .values()
                .flat_map(|r| r.pages.iter().copied())
                .collect();
            tracing::warn!(
                pages = left.len(),
                "outbox drain timeout: deliveries still in flight are abandoned; their pages \
                 stay queued and go out again after the restart (same idempotency keys)"
            );
            self.jobs.shutdown().await;
        }
    }
}
