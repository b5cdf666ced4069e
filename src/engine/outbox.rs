//! The outbox worker: takes due pages from the store, hands them to their channels, and records
//! every attempt (sent, retry later, failed for good) with a timeline event.
//!
//! A page is marked sent only after its channel accepted it, so a crash mid-send resends it
//! after restart with the same idempotency key: at least once, duplicates bounded by one batch.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::Engine;
use super::timer::Failures;
use crate::config::settings::OutboxSettings;
use crate::domain::{EventKind, NewEvent, Page};
use crate::notify::{Channel, SendError};
use crate::store::AttemptOutcome;

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
            let outcome = tokio::select! {
                // Stopping mid-send leaves the pages pending: they go out after restart.
                _ = shutdown.cancelled() => return Ok(()),
                r = self.try_execute() => r,
            };
            let next = match outcome {
                Ok(ExecutionOutcome::Attempted(_)) => {
                    failures.reset();
                    continue;
                }
                Ok(ExecutionOutcome::Empty) => self.engine.store().read(|r| r.next_page_at()).await,
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

    /// One pass: send every page due now (a bounded batch), record the outcomes.
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
        let policies = self.engine.policies();
        let results: Vec<(Page, Result<(), SendError>)> = futures::stream::iter(pages)
            .map(|page| {
                let channel = self.channels.get(&page.channel).cloned();
                let person = policies.people.get(&page.person).cloned();
                async move {
                    let result = match channel {
                        Some(ch) => ch.send(&page, person.as_ref()).await,
                        None => Err(SendError::Permanent(format!(
                            "channel `{}` is not enabled",
                            page.channel
                        ))),
                    };
                    (page, result)
                }
            })
            .buffer_unordered(self.settings.concurrency)
            .collect()
            .await;

        let n = results.len();
        let done_at = self.engine.clock().now();
        let settings = self.settings.clone();
        let decided: Vec<(Page, AttemptOutcome)> = results
            .into_iter()
            .map(|(page, result)| {
                let outcome = decide(
                    page.attempts,
                    page.created_at,
                    result,
                    done_at,
                    &settings,
                    rand::random_range(0.8..1.2),
                );
                (page, outcome)
            })
            .collect();
        let events = self
            .engine
            .store()
            .write(move |tx| {
                let mut events = Vec::with_capacity(decided.len());
                for (page, outcome) in &decided {
                    tx.record_attempt(page.id, outcome, done_at)?;
                    let Some(incident) = &page.incident else {
                        // Notifications without an incident have no timeline; the log has them.
                        tracing::info!(page = page.id, kind = page.kind.as_str(), person = %page.person, channel = %page.channel, outcome = ?outcome, "notification attempt");
                        continue;
                    };
                    let (kind, msg) = match outcome {
                        AttemptOutcome::Sent => (
                            EventKind::Delivered,
                            format!(
                                "{} {} to {} via {}",
                                verb(page),
                                ordinal(page.attempts + 1),
                                page.person,
                                page.channel
                            ),
                        ),
                        AttemptOutcome::Retry { at, error } => (
                            EventKind::DeliveryFailed,
                            format!(
                                "{} to {} via {} failed: {error}; retrying at {}",
                                verb(page),
                                page.person,
                                page.channel,
                                at.format("%H:%M:%S UTC")
                            ),
                        ),
                        AttemptOutcome::Failed { error } => (
                            EventKind::DeliveryFailed,
                            format!(
                                "{} to {} via {} failed for good after {} attempt(s): {error}",
                                verb(page),
                                page.person,
                                page.channel,
                                page.attempts + 1
                            ),
                        ),
                    };
                    let mut ev = NewEvent::new(kind, msg).level(page.pos.level + 1);
                    ev.person = Some(page.person.clone());
                    ev.channel = Some(page.channel.clone());
                    events.push(tx.add_event(
                        incident.id,
                        &incident.service,
                        ev,
                        done_at,
                    )?);
                }
                Ok(events)
            })
            .await?;
        self.engine.publish_events(events);
        Ok(ExecutionOutcome::Attempted(n))
    }
}

fn verb(page: &Page) -> &'static str {
    match page.kind {
        crate::domain::PageKind::Page => "page",
        crate::domain::PageKind::Unanswered => "unanswered notice",
        crate::domain::PageKind::Handoff => "handoff notice",
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
