//! Burnout limits in the running daemon: the shift ledger's recordings (a due action per
//! schedule, like handoffs) and the projections the serving set carries.
//!
//! - At each turn start of a schedule with `[schedule.burnout]`, the `shift` due action
//!   decides the turn (and any override starting then) from the ledger, with the incidents
//!   paged so far, and records it. One due while the daemon was down runs at start and records
//!   the turns it missed, each with the decision it would have made at its start.
//! - After a recording, an install or an override change, the turns ahead are projected from
//!   the ledger with no new incidents (`domain::burnout::apply`) and the serving set is
//!   rebuilt with them, so paging, `OnCall` and `Shifts` follow the decisions.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::reload::Installed;
use super::{Ctx, Effects, Engine};
use crate::domain::PageKind;
use crate::domain::burnout::{LOOKBACK, PROJECTION_HORIZON, plan};
use crate::domain::due::{Due, DueScope};
use crate::domain::policy::OverrideNotes;
use crate::domain::schedule::{Assignment, Schedule};
use crate::store::WriteTx;

/// A schedule's decided turns, kept beside the install so any rebuild of the serving set
/// (maintenance windows, overrides) keeps them.
#[derive(Debug, Clone, Default)]
pub(super) struct BurnoutView {
    /// Per layer, by position.
    assigned: Vec<Arc<BTreeMap<i64, Assignment>>>,
    notes: Arc<OverrideNotes>,
}

/// Applies the kept views to a set being built.
pub(super) fn apply_views(
    set: &mut crate::domain::PolicySet,
    views: &BTreeMap<String, BurnoutView>,
) {
    for (name, view) in views {
        let Some(def) = set.schedules.get_mut(name) else {
            continue;
        };
        if def.schedule.layers.len() != view.assigned.len() {
            continue;
        }
        for (layer, a) in def.schedule.layers.iter_mut().zip(&view.assigned) {
            layer.assigned = a.clone();
        }
        def.override_notes = view.notes.clone();
    }
}

impl Engine {
    /// Projects every schedule with limits from its ledger into `installed`'s views. Returns,
    /// per schedule, when its next ledger recording is due (`None`: none, cancel any).
    pub(super) async fn project_burnout(
        &self,
        installed: &mut Installed,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<(String, Option<DateTime<Utc>>)>> {
        let mut set = installed.base.with_overrides(&installed.overrides);
        // The projections run on the store's reader, off the async runtime.
        let (views, dues) = self
            .inner
            .store
            .read(move |r| {
                let mut views = BTreeMap::new();
                let mut dues = Vec::new();
                for (name, def) in set.schedules.iter_mut() {
                    if def.burnout.is_none() {
                        dues.push((name.clone(), None));
                        continue;
                    }
                    let ledger = r.ledger(name, now - LOOKBACK)?;
                    let next = crate::domain::burnout::apply(def, &ledger, now);
                    views.insert(
                        name.clone(),
                        BurnoutView {
                            assigned: def
                                .schedule
                                .layers
                                .iter()
                                .map(|l| l.assigned.clone())
                                .collect(),
                            notes: def.override_notes.clone(),
                        },
                    );
                    dues.push((name.clone(), Some(next.unwrap_or(now + PROJECTION_HORIZON))));
                }
                Ok((views, dues))
            })
            .await?;
        installed.burnout = views;
        Ok(dues)
    }

    /// After a ledger recording: project again and serve the result.
    pub(crate) async fn refresh_burnout(&self) -> anyhow::Result<()> {
        let mut installed = self.inner.installed.lock().await;
        let now = self.inner.clock.now();
        let dues = self.project_burnout(&mut installed, now).await?;
        write_dues(self, dues).await?;
        self.inner.policies.store(Arc::new(installed.serving()));
        Ok(())
    }
}

/// Stores the next recording of each schedule and wakes the timer for the earliest.
pub(super) async fn write_dues(
    engine: &Engine,
    dues: Vec<(String, Option<DateTime<Utc>>)>,
) -> anyhow::Result<()> {
    let earliest = dues.iter().filter_map(|(_, d)| *d).min();
    let now = engine.inner.clock.now();
    // Switched off: no schedule gets (or keeps) a weekly notice.
    let notice = engine.rebalance_notice();
    let limited: Vec<(String, bool)> = (dues.iter())
        .map(|(n, d)| (n.clone(), notice && d.is_some()))
        .collect();
    let rebalance = engine
        .inner
        .store
        .write(move |tx| {
            let rebalance = super::rebalance::ensure_dues(tx, &limited, now)?;
            for (name, due) in &dues {
                match due {
                    Some(due) => tx.set_due(
                        &Due::Shift {
                            schedule: name.to_string(),
                        },
                        *due,
                    )?,
                    None => tx.cancel_due(&DueScope::Shift(name.clone()))?,
                }
            }
            Ok(rebalance)
        })
        .await?;
    for due in [earliest, rebalance].into_iter().flatten() {
        engine.inner.timer.hint(due);
    }
    Ok(())
}

/// The next instant a turn of the schedule's layers or an override starts, after `after`.
fn next_start(s: &Schedule, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let turns = s.layers.iter().filter_map(|l| {
        let r = &l.rotation;
        match r.shift_at(after) {
            Some(t) => Some(t.end),
            None => Some(r.handoff(0)).filter(|&h| h > after),
        }
    });
    let overrides = s.overrides.iter().map(|o| o.start).filter(|&t| t > after);
    turns.chain(overrides).min()
}

/// A schedule's `shift` action came due: decide and record every turn that has started and
/// is not in the ledger yet, tell the owner where nobody was eligible, set the next one.
pub(super) fn fire_shift(
    tx: &dyn WriteTx,
    ctx: &Ctx,
    schedule: &str,
    fx: &mut Effects,
) -> anyhow::Result<()> {
    let Some(def) = ctx.policies.schedules.get(schedule) else {
        return Ok(()); // removed by a reload
    };
    let Some(policy) = def.burnout else {
        return Ok(());
    };
    let now = ctx.now;
    let ledger = tx.ledger(schedule, now - LOOKBACK)?;
    let s = &def.schedule;
    for p in plan(s, policy, &ledger, now, now + Duration::milliseconds(1)) {
        if p.start > now {
            continue;
        }
        let entry = p.entry(s);
        if !tx.record_shift(&entry, now)? {
            continue;
        }
        tracing::info!(schedule, person = %entry.person, start = %entry.start, reason = %entry.reason, "shift recorded");
        if entry.nobody_eligible {
            let local = |t: DateTime<Utc>| t.with_timezone(&s.zone).format("%a %Y-%m-%d %H:%M %Z");
            let subject = format!("Nobody eligible for a shift on {}", s.name);
            let body = format!(
                "The shift on schedule {} from {} to {} ({}) broke a burnout limit for every \
                 member; {} took it.\n{}\n",
                s.name,
                local(entry.start),
                local(entry.end),
                if entry.layer.is_empty() {
                    "override".to_string()
                } else {
                    format!("layer {}", entry.layer)
                },
                entry.person,
                entry.reason,
            );
            for channel in &ctx.channels {
                tx.enqueue_notice(
                    PageKind::Handoff,
                    &def.owner,
                    channel,
                    &subject,
                    &body,
                    entry.start,
                    now,
                )?;
                fx.pages = true;
            }
            tracing::warn!(schedule, owner = %def.owner, "nobody eligible for a shift; owner told");
        }
        fx.burnout = true;
    }
    let next = next_start(s, now).unwrap_or(now + PROJECTION_HORIZON);
    tx.set_due(
        &Due::Shift {
            schedule: schedule.to_string(),
        },
        next,
    )?;
    fx.due(next);
    Ok(())
}

impl Engine {
    /// Sets the rebalance signal's multiple (checked by the settings: 1–100).
    pub fn set_rebalance_multiple(&self, m: f64) {
        (self.inner.rebalance_multiple).store(m.to_bits(), std::sync::atomic::Ordering::Relaxed);
    }

