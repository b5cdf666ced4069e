//! The outbox worker: takes due pages from the store, hands them to their channels, and records
//! every attempt (sent, retry later, failed for good) with a timeline event.
//!
//! A page is marked sent only after its channel accepted it, so a crash mid-send resends it
//! after restart with the same idempotency key: at least once, duplicates bounded by one batch.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::Engine;
use super::timer::Failures;
use crate::config::settings::OutboxSettings;
use crate::domain::contact::{self, Method};
use crate::domain::{EventKind, IncidentState, NewEvent, Page, PageKind};
use crate::notify::{Channel, Delivered, SendError};
use crate::store::{AttemptInfo, AttemptOutcome};

/// What one `try_execute` pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionOutcome {
    /// Nothing was due.
    Empty,
    /// This many pages were attempted.
    Attempted(usize),
}

pub struct OutboxWorker {
    engine: Engine,
    channels: HashMap<String, Arc<dyn Channel>>,
    settings: OutboxSettings,
}

impl OutboxWorker {
    pub fn new(engine: Engine, channels: Vec<Arc<dyn Channel>>, settings: OutboxSettings) -> Self {
        let channels = channels
            .into_iter()
            .map(|c| (c.name().to_string(), c))
            .collect();
        Self {
            engine,
            channels,
            settings,
        }
    }

    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let clock = self.engine.clock();
        let mut failures = Failures::new("outbox worker");
        loop {
            if shutdown.is_cancelled() {
                return Ok(());
            }
            // A pass in flight finishes (sends are bounded by the channels' timeouts) and
            // records its outcomes, so a graceful stop does not resend what went out. A crash
            // mid-pass leaves its pages pending: they go out again after restart, with the
            // same idempotency keys.
            let outcome = self.try_execute().await;
            let next = match outcome {
                Ok(ExecutionOutcome::Attempted(_)) => {
                    failures.reset();
                    continue;
                }
                Ok(ExecutionOutcome::Empty) => {
                    Ok(self.engine.store().read(|r| r.next_page_at()).await?)
                }
                Err(e) => Err(e),
            };
            let next = match next {
                Ok(next) => next,
                Err(e) => {
                    failures.record(e, &shutdown).await?;
                    continue;
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = self.engine.outbox_wake().notified() => {}
                _ = clock.sleep_until(next) => {}
            }
        }
    }

