//! One delivery job: the pages the dispatcher claimed for it (one page, or every due page to
//! one person on a rate-limited channel), sent and each send's outcome recorded on its own.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::Shared;
use super::record::{self, Outcome};
use crate::domain::Page;
use crate::domain::contact;
use crate::notify::SendError;
use crate::store::{AttemptInfo, AttemptOutcome};

/// What a job's end tells the dispatcher about its pages.
#[derive(Debug, Default)]
pub(super) struct End {
    /// The earliest time one of its pages is due again: a retry's, a rate-limit hold's, or
    /// now for pages not sent at all (not the leader, recent sends not read). `None` when
    /// every page ended for good (sent or failed), so nothing of the job's is due again.
    pub again_at: Option<DateTime<Utc>>,
}

impl End {
    fn again(&mut self, at: DateTime<Utc>) {
        self.again_at = Some(self.again_at.map_or(at, |t| t.min(at)));
    }
}

/// Runs one job. `sends_done` is told once the job's sends are over (its outcomes may still
/// be waiting for the store), so the channel's slot frees while the claim stays.
pub(super) async fn run(
    shared: Arc<Shared>,
    pages: Vec<Page>,
    rate_limited: bool,
    sends_done: mpsc::UnboundedSender<tokio::task::Id>,
) -> End {
    let id = tokio::task::id();
    let mut end = End::default();
    let units = if rate_limited {
        match plan(&shared, pages).await {
            Ok(units) => units,
            Err(again_at) => {
                let _ = sends_done.send(id);
                end.again(again_at);
                return end;
            }
        }
    } else {
        vec![pages]
    };
    let mut outcomes = Vec::with_capacity(units.len());
    for unit in units {
        // Checked right before each send: a node that lost the cluster lease (or was paused
        // past it) sends nothing more; the pages stay queued for the node that holds it.
        if let Err(e) = shared.engine.leader_token() {
            tracing::warn!(pages = unit.len(), error = %e, "not sent: not the leader");
            end.again(shared.engine.clock().now());
            break;
        }
        outcomes.push(send(&shared, unit).await);
    }
    let _ = sends_done.send(id);
    for o in outcomes {
        if let AttemptOutcome::Retry { at, .. } = &o.outcome {
            end.again(*at);
        }
        record::record(&shared, o).await;
    }
    end
}

/// Sends one unit and decides its outcome (not yet recorded).
async fn send(shared: &Shared, unit: Vec<Page>) -> Outcome {
    let policies = shared.engine.policies();
    let person = policies.people.get(&unit[0].person);
    let (address, result) = match shared.channels.get(&unit[0].channel) {
        Some(ch) => {
            let address = ch.address(person);
            let r = if unit.len() == 1 {
                ch.send(&unit[0], person).await
            } else {
                ch.send_many(&unit, person).await
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
    let at = shared.engine.clock().now();
    let response = result.as_ref().ok().and_then(|d| d.response.clone());
    let outcome = record::outcome_of(shared, &unit, result.map(|_| ()), at);
    Outcome {
        unit,
        info: AttemptInfo { address, response },
        outcome,
        at,
    }
}

/// Pages to one person on a rate-limited channel: what the limit allows now (one message per
/// page while there is room, the rest coalesced into the last), or a hold until there is room.
/// `Err` with when the pages are due again if nothing is to be sent now (held until then, or
/// now when the recent sends could not be read: the pages are simply due again).
async fn plan(shared: &Shared, pages: Vec<Page>) -> Result<Vec<Vec<Page>>, DateTime<Utc>> {
    let now: DateTime<Utc> = shared.engine.clock().now();
    let limit = shared
        .channels
        .get(&pages[0].channel)
        .and_then(|c| c.rate_limit())
        .unwrap_or(u32::MAX);
    let (person, channel) = (pages[0].person.clone(), pages[0].channel.clone());
    let since = now - chrono::Duration::minutes(1);
    let sent = match shared
        .engine
        .store()
        .read(move |r| r.recent_sends(&person, &channel, since))
        .await
    {
        Ok(sent) => sent,
        Err(e) => {
            tracing::warn!(
                error = format!("{e:#}"),
                "recent sends not read; retrying later"
            );
            return Err(now);
        }
    };
    let (plans, hold) = contact::plan_sends(pages.len(), &sent, limit, now);
    if let Some(until) = hold {
        record::record_hold(shared, pages, until, limit).await;
        return Err(until);
    }
    let mut slots: Vec<Option<Page>> = pages.into_iter().map(Some).collect();
    Ok(plans
        .into_iter()
        .map(|plan| plan.pages.iter().filter_map(|i| slots[*i].take()).collect())
        .collect())
}
