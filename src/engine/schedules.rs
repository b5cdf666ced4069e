//! Installing policy sets (at start, on reload), API overrides, and handoffs.
//!
//! What serves is always `base.with_overrides(api overrides)`, where `base` is the file set
//! with each rotation's stored member phase applied (see `domain::members`). Installs and
//! override changes are serialized by one lock and swapped in atomically: a page being
//! decided sees either the old set or the new one, never a mix.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::{Ctx, Effects, Engine, EngineError, EngineResult};
use crate::domain::handoff::{HANDOFF_HORIZON, handoff_at, handoff_notices, next_handoff};
use crate::domain::ingest::MaintenanceWindow;
use crate::domain::members::{RotationDef, phase_after_change, with_phase};
use crate::domain::{PageKind, PolicySet, ScheduleOverride};
use crate::store::{StoredPhase, WriteTx};

/// How far back API overrides are kept in the serving set (older ones stay stored).
pub const OVERRIDE_HISTORY: Duration = Duration::days(366);

/// The serving set's parts, behind the install lock.
pub(super) struct Installed {
    pub(super) base: Arc<PolicySet>,
    pub(super) overrides: Vec<ScheduleOverride>,
    /// Maintenance windows made through the API, not removed, not over.
    pub(super) maintenance: Vec<MaintenanceWindow>,
    /// Decided turns of the schedules with burnout limits (ledger and projections).
    pub(super) burnout: BTreeMap<String, super::burnout::BurnoutView>,
}

impl Installed {
    pub(super) fn new(files: PolicySet) -> Self {
        Self {
            base: Arc::new(files),
            overrides: Vec::new(),
            maintenance: Vec::new(),
            burnout: BTreeMap::new(),
        }
    }

    /// The set to serve: files, stored phases, API overrides and maintenance windows.
    pub(super) fn serving(&self) -> PolicySet {
        let mut set = self
            .base
            .with_overrides(&self.overrides)
            .with_maintenance(&self.maintenance);
        super::burnout::apply_views(&mut set, &self.burnout);
        set
    }
}

/// What the last reload did, for `Status` and `Reload`.
#[derive(Debug, Clone, Default)]
pub struct ReloadStatus {
    pub schedules_dir: Option<PathBuf>,
    /// When the serving set was installed.
    pub loaded_at: Option<DateTime<Utc>>,
    pub last_attempt: Option<ReloadAttempt>,
}

#[derive(Debug, Clone)]
pub struct ReloadAttempt {
    pub at: DateTime<Utc>,
    /// "start", "file change", "SIGHUP", "Reload RPC".
    pub trigger: String,
    pub applied: bool,
    /// file:line messages of a refused set.
    pub errors: Vec<String>,
    /// What changed (member changes and who kept the shift).
    pub notes: Vec<String>,
}

/// A new override, as asked for.
#[derive(Debug, Clone)]
pub struct OverrideRequest {
    pub schedule: String,
    pub person: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub reason: String,
    pub by: String,
}

impl Engine {
    /// Validated file set → serving set: applies stored rotation phases (recording new ones
    /// where members changed), adds API overrides, reschedules handoffs, swaps it in.
    /// Returns notes on member changes.
    pub async fn install(&self, files: PolicySet) -> anyhow::Result<Vec<String>> {
        let mut installed = self.inner.installed.lock().await;
        let now = self.inner.clock.now();
        let since = now - OVERRIDE_HISTORY;
        let (stored, overrides, handoffs, windows) = self
            .inner
            .store
            .read(move |r| {
                Ok((
                    r.rotation_phases()?,
                    r.live_overrides(since)?,
                    r.scheduled_handoffs()?,
                    r.live_maintenance(now)?,
                ))
            })
            .await?;
        let (base, phases, notes) = apply_phases(files, &stored, now);
        // Services whose file windows or support hours changed: their held incidents are
        // re-checked now (released, or held again until the new end).
        let before = self.policies();
        let recheck: Vec<String> = base
            .services
            .keys()
            .chain(before.services.keys())
            .filter(|svc| {
                let windows = |set: &PolicySet| -> Vec<_> {
                    set.maintenance
                        .iter()
                        .filter(|w| w.id.is_none() && &w.service == *svc)
                        .map(|w| (w.start, w.end))
                        .collect()
                };
                let hours = |set: &PolicySet| {
                    set.services
                        .get(*svc)
                        .map(|s| format!("{:?}", s.support_hours))
                };
                windows(&base) != windows(&before) || hours(&base) != hours(&before)
            })
            .cloned()
            .collect();
        installed.base = Arc::new(base);
        installed.overrides = overrides;
        installed.maintenance = windows.into_iter().map(|w| w.window).collect();
        let shift_dues = self.project_burnout(&mut installed, now).await?;
        let set = Arc::new(installed.serving());
        let plan = plan_handoffs(&set, &handoffs, now);
        let mut earliest = plan.values().filter_map(|due| *due).min();
        let watched = set.clone();
        let heartbeat_due = self
            .inner
            .store
            .write(move |tx| {
                for p in &phases {
                    tx.set_rotation_phase(p, now)?;
                }
                for (schedule, due) in &plan {
                    match due {
                        Some(due) => tx.schedule_handoff(schedule, *due)?,
                        None => tx.cancel_handoff(schedule)?,
                    }
                }
                let mut moved = 0;
                for svc in &recheck {
                    moved += tx.advance_releases(svc, now)?;
                }
                let heartbeat = super::ingest::watch_heartbeats(tx, &watched, now)?;
                Ok(if moved > 0 {
                    Some(heartbeat.map_or(now, |h| h.min(now)))
                } else {
                    heartbeat
                })
            })
            .await?;
        earliest = earliest.into_iter().chain(heartbeat_due).min();
        super::burnout::write_dues(self, shift_dues).await?;
        self.inner.policies.store(set);
        self.inner.reload.lock().expect("reload status").loaded_at = Some(now);
        if let Some(due) = earliest {
            self.inner.timer.hint(due);
        }
        for note in &notes {
            tracing::info!("{note}");
        }
        Ok(notes)
    }

