//! Handoffs: planning each schedule's next handoff, and queueing the summaries when one
//! comes due.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::{Ctx, Effects};
use crate::domain::due::Due;
use crate::domain::handoff::{HANDOFF_HORIZON, handoff_at, handoff_notices, next_handoff};
use crate::domain::{PageKind, PolicySet};
use crate::store::WriteTx;

/// Per schedule with a handoff row or handoffs enabled: the due time to set, or `None` to
/// cancel. An overdue handoff is kept, so one missed while the daemon was down still runs.
pub(super) fn plan_handoffs(
    set: &PolicySet,
    scheduled: &[(String, DateTime<Utc>)],
    now: DateTime<Utc>,
) -> BTreeMap<String, Option<DateTime<Utc>>> {
    let scheduled: HashMap<&str, DateTime<Utc>> =
        scheduled.iter().map(|(s, t)| (s.as_str(), *t)).collect();
    let mut plan = BTreeMap::new();
    for name in scheduled.keys() {
        plan.insert(name.to_string(), None);
    }
    for (name, def) in &set.schedules {
        if !def.handoff.enabled() {
            continue;
        }
        let due = match scheduled.get(name.as_str()) {
            Some(t) if *t <= now => *t,
            _ => next_handoff(&def.schedule, now).unwrap_or(now + HANDOFF_HORIZON),
        };
        plan.insert(name.clone(), Some(due));
    }
    plan
}

/// A schedule's handoff came due: queue the summaries and set the next one.
pub(super) fn fire_handoff(
    tx: &dyn WriteTx,
    ctx: &Ctx,
    schedule: &str,
    due_at: DateTime<Utc>,
    fx: &mut Effects,
) -> anyhow::Result<()> {
    let Some(def) = ctx.policies.schedules.get(schedule) else {
        return Ok(()); // removed by a reload
    };
    if !def.handoff.enabled() {
        return Ok(());
    }
    if let Some((incoming, outgoing)) = handoff_at(&def.schedule, due_at) {
        if incoming.end <= ctx.now {
            tracing::warn!(schedule, at = %due_at, "handoff missed while the daemon was down; its shift is over");
        } else {
            let covered = ctx.policies.services_covered_by(schedule);
            let open = tx.open_incidents_of(&covered, 20)?;
            for n in handoff_notices(def, &incoming, outgoing.as_ref(), &covered, &open) {
                for channel in &ctx.channels {
                    tx.enqueue_notice(
                        PageKind::Handoff,
                        &n.person,
                        channel,
                        &n.subject,
                        &n.body,
                        due_at,
                        ctx.now,
                    )?;
                    fx.pages = true;
                }
                tracing::info!(schedule, person = %n.person, "handoff notice queued");
            }
        }
    }
    let after = due_at.max(ctx.now);
    let next = next_handoff(&def.schedule, after).unwrap_or(after + HANDOFF_HORIZON);
    tx.set_due(
        &Due::Handoff {
            schedule: schedule.to_string(),
        },
        next,
    )?;
    fx.due(next);
    Ok(())
}
