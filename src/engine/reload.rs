//! Installing policy sets: at start and on reload (file change, SIGHUP, the Reload RPC).
//!
//! What serves is always `base.with_overrides(api overrides)`, where `base` is the file set
//! with each rotation's stored member phase applied (see `domain::members`). Installs and
//! override changes are serialized by one lock and swapped in atomically: a page being
//! decided sees either the old set or the new one, never a mix.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::Engine;
use super::handoff::plan_handoffs;
use crate::domain::due::{Due, DueScope};
use crate::domain::ingest::MaintenanceWindow;
use crate::domain::members::{RotationDef, phase_after_change, with_phase};
use crate::domain::reload::{self, Change};
use crate::domain::{PolicySet, ScheduleOverride};
use crate::store::StoredPhase;

/// How far back API overrides are kept in the serving set (older ones stay stored).
pub const OVERRIDE_HISTORY: Duration = Duration::days(366);

/// The serving set's parts, behind the install lock.
pub(super) struct Installed {
    /// The policy files as read, to diff the next reload against.
    pub(super) files: Arc<PolicySet>,
    /// The files with each rotation's stored member phase applied.
    pub(super) base: Arc<PolicySet>,
    pub(super) overrides: Vec<ScheduleOverride>,
    /// Maintenance windows made through the API, not removed, not over.
    pub(super) maintenance: Vec<MaintenanceWindow>,
    /// Decided turns of the schedules with burnout limits (ledger and projections).
    pub(super) burnout: BTreeMap<String, super::burnout::BurnoutView>,
}

impl Installed {
    pub(super) fn new(files: PolicySet) -> Self {
        let files = Arc::new(files);
        Self {
            base: files.clone(),
            files,
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

/// Reads the policy set a reload installs. Reading files is the caller's job (`app` reads
/// the schedules directory); `Err` carries the file:line reasons the set is refused.
pub type PolicySource = Arc<dyn Fn() -> Result<PolicySet, Vec<String>> + Send + Sync>;

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
        let changes = reload::diff(&installed.files, &files);
        let (base, phases, notes) = apply_phases(files.clone(), &stored, now);
        // Services whose file windows or support hours changed: their held incidents are
        // re-checked now (released, or held again until the new end).
        let mut recheck: Vec<String> = Vec::new();
        for change in changes {
            match change {
                Change::Holds { service } => recheck.push(service),
                Change::Added(what, name) => tracing::info!("{} `{name}` added", what.as_str()),
                Change::Removed(what, name) => {
                    tracing::info!("{} `{name}` removed", what.as_str())
                }
                Change::Changed(what, name) => {
                    tracing::info!("{} `{name}` changed", what.as_str())
                }
            }
        }
        installed.files = Arc::new(files);
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
                        Some(due) => tx.set_due(
                            &Due::Handoff {
                                schedule: schedule.to_string(),
                            },
                            *due,
                        )?,
                        None => tx.cancel_due(&DueScope::Handoff(schedule.clone()))?,
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

    /// Reads the policy set again through the source the caller gave
    /// ([`Engine::set_policy_source`]); installs it if valid, else keeps serving the current
    /// set. The outcome is kept for `Status`.
    pub async fn reload(&self, trigger: &str) -> anyhow::Result<ReloadAttempt> {
        // Held from the read to the install: a slower read of older files never wins.
        let _one_at_a_time = self.inner.reloading.lock().await;
        let dir = self.reload_status().schedules_dir;
        let source = self.inner.source.lock().expect("policy source").clone();
        let (Some(dir), Some(source)) = (dir, source) else {
            anyhow::bail!("this daemon has no schedules directory to reload");
        };
        let loaded = tokio::task::spawn_blocking(move || source()).await?;
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
                tracing::error!(
                    trigger,
                    dir = %dir.display(),
                    errors = %errors.join("\n"),
                    "policy set refused; the last good set keeps serving"
                );
                attempt.errors = errors;
            }
        }
        self.inner.metrics.reload(attempt.applied);
        self.inner
            .reload
            .lock()
            .expect("reload status")
            .last_attempt = Some(attempt.clone());
        Ok(attempt)
    }

    /// Where reloads read the policy set from: `dir` (shown by `Status`) through `source`.
    pub fn set_policy_source(&self, dir: PathBuf, source: PolicySource) {
        self.inner
            .reload
            .lock()
            .expect("reload status")
            .schedules_dir = Some(dir);
        *self.inner.source.lock().expect("policy source") = Some(source);
    }

    pub fn reload_status(&self) -> ReloadStatus {
        self.inner.reload.lock().expect("reload status").clone()
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