    /// Loads `schedules_dir` again; applies it if valid, else keeps serving the current set.
    /// The outcome is kept for `Status`.
    pub async fn reload(&self, trigger: &str) -> anyhow::Result<ReloadAttempt> {
        let _one_at_a_time = self.inner.reloading.lock().await;
        let dir = self
            .reload_status()
            .schedules_dir
            .ok_or_else(|| anyhow::anyhow!("this daemon has no schedules directory to reload"))?;
        let loaded = tokio::task::spawn_blocking({
            let dir = dir.clone();
            move || crate::config::load_dir(&dir)
        })
        .await?;
        let mut attempt = ReloadAttempt {
            at: self.inner.clock.now(),
            trigger: trigger.to_string(),
            applied: false,
            errors: Vec::new(),
            notes: Vec::new(),
        };
        match loaded {
            Ok(set) => {
                attempt.notes = self.install(set).await?;
                attempt.applied = true;
                tracing::info!(trigger, dir = %dir.display(), "policy set reloaded");
            }
            Err(errors) => {
                attempt.errors = errors.0.iter().map(|e| e.to_string()).collect();
                tracing::error!(
                    trigger,
                    dir = %dir.display(),
                    errors = %errors,
                    "policy set refused; the last good set keeps serving"
                );
            }
        }
        self.inner
            .reload
            .lock()
            .expect("reload status")
            .last_attempt = Some(attempt.clone());
        Ok(attempt)
    }

    pub fn set_schedules_dir(&self, dir: PathBuf) {
        self.inner
            .reload
            .lock()
            .expect("reload status")
            .schedules_dir = Some(dir);
    }

    pub fn reload_status(&self) -> ReloadStatus {
        self.inner.reload.lock().expect("reload status").clone()
    }

    /// Stores an override and applies it at once.
    pub async fn add_override(&self, req: OverrideRequest) -> EngineResult<ScheduleOverride> {
        let mut installed = self.inner.installed.lock().await;
        let now = self.inner.clock.now();
        let set = self.policies();
        if !set.schedules.contains_key(&req.schedule) {
            return Err(EngineError::NotFound(format!(
                "schedule: no schedule `{}`",
                req.schedule
            )));
        }
        if !set.people.contains_key(&req.person) {
            return Err(EngineError::InvalidArgument(format!(
                "person: no person `{}` in the policy files",
                req.person
            )));
        }
        if req.end <= req.start {
            return Err(EngineError::InvalidArgument(
                "end: must be after start".into(),
            ));
        }
        if req.end <= now {
            return Err(EngineError::InvalidArgument(
                "end: the override would be over already".into(),
            ));
        }
        let stored = self
            .inner
            .store
            .write(move |tx| {
                Ok(tx.insert_override(
                    &req.schedule,
                    &req.person,
                    req.start,
                    req.end,
                    &req.reason,
                    &req.by,
                    now,
                )?)
            })
            .await?;
        installed.overrides.push(stored.clone());
        self.apply_overrides(&mut installed, &stored.schedule, now)
            .await?;
        tracing::info!(
            id = stored.id,
            schedule = %stored.schedule,
            person = %stored.person,
            by = %stored.created_by,
            "override added"
        );
        Ok(stored)
    }

