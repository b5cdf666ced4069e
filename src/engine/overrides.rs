//! Schedule overrides made through the API: add, remove, list; each is applied at once.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::reload::Installed;
use super::{Engine, EngineError, EngineResult};
use crate::domain::ScheduleOverride;
use crate::domain::audit::{Actor, AuditEntry};
use crate::domain::due::Due;
use crate::domain::handoff::{HANDOFF_HORIZON, next_handoff};

/// A new override, as asked for.
#[derive(Debug, Clone)]
pub struct OverrideRequest {
    pub schedule: String,
    pub person: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub reason: String,
    /// The authenticated caller (recorded as `created_by` and in the audit trail).
    pub by: Actor,
}

impl Engine {
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
                let stored = tx.insert_override(
                    &req.schedule,
                    &req.person,
                    req.start,
                    req.end,
                    &req.reason,
                    &req.by.who,
                    now,
                )?;
                let target = format!("schedule {} override {}", stored.schedule, stored.id);
                tx.add_audit(&AuditEntry::new(&req.by, "add override", target, now))?;
                Ok(stored)
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

    /// One override made through the API, removed or not.
    pub async fn schedule_override(&self, id: i64) -> EngineResult<Option<ScheduleOverride>> {
        Ok(self
            .inner
            .store
            .read(move |r| r.schedule_override(id))
            .await?)
    }

    /// Marks an override removed and applies that at once.
    pub async fn remove_override(&self, id: i64, by: Actor) -> EngineResult<ScheduleOverride> {
        let mut installed = self.inner.installed.lock().await;
        let now = self.inner.clock.now();
        let (removed, changed) = self
            .inner
            .store
            .write(move |tx| {
                let out = tx.remove_override(id, &by.who, now)?;
                if let Some((o, true)) = &out {
                    let target = format!("schedule {} override {id}", o.schedule);
                    tx.add_audit(&AuditEntry::new(&by, "remove override", target, now))?;
                }
                Ok(out)
            })
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
                    tx.set_due(
                        &Due::Handoff {
                            schedule: name.to_string(),
                        },
                        due,
                    )?;
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
