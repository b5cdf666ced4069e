//! The engine applies domain decisions: it writes the new incident state, the next due action
//! and the pages to send in one store transaction, then wakes the timer task and the outbox
//! worker and publishes the committed events to watchers.

mod burnout;
mod clock;
mod ingest;
pub mod outbox;
mod schedules;
pub mod timer;

use std::sync::Arc;

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use tokio::sync::{Notify, broadcast};

pub use clock::Clock;
pub use ingest::{HeartbeatView, MaintenanceRequest, MaintenanceView};
pub use outbox::OutboxWorker;
pub use schedules::{OverrideRequest, ReloadAttempt, ReloadStatus};
pub use timer::{TimerHandle, TimerTask};

use crate::domain::contact::{self, Method};
use crate::domain::{
    self, Event, EventKind, Incident, IncidentState, NewAlert, NewEvent, PageKind, PolicySet, Step,
};
use crate::store::{DueKind, IncidentFilter, Store, WriteTx};

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

#[derive(Debug, Clone, PartialEq)]
pub struct TriggerOutcome {
    pub incident_id: i64,
    pub dedup_key: String,
    pub deduplicated: bool,
    pub alert_count: u32,
}

/// Result of acknowledge/resolve/escalate on one incident.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionOutcome {
    pub incident: Incident,
    /// False when the incident already was in the requested state.
    pub changed: bool,
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
    events: broadcast::Sender<Event>,
    notice_outcomes: broadcast::Sender<outbox::NoticeOutcome>,
    timer: TimerHandle,
    outbox_wake: Notify,
    /// Serializes installs and override changes; holds the serving set's parts.
    installed: tokio::sync::Mutex<schedules::Installed>,
    reload: std::sync::Mutex<ReloadStatus>,
    /// One reload at a time, from reading the files to installing them, so a slower read of
    /// older files can never be installed over a newer set.
    reloading: tokio::sync::Mutex<()>,
    started_at: DateTime<Utc>,
}

/// What a write produced besides its answer: events to publish, wake-ups to give.
#[derive(Default)]
struct Effects {
    events: Vec<Event>,
    earliest_due: Option<DateTime<Utc>>,
    pages: bool,
    /// The shift ledger changed: project the schedules again.
    burnout: bool,
}

