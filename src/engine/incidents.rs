//! Incident commands: trigger, acknowledge, resolve, escalate (by id or by key), and the
//! reads of one incident or a list.

use super::paging::apply_step;
use super::{Ctx, Effects, Engine, EngineError, EngineResult, ingest};
use crate::metrics::Transition;
use chrono::{DateTime, Utc};

use crate::domain::audit::{Actor, AuditEntry};
use crate::domain::due::{Due, DueScope};
use crate::domain::{self, EventKind, Incident, IncidentState, NewAlert, NewEvent};
use crate::store::{IncidentFilter, WriteTx};

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

impl Engine {
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
            // Replayable: everything it does besides the store's writes is collected in `fx`
            // and published only after the commit.
            .write_replayable(move |tx| {
                let mut fx = Effects::default();
                let outcome = open_alert(tx, &ctx, alert.clone(), &mut fx)?;
                Ok((outcome, fx))
            })
            .await?;
        self.publish(fx);
        Ok(outcome)
    }

    /// Acknowledges an incident: stops escalation, starts the ack timeout if the policy has one.
    #[tracing::instrument(skip_all, fields(incident = id))]
    pub async fn acknowledge(&self, id: i64, by: Actor) -> EngineResult<ActionOutcome> {
        self.change(id, "acknowledge", by.clone(), move |tx, ctx, inc, fx| {
            match inc.state {
                IncidentState::Resolved => {
                    return Err(EngineError::FailedPrecondition(format!(
                        "incident {id} is already resolved"
                    )));
                }
                IncidentState::Acknowledged => return Ok(false),
                IncidentState::Triggered => {}
            }
            tx.set_acknowledged(id, &by.who, ctx.now)?;
            tx.cancel_due(&DueScope::Incident(id))?;
            tx.cancel_pending_pages(id)?;
            let mut ev = NewEvent::new(EventKind::Acknowledged, "acknowledged").actor(&by.label());
            if let Some(timeout) = ctx.policy(inc).and_then(|p| p.ack_timeout) {
                let due = ctx.now + chrono::Duration::from_std(timeout).unwrap_or_default();
                tx.set_due(&Due::AckTimeout { incident: id }, due)?;
                fx.due(due);
                ev.message = format!(
                    "acknowledged; re-triggers if not resolved by {}",
                    due.format("%Y-%m-%d %H:%M UTC")
                );
            }
            ev.message.push_str(&by.note_suffix());
            fx.events.push(tx.add_event(id, &inc.service, ev, ctx.now)?);
            fx.obs
                .transition(Transition::Acknowledged, &inc.service, inc.severity);
            Ok(true)
        })
        .await
    }

    /// Resolves an incident: stops everything.
    #[tracing::instrument(skip_all, fields(incident = id))]
    pub async fn resolve(&self, id: i64, by: Actor, note: String) -> EngineResult<ActionOutcome> {
        self.change(id, "resolve", by.clone(), move |tx, ctx, inc, fx| {
            let note = format!("{note}{}", by.note_suffix()).trim().to_string();
            Ok(resolve_in(tx, ctx, inc, &by, &note, fx)?)
        })
        .await
    }

    /// Pages the next level now; an acknowledged incident is re-triggered.
    #[tracing::instrument(skip_all, fields(incident = id))]
    pub async fn escalate(&self, id: i64, by: Actor) -> EngineResult<ActionOutcome> {
        self.change(id, "escalate", by.clone(), move |tx, ctx, inc, fx| {
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
            tx.cancel_due(&DueScope::Incident(id))?;
            tx.set_position(id, step.pos())?;
            fx.events.push(
                tx.add_event(
                    id,
                    &inc.service,
                    NewEvent::new(
                        EventKind::Escalated,
                        format!(
                            "escalated by hand to level {}{}",
                            step.pos().level + 1,
                            by.note_suffix()
                        ),
                    )
                    .level(step.pos().level + 1)
                    .actor(&by.label()),
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
        by: Actor,
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
        by: Actor,
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

    /// The audit trail from `since`, oldest first, at most `limit` entries.
    pub async fn audit(&self, since: DateTime<Utc>, limit: u32) -> EngineResult<Vec<AuditEntry>> {
        Ok(self
            .inner
            .store
            .read(move |r| r.list_audit(since, limit))
            .await?)
    }

    /// Records an action that changed nothing in the store but must be answerable for
    /// (a reload, a test page): one audit row of its own.
    pub async fn record_audit(&self, by: &Actor, action: &str, target: String) -> EngineResult<()> {
        let entry = AuditEntry::new(by, action, target, self.inner.clock.now());
        self.inner
            .store
            .write(move |tx| Ok(tx.add_audit(&entry)?))
            .await?;
        Ok(())
    }

    pub async fn list(&self, filter: IncidentFilter) -> EngineResult<Vec<Incident>> {
        Ok(self
            .inner
            .store
            .read(move |r| r.list_incidents(&filter))
            .await?)
    }

    /// Loads an incident and applies `f` to it in one transaction.
    /// Writes the audit entry for `action` by `by` in the same transaction when it changed
    /// something.
    pub(super) async fn change<F>(
        &self,
        id: i64,
        action: &'static str,
        by: Actor,
        f: F,
    ) -> EngineResult<ActionOutcome>
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
                if changed {
                    tx.add_audit(&AuditEntry::new(
                        &by,
                        action,
                        format!("incident {id}"),
                        ctx.now,
                    ))?;
                }
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

/// How much of a repeat's summary its timeline line shows; the whole of it is the
/// incident's `last_summary`. Keeps every repeat line (and what `Watch` streams per repeat)
/// small.
const REPEAT_SUMMARY_CHARS: usize = 120;

/// `text` cut to `max` characters, with "…" when cut.
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// A trigger inside a write: adds to the open incident with the same key (and applies the
/// threshold rule), or opens one on the routed policy and pages it unless paging is held.
pub(super) fn open_alert(
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
        // A re-send of an open incident, from any intake: counted on the incident (count,
        // last seen, last payload), one coalesced line on the timeline, and never the alert
        // firing again for the threshold rule.
        let count = tx.record_duplicate(open_id, &alert, now)?;
        let message = format!(
            "alert #{count} added ({} repeats, last at {}): {}",
            count - 1,
            now.format("%Y-%m-%d %H:%M:%S UTC"),
            clip(&alert.summary, REPEAT_SUMMARY_CHARS)
        );
        fx.events
            .push(tx.coalesce_repeat(open_id, &alert.service, &message, now)?);
        return Ok(TriggerOutcome {
            incident_id: open_id,
            dedup_key: alert.dedup_key,
            deduplicated: true,
            alert_count: count,
        });
    }
    // The threshold rule: a key that keeps opening again, or related open alerts, open the
    // new incident one step more urgent. A critical alert cannot be raised, so nothing is
    // looked up for it.
    let raise = match &service.threshold {
        Some(threshold) if alert.severity.raised() != alert.severity => {
            ingest::threshold_raise(tx, ctx, service, threshold, &alert)?
                .map(|why| (why, *threshold))
        }
        _ => None,
    };
    let mut alert = alert;
    let alerted = alert.severity;
    if raise.is_some() {
        alert.severity = alert.severity.raised();
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
        alerted,
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
    fx.obs
        .transition(Transition::Opened, &alert.service, alert.severity);
    if let Some((why, threshold)) = &raise {
        let message = format!(
            "{}: severity raised from {alerted} to {}",
            why.describe(threshold),
            alert.severity
        );
        fx.events.push(tx.add_event(
            id,
            &alert.service,
            NewEvent::new(EventKind::SeverityRaised, message),
            now,
        )?);
    }
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
pub(super) fn resolve_in(
    tx: &dyn WriteTx,
    ctx: &Ctx,
    inc: &Incident,
    by: &Actor,
    note: &str,
    fx: &mut Effects,
) -> anyhow::Result<bool> {
    if inc.state == IncidentState::Resolved {
        return Ok(false);
    }
    let id = inc.id;
    tx.set_resolved(id, &by.who, note, ctx.now)?;
    tx.cancel_due(&DueScope::Incident(id))?;
    tx.cancel_pending_pages(id)?;
    let msg = if note.is_empty() {
        "resolved".to_string()
    } else {
        format!("resolved: {note}")
    };
    fx.events.push(tx.add_event(
        id,
        &inc.service,
        NewEvent::new(EventKind::Resolved, msg).actor(&by.label()),
        ctx.now,
    )?);
    fx.obs
        .transition(Transition::Resolved, &inc.service, inc.severity);
    super::postmortem::on_resolved(tx, ctx, id, by, fx)?;
    Ok(true)
}
