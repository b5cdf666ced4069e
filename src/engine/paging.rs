//! Deciding and queueing pages: a due escalation or ack timeout, a later contact-rule step,
//! writing a step's pages and next due action, and test pages.

use chrono::{DateTime, Utc};
use tokio::sync::broadcast;

use super::{Ctx, Effects, Engine, EngineError, EngineResult, ingest, outbox};
use crate::domain::contact::{self, Method};
use crate::domain::due::Due;
use crate::domain::{self, EventKind, Incident, IncidentState, NewEvent, PageKind, Step};
use crate::store::WriteTx;

impl Engine {
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
        self.pages_queued();
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
}

/// The incident's escalation policy, or its service's current one. When both are gone the
/// timeline says so and escalation stops (`None`).
fn policy_or_stop<'a>(
    tx: &dyn WriteTx,
    ctx: &'a Ctx,
    inc: &Incident,
    fx: &mut Effects,
) -> anyhow::Result<Option<&'a domain::EscalationPolicy>> {
    if let Some(policy) = ctx.policy(inc) {
        return Ok(Some(policy));
    }
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
    Ok(None)
}

/// The current level's delay ran out: page the next level. Stale actions (the incident moved
/// on) do nothing.
pub(super) fn fire_escalation(
    tx: &dyn WriteTx,
    ctx: &Ctx,
    inc: &Incident,
    due_at: DateTime<Utc>,
    fx: &mut Effects,
) -> anyhow::Result<()> {
    let Some(policy) = policy_or_stop(tx, ctx, inc, fx)? else {
        return Ok(());
    };
    if inc.state != IncidentState::Triggered {
        return Ok(());
    }
    let step = domain::on_escalation_due(policy.timeline(inc.severity), policy.repeat, inc.pos);
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
    move_to(tx, ctx, inc, &step, due_at, fx)
}

/// Acknowledged but not resolved in time: re-trigger and escalate. Stale actions do nothing.
pub(super) fn fire_ack_timeout(
    tx: &dyn WriteTx,
    ctx: &Ctx,
    inc: &Incident,
    due_at: DateTime<Utc>,
    fx: &mut Effects,
) -> anyhow::Result<()> {
    let Some(policy) = policy_or_stop(tx, ctx, inc, fx)? else {
        return Ok(());
    };
    if inc.state != IncidentState::Acknowledged {
        return Ok(());
    }
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
    let step = domain::on_ack_timeout(policy.timeline(inc.severity), policy.repeat, inc.pos);
    move_to(tx, ctx, inc, &step, due_at, fx)
}

/// A held incident's hold may be over: decide again whether it pages.
pub(super) fn fire_release(
    tx: &dyn WriteTx,
    ctx: &Ctx,
    inc: &Incident,
    due_at: DateTime<Utc>,
    fx: &mut Effects,
) -> anyhow::Result<()> {
    if policy_or_stop(tx, ctx, inc, fx)?.is_none() || inc.state != IncidentState::Triggered {
        return Ok(());
    }
    ingest::release(tx, ctx, inc, due_at, fx)
}

/// Stores the incident at the step's position and writes the step.
fn move_to(
    tx: &dyn WriteTx,
    ctx: &Ctx,
    inc: &Incident,
    step: &Step,
    due_at: DateTime<Utc>,
    fx: &mut Effects,
) -> anyhow::Result<()> {
    tx.set_position(inc.id, step.pos())?;
    apply_step(
        tx,
        ctx,
        inc.id,
        &inc.service,
        inc.severity,
        step,
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
pub(super) fn fire_contact(
    tx: &dyn WriteTx,
    ctx: &Ctx,
    inc: &Incident,
    (person, channel, pos): (&str, &str, domain::Position),
    due_at: DateTime<Utc>,
    fx: &mut Effects,
) -> anyhow::Result<()> {
    if inc.state != IncidentState::Triggered || inc.pos != pos {
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
        pos,
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
pub(super) fn apply_step(
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
                tx.set_due(
                    &Due::Contact {
                        incident: id,
                        person: person.clone(),
                        channel: channel.to_string(),
                        pos,
                    },
                    at,
                )?;
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
        tx.set_due(&Due::Escalate { incident: id }, due)?;
        fx.due(due);
    }
    Ok(())
}
