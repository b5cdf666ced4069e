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
//! What to start next is [`crate::domain::dispatch::select`], a pure function.

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
use crate::store::AttemptOutcome;

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
        let mut d = Dispatcher::new(self.shared.clone());
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
            while let Ok(id) = done_rx.try_recv() {
                d.sends_done(id);
            }
            while let Some(joined) = d.jobs.try_join_next_with_id() {
                d.ended(joined);
            }
            let next = match d.pass(&done_tx).await {
                Ok(Pass::Started) => {
                    failures.reset();
                    // More may be due; let the jobs run first.
                    tokio::task::yield_now().await;
                    continue;
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
            let woke = beats
                .idle(Loop::Outbox, async {
                    tokio::select! {
                        _ = shutdown.cancelled() => Woke::Stop,
                        _ = self.shared.engine.outbox_wake().notified() => Woke::Look,
                        _ = clock.sleep_until(next) => Woke::Look,
                        Some(id) = done_rx.recv() => Woke::SendsDone(id),
                        Some(joined) = d.jobs.join_next_with_id(), if !d.jobs.is_empty() => {
                            Woke::Ended(joined)
                        }
                    }
                })
                .await;
            match woke {
                Woke::Stop => break,
                Woke::Look => {}
                Woke::SendsDone(id) => d.sends_done(id),
                Woke::Ended(joined) => d.ended(joined),
            }
        }
        d.drain(self.shared.settings.drain_timeout).await;
        Ok(())
    }
}

/// What ended the dispatcher's wait.
enum Woke {
    Stop,
    /// New or due pages may be waiting.
    Look,
    SendsDone(tokio::task::Id),
    Ended(Result<(tokio::task::Id, ()), tokio::task::JoinError>),
}

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
    jobs: JoinSet<()>,
    /// Channels with pending pages that are not enabled: their pages fail for good.
    orphans: Vec<String>,
}

impl Dispatcher {
    fn new(shared: Arc<Shared>) -> Self {
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
        }
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
        Ok(())
    }

    fn host(&self, channel: &str) -> Option<String> {
        self.shared.channels.get(channel).and_then(|c| c.host())
    }

    /// Loads due pages of every channel with room, picks what starts, starts it.
    async fn pass(
        &mut self,
        done: &mpsc::UnboundedSender<tokio::task::Id>,
    ) -> anyhow::Result<Pass> {
        let now = self.shared.engine.clock().now();
        let names = self
            .shared
            .channels
            .keys()
            .chain(self.orphans.iter())
            .cloned();
        let mut queries = Vec::new();
        for name in names {
            let host = self.host(&name);
            if !self.in_flight.has_room(&name, host.as_deref(), self.caps) {
                continue;
            }
            let mut skip_ids = Vec::new();
            let mut skip_people = Vec::new();
            for r in self.running.values().filter(|r| r.channel == name) {
                skip_ids.extend(&r.pages);
                if let Some((_, person)) = &r.lane {
                    skip_people.push(person.clone());
                }
            }
            let free = self.caps.per_channel - self.in_flight.channels.get(&name).unwrap_or(&0);
            let limit = (free * 2 + 16).min(512);
            queries.push((name, skip_ids, skip_people, limit));
        }
        if queries.is_empty() {
            // Everything is full: a job ending wakes the loop.
            return Ok(Pass::Idle(None));
        }
        let (pages, next) = self
            .shared
            .engine
            .store()
            .read(move |r| {
                let mut pages = Vec::new();
                for (name, skip_ids, skip_people, limit) in &queries {
                    pages.extend(r.pending_pages(name, now, skip_ids, skip_people, *limit)?);
                }
                Ok((pages, r.next_page_after(now)?))
            })
            .await?;
        if pages.is_empty() {
            return Ok(Pass::Idle(next));
        }
        let candidates: Vec<Candidate> = pages.iter().map(|p| self.candidate(p)).collect();
        let jobs = dispatch::select(&candidates, &mut self.in_flight, self.caps);
        if jobs.is_empty() {
            return Ok(Pass::Idle(next));
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

    /// A job ended (its outcomes recorded, or it panicked): its pages are free again.
    fn ended(&mut self, joined: Result<(tokio::task::Id, ()), tokio::task::JoinError>) {
        let id = match joined {
            Ok((id, ())) => id,
            Err(e) => {
                if e.is_panic() {
                    tracing::error!(error = %e, "a delivery job panicked; its pages stay queued");
                }
                e.id()
            }
        };
        self.sends_done(id);
        if let Some(r) = self.running.remove(&id) {
            self.in_flight.recorded(r.lane.as_ref());
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