    /// Marks an override removed and applies that at once.
    pub async fn remove_override(&self, id: i64, by: String) -> EngineResult<ScheduleOverride> {
        let mut installed = self.inner.installed.lock().await;
        let now = self.inner.clock.now();
        let (removed, changed) = self
            .inner
            .store
            .write(move |tx| Ok(tx.remove_override(id, &by, now)?))
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("id: no override {id}")))?;
        if !changed {
            return Err(EngineError::FailedPrecondition(format!(
                "id: override {id} was already removed by {}",
                removed.removed_by.as_deref().unwrap_or("someone")
            )));
        }
        installed.overrides.retain(|o| o.id != id);
        self.apply_overrides(&mut installed, &removed.schedule, now)
            .await?;
        tracing::info!(id, schedule = %removed.schedule, "override removed");
        Ok(removed)
    }

    /// Overrides made through the API that end after `since` (removed ones when asked).
    pub async fn list_overrides(
        &self,
        schedule: Option<String>,
        since: DateTime<Utc>,
        include_removed: bool,
    ) -> EngineResult<Vec<ScheduleOverride>> {
        Ok(self
            .inner
            .store
            .read(move |r| r.list_overrides(schedule.as_deref(), since, include_removed))
            .await?)
    }

    /// Rebuilds the serving set from `installed` and moves `schedule`'s next handoff.
    async fn apply_overrides(
        &self,
        installed: &mut Installed,
        schedule: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let shift_dues = self.project_burnout(installed, now).await?;
        super::burnout::write_dues(self, shift_dues).await?;
        let set = Arc::new(installed.serving());
        let next = set
            .schedules
            .get(schedule)
            .filter(|d| d.handoff.enabled())
            .map(|d| next_handoff(&d.schedule, now).unwrap_or(now + HANDOFF_HORIZON));
        let name = schedule.to_string();
        self.inner
            .store
            .write(move |tx| {
                if let Some(due) = next {
                    tx.schedule_handoff(&name, due)?;
                }
                Ok(())
            })
            .await?;
        self.inner.policies.store(set);
        if let Some(due) = next {
            self.inner.timer.hint(due);
        }
        Ok(())
    }
}

/// The file set with stored phases applied; the phases to store; notes on member changes.
fn apply_phases(
    mut files: PolicySet,
    stored: &[StoredPhase],
    now: DateTime<Utc>,
) -> (PolicySet, Vec<StoredPhase>, Vec<String>) {
    let stored: HashMap<(&str, &str), &StoredPhase> = stored
        .iter()
        .map(|p| ((p.schedule.as_str(), p.layer.as_str()), p))
        .collect();
    let mut writes = Vec::new();
    let mut notes = Vec::new();
    for (name, def) in files.schedules.iter_mut() {
        for layer in &mut def.schedule.layers {
            let def_now = RotationDef::of(&layer.rotation);
            let text = def_now.to_json();
            let before = stored.get(&(name.as_str(), layer.name.as_str()));
            let phase = match before {
                Some(p) if p.definition == text => p.phase.max(0) as usize,
                Some(p) => {
                    let old = RotationDef::from_json(&p.definition)
                        .and_then(|d| d.rotation())
                        .map(|r| with_phase(&r, p.phase.max(0) as usize));
                    let phase = old
                        .as_ref()
                        .map_or(0, |old| phase_after_change(old, &layer.rotation, now));
                    let new = with_phase(&layer.rotation, phase);
                    let who =
                        |r: &crate::domain::rotation::Rotation| r.shift_at(now).map(|s| s.member);
                    notes.push(format!(
                        "schedule {name} layer {}: rotation changed; on shift now: {} (was {})",
                        layer.name,
                        who(&new).unwrap_or_else(|| "nobody (not started)".into()),
                        old.as_ref()
                            .and_then(who)
                            .unwrap_or_else(|| "nobody".into()),
                    ));
                    writes.push(StoredPhase {
                        schedule: name.clone(),
                        layer: layer.name.clone(),
                        definition: text,
                        phase: phase as i64,
                    });
                    phase
                }
                None => {
                    writes.push(StoredPhase {
                        schedule: name.clone(),
                        layer: layer.name.clone(),
                        definition: text,
                        phase: 0,
                    });
                    0
                }
            };
            layer.rotation = with_phase(&layer.rotation, phase);
        }
    }
    (files, writes, notes)
}

/// Per schedule with a handoff row or handoffs enabled: the due time to set, or `None` to
/// cancel. An overdue handoff is kept, so one missed while the daemon was down still runs.
fn plan_handoffs(
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
    tx.schedule_handoff(schedule, next)?;
    fx.due(next);
    Ok(())
}
