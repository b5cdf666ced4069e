//! Schedule state: API overrides, rotation phases, schedule-level due actions (handoffs) and
//! notifications that belong to no incident.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};

use super::{Context, Tx, from_ms, to_ms};
use crate::domain::{PageKind, ScheduleOverride};
use crate::store::{Result, StoredPhase};

const OVERRIDE_COLUMNS: &str = "id, schedule, person, start_at, end_at, reason, created_by, \
     created_at, removed_by, removed_at";

fn override_from_row(r: &Row<'_>) -> rusqlite::Result<ScheduleOverride> {
    Ok(ScheduleOverride {
        id: r.get(0)?,
        schedule: r.get(1)?,
        person: r.get(2)?,
        start: from_ms(r.get(3)?),
        end: from_ms(r.get(4)?),
        reason: r.get(5)?,
        created_by: r.get(6)?,
        created_at: from_ms(r.get(7)?),
        removed_by: r.get(8)?,
        removed_at: r.get::<_, Option<i64>>(9)?.map(from_ms),
    })
}

impl Tx<'_> {
    /// Overrides not removed that end after `since`, oldest first (the order they apply in:
    /// a later one wins where two overlap).
    pub fn live_overrides(&self, since: DateTime<Utc>) -> Result<Vec<ScheduleOverride>> {
        let sql = format!(
            "SELECT {OVERRIDE_COLUMNS} FROM schedule_overrides
             WHERE removed_at IS NULL AND end_at > ?1 ORDER BY id"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([to_ms(since)], override_from_row)?;
        rows.collect::<Result<_, _>>()
            .context("loading schedule overrides")
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
             WHERE end_at > ?1 AND (?2 IS NULL OR schedule = ?2)
               AND (?3 OR removed_at IS NULL)
             ORDER BY id DESC LIMIT 1000"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(
            params![to_ms(since), schedule, include_removed],
            override_from_row,
        )?;
        rows.collect::<Result<_, _>>()
            .context("listing schedule overrides")
    }

    pub fn schedule_override(&self, id: i64) -> Result<Option<ScheduleOverride>> {
        let sql = format!("SELECT {OVERRIDE_COLUMNS} FROM schedule_overrides WHERE id = ?1");
        self.conn
            .prepare_cached(&sql)?
            .query_row([id], override_from_row)
            .optional()
            .context("loading schedule override")
    }

    pub fn rotation_phases(&self) -> Result<Vec<StoredPhase>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT schedule, layer, definition, phase FROM rotation_phases")?;
        let rows = stmt.query_map([], |r| {
            Ok(StoredPhase {
                schedule: r.get(0)?,
                layer: r.get(1)?,
                definition: r.get(2)?,
                phase: r.get(3)?,
            })
        })?;
        rows.collect::<Result<_, _>>()
            .context("loading rotation phases")
    }

    /// Every scheduled handoff: (schedule, due).
    pub fn scheduled_handoffs(&self) -> Result<Vec<(String, DateTime<Utc>)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT schedule, due_at FROM due_actions WHERE kind = 'handoff' ORDER BY schedule",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, from_ms(r.get(1)?))))?;
        rows.collect::<Result<_, _>>()
            .context("loading scheduled handoffs")
    }
}

impl Tx<'_> {
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
        self.conn
            .prepare_cached(
                "INSERT INTO schedule_overrides
                     (schedule, person, start_at, end_at, reason, created_by, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                schedule,
                person,
                to_ms(start),
                to_ms(end),
                reason,
                by,
                to_ms(now)
            ])
            .context("storing schedule override")?;
        let id = self.conn.last_insert_rowid();
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
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE schedule_overrides SET removed_by = ?2, removed_at = ?3
                 WHERE id = ?1 AND removed_at IS NULL",
            )?
            .execute(params![id, by, to_ms(now)])
            .context("removing schedule override")?;
        Ok(self.schedule_override(id)?.map(|o| (o, changed == 1)))
    }

    pub fn set_rotation_phase(&self, p: &StoredPhase, now: DateTime<Utc>) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO rotation_phases (schedule, layer, definition, phase, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (schedule, layer) DO UPDATE SET
                     definition = excluded.definition, phase = excluded.phase,
                     updated_at = excluded.updated_at",
            )?
            .execute(params![
                p.schedule,
                p.layer,
                p.definition,
                p.phase,
                to_ms(now)
            ])
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
        self.conn
            .prepare_cached(
                "INSERT INTO pages (incident_id, kind, person, channel, level, loop_no,
                     status, due_at, next_attempt_at, created_at, subject, body)
                 VALUES (NULL, ?1, ?2, ?3, 0, 0, 'pending', ?4, ?5, ?5, ?6, ?7)",
            )?
            .execute(params![
                kind.as_str(),
                person,
                channel,
                to_ms(due_at),
                to_ms(now),
                subject,
                body
            ])
            .context("queueing notification")?;
        let id = self.conn.last_insert_rowid();
        self.queued(id);
        Ok(id)
    }
}
