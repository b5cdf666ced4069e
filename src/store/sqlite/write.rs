//! Write operations; each runs inside the writer's batch transaction.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::read::links_json;
use super::{Context, Tx, from_ms, to_ms};
use crate::domain::{Event, NewAlert, NewEvent, PageKind, Position};
use crate::store::{AttemptInfo, AttemptOutcome, DueAction, DueKind, Error, Result};

impl DueKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Escalate => "escalate",
            Self::AckTimeout => "ack_timeout",
            Self::Handoff => "handoff",
            Self::Release => "release",
            Self::HeartbeatExpiry => "heartbeat",
            Self::Contact => "contact",
            Self::Shift => "shift",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "ack_timeout" => Self::AckTimeout,
            "handoff" => Self::Handoff,
            "release" => Self::Release,
            "heartbeat" => Self::HeartbeatExpiry,
            "contact" => Self::Contact,
            "shift" => Self::Shift,
            _ => Self::Escalate,
        }
    }
}

impl Tx<'_> {
    /// Inserts a new incident at `pos` and returns its id. Fails if an open incident with the
    /// same (service, dedup_key) exists (the unique index backs the dedup rule).
    pub fn insert_incident(
        &self,
        alert: &NewAlert,
        policy: &str,
        pos: Position,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let details = serde_json::to_string(&alert.details)?;
        self.conn()
            .prepare_cached(
                "INSERT INTO incidents (service, dedup_key, severity, summary, source, details,
                     links, state, policy, level, loop_no, alert_count, created_at, last_seen_at,
                     recent_alerts)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'triggered', ?8, ?9, ?10, 1, ?11, ?11,
                     json_array(?11))",
            )?
            .execute(params![
                alert.service,
                alert.dedup_key,
                alert.severity.as_str(),
                alert.summary,
                alert.source,
                details,
                links_json(&alert.links),
                policy,
                pos.level,
                pos.loop_no,
                to_ms(now),
            ])
            .context("inserting incident")?;
        Ok(self.conn().last_insert_rowid())
    }

    /// Counts another alert against an open incident; returns the new count.
    pub fn record_duplicate(&self, id: i64, now: DateTime<Utc>) -> Result<u32> {
        self.conn()
            .prepare_cached(
                "UPDATE incidents SET alert_count = alert_count + 1, last_seen_at = ?2
                 WHERE id = ?1 RETURNING alert_count",
            )?
            .query_row(params![id, to_ms(now)], |r| r.get(0))
            .context("recording duplicate alert")
    }

    pub fn set_position(&self, id: i64, pos: Position) -> Result<()> {
        self.conn()
            .prepare_cached("UPDATE incidents SET level = ?2, loop_no = ?3 WHERE id = ?1")?
            .execute(params![id, pos.level, pos.loop_no])?;
        Ok(())
    }

    pub fn set_acknowledged(&self, id: i64, by: &str, now: DateTime<Utc>) -> Result<()> {
        self.conn()
            .prepare_cached(
                "UPDATE incidents SET state = 'acknowledged', acknowledged_at = ?2,
                     acknowledged_by = ?3 WHERE id = ?1",
            )?
            .execute(params![id, to_ms(now), by])?;
        Ok(())
    }

    pub fn set_resolved(&self, id: i64, by: &str, note: &str, now: DateTime<Utc>) -> Result<()> {
        self.conn()
            .prepare_cached(
                "UPDATE incidents SET state = 'resolved', resolved_at = ?2, resolved_by = ?3,
                     resolve_note = ?4 WHERE id = ?1",
            )?
            .execute(params![id, to_ms(now), by, note])?;
        Ok(())
    }

    /// Back to triggered (ack timeout or manual escalation of an acknowledged incident).
    pub fn set_triggered(&self, id: i64) -> Result<()> {
        self.conn()
            .prepare_cached("UPDATE incidents SET state = 'triggered' WHERE id = ?1")?
            .execute([id])?;
        Ok(())
    }

    /// Appends to the timeline and returns the stored event (for `Watch`).
    pub fn add_event(
        &self,
        incident_id: i64,
        service: &str,
        ev: NewEvent,
        now: DateTime<Utc>,
    ) -> Result<Event> {
        self.conn()
            .prepare_cached(
                "INSERT INTO incident_events (incident_id, at, kind, level, person, channel,
                     actor, message) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                incident_id,
                to_ms(now),
                ev.kind.as_str(),
                ev.level,
                ev.person,
                ev.channel,
                ev.actor,
                ev.message,
            ])
            .context("appending incident event")?;
        Ok(Event {
            id: self.conn().last_insert_rowid(),
            incident_id,
            service: service.to_string(),
            kind: ev.kind,
            // Stored at millisecond precision; report what a later read returns.
            at: from_ms(to_ms(now)),
            level: ev.level,
            person: ev.person,
            channel: ev.channel,
            actor: ev.actor,
            message: ev.message,
        })
    }

    /// Queues one page in the outbox. `due_at` is when the decision was due.
    #[allow(clippy::too_many_arguments)]
    pub fn enqueue_page(
        &self,
        incident_id: i64,
        kind: PageKind,
        person: &str,
        channel: &str,
        pos: Position,
        due_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        self.conn()
            .prepare_cached(
                "INSERT INTO pages (incident_id, kind, person, channel, level, loop_no,
                     status, due_at, next_attempt_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?8, ?8)",
            )?
            .execute(params![
                incident_id,
                kind.as_str(),
                person,
                channel,
                pos.level,
                pos.loop_no,
                to_ms(due_at),
                to_ms(now),
            ])
            .context("queueing page")?;
        Ok(self.conn().last_insert_rowid())
    }

    /// Acknowledged or resolved: pages not yet sent are not wanted any more.
    pub fn cancel_pending_pages(&self, incident_id: i64) -> Result<usize> {
        Ok(self
            .conn()
            .prepare_cached(
                "UPDATE pages SET status = 'cancelled'
                 WHERE incident_id = ?1 AND status = 'pending' AND kind = 'page'",
            )?
            .execute([incident_id])?)
    }

    pub fn schedule(&self, incident_id: i64, kind: DueKind, due_at: DateTime<Utc>) -> Result<()> {
        self.conn()
            .prepare_cached(
                "INSERT INTO due_actions (incident_id, kind, due_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![incident_id, kind.as_str(), to_ms(due_at)])
            .context("scheduling due action")?;
        Ok(())
    }

    /// A later contact-rule step for one person and channel at escalation position `pos`.
    pub fn schedule_contact(
        &self,
        incident_id: i64,
        person: &str,
        channel: &str,
        pos: Position,
        due_at: DateTime<Utc>,
    ) -> Result<()> {
        self.conn()
            .prepare_cached(
                "INSERT INTO due_actions (incident_id, kind, due_at, person, channel, level, loop_no)
                 VALUES (?1, 'contact', ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                incident_id,
                to_ms(due_at),
                person,
                channel,
                pos.level,
                pos.loop_no
            ])
            .context("scheduling contact step")?;
        Ok(())
    }

    /// Drops every pending action of an incident.
    pub fn cancel_actions(&self, incident_id: i64) -> Result<()> {
        self.conn()
            .prepare_cached("DELETE FROM due_actions WHERE incident_id = ?1")?
            .execute([incident_id])?;
        Ok(())
    }

    /// Removes and returns up to `limit` actions due at or before `now`, earliest first.
    pub fn take_due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<DueAction>> {
        // The limit is in the text: a bound LIMIT re-prepares the statement on every run.
        let mut stmt = self.conn().prepare_cached(&format!(
            "DELETE FROM due_actions WHERE id IN
                 (SELECT id FROM due_actions WHERE due_at <= ?1 ORDER BY due_at, id LIMIT {limit})
             RETURNING incident_id, schedule, kind, due_at, person, channel, level, loop_no,
                       heartbeat"
        ))?;
        let rows = stmt.query_map(params![to_ms(now)], |r| {
            let contact = match (
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
            ) {
                (Some(person), Some(channel)) => Some((
                    person,
                    channel,
                    Position {
                        level: r.get::<_, Option<u32>>(6)?.unwrap_or_default(),
                        loop_no: r.get::<_, Option<u32>>(7)?.unwrap_or_default(),
                    },
                )),
                _ => None,
            };
            Ok(DueAction {
                incident_id: r.get(0)?,
                schedule: r.get(1)?,
                kind: DueKind::parse(&r.get::<_, String>(2)?),
                due_at: from_ms(r.get(3)?),
                contact,
                heartbeat: r.get(8)?,
            })
        })?;
        let mut due: Vec<DueAction> = rows.collect::<Result<_, _>>()?;
        // RETURNING order is unspecified; run them in due order.
        due.sort_by_key(|d| d.due_at);
        Ok(due)
    }

    /// Records one delivery attempt: sent, retry at a later time, or failed for good, with
    /// the address used and the provider's answer.
    pub fn record_attempt(
        &self,
        page_id: i64,
        outcome: &AttemptOutcome,
        attempt: &AttemptInfo,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let (status, next, error, sent_at) = match outcome {
            AttemptOutcome::Sent => ("sent", now, None, Some(to_ms(now))),
            AttemptOutcome::Retry { at, error } => ("pending", *at, Some(error.as_str()), None),
            AttemptOutcome::Failed { error } => ("failed", now, Some(error.as_str()), None),
        };
        // A page cancelled while in flight stays cancelled; the attempt is still counted.
        self.conn()
            .prepare_cached(
                "UPDATE pages SET attempts = attempts + 1, last_error = ?4, next_attempt_at = ?3,
                     status = CASE WHEN status = 'cancelled' THEN 'cancelled' ELSE ?2 END,
                     address = COALESCE(?5, address), response = COALESCE(?6, response),
                     sent_at = COALESCE(?7, sent_at)
                 WHERE id = ?1",
            )?
            .execute(params![
                page_id,
                status,
                to_ms(next),
                error,
                attempt.address,
                attempt.response,
                sent_at
            ])
            .context("recording page attempt")?;
        Ok(())
    }

    /// Holds pages back until `until` (a rate limit); returns the ids held for the first time.
    pub fn hold_pages(&self, ids: &[i64], until: DateTime<Utc>) -> Result<Vec<i64>> {
        let mut first = Vec::new();
        for id in ids {
            let was_held: bool = self
                .conn()
                .prepare_cached("SELECT held FROM pages WHERE id = ?1")?
                .query_row([id], |r| r.get(0))?;
            self.conn()
                .prepare_cached("UPDATE pages SET next_attempt_at = ?2, held = 1 WHERE id = ?1")?
                .execute(params![id, to_ms(until)])?;
            if !was_held {
                first.push(*id);
            }
        }
        Ok(first)
    }

    /// The person's SMS reply code for this incident: the one they already have, else a new
    /// four-digit code none of their recent pages uses.
    pub fn reply_code(&self, incident_id: i64, person: &str, now: DateTime<Utc>) -> Result<String> {
        let existing: Option<String> = self
            .conn()
            .prepare_cached(
                "SELECT reply_code FROM pages
                 WHERE incident_id = ?1 AND person = ?2 AND reply_code IS NOT NULL LIMIT 1",
            )?
            .query_row(params![incident_id, person], |r| r.get(0))
            .optional()?;
        if let Some(code) = existing {
            return Ok(code);
        }
        let since = to_ms(now - chrono::Duration::days(30));
        for digits in [4u32, 4, 4, 4, 4, 4, 4, 4, 6, 6, 6, 6, 8] {
            let low = 10u32.pow(digits - 1);
            let code = rand::random_range(low..low * 10).to_string();
            let taken: bool = self
                .conn()
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM pages WHERE person = ?1 AND reply_code = ?2
                         AND created_at > ?3)",
                )?
                .query_row(params![person, code, since], |r| r.get(0))?;
            if !taken {
                return Ok(code);
            }
        }
        Err(Error::Refused(format!("no free reply code for {person}")))
    }

    pub fn set_reply_code(&self, page_id: i64, code: &str) -> Result<()> {
        self.conn()
            .prepare_cached("UPDATE pages SET reply_code = ?2 WHERE id = ?1")?
            .execute(params![page_id, code])?;
        Ok(())
    }
}
