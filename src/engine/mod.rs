//! The engine applies domain decisions: it writes the new incident state, the next due action
//! and the pages to send in one store transaction, then wakes the timer task and the outbox
//! worker and publishes the committed events to watchers.
//!
//! This file holds the handle and what every change shares (`Ctx`, `Effects`, `publish`).
//! `incidents` has the commands on incidents, `paging` decides and queues pages, `due` runs
//! due actions, `reload` installs a policy set its caller read, `overrides` and `handoff`
//! the schedule changes, `ingest` holds, heartbeats and maintenance windows, `burnout` the
//! shift ledger, `postmortem` notes, drafts and the notice a required post-mortem sends;
//! `timer` and `outbox` are the two long-lived tasks.

mod burnout;
mod due;
mod events;
mod handoff;
pub mod health;
mod incidents;
mod ingest;
mod leadership;
pub mod outbox;
mod overrides;
mod paging;
mod postmortem;
mod queries;
mod rebalance;
mod reload;
mod response_report;
mod secrets;
pub mod timer;

use std::sync::Arc;

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use tokio::sync::{Notify, broadcast};

/// The clock lives at the crate root; re-exported for callers that name it here.
pub use crate::clock::Clock;
/// Store values the API edges take or answer with.
pub use crate::store::{AttemptOutcome, IncidentFilter};
pub use events::{DEFAULT_TIMELINE_PAGE, MAX_TIMELINE_PAGE, TimelinePage};
pub use health::LoopBeats;
pub use incidents::{ActionOutcome, TriggerOutcome};
pub use ingest::{HeartbeatView, MaintenanceRequest, MaintenanceView};
pub use leadership::{Leadership, NotLeader, Term};
pub use outbox::{NoticeOutcome, OutboxWorker};
pub use overrides::OverrideRequest;
pub use reload::{PolicySource, ReloadAttempt, ReloadStatus};
pub use secrets::UrlKind;
pub use timer::{TimerHandle, TimerTask};

use crate::domain::{self, Event, Incident, PolicySet};
use crate::store::Store;

/// Errors the API surfaces map onto their status codes.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    FailedPrecondition(String),
    /// A request field is wrong; the message starts with the field's name.
    #[error("{0}")]
    InvalidArgument(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type EngineResult<T> = Result<T, EngineError>;

impl From<crate::store::Error> for EngineError {
    fn from(e: crate::store::Error) -> Self {
        EngineError::Internal(e.into())
    }
}

/// Cheap to clone; every clone drives the same daemon state.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    policies: ArcSwap<PolicySet>,
    clock: Clock,
    /// Names of the channels every page goes out on.
    channels: Vec<String>,
    notice_outcomes: broadcast::Sender<outbox::NoticeOutcome>,
    timer: TimerHandle,
    outbox_wake: Notify,
    /// The pages this process's writer commits, handed to the outbox (SQLite); without it,
    /// queueing a page wakes the outbox to read them.
    page_feed: Option<Arc<crate::store::PageFeed>>,
    /// Serializes installs and override changes; holds the serving set's parts.
    installed: tokio::sync::Mutex<reload::Installed>,
    reload: std::sync::Mutex<ReloadStatus>,
    /// Where reloads read the policy set from; set by the caller.
    source: std::sync::Mutex<Option<PolicySource>>,
    /// One reload at a time, from reading the files to installing them, so a slower read of
    /// older files can never be installed over a newer set.
    reloading: tokio::sync::Mutex<()>,
    started_at: DateTime<Utc>,
    /// Base of the URLs handed to admins (heartbeat pings, calendar feeds); set by the caller.
    public_base: ArcSwap<String>,
    /// The rebalance signal's multiple (`report.rebalance_multiple`), as f64 bits; set by
    /// the caller.
    rebalance_multiple: std::sync::atomic::AtomicU64,
    /// `report.weekly_notice`; set by the caller before the first install.
    rebalance_notice: std::sync::atomic::AtomicBool,
    /// Prometheus counters and histograms (`GET /metrics`).
    metrics: crate::metrics::Metrics,
    /// `postmortem.required_for`; set by the caller.
    postmortem_required_for: ArcSwap<Vec<domain::Severity>>,
    /// Progress of the timer loop and the outbox dispatcher (liveness, readiness, watchdog).
    loop_beats: Arc<health::LoopBeats>,
    /// Whether this node runs time (the cluster lease); a single node always does. Set by
    /// the caller before the loops start.
    leadership: std::sync::OnceLock<Arc<Leadership>>,
}

/// What a write produced besides its answer: the events it appended (the store publishes
/// them), wake-ups to give.
#[derive(Default)]
struct Effects {
    events: Vec<Event>,
    earliest_due: Option<DateTime<Utc>>,
    pages: bool,
    /// The shift ledger changed: project the schedules again.
    burnout: bool,
    /// Counted in the metrics once the write committed.
    obs: crate::metrics::Observations,
}

