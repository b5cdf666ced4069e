//! The weekly rebalance notice: each schedule with burnout limits has one `rebalance` due
//! action. When it comes due, the load report of the week before it (that schedule's shifts
//! and pages) is marked by `domain::rebalance`; if anyone is flagged, the owner is told, and
//! the next one is set a week later — in the same transaction, so a restart neither skips
//! nor repeats a week's notice.

use chrono::{DateTime, Duration, Utc};

use super::burnout::{load_for, mark};
use super::{Ctx, Effects};
use crate::domain::PageKind;
use crate::domain::due::{Due, DueScope};
use crate::store::WriteTx;

/// How often owners hear about it.
pub(super) const WEEK: Duration = Duration::days(7);

/// Gives every schedule with limits a pending notice (a week from `now`) unless it has one;
/// drops it from schedules without. Returns the earliest newly set.
pub(super) fn ensure_dues(
    tx: &dyn WriteTx,
    schedules: &[(String, bool)],
    now: DateTime<Utc>,
) -> crate::store::Result<Option<DateTime<Utc>>> {
    let mut earliest = None;
    for (name, limited) in schedules {
        let due = Due::Rebalance {
            schedule: name.clone(),
        };
        if !limited {
            tx.cancel_due(&DueScope::Rebalance(name.clone()))?;
        } else if tx.ensure_due(&due, now + WEEK)? {
            earliest = Some(now + WEEK);
        }
    }
    Ok(earliest)
}

/// A schedule's weekly notice came due: tell the owner who is flagged over the week before
/// `due_at`, and set the next one.
pub(super) fn fire_rebalance(
    tx: &dyn WriteTx,
    ctx: &Ctx,
    schedule: &str,
    due_at: DateTime<Utc>,
    fx: &mut Effects,
) -> anyhow::Result<()> {
    let Some(def) = ctx.policies.schedules.get(schedule) else {
        return Ok(()); // removed by a reload
    };
    if def.burnout.is_none() {
        return Ok(());
    }
    let (from, to) = (due_at - WEEK, due_at);
    let report = mark(
        load_for(tx, &ctx.policies, Some(schedule), from, to, ctx.now)?,
        ctx.rebalance_multiple,
    );
    let flagged: Vec<_> = report.iter().filter(|p| !p.rebalance.is_empty()).collect();
    if !flagged.is_empty() {
        let day = |t: DateTime<Utc>| t.with_timezone(&def.schedule.zone).format("%a %Y-%m-%d");
        let subject = format!("Rebalance {}: {} paged far more than the rest", schedule, {
            let names: Vec<&str> = flagged.iter().map(|p| p.person.as_str()).collect();
            names.join(", ")
        });
        let mut body = format!(
            "On schedule {schedule}, {} to {}, these people had more than {}× the median \
             incidents or off-hours pages of the people on call:\n",
            day(from),
            day(to),
            ctx.rebalance_multiple
        );
        for p in &flagged {
            body.push_str(&format!(
                "- {}: {} ({} incidents, {} off-hours pages, {} hours called in)\n",
                p.person, p.rebalance, p.incidents, p.off_hours_pages, p.hours_called_in
            ));
        }
        body.push_str("Consider rebalancing the rotation (`pagerd check DIR --simulate`).\n");
        for channel in &ctx.channels {
            tx.enqueue_notice(
                PageKind::Handoff,
                &def.owner,
                channel,
                &subject,
                &body,
                due_at,
                ctx.now,
            )?;
            fx.pages = true;
        }
        tracing::info!(schedule, owner = %def.owner, flagged = flagged.len(), "rebalance notice queued");
    }
    // A daemon down for weeks sends one notice (for the last week), then goes on weekly.
    let mut next = due_at + WEEK;
    while next <= ctx.now {
        next += WEEK;
    }
    tx.set_due(
        &Due::Rebalance {
            schedule: schedule.to_string(),
        },
        next,
    )?;
    fx.due(next);
    Ok(())
}