    /// One pass: send every page due now (a bounded batch), record the outcomes. Pages to one
    /// person on a rate-limited channel are sent as the limit allows: coalesced into one
    /// message when more wait than fit, held (visibly) when the limit is reached.
    pub async fn try_execute(&self) -> anyhow::Result<ExecutionOutcome> {
        let now = self.engine.clock().now();
        let limit = self.settings.concurrency * 4;
        let pages = self
            .engine
            .store()
            .read(move |r| r.pending_pages(now, limit))
            .await?;
        if pages.is_empty() {
            return Ok(ExecutionOutcome::Empty);
        }
        let n = pages.len();
        let (units, holds) = self.plan(pages, now).await?;
        let policies = self.engine.policies();
        let results: Vec<Attempted> = futures::stream::iter(units)
            .map(|unit| {
                let channel = self.channels.get(&unit[0].channel).cloned();
                let person = policies.people.get(&unit[0].person).cloned();
                async move {
                    let (address, result) = match channel {
                        Some(ch) => {
                            let address = ch.address(person.as_ref());
                            let r = if unit.len() == 1 {
                                ch.send(&unit[0], person.as_ref()).await
                            } else {
                                ch.send_many(&unit, person.as_ref()).await
                            };
                            (address, r)
                        }
                        None => (
                            None,
                            Err(SendError::Permanent(format!(
                                "channel `{}` is not enabled",
                                unit[0].channel
                            ))),
                        ),
                    };
                    (unit, address, result)
                }
            })
            .buffer_unordered(self.settings.concurrency)
            .collect()
            .await;

        let done_at = self.engine.clock().now();
        let mut decided: Vec<(Vec<Page>, AttemptInfo, AttemptOutcome)> = Vec::new();
        for (unit, address, result) in results {
            let mut settings = self.settings.clone();
            if let Some(d) = self
                .channels
                .get(&unit[0].channel)
                .and_then(|c| c.deadline())
            {
                settings.give_up_after = d;
            }
            let response = match &result {
                Ok(d) => d.response.clone(),
                Err(_) => None,
            };
            let outcome = decide(
                unit[0].attempts,
                unit[0].created_at,
                result.map(|_| ()),
                done_at,
                &settings,
                rand::random_range(0.8..1.2),
            );
            decided.push((unit, AttemptInfo { address, response }, outcome));
        }
        let enabled: Vec<Method> = self.channels.values().filter_map(|c| c.method()).collect();
        // An incident page that went out counts toward the busy-shift rule of the schedules
        // with burnout limits: their projections change.
        let counted = policies.schedules.values().any(|d| d.burnout.is_some())
            && decided.iter().any(|(unit, _, outcome)| {
                matches!(outcome, AttemptOutcome::Sent)
                    && unit
                        .iter()
                        .any(|p| p.incident.is_some() && p.kind == crate::domain::PageKind::Page)
            });
        let (events, queued, notices) = self
            .engine
            .store()
            .write(move |tx| {
                let mut events = Vec::new();
                let mut notices = Vec::new();
                let mut queued = false;
                for (unit, info, outcome) in &decided {
                    let coalesced = unit.len();
                    for page in unit {
                        tx.record_attempt(page.id, outcome, info, done_at)?;
                        let Some(incident) = &page.incident else {
                            // Notifications without an incident have no timeline; the log and
                            // whoever waits for them (a test page) have them.
                            tracing::info!(page = page.id, kind = page.kind.as_str(), person = %page.person, channel = %page.channel, outcome = ?outcome, "notification attempt");
                            notices.push(NoticeOutcome {
                                page_id: page.id,
                                channel: page.channel.clone(),
                                address: info.address.clone().unwrap_or_default(),
                                response: info.response.clone().unwrap_or_default(),
                                outcome: outcome.clone(),
                            });
                            continue;
                        };
                        let (kind, msg) = describe(page, info, outcome, coalesced);
                        let mut ev = NewEvent::new(kind, msg).level(page.pos.level + 1);
                        ev.person = Some(page.person.clone());
                        ev.channel = Some(page.channel.clone());
                        events.push(tx.add_event(incident.id, &incident.service, ev, done_at)?);
                        if let AttemptOutcome::Failed { .. } = outcome
                            && let Some(ev) = fall_over(tx, &policies, &enabled, page, done_at)?
                        {
                            events.push(ev);
                            queued = true;
                        }
                    }
                }
                for (pages, until, limit) in &holds {
                    let ids: Vec<i64> = pages.iter().map(|p| p.id).collect();
                    let first = tx.hold_pages(&ids, *until)?;
                    for page in pages.iter().filter(|p| first.contains(&p.id)) {
                        let Some(incident) = &page.incident else {
                            continue;
                        };
                        let mut ev = NewEvent::new(
                            EventKind::DeliveryHeld,
                            format!(
                                "{} to {} via {} held: at most {limit} a minute to one person; \
                                 waiting pages go out together at {}",
                                verb(page),
                                page.person,
                                page.channel,
                                until.format("%H:%M:%S UTC")
                            ),
                        )
                        .level(page.pos.level + 1);
                        ev.person = Some(page.person.clone());
                        ev.channel = Some(page.channel.clone());
                        events.push(tx.add_event(incident.id, &incident.service, ev, done_at)?);
                    }
                }
                Ok((events, queued, notices))
            })
            .await?;
        if counted {
            // Before the events: whoever saw a delivery sees the projections it changed.
            self.engine.refresh_burnout().await?;
        }
        self.engine.publish_events(events);
        for n in notices {
            // Nobody waiting is fine.
            let _ = self.engine.notice_outcomes().send(n);
        }
        if queued {
            self.engine.outbox_wake().notify_one();
        }
        Ok(ExecutionOutcome::Attempted(n))
    }

