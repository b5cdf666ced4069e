//! Schedule state: API overrides, rotation phases, schedule-level due actions (handoffs) and
//! notifications that belong to no incident.

use chrono::{DateTime, Utc};
use postgres::Row;

use super::{Context, RowExt, Tx, to_ms};
use crate::domain::{PageKind, ScheduleOverride};
use crate::store::{Result, StoredPhase};

const OVERRIDE_COLUMNS: &str = "id, schedule, person, start_at, end_at, reason, created_by, \
     created_at, removed_by, removed_at";

fn override_from_row(r: &Row) -> Result<ScheduleOverride> {
    Ok(ScheduleOverride {
        id: r.at(0)?,
        schedule: r.at(1)?,
        person: r.at(2)?,
        start: r.ms_at(3)?,
        end: r.ms_at(4)?,
        reason: r.at(5)?,
        created_by: r.at(6)?,
        created_at: r.ms_at(7)?,
        removed_by: r.at(8)?,
        removed_at: r.opt_ms_at(9)?,
    })
}

impl Tx<'_, '_> {
    /// Overrides not removed that end after `since`, oldest first (the order they apply in:
    /// a later one wins where two overlap).
    pub fn live_overrides(&self, since: DateTime<Utc>) -> Result<Vec<ScheduleOverride>> {
        let sql = format!(
            "SELECT {OVERRIDE_COLUMNS} FROM schedule_overrides
             WHERE removed_at IS NULL AND end_at > $1 ORDER BY id"
        );
        let rows = self
            .query(&sql, &[&to_ms(since)])
            .context("loading schedule overrides")?;
        rows.iter().map(override_from_row).collect()
    }

    /// Overrides of one schedule (or all) ending after `since`, newest first; removed ones
    /// too when asked.
    pub fn list_overrides(
        &self,
        schedule: Option<&str>,
        since: DateTime<Utc>,
        include_removed: bool,
    ) -> Result<Vec<ScheduleOverride>> {
        let sql = format!(
            "SELECT {OVERRIDE_COLUMNS} FROM schedule_overrides
             WHERE end_at > $1 AND ($2::text IS NULL OR schedule = $2)
               AND ($3 OR removed_at IS NULL)
             ORDER BY id DESC LIMIT 1000"
        );
        let rows = self
            .query(&sql, &[&to_ms(since), &schedule, &include_removed])
            .context("listing schedule overrides")?;
        rows.iter().map(override_from_row).collect()
    }

    pub fn schedule_override(&self, id: i64) -> Result<Option<ScheduleOverride>> {
        let sql = format!("SELECT {OVERRIDE_COLUMNS} FROM schedule_overrides WHERE id = $1");
        self.query_opt(&sql, &[&id])
            .context("loading schedule override")?
            .map(|r| override_from_row(&r))
            .transpose()
    }

    pub fn rotation_phases(&self) -> Result<Vec<StoredPhase>> {
        let rows = self
            .query(
                "SELECT schedule, layer, definition, phase FROM rotation_phases",
                &[],
            )
            .context("loading rotation phases")?;
        rows.iter()
            .map(|r| {
                Ok(StoredPhase {
                    schedule: r.at(0)?,
                    layer: r.at(1)?,
                    definition: r.at(2)?,
                    phase: r.at(3)?,
                })
            })
            .collect()
    }

    /// Every scheduled handoff: (schedule, due).
    pub fn scheduled_handoffs(&self) -> Result<Vec<(String, DateTime<Utc>)>> {
        let rows = self
            .query(
                "SELECT schedule, due_at FROM due_actions WHERE kind = 'handoff'
                 ORDER BY schedule",
                &[],
            )
            .context("loading scheduled handoffs")?;
        rows.iter().map(|r| Ok((r.at(0)?, r.ms_at(1)?))).collect()
    }
}

impl Tx<'_, '_> {
    #[allow(clippy::too_many_arguments)]
    pub fn insert_override(
        &self,
        schedule: &str,
        person: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        reason: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<ScheduleOverride> {
        self.notify_schedules()?;
        let id: i64 = self
            .query_one(
                "INSERT INTO schedule_overrides
                     (schedule, person, start_at, end_at, reason, created_by, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                &[
                    &schedule,
                    &person,
                    &to_ms(start),
                    &to_ms(end),
                    &reason,
                    &by,
                    &to_ms(now),
                ],
            )
            .context("storing schedule override")?
            .at(0)?;
        self.schedule_override(id)?
            .context("reading back the stored override")
    }

    /// Marks an override removed; returns it as it is now and whether this call removed it
    /// (false: it already was); `None` if there is no such id.
    pub fn remove_override(
        &self,
        id: i64,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(ScheduleOverride, bool)>> {
        self.notify_schedules()?;
        let changed = self
            .execute(
                "UPDATE schedule_overrides SET removed_by = $2, removed_at = $3
                 WHERE id = $1 AND removed_at IS NULL",
                &[&id, &by, &to_ms(now)],
            )
            .context("removing schedule override")?;
        Ok(self.schedule_override(id)?.map(|o| (o, changed == 1)))
    }

    pub fn set_rotation_phase(&self, p: &StoredPhase, now: DateTime<Utc>) -> Result<()> {
        self.execute(
            "INSERT INTO rotation_phases (schedule, layer, definition, phase, updated_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (schedule, layer) DO UPDATE SET
                 definition = excluded.definition, phase = excluded.phase,
                 updated_at = excluded.updated_at",
            &[&p.schedule, &p.layer, &p.definition, &p.phase, &to_ms(now)],
        )
        .context("storing rotation phase")?;
        Ok(())
    }

    /// Queues a notification that belongs to no incident (a handoff summary).
    #[allow(clippy::too_many_arguments)]
    pub fn enqueue_notice(
        &self,
        kind: PageKind,
        person: &str,
        channel: &str,
        subject: &str,
        body: &str,
        due_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        self.query_one(
            "INSERT INTO pages (incident_id, kind, person, channel, level, loop_no,
                 status, due_at, next_attempt_at, created_at, subject, body)
             VALUES (NULL, $1, $2, $3, 0, 0, 'pending', $4, $5, $5, $6, $7) RETURNING id",
            &[
                &kind.as_str(),
                &person,
                &channel,
                &to_ms(due_at),
                &to_ms(now),
                &subject,
                &body,
            ],
        )
        .context("queueing notification")?
        .at(0)
    }
}
