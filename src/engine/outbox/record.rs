//! Recording what a delivery did: the attempt, its timeline event, the fall-over to the
//! person's next contact method, the retry decision. One write per send, retried until it
//! commits, so an outcome is never lost to a store that refused a write and a page that went
//! out is never sent again because of it.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{NoticeOutcome, Shared};
use crate::config::settings::OutboxSettings;
use crate::domain::contact::{self, Method};
use crate::domain::{EventKind, IncidentState, NewEvent, Page, PageKind};
use crate::metrics::{Metrics, PageOutcome};
use crate::notify::SendError;
use crate::store::{AttemptInfo, AttemptOutcome};

/// One send's outcome, decided once and written until the write commits.
pub(super) struct Outcome {
    pub unit: Vec<Page>,
    pub info: AttemptInfo,
    pub outcome: AttemptOutcome,
    pub at: DateTime<Utc>,
}

/// Writes `o`, retrying (with backoff, up to 5 s apart) while the store refuses; returns once
/// it is committed and published. The page stays claimed meanwhile, so it is not sent again.
pub(super) async fn record(shared: &Shared, o: Outcome) {
    let o = Arc::new(o);
    let mut wait = Duration::from_millis(50);
    let mut tries = 0u32;
    loop {
        match record_once(shared, o.clone()).await {
            Ok(()) => {
                if tries > 0 {
                    tracing::info!(
                        page = o.unit[0].id,
                        tries = tries + 1,
                        "delivery outcome recorded after the store refused it"
                    );
                }
                return;
            }
            Err(e) => {
                tries += 1;
                tracing::warn!(
                    page = o.unit[0].id,
                    channel = %o.unit[0].channel,
                    error = format!("{e:#}"),
                    retry_in_ms = wait.as_millis() as u64,
                    "delivery outcome not recorded; the page is not sent again meanwhile"
                );
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// One try: the write, then (only once it committed) what follows from it. Nothing after the
/// commit can fail the try, so a committed outcome is never written twice.
async fn record_once(shared: &Shared, o: Arc<Outcome>) -> anyhow::Result<()> {
    let engine = &shared.engine;
    let policies = engine.policies();
    let enabled = shared.enabled.clone();
    let sent = matches!(o.outcome, AttemptOutcome::Sent);
    // An incident page that went out counts toward the busy-shift rule of the schedules with
    // burnout limits: their projections change.
    let counted = sent
        && policies.schedules.values().any(|d| d.burnout.is_some())
        && o.unit
            .iter()
            .any(|p| p.incident.is_some() && p.kind == PageKind::Page);
    let w = o.clone();
    // Replayable: it only writes and returns what it wrote.
    let (events, queued, notices) = engine
        .store()
        .write_replayable(move |tx| {
            let mut events = Vec::new();
            let mut notices = Vec::new();
            let mut queued = false;
            let coalesced = w.unit.len();
            for page in &w.unit {
                tx.record_attempt(page.id, &w.outcome, &w.info, w.at)?;
                let Some(incident) = &page.incident else {
                    // Notifications without an incident have no timeline; the log and whoever
                    // waits for them (a test page) have them.
                    notices.push(NoticeOutcome {
                        page_id: page.id,
                        channel: page.channel.clone(),
                        address: w.info.address.clone().unwrap_or_default(),
                        response: w.info.response.clone().unwrap_or_default(),
                        outcome: w.outcome.clone(),
                    });
                    continue;
                };
                let (kind, msg) = describe(page, &w.info, &w.outcome, coalesced);
                let mut ev = NewEvent::new(kind, msg).level(page.pos.level + 1);
                ev.person = Some(page.person.clone());
                ev.channel = Some(page.channel.clone());
                events.push(tx.add_event(incident.id, &incident.service, ev, w.at)?);
                if let AttemptOutcome::Failed { .. } = w.outcome
                    && let Some(ev) = fall_over(tx, &policies, &enabled, page, w.at)?
                {
                    events.push(ev);
                    queued = true;
                }
            }
            Ok((events, queued, notices))
        })
        .await?;
    for n in &notices {
        tracing::info!(page = n.page_id, channel = %n.channel, outcome = ?n.outcome, "notification attempt");
    }
    if counted && let Err(e) = engine.refresh_burnout().await {
        // The delivery is recorded; the projections catch up with the next change.
        tracing::warn!(
            error = format!("{e:#}"),
            "burnout projections not refreshed"
        );
    }
    count(engine.metrics(), &o);
    engine.publish_events(events);
    for n in notices {
        // Nobody waiting is fine.
        let _ = engine.notice_outcomes().send(n);
    }
    if queued {
        engine.pages_queued();
    }
    Ok(())
}

/// Pages held by a rate limit until `until`: written (with a timeline event the first time a
/// page is held), retried like outcomes.
pub(super) async fn record_hold(
    shared: &Shared,
    pages: Vec<Page>,
    until: DateTime<Utc>,
    limit: u32,
) {
    let pages = Arc::new(pages);
    let mut wait = Duration::from_millis(50);
    loop {
        let now = shared.engine.clock().now();
        let p = pages.clone();
        let written = shared
            .engine
            .store()
            .write(move |tx| {
                let ids: Vec<i64> = p.iter().map(|p| p.id).collect();
                let first = tx.hold_pages(&ids, until)?;
                let mut events = Vec::new();
                for page in p.iter().filter(|p| first.contains(&p.id)) {
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
                    events.push(tx.add_event(incident.id, &incident.service, ev, now)?);
                }
                Ok((events, first.len()))
            })
            .await;
        match written {
            Ok((events, held)) => {
                if let Some(p) = pages.first() {
                    shared
                        .engine
                        .metrics()
                        .pages(&p.channel, PageOutcome::Held, held as u64);
                }
                shared.engine.publish_events(events);
                return;
            }
            Err(e) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "rate-limit hold not recorded; retrying"
                );
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Counts a committed outcome: the attempt per page, and a sent page's delay from due to
/// accepted.
fn count(metrics: &Metrics, o: &Outcome) {
    let outcome = match o.outcome {
        AttemptOutcome::Sent => PageOutcome::Sent,
        AttemptOutcome::Retry { .. } => PageOutcome::Retried,
        AttemptOutcome::Failed { .. } => PageOutcome::Failed,
    };
    metrics.pages(&o.unit[0].channel, outcome, o.unit.len() as u64);
    if outcome == PageOutcome::Sent {
        for page in &o.unit {
            let late = (o.at - page.due_at).num_milliseconds() as f64 / 1000.0;
            metrics.delivered(&page.channel, late);
        }
    }
}

/// The outcome of one send, decided with the channel's own deadline if it has one.
pub(super) fn outcome_of(
    shared: &Shared,
    unit: &[Page],
    result: Result<(), SendError>,
    now: DateTime<Utc>,
) -> AttemptOutcome {
    let mut settings = shared.settings.clone();
    if let Some(d) = shared
        .channels
        .get(&unit[0].channel)
        .and_then(|c| c.deadline())
    {
        settings.give_up_after = d;
    }
    decide(
        unit[0].attempts,
        unit[0].created_at,
        result,
        now,
        &settings,
        rand::random_range(0.8..1.2),
    )
}

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
    super::super::paging::queue_page(
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