    /// Splits due pages into sends (one page, or several coalesced for one person) and holds
    /// (pages to wait, until when, under which limit).
    async fn plan(
        &self,
        pages: Vec<Page>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<(Vec<Vec<Page>>, Holds)> {
        let mut units: Vec<Vec<Page>> = Vec::new();
        let mut limited: BTreeMap<(String, String), Vec<Page>> = BTreeMap::new();
        for page in pages {
            let limit = self
                .channels
                .get(&page.channel)
                .and_then(|c| c.rate_limit());
            match limit {
                Some(_) if page.incident.is_some() => limited
                    .entry((page.channel.clone(), page.person.clone()))
                    .or_default()
                    .push(page),
                _ => units.push(vec![page]),
            }
        }
        if limited.is_empty() {
            return Ok((units, Vec::new()));
        }
        let keys: Vec<(String, String)> = limited.keys().cloned().collect();
        let since = now - chrono::Duration::minutes(1);
        let recent = self
            .engine
            .store()
            .read(move |r| {
                keys.iter()
                    .map(|(channel, person)| r.recent_sends(person, channel, since))
                    .collect::<crate::store::Result<Vec<_>>>()
            })
            .await?;
        let mut holds = Vec::new();
        for (((channel, _), waiting), sent) in limited.into_iter().zip(recent) {
            let limit = self
                .channels
                .get(&channel)
                .and_then(|c| c.rate_limit())
                .unwrap_or(u32::MAX);
            let (plans, hold) = contact::plan_sends(waiting.len(), &sent, limit, now);
            if let Some(until) = hold {
                holds.push((waiting, until, limit));
                continue;
            }
            let mut slots: Vec<Option<Page>> = waiting.into_iter().map(Some).collect();
            for plan in plans {
                units.push(plan.pages.iter().filter_map(|i| slots[*i].take()).collect());
            }
        }
        Ok((units, holds))
    }
}

/// The outcome of one attempt at a notification without an incident (a test page).
#[derive(Debug, Clone)]
pub struct NoticeOutcome {
    pub page_id: i64,
    pub channel: String,
    pub address: String,
    pub response: String,
    pub outcome: AttemptOutcome,
}

/// One send: its pages, the address used, the channel's answer.
type Attempted = (Vec<Page>, Option<String>, Result<Delivered, SendError>);

/// Pages held by a rate limit: the pages, until when, the limit.
type Holds = Vec<(Vec<Page>, DateTime<Utc>, u32)>;

/// The timeline entry of one attempt: channel, address, provider answer, next retry.
fn describe(
    page: &Page,
    info: &AttemptInfo,
    outcome: &AttemptOutcome,
    coalesced: usize,
) -> (EventKind, String) {
    let to = match &info.address {
        Some(a) => format!("{} via {} ({a})", page.person, page.channel),
        None => format!("{} via {}", page.person, page.channel),
    };
    let together = if coalesced > 1 {
        format!(" in one message with {} other page(s)", coalesced - 1)
    } else {
        String::new()
    };
    match outcome {
        AttemptOutcome::Sent => (
            EventKind::Delivered,
            format!(
                "{} {} to {to}{together}{}",
                verb(page),
                ordinal(page.attempts + 1),
                info.response
                    .as_ref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ),
        ),
        AttemptOutcome::Retry { at, error } => (
            EventKind::DeliveryFailed,
            format!(
                "{} to {to} failed: {error}; retrying at {}",
                verb(page),
                at.format("%H:%M:%S UTC")
            ),
        ),
        AttemptOutcome::Failed { error } => (
            EventKind::DeliveryFailed,
            format!(
                "{} to {to} failed for good after {} attempt(s): {error}",
                verb(page),
                page.attempts + 1
            ),
        ),
    }
}

/// A page that failed for good: if the incident still waits for an answer, page the person
/// at once by their next contact method not tried yet at this level.
fn fall_over(
    tx: &dyn crate::store::WriteTx,
    policies: &crate::domain::PolicySet,
    enabled: &[Method],
    page: &Page,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<crate::domain::Event>> {
    let (Some(failed), PageKind::Page, Some(inc)) =
        (Method::parse(&page.channel), page.kind, &page.incident)
    else {
        return Ok(None);
    };
    let Some(person) = policies.people.get(&page.person) else {
        return Ok(None);
    };
    let Some(current) = tx.incident(inc.id)? else {
        return Ok(None);
    };
    if current.state != IncidentState::Triggered || current.pos != page.pos {
        return Ok(None);
    }
    let mut tried: Vec<Method> = tx
        .channels_tried(inc.id, &page.person, page.pos)?
        .iter()
        .filter_map(|c| Method::parse(c))
        .collect();
    tried.push(failed);
    let Some(next) = contact::fallback(person, inc.severity, &tried, |m| enabled.contains(&m))
    else {
        return Ok(None);
    };
    super::paging::queue_page(
        tx,
        inc.id,
        PageKind::Page,
        &page.person,
        next.as_str(),
        page.pos,
        now,
        now,
    )?;
    let mut ev = NewEvent::new(
        EventKind::DeliveryFailed,
        format!(
            "{} gave up on {}; trying {} at once",
            page.channel,
            page.person,
            next.as_str()
        ),
    )
    .level(page.pos.level + 1);
    ev.person = Some(page.person.clone());
    ev.channel = Some(next.as_str().to_string());
    Ok(Some(tx.add_event(inc.id, &inc.service, ev, now)?))
}

fn verb(page: &Page) -> &'static str {
    match page.kind {
        crate::domain::PageKind::Page => "page",
        crate::domain::PageKind::Unanswered => "unanswered notice",
        crate::domain::PageKind::Handoff => "handoff notice",
        crate::domain::PageKind::Test => "test page",
    }
}

fn ordinal(attempt: u32) -> String {
    if attempt == 1 {
        "delivered".into()
    } else {
        format!("delivered on attempt {attempt}")
    }
}

/// Retry policy: exponential backoff from `retry_initial`, capped at `retry_max`, scaled by
/// `jitter` (≈0.8–1.2) so retries from many pages spread out; `Retry-After` is a floor; past
/// `give_up_after` from the page's creation the page fails for good.
pub fn decide(
    attempts: u32,
    created_at: DateTime<Utc>,
    result: Result<(), SendError>,
    now: DateTime<Utc>,
    s: &OutboxSettings,
    jitter: f64,
) -> AttemptOutcome {
    let (error, floor) = match result {
        Ok(()) => return AttemptOutcome::Sent,
        Err(SendError::Permanent(e)) => return AttemptOutcome::Failed { error: e },
        Err(SendError::Retryable(e)) => (e, Duration::ZERO),
        Err(e @ SendError::RetryAfter(wait, _)) => (e.to_string(), wait),
    };
    let exp = s
        .retry_initial
        .saturating_mul(2u32.saturating_pow(attempts.min(30)))
        .min(s.retry_max);
    let wait = exp.mul_f64(jitter.clamp(0.5, 1.5)).max(floor);
    let at = now + chrono::Duration::from_std(wait).unwrap_or_default();
    let deadline = created_at + chrono::Duration::from_std(s.give_up_after).unwrap_or_default();
    if at > deadline {
        AttemptOutcome::Failed { error }
    } else {
        AttemptOutcome::Retry { at, error }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_schedule_backs_off_caps_and_gives_up() {
        let s = OutboxSettings {
            retry_initial: Duration::from_secs(5),
            retry_max: Duration::from_secs(300),
            give_up_after: Duration::from_secs(3600),
            ..OutboxSettings::default()
        };
        let t0 = Utc::now();
        let retry = |attempts: u32, now_offset: i64, err: SendError| {
            decide(
                attempts,
                t0,
                Err(err),
                t0 + chrono::Duration::seconds(now_offset),
                &s,
                1.0,
            )
        };
        let at = |secs: i64| t0 + chrono::Duration::seconds(secs);
        let e = || SendError::Retryable("503".into());
        let table = [
            (retry(0, 0, e()), Some(at(5))),
            (retry(1, 0, e()), Some(at(10))),
            (retry(3, 0, e()), Some(at(40))),
            (retry(10, 0, e()), Some(at(300))), // capped
            (
                retry(
                    1,
                    0,
                    SendError::RetryAfter(Duration::from_secs(120), "429".into()),
                ),
                Some(at(120)),
            ),
            (retry(5, 3500, e()), None), // past the deadline
        ];
        for (i, (got, want)) in table.into_iter().enumerate() {
            match (got, want) {
                (AttemptOutcome::Retry { at, .. }, Some(w)) => assert_eq!(at, w, "row {i}"),
                (AttemptOutcome::Failed { .. }, None) => {}
                (got, want) => panic!("row {i}: got {got:?}, want retry at {want:?}"),
            }
        }
        assert_eq!(decide(0, t0, Ok(()), t0, &s, 1.0), AttemptOutcome::Sent);
        assert!(matches!(
            decide(0, t0, Err(SendError::Permanent("404".into())), t0, &s, 1.0),
            AttemptOutcome::Failed { .. }
        ));
    }
}