impl Engine {
    pub fn new(store: Store, policies: PolicySet, clock: Clock, channels: Vec<String>) -> Self {
        let metrics = crate::metrics::Metrics::default();
        if let Some(stats) = store.write_stats() {
            metrics.set_write_stats(stats);
        }
        let page_feed = store.page_feed();
        Self {
            inner: Arc::new(Inner {
                page_feed,
                store,
                installed: tokio::sync::Mutex::new(reload::Installed::new(policies.clone())),
                reload: std::sync::Mutex::new(ReloadStatus::default()),
                source: std::sync::Mutex::new(None),
                reloading: tokio::sync::Mutex::new(()),
                started_at: clock.now(),
                public_base: ArcSwap::from_pointee("http://127.0.0.1:8080".to_string()),
                rebalance_multiple: std::sync::atomic::AtomicU64::new(
                    crate::domain::rebalance::DEFAULT_MULTIPLE.to_bits(),
                ),
                rebalance_notice: std::sync::atomic::AtomicBool::new(true),
                postmortem_required_for: ArcSwap::from_pointee(Vec::new()),
                policies: ArcSwap::from_pointee(policies),
                notice_outcomes: broadcast::channel(256).0,
                clock,
                channels,
                timer: TimerHandle::default(),
                outbox_wake: Notify::new(),
                metrics,
                loop_beats: Arc::default(),
                leadership: std::sync::OnceLock::new(),
            }),
        }
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn started_at(&self) -> DateTime<Utc> {
        self.inner.started_at
    }

    /// The channels every page goes out on.
    pub fn channel_names(&self) -> &[String] {
        &self.inner.channels
    }

    /// The daemon's Prometheus metrics.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.inner.metrics
    }

    pub fn clock(&self) -> Clock {
        self.inner.clock
    }

    pub fn policies(&self) -> Arc<PolicySet> {
        self.inner.policies.load_full()
    }

    pub fn timer_handle(&self) -> &TimerHandle {
        &self.inner.timer
    }

    pub(crate) fn outbox_wake(&self) -> &Notify {
        &self.inner.outbox_wake
    }

    pub(crate) fn page_feed(&self) -> Option<&Arc<crate::store::PageFeed>> {
        self.inner.page_feed.as_ref()
    }

    /// A committed write queued pages: the outbox is to take them. A store with a page feed
    /// has already handed them over (or told the outbox to look).
    pub(crate) fn pages_queued(&self) {
        if self.inner.page_feed.is_none() {
            self.inner.outbox_wake.notify_one();
        }
    }

    pub(crate) fn notice_outcomes(&self) -> &broadcast::Sender<outbox::NoticeOutcome> {
        &self.inner.notice_outcomes
    }

    /// Committed incident events, live, in commit (sequence) order. The store's writer
    /// publishes them after each commit, so nothing here can reorder them.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.store.subscribe().0
    }

    /// Like [`Engine::subscribe`], with the sequence the receiver starts after: it receives
    /// exactly the events committed with higher sequences.
    pub fn subscribe_at(&self) -> (broadcast::Receiver<Event>, i64) {
        self.inner.store.subscribe()
    }

    /// Kept for call sites that hand over the events they appended: the store's writer has
    /// already published them, in commit order, so there is nothing left to do.
    pub(crate) fn publish_events(&self, events: Vec<Event>) {
        tracing::trace!(events = events.len(), "events committed");
    }

    fn publish(&self, fx: Effects) {
        if let Some(due) = fx.earliest_due {
            self.inner.timer.hint(due);
        }
        if fx.pages {
            self.pages_queued();
        }
        self.inner.metrics.observe(fx.obs);
        self.publish_events(fx.events);
    }

    fn ctx(&self, now: DateTime<Utc>) -> Ctx {
        Ctx {
            now,
            policies: self.policies(),
            channels: self.inner.channels.clone(),
            rebalance_multiple: self.rebalance_multiple(),
            postmortem_required_for: self.inner.postmortem_required_for.load_full(),
        }
    }
}

/// What one write needs to decide: the time, the policy set, the channels.
struct Ctx {
    now: DateTime<Utc>,
    policies: Arc<PolicySet>,
    channels: Vec<String>,
    /// `report.rebalance_multiple`.
    rebalance_multiple: f64,
    /// `postmortem.required_for`.
    postmortem_required_for: Arc<Vec<domain::Severity>>,
}

impl Ctx {
    /// The incident's policy, or its service's current one if that policy was removed.
    fn policy<'a>(&'a self, inc: &Incident) -> Option<&'a domain::EscalationPolicy> {
        self.policies
            .policies
            .get(&inc.escalation_policy)
            .or_else(|| self.policies.policy_for_service(&inc.service))
    }
}

impl Effects {
    fn due(&mut self, t: DateTime<Utc>) {
        self.earliest_due = Some(self.earliest_due.map_or(t, |e| e.min(t)));
    }
}