    /// Switches the weekly rebalance notice on or off (`report.weekly_notice`).
    pub fn set_rebalance_notice(&self, on: bool) {
        (self.inner.rebalance_notice).store(on, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn rebalance_notice(&self) -> bool {
        (self.inner.rebalance_notice).load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn rebalance_multiple(&self) -> f64 {
        f64::from_bits((self.inner.rebalance_multiple).load(std::sync::atomic::Ordering::Relaxed))
    }

    /// The on-call load report over `[from, to)` (see `domain::load_report`), with the
    /// rebalance signal marked. With a schedule, only its shifts, and only pages sent to its
    /// people while on call for it.
    pub async fn on_call_load(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        schedule: Option<String>,
    ) -> super::EngineResult<Vec<crate::domain::load_report::PersonLoad>> {
        let set = self.policies();
        if let Some(name) = &schedule
            && !set.schedules.contains_key(name)
        {
            return Err(super::EngineError::NotFound(format!(
                "schedule: no schedule `{name}`"
            )));
        }
        let now = self.inner.clock.now();
        let multiple = self.rebalance_multiple();
        let report = self
            .inner
            .store
            .read(move |r| load_for(r, &set, schedule.as_deref(), from, to, now))
            .await?;
        Ok(mark(report, multiple))
    }
}

/// The rebalance signal marked on `report`.
pub(super) fn mark(
    mut report: Vec<crate::domain::load_report::PersonLoad>,
    multiple: f64,
) -> Vec<crate::domain::load_report::PersonLoad> {
    crate::domain::rebalance::mark(&mut report, multiple);
    report
}

/// The load report over `[from, to)` read through `r` (see [`Engine::on_call_load`]).
pub(super) fn load_for(
    r: &dyn crate::store::ReadTx,
    set: &crate::domain::PolicySet,
    schedule: Option<&str>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> crate::store::Result<Vec<crate::domain::load_report::PersonLoad>> {
    // The quarter of `from` can begin up to 92 days before it and end as long after.
    let (lo, hi) = (from - Duration::days(92), to.max(from + Duration::days(92)));
    let ledger = r.ledger_between(schedule, lo, hi)?;
    let mut pages = r.delivered_pages(from, to)?;
    if schedule.is_some() {
        pages.retain(|p| {
            (ledger.iter())
                .any(|e| e.person == p.person && e.start <= p.sent_at && p.sent_at < e.end)
        });
    }
    let zone = |s: &str| {
        set.schedules
            .get(s)
            .map_or(chrono_tz::UTC, |d| d.schedule.zone)
    };
    let ledger: Vec<_> = ledger
        .into_iter()
        .map(|e| {
            let z = zone(&e.schedule);
            (e, z)
        })
        .collect();
    let zones = (set.people.iter())
        .map(|(name, p)| (name.clone(), p.time_zone))
        .collect();
    Ok(crate::domain::load_report::load_report(
        &ledger, &pages, &zones, from, to, now,
    ))
}