impl Engine {
    pub fn new(store: Store, policies: PolicySet, clock: Clock, channels: Vec<String>) -> Self {
        let (events, _) = broadcast::channel(4096);
        Self {
            inner: Arc::new(Inner {
                store,
                installed: tokio::sync::Mutex::new(schedules::Installed::new(policies.clone())),
                reload: std::sync::Mutex::new(ReloadStatus::default()),
                reloading: tokio::sync::Mutex::new(()),
                started_at: clock.now(),
                policies: ArcSwap::from_pointee(policies),
                notice_outcomes: broadcast::channel(256).0,
                clock,
                channels,
                events,
                timer: TimerHandle::default(),
                outbox_wake: Notify::new(),
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn started_at(&self) -> DateTime<Utc> {
        self.inner.started_at
    }

    /// The channels every page goes out on.
    pub fn channel_names(&self) -> &[String] {
        &self.inner.channels
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

    pub(crate) fn notice_outcomes(&self) -> &broadcast::Sender<outbox::NoticeOutcome> {
        &self.inner.notice_outcomes
    }

    /// Sends a test page to `person` on `channel` (or on each of their enabled contact
    /// methods) through the outbox, and waits up to `wait` for each first attempt.
    pub async fn test_page(
        &self,
        person: &str,
        channel: Option<&str>,
        by: &str,
        wait: std::time::Duration,
    ) -> EngineResult<Vec<(String, Option<outbox::NoticeOutcome>)>> {
        let policies = self.policies();
        let p = policies.people.get(person).ok_or_else(|| {
            EngineError::NotFound(format!("person: no person `{person}` in the policy files"))
        })?;
        let channels: Vec<String> = match channel {
            Some(c) => {
                if !self.inner.channels.iter().any(|x| x == c) {
                    return Err(EngineError::InvalidArgument(format!(
                        "channel: `{c}` is not enabled (enabled: {})",
                        self.inner.channels.join(", ")
                    )));
                }
                vec![c.to_string()]
            }
            None => Method::ALL
                .into_iter()
                .filter(|m| m.address(p).is_some())
                .map(|m| m.as_str().to_string())
                .filter(|c| self.inner.channels.contains(c))
                .collect(),
        };
        if channels.is_empty() {
            return Err(EngineError::FailedPrecondition(format!(
                "{person} has no contact method on an enabled channel"
            )));
        }
        let mut outcomes = self.inner.notice_outcomes.subscribe();
        let now = self.inner.clock.now();
        let (name, by) = (person.to_string(), by.to_string());
        let chans = channels.clone();
        let ids = self
            .inner
            .store
            .write(move |tx| {
                chans
                    .iter()
                    .map(|c| {
                        tx.enqueue_notice(
                            PageKind::Test,
                            &name,
                            c,
                            "Test page from pagerd",
                            &format!(
                                "This is a test page for {name} via {c}, sent by {by} at {}. No action needed.",
                                now.format("%Y-%m-%d %H:%M UTC")
                            ),
                            now,
                            now,
                        )
                    })
                    .collect::<Result<Vec<i64>, _>>()
                    .map_err(Into::into)
            })
            .await?;
        self.inner.outbox_wake.notify_one();
        let mut got: std::collections::HashMap<i64, outbox::NoticeOutcome> = Default::default();
        let _ = tokio::time::timeout(wait, async {
            while got.len() < ids.len() {
                match outcomes.recv().await {
                    Ok(o) if ids.contains(&o.page_id) => {
                        got.insert(o.page_id, o);
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        })
        .await;
        Ok(ids
            .iter()
            .zip(channels)
            .map(|(id, c)| (c, got.remove(id)))
            .collect())
    }

    /// Committed incident events, live.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    pub(crate) fn publish_events(&self, events: Vec<Event>) {
        for ev in events {
            // No watchers is fine.
            let _ = self.inner.events.send(ev);
        }
    }

    fn publish(&self, fx: Effects) {
        if let Some(due) = fx.earliest_due {
            self.inner.timer.hint(due);
        }
        if fx.pages {
            self.inner.outbox_wake.notify_one();
        }
        self.publish_events(fx.events);
    }

    /// Opens an incident and pages its first level, or adds the alert to the open incident
    /// with the same (service, dedup_key). Returns after the change is durable.
    #[tracing::instrument(skip_all, fields(service = %alert.service, dedup_key = %alert.dedup_key))]
    pub async fn trigger(&self, alert: NewAlert) -> EngineResult<TriggerOutcome> {
        let ctx = self.ctx(self.inner.clock.now());
        if ctx.policies.policy_for_service(&alert.service).is_none() {
            return Err(EngineError::NotFound(format!(
                "unknown service `{}`",
                alert.service
            )));
        }
        let (outcome, fx) = self
            .inner
            .store
            .write(move |tx| {
                let mut fx = Effects::default();
                let outcome = open_alert(tx, &ctx, alert, &mut fx)?;
                Ok((outcome, fx))
            })
            .await?;
        self.publish(fx);
        Ok(outcome)
    }

    /// Acknowledges an incident: stops escalation, starts the ack timeout if the policy has one.
    #[tracing::instrument(skip_all, fields(incident = id))]
    pub async fn acknowledge(&self, id: i64, by: String) -> EngineResult<ActionOutcome> {
        self.change(id, move |tx, ctx, inc, fx| {
            match inc.state {
                IncidentState::Resolved => {
                    return Err(EngineError::FailedPrecondition(format!(
                        "incident {id} is already resolved"
                    )));
                }
                IncidentState::Acknowledged => return Ok(false),
                IncidentState::Triggered => {}
            }
            tx.set_acknowledged(id, &by, ctx.now)?;
            tx.cancel_actions(id)?;
            tx.cancel_pending_pages(id)?;
            let mut ev = NewEvent::new(EventKind::Acknowledged, "acknowledged").actor(&by);
            if let Some(timeout) = ctx.policy(inc).and_then(|p| p.ack_timeout) {
                let due = ctx.now + chrono::Duration::from_std(timeout).unwrap_or_default();
                tx.schedule(id, DueKind::AckTimeout, due)?;
                fx.due(due);
                ev.message = format!(
                    "acknowledged; re-triggers if not resolved by {}",
                    due.format("%Y-%m-%d %H:%M UTC")
                );
            }
            fx.events.push(tx.add_event(id, &inc.service, ev, ctx.now)?);
            Ok(true)
        })
        .await
    }

    /// Resolves an incident: stops everything.
    #[tracing::instrument(skip_all, fields(incident = id))]
    pub async fn resolve(&self, id: i64, by: String, note: String) -> EngineResult<ActionOutcome> {
        self.change(id, move |tx, ctx, inc, fx| {
            Ok(resolve_in(tx, ctx, inc, &by, &note, fx)?)
        })
        .await
    }

    /// Pages the next level now; an acknowledged incident is re-triggered.
    #[tracing::instrument(skip_all, fields(incident = id))]
    pub async fn escalate(&self, id: i64, by: String) -> EngineResult<ActionOutcome> {
        self.change(id, move |tx, ctx, inc, fx| {
            if inc.state == IncidentState::Resolved {
                return Err(EngineError::FailedPrecondition(format!(
                    "incident {id} is resolved; nothing to escalate"
                )));
            }
            let policy = ctx.policy(inc).ok_or_else(|| {
                EngineError::FailedPrecondition(format!(
                    "escalation policy `{}` no longer exists",
                    inc.escalation_policy
                ))
            })?;
            // A held incident has paged nobody yet: escalating it pages its first level.
            let step = if tx.is_held(id)? {
                domain::on_trigger(policy.timeline(inc.severity))
            } else {
                domain::on_manual_escalate(policy.timeline(inc.severity), policy.repeat, inc.pos)
                    .map_err(|e| EngineError::FailedPrecondition(format!("incident {id}: {e}")))?
            };
            if inc.state == IncidentState::Acknowledged {
                tx.set_triggered(id)?;
            }
            tx.cancel_actions(id)?;
            tx.set_position(id, step.pos())?;
            fx.events.push(
                tx.add_event(
                    id,
                    &inc.service,
                    NewEvent::new(
                        EventKind::Escalated,
                        format!("escalated by hand to level {}", step.pos().level + 1),
                    )
                    .level(step.pos().level + 1)
                    .actor(&by),
                    ctx.now,
                )?,
            );
            apply_step(tx, ctx, id, &inc.service, inc.severity, &step, ctx.now, fx)?;
            Ok(true)
        })
        .await
    }

    /// Acknowledges the open incident with this key; `Ok(None)` when none is open.
    pub async fn acknowledge_by_key(
        &self,
        service: &str,
        dedup_key: &str,
        by: String,
    ) -> EngineResult<Option<ActionOutcome>> {
        match self.open_by_key(service, dedup_key).await? {
            Some(id) => self.acknowledge(id, by).await.map(Some),
            None => Ok(None),
        }
    }

    /// Resolves the open incident with this key; `Ok(None)` when none is open.
    pub async fn resolve_by_key(
        &self,
        service: &str,
        dedup_key: &str,
        by: String,
        note: String,
    ) -> EngineResult<Option<ActionOutcome>> {
        match self.open_by_key(service, dedup_key).await? {
            Some(id) => self.resolve(id, by, note).await.map(Some),
            None => Ok(None),
        }
    }

    async fn open_by_key(&self, service: &str, dedup_key: &str) -> EngineResult<Option<i64>> {
        if !self.policies().services.contains_key(service) {
            return Err(EngineError::NotFound(format!(
                "unknown service `{service}`"
            )));
        }
        let (svc, key) = (service.to_string(), dedup_key.to_string());
        Ok(self
            .inner
            .store
            .read(move |r| r.open_incident_id(&svc, &key))
            .await?)
    }

    pub async fn get(&self, id: i64) -> EngineResult<(Incident, Vec<Event>)> {
        let found = self
            .inner
            .store
            .read(move |r| match r.incident(id)? {
                Some(inc) => Ok(Some((inc, r.timeline(id)?))),
                None => Ok(None),
            })
            .await?;
        found.ok_or_else(|| EngineError::NotFound(format!("no incident {id}")))
    }

    pub async fn list(&self, filter: IncidentFilter) -> EngineResult<Vec<Incident>> {
        Ok(self
            .inner
            .store
            .read(move |r| r.list_incidents(&filter))
            .await?)
    }

    /// Runs every action due at `now` (up to `limit`) in one transaction; returns how many ran.
    pub async fn run_due(&self, now: DateTime<Utc>, limit: usize) -> anyhow::Result<usize> {
        let ctx = self.ctx(now);
        let (n, fx) = self
            .inner
            .store
            .write(move |tx| {
                let mut fx = Effects::default();
                let due = tx.take_due(now, limit)?;
                for action in &due {
                    if let (Some(schedule), DueKind::Shift) = (&action.schedule, action.kind) {
                        burnout::fire_shift(tx, &ctx, schedule, &mut fx)?;
                        continue;
                    }
                    if let Some(schedule) = &action.schedule {
                        schedules::fire_handoff(tx, &ctx, schedule, action.due_at, &mut fx)?;
                        continue;
                    }
                    if let Some(heartbeat) = &action.heartbeat {
                        ingest::fire_heartbeat(tx, &ctx, heartbeat, &mut fx)?;
                        continue;
                    }
                    let Some(inc) = action
                        .incident_id
                        .map(|id| tx.incident(id))
                        .transpose()?
                        .flatten()
                    else {
                        continue;
                    };
                    if let Some(contact) = &action.contact {
                        fire_contact(tx, &ctx, &inc, contact, action.due_at, &mut fx)?;
                        continue;
                    }
                    fire(tx, &ctx, &inc, action.kind, action.due_at, &mut fx)?;
                }
                Ok((due.len(), fx))
            })
            .await?;
        let burnout = fx.burnout;
        self.publish(fx);
        if burnout {
            self.refresh_burnout().await?;
        }
        Ok(n)
    }

    fn ctx(&self, now: DateTime<Utc>) -> Ctx {
        Ctx {
            now,
            policies: self.policies(),
            channels: self.inner.channels.clone(),
        }
    }

    /// Loads an incident and applies `f` to it in one transaction.
    async fn change<F>(&self, id: i64, f: F) -> EngineResult<ActionOutcome>
    where
        F: FnOnce(&dyn WriteTx, &Ctx, &Incident, &mut Effects) -> EngineResult<bool>
            + Send
            + 'static,
    {
        let ctx = self.ctx(self.inner.clock.now());
        let (outcome, fx) = self
            .inner
            .store
            .write(move |tx| {
                let inc = tx
                    .incident(id)?
                    .ok_or_else(|| EngineError::NotFound(format!("no incident {id}")))?;
                let mut fx = Effects::default();
                // Any error rolls this change back; domain refusals keep their kind through
                // anyhow and are recovered below.
                let changed = f(tx, &ctx, &inc, &mut fx)?;
                let incident = if changed {
                    tx.incident(id)?.unwrap_or(inc)
                } else {
                    inc
                };
                Ok((ActionOutcome { incident, changed }, fx))
            })
            .await
            .map_err(|e| {
                e.downcast::<EngineError>()
                    .unwrap_or_else(EngineError::Internal)
            })?;
        self.publish(fx);
        Ok(outcome)
    }
}

/// What one write needs to decide: the time, the policy set, the channels.
struct Ctx {
    now: DateTime<Utc>,
    policies: Arc<PolicySet>,
    channels: Vec<String>,
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

/// One due action on one incident. Stale actions (the incident moved on) do nothing.
fn fire(
    tx: &dyn WriteTx,
    ctx: &Ctx,
    inc: &Incident,
    kind: DueKind,
    due_at: DateTime<Utc>,
    fx: &mut Effects,
) -> anyhow::Result<()> {
    let Some(policy) = ctx.policy(inc) else {
        tracing::error!(incident = inc.id, policy = %inc.escalation_policy, "escalation policy gone; escalation stopped");
        fx.events.push(tx.add_event(
            inc.id,
            &inc.service,
            NewEvent::new(
                EventKind::Unanswered,
                format!(
                    "escalation policy `{}` no longer exists; escalation stopped",
                    inc.escalation_policy
                ),
            ),
            ctx.now,
        )?);
        return Ok(());
    };
    let timeline = policy.timeline(inc.severity);
    if (kind, inc.state) == (DueKind::Release, IncidentState::Triggered) {
        return ingest::release(tx, ctx, inc, due_at, fx);
    }
    let step = match (kind, inc.state) {
        (DueKind::Escalate, IncidentState::Triggered) => {
            let step = domain::on_escalation_due(timeline, policy.repeat, inc.pos);
            if let Step::Page { pos, .. } = &step {
                let msg = if pos.level == 0 {
                    format!(
                        "no acknowledgement; starting pass {} of the chain",
                        pos.loop_no + 1
                    )
                } else {
                    format!("no acknowledgement; escalated to level {}", pos.level + 1)
                };
                fx.events.push(tx.add_event(
                    inc.id,
                    &inc.service,
                    NewEvent::new(EventKind::Escalated, msg).level(pos.level + 1),
                    ctx.now,
                )?);
            }
            step
        }
        (DueKind::AckTimeout, IncidentState::Acknowledged) => {
            tx.set_triggered(inc.id)?;
            fx.events.push(tx.add_event(
                inc.id,
                &inc.service,
                NewEvent::new(
                    EventKind::Retriggered,
                    "acknowledged but not resolved in time; re-triggered",
                ),
                ctx.now,
            )?);
            domain::on_ack_timeout(timeline, policy.repeat, inc.pos)
        }
        _ => return Ok(()),
    };
    tx.set_position(inc.id, step.pos())?;
    apply_step(
        tx,
        ctx,
        inc.id,
        &inc.service,
        inc.severity,
        &step,
        due_at,
        fx,
    )
}

/// Queues one page; SMS pages get the person's reply code for the incident.
#[allow(clippy::too_many_arguments)]
pub(crate) fn queue_page(
    tx: &dyn WriteTx,
    id: i64,
    kind: PageKind,
    person: &str,
    channel: &str,
    pos: domain::Position,
    due_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<i64> {
    let page = tx.enqueue_page(id, kind, person, channel, pos, due_at, now)?;
    if channel == Method::Sms.as_str() {
        let code = tx.reply_code(id, person, now)?;
        tx.set_reply_code(page, &code)?;
    }
    Ok(page)
}

/// A later contact-rule step came due: page by that method if the incident still waits for an
/// acknowledgement at the same escalation position.
fn fire_contact(
    tx: &dyn WriteTx,
    ctx: &Ctx,
    inc: &Incident,
    (person, channel, pos): &(String, String, domain::Position),
    due_at: DateTime<Utc>,
    fx: &mut Effects,
) -> anyhow::Result<()> {
    if inc.state != IncidentState::Triggered || inc.pos != *pos {
        return Ok(());
    }
    if !ctx.channels.iter().any(|c| c == channel) {
        return Ok(());
    }
    queue_page(
        tx,
        inc.id,
        PageKind::Page,
        person,
        channel,
        *pos,
        due_at,
        ctx.now,
    )?;
    fx.pages = true;
    Ok(())
}

/// Writes a decision: pages, timeline, next due action. Every person is paged at once on the
/// broadcast channels (webhook, log) and by their contact rules on the contact methods: the
/// first steps now, later ones as due actions that run only if the incident is still
/// unacknowledged at this position then. The caller has stored the incident at `step.pos()`.
#[allow(clippy::too_many_arguments)]
fn apply_step(
    tx: &dyn WriteTx,
    ctx: &Ctx,
    id: i64,
    service: &str,
    severity: domain::Severity,
    step: &Step,
    due_at: DateTime<Utc>,
    fx: &mut Effects,
) -> anyhow::Result<()> {
    let (policies, channels, now) = (&ctx.policies, &ctx.channels, ctx.now);
    let (pos, targets, kind) = match step {
        Step::Page { pos, targets, .. } => (*pos, targets, PageKind::Page),
        Step::Exhausted { pos, targets } => (*pos, targets, PageKind::Unanswered),
    };
    let resolved = policies.resolve_targets(targets, now);
    let people = &resolved.people;
    // "alice (slack now, sms in 1m)": how each person will be reached, for the timeline.
    let mut plans: Vec<String> = Vec::with_capacity(people.len());
    for person in people {
        let mut steps: Vec<String> = Vec::new();
        for channel in channels.iter().filter(|c| Method::parse(c).is_none()) {
            queue_page(tx, id, kind, person, channel, pos, due_at, now)?;
            fx.pages = true;
        }
        let Some(p) = policies.people.get(person) else {
            continue;
        };
        for rule in contact::rules_for(p, severity) {
            let channel = rule.method.as_str();
            if !channels.iter().any(|c| c == channel) {
                continue;
            }
            // The unanswered notice is information: every method at once.
            if rule.after.is_zero() || kind == PageKind::Unanswered {
                queue_page(tx, id, kind, person, channel, pos, due_at, now)?;
                fx.pages = true;
                steps.push(format!("{channel} now"));
            } else {
                let at = now + chrono::Duration::from_std(rule.after).unwrap_or_default();
                tx.schedule_contact(id, person, channel, pos, at)?;
                fx.due(at);
                steps.push(format!(
                    "{channel} in {}",
                    humantime::format_duration(rule.after)
                ));
            }
        }
        plans.push(if steps.is_empty() {
            person.clone()
        } else {
            format!("{person} ({})", steps.join(", "))
        });
    }
    let people = &plans;
    let mut msg = match kind {
        PageKind::Page => format!("paging level {}: {}", pos.level + 1, people.join(", ")),
        PageKind::Unanswered | PageKind::Handoff | PageKind::Test => format!(
            "escalation chain exhausted without acknowledgement; told level {} ({}); incident stays open",
            pos.level + 1,
            people.join(", ")
        ),
    };
    for warning in &resolved.warnings {
        tracing::warn!(incident = id, level = pos.level + 1, "{warning}");
        msg.push_str(&format!(" ({warning})"));
    }
    if channels.is_empty() {
        msg.push_str(" (no notification channel is enabled)");
    }
    let ev_kind = if kind == PageKind::Page {
        EventKind::Paged
    } else {
        EventKind::Unanswered
    };
    fx.events.push(tx.add_event(
        id,
        service,
        NewEvent::new(ev_kind, msg).level(pos.level + 1),
        now,
    )?);
    if let Step::Page { next_in, .. } = step {
        let due = now + chrono::Duration::from_std(*next_in).unwrap_or_default();
        tx.schedule(id, DueKind::Escalate, due)?;
        fx.due(due);
    }
    Ok(())
}

/// A trigger inside a write: adds to the open incident with the same key (and applies the
/// threshold rule), or opens one on the routed policy and pages it unless paging is held.
fn open_alert(
    tx: &dyn WriteTx,
    ctx: &Ctx,
    alert: NewAlert,
    fx: &mut Effects,
) -> anyhow::Result<TriggerOutcome> {
    let now = ctx.now;
    let service = ctx
        .policies
        .services
        .get(&alert.service)
        .ok_or_else(|| anyhow::anyhow!("service `{}` is gone", alert.service))?;
    if let Some(open_id) = tx.open_incident_id(&alert.service, &alert.dedup_key)? {
        let count = tx.record_duplicate(open_id, now)?;
        fx.events.push(tx.add_event(
            open_id,
            &alert.service,
            NewEvent::new(
                EventKind::Deduplicated,
                format!("alert #{count} added: {}", alert.summary),
            ),
            now,
        )?);
        // Alertmanager re-sends a firing alert (same `startsAt`) on every group or repeat
        // interval: that is the same firing, not the alert firing again.
        let resent = match alert.details.get("starts_at") {
            Some(started) => tx
                .incident(open_id)?
                .is_some_and(|inc| inc.details.get("starts_at") == Some(started)),
            None => false,
        };
        if let (Some(threshold), false) = (service.threshold, resent) {
            ingest::observe_repeat(tx, ctx, open_id, threshold, fx)?;
        }
        return Ok(TriggerOutcome {
            incident_id: open_id,
            dedup_key: alert.dedup_key,
            deduplicated: true,
            alert_count: count,
        });
    }
    let policy_name = domain::ingest::route(
        &service.routes,
        &service.escalation_policy,
        alert.severity,
        &alert.details,
    );
    let policy = ctx
        .policies
        .policies
        .get(policy_name)
        .ok_or_else(|| anyhow::anyhow!("escalation policy `{policy_name}` is gone"))?;
    let step = domain::on_trigger(policy.timeline(alert.severity));
    let id = tx.insert_incident(&alert, policy_name, step.pos(), now)?;
    let mut msg = format!(
        "{} alert from {}: {}",
        alert.severity,
        if alert.source.is_empty() {
            "unknown source"
        } else {
            &alert.source
        },
        alert.summary
    );
    if policy_name != service.escalation_policy {
        msg.push_str(&format!(
            " (routed to escalation policy {policy_name} by a rule)"
        ));
    }
    fx.events.push(tx.add_event(
        id,
        &alert.service,
        NewEvent::new(EventKind::Triggered, msg),
        now,
    )?);
    let held = domain::ingest::hold(
        &alert.service,
        alert.severity,
        now,
        &ctx.policies.maintenance,
        service.support_hours.as_ref(),
    );
    match held {
        Some(hold) => ingest::record_hold(tx, ctx, id, &alert.service, &hold, fx)?,
        None => apply_step(tx, ctx, id, &alert.service, alert.severity, &step, now, fx)?,
    }
    Ok(TriggerOutcome {
        incident_id: id,
        dedup_key: alert.dedup_key,
        deduplicated: false,
        alert_count: 1,
    })
}

/// Resolves inside a write; false when it already was resolved.
fn resolve_in(
    tx: &dyn WriteTx,
    ctx: &Ctx,
    inc: &Incident,
    by: &str,
    note: &str,
    fx: &mut Effects,
) -> anyhow::Result<bool> {
    if inc.state == IncidentState::Resolved {
        return Ok(false);
    }
    let id = inc.id;
    tx.set_resolved(id, by, note, ctx.now)?;
    tx.cancel_actions(id)?;
    tx.cancel_pending_pages(id)?;
    let msg = if note.is_empty() {
        "resolved".to_string()
    } else {
        format!("resolved: {note}")
    };
    fx.events.push(tx.add_event(
        id,
        &inc.service,
        NewEvent::new(EventKind::Resolved, msg).actor(by),
        ctx.now,
    )?);
    Ok(true)
}
