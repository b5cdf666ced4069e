//! Write operations; each runs inside the writer's batch transaction.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::read::links_json;
use super::{Context, Tx, from_ms, to_ms};
use crate::domain::due::{Due, DueScope};
use crate::domain::{Event, EventKind, NewAlert, NewEvent, PageKind, Position};
use crate::store::{AttemptInfo, AttemptOutcome, Error, Result};

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

    /// Counts another alert against an open incident and keeps it as the last payload;
    /// returns the new count.
    pub fn record_duplicate(&self, id: i64, alert: &NewAlert, now: DateTime<Utc>) -> Result<u32> {
        self.conn()
            .prepare_cached(
                "UPDATE incidents SET alert_count = alert_count + 1, last_seen_at = ?2,
                     last_summary = ?3, last_details = ?4
                 WHERE id = ?1 RETURNING alert_count",
            )?
            .query_row(
                params![
                    id,
                    to_ms(now),
                    alert.summary,
                    serde_json::to_string(&alert.details)?
                ],
                |r| r.get(0),
            )
            .context("recording duplicate alert")
    }

    /// Rewrites the incident's latest event if it is a repeat record, moving it to the next
    /// sequence; else appends one. See `WriteTx::coalesce_repeat`.
    pub fn coalesce_repeat(
        &self,
        incident_id: i64,
        service: &str,
        message: &str,
        now: DateTime<Utc>,
    ) -> Result<Event> {
        let latest: Option<(i64, String)> = self
            .conn()
            .prepare_cached(
                "SELECT id, kind FROM incident_events WHERE incident_id = ?1
                 ORDER BY id DESC LIMIT 1",
            )?
            .query_row([incident_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let repeat = EventKind::Deduplicated;
        let Some((old_id, _)) = latest.filter(|(_, kind)| kind == repeat.as_str()) else {
            return self.add_event(incident_id, service, NewEvent::new(repeat, message), now);
        };
        // MAX(id) + 1, as an insert would get: the sequence only ever grows.
        let id: i64 = self
            .conn()
            .prepare_cached(
                "UPDATE incident_events SET id = (SELECT MAX(id) + 1 FROM incident_events),
                     at = ?2, message = ?3
                 WHERE id = ?1 RETURNING id",
            )?
            .query_row(params![old_id, to_ms(now), message], |r| r.get(0))
            .context("moving the repeat event")?;
        let stored = Event {
            id,
            incident_id,
            service: service.to_string(),
            kind: repeat,
            at: from_ms(to_ms(now)),
            level: None,
            person: None,
            channel: None,
            actor: None,
            message: message.to_string(),
        };
        self.added(&stored);
        Ok(stored)
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

    /// Marks the incident as needing a post-mortem.
    pub fn set_postmortem_required(&self, id: i64) -> Result<()> {
        self.conn()
            .prepare_cached("UPDATE incidents SET postmortem_required = 1 WHERE id = ?1")?
            .execute([id])?;
        Ok(())
    }

    /// Records where the incident's post-mortem went.
    pub fn set_postmortem_url(&self, id: i64, url: &str) -> Result<()> {
        self.conn()
            .prepare_cached("UPDATE incidents SET postmortem_url = ?2 WHERE id = ?1")?
            .execute(params![id, url])?;
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
        let stored = Event {
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
        };
        self.added(&stored);
        Ok(stored)
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
                     status, due_at, next_attempt_at, created_at, priority)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?8, ?8,
                     (SELECT CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1
                          WHEN 'medium' THEN 2 ELSE 3 END FROM incidents WHERE id = ?1))",
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
        let id = self.conn().last_insert_rowid();
        self.queued(id);
        Ok(id)
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

    /// Sets a due action. Incident actions add a row; a schedule's handoff or shift recording
    /// and a heartbeat's expiry are one row each, moved to the new time.
    pub fn set_due(&self, due: &Due, due_at: DateTime<Utc>) -> Result<()> {
        let (mut incident, mut schedule, mut heartbeat) = (None, None, None);
        let (mut person, mut channel, mut pos) = (None, None, None);
        match due {
            Due::Escalate { incident: id }
            | Due::AckTimeout { incident: id }
            | Due::Release { incident: id } => incident = Some(*id),
            Due::Contact {
                incident: id,
                person: p,
                channel: c,
                pos: at,
            } => {
                incident = Some(*id);
                (person, channel, pos) = (Some(p.as_str()), Some(c.as_str()), Some(*at));
            }
            Due::Handoff { schedule: s }
            | Due::Shift { schedule: s }
            | Due::Rebalance { schedule: s } => schedule = Some(s.as_str()),
            Due::HeartbeatExpiry { heartbeat: h } => heartbeat = Some(h.as_str()),
        }
        // An incident's actions are never unique (only a schedule's or heartbeat's are), so
        // theirs, one or more per alert, skip the upsert's conflict handling.
        let sql = if incident.is_some() {
            "INSERT INTO due_actions (incident_id, schedule, heartbeat, kind, due_at, person,
                 channel, level, loop_no)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        } else {
            "INSERT INTO due_actions (incident_id, schedule, heartbeat, kind, due_at, person,
                 channel, level, loop_no)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (schedule, kind) WHERE schedule IS NOT NULL
             DO UPDATE SET due_at = excluded.due_at
             ON CONFLICT (heartbeat, kind) WHERE heartbeat IS NOT NULL
             DO UPDATE SET due_at = excluded.due_at"
        };
        self.conn()
            .prepare_cached(sql)?
            .execute(params![
                incident,
                schedule,
                heartbeat,
                due.kind(),
                to_ms(due_at),
                person,
                channel,
                pos.map(|p: Position| p.level),
                pos.map(|p: Position| p.loop_no),
            ])
            .with_context(|| format!("scheduling {} due action", due.kind()))?;
        Ok(())
    }

    /// Sets a schedule's due action unless one of its kind is pending already (so a
    /// restart or reload never moves it); returns whether it was set.
    pub fn ensure_due(&self, due: &Due, due_at: DateTime<Utc>) -> Result<bool> {
        let schedule = match due {
            Due::Handoff { schedule } | Due::Shift { schedule } | Due::Rebalance { schedule } => {
                schedule
            }
            _ => {
                return Err(Error::Refused(format!(
                    "{} is no schedule action",
                    due.kind()
                )));
            }
        };
        let pending: bool = self
            .conn()
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM due_actions WHERE schedule = ?1 AND kind = ?2)",
            )?
            .query_row(params![schedule, due.kind()], |r| r.get(0))
            .context("looking up a pending due action")?;
        if pending {
            return Ok(false);
        }
        self.set_due(due, due_at)?;
        Ok(true)
    }

    /// Drops the pending due actions in `scope`.
    pub fn cancel_due(&self, scope: &DueScope) -> Result<()> {
        let (sql, key): (&str, &dyn rusqlite::ToSql) = match scope {
            DueScope::Incident(id) => ("DELETE FROM due_actions WHERE incident_id = ?1", id),
            DueScope::Handoff(s) => (
                "DELETE FROM due_actions WHERE schedule = ?1 AND kind = 'handoff'",
                s,
            ),
            DueScope::Shift(s) => (
                "DELETE FROM due_actions WHERE schedule = ?1 AND kind = 'shift'",
                s,
            ),
            DueScope::Heartbeat(h) => ("DELETE FROM due_actions WHERE heartbeat = ?1", h),
            DueScope::Rebalance(s) => (
                "DELETE FROM due_actions WHERE schedule = ?1 AND kind = 'rebalance'",
                s,
            ),
        };
        self.conn().prepare_cached(sql)?.execute([key])?;
        Ok(())
    }

    /// Removes and returns up to `limit` actions due at or before `now`, earliest first. A
    /// stored row that is no known action is an error (the batch rolls back), never a guess.
    pub fn take_due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<(Due, DateTime<Utc>)>> {
        // The limit is in the text: a bound LIMIT re-prepares the statement on every run.
        let mut stmt = self.conn().prepare_cached(&format!(
            "DELETE FROM due_actions WHERE id IN
                 (SELECT id FROM due_actions WHERE due_at <= ?1 ORDER BY due_at, id LIMIT {limit})
             RETURNING id, incident_id, schedule, heartbeat, kind, due_at, person, channel,
                       level, loop_no"
        ))?;
        let rows = stmt.query_map(params![to_ms(now)], |r| {
            Ok(DueRow {
                id: r.get(0)?,
                incident: r.get(1)?,
                schedule: r.get(2)?,
                heartbeat: r.get(3)?,
                kind: r.get(4)?,
                due_at: r.get(5)?,
                person: r.get(6)?,
                channel: r.get(7)?,
                level: r.get(8)?,
                loop_no: r.get(9)?,
            })
        })?;
        let rows: Vec<DueRow> = rows.collect::<Result<_, _>>()?;
        let mut due = rows
            .into_iter()
            .map(DueRow::decode)
            .collect::<Result<Vec<_>>>()?;
        // RETURNING order is unspecified; run them in due order.
        due.sort_by_key(|(_, at)| *at);
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
    /// random code none of their recent pages uses.
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
        // 32^6 codes: a clash is rare, eight in a row is not going to happen.
        for _ in 0..8 {
            use crate::domain::contact::{REPLY_CODE_ALPHABET, REPLY_CODE_LEN};
            // rand's thread generator is a CSPRNG: codes cannot be predicted from earlier ones.
            let code: String = (0..REPLY_CODE_LEN)
                .map(|_| char::from(REPLY_CODE_ALPHABET[rand::random_range(0..32)]))
                .collect();
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

/// One `due_actions` row as stored.
struct DueRow {
    id: i64,
    incident: Option<i64>,
    schedule: Option<String>,
    heartbeat: Option<String>,
    kind: String,
    due_at: i64,
    person: Option<String>,
    channel: Option<String>,
    level: Option<u32>,
    loop_no: Option<u32>,
}

impl DueRow {
    fn decode(self) -> Result<(Due, DateTime<Utc>)> {
        let (id, kind) = (self.id, self.kind.as_str());
        let missing =
            |what: &str| Error::Corrupt(format!("due_actions row {id}: `{kind}` without {what}"));
        let incident = || self.incident.ok_or_else(|| missing("an incident"));
        let schedule = || self.schedule.clone().ok_or_else(|| missing("a schedule"));
        let due = match kind {
            "escalate" => Due::Escalate {
                incident: incident()?,
            },
            "ack_timeout" => Due::AckTimeout {
                incident: incident()?,
            },
            "release" => Due::Release {
                incident: incident()?,
            },
            "contact" => Due::Contact {
                incident: incident()?,
                person: self.person.clone().ok_or_else(|| missing("a person"))?,
                channel: self.channel.clone().ok_or_else(|| missing("a channel"))?,
                pos: Position {
                    level: self.level.unwrap_or_default(),
                    loop_no: self.loop_no.unwrap_or_default(),
                },
            },
            "handoff" => Due::Handoff {
                schedule: schedule()?,
            },
            "shift" => Due::Shift {
                schedule: schedule()?,
            },
            "rebalance" => Due::Rebalance {
                schedule: schedule()?,
            },
            "heartbeat" => Due::HeartbeatExpiry {
                heartbeat: self
                    .heartbeat
                    .clone()
                    .ok_or_else(|| missing("a heartbeat"))?,
            },
            other => {
                return Err(Error::Corrupt(format!(
                    "due_actions row {id}: unknown due action kind `{other}`"
                )));
            }
        };
        Ok((due, from_ms(self.due_at)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    fn db() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut conn).unwrap();
        conn.execute(
            "INSERT INTO incidents (id, service, dedup_key, severity, summary, source, details,
                 links, state, policy, level, loop_no, alert_count, created_at, last_seen_at)
             VALUES (1, 'api', 'k', 'high', 's', '', '{}', '[]', 'triggered', 'p', 0, 0, 1, 0,
                 0)",
            [],
        )
        .unwrap();
        conn
    }

    #[test]
    fn an_unknown_stored_kind_is_an_error_naming_the_kind_and_the_row() {
        let conn = db();
        // The schema's CHECK keeps unknown kinds out; a row written by a newer or broken
        // binary must still not be read as some other action.
        conn.execute_batch(
            "PRAGMA ignore_check_constraints = ON;
             INSERT INTO due_actions (id, incident_id, kind, due_at) VALUES (7, 1, 'snooze', 5);
             PRAGMA ignore_check_constraints = OFF;",
        )
        .unwrap();
        let err = Tx::new(&conn).take_due(from_ms(10), 10).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "due_actions row 7: unknown due action kind `snooze`"
        );
    }

    #[test]
    fn every_due_action_comes_back_as_it_was_set_and_keyed_ones_move() {
        let conn = db();
        let tx = Tx::new(&conn);
        let all = [
            Due::Escalate { incident: 1 },
            Due::AckTimeout { incident: 1 },
            Due::Release { incident: 1 },
            Due::Contact {
                incident: 1,
                person: "ann".into(),
                channel: "sms".into(),
                pos: Position {
                    level: 2,
                    loop_no: 1,
                },
            },
            Due::Handoff {
                schedule: "rota".into(),
            },
            Due::Shift {
                schedule: "rota".into(),
            },
            Due::HeartbeatExpiry {
                heartbeat: "nightly".into(),
            },
        ];
        for (i, due) in all.iter().enumerate() {
            tx.set_due(due, from_ms(i as i64 * 10)).unwrap();
        }
        // Keyed actions are one row each: setting again moves them.
        tx.set_due(&all[4], from_ms(45)).unwrap();
        tx.set_due(&all[6], from_ms(65)).unwrap();
        let got = tx.take_due(from_ms(1000), 100).unwrap();
        let want: Vec<(Due, DateTime<Utc>)> = all
            .iter()
            .cloned()
            .zip([0, 10, 20, 30, 45, 50, 65].map(from_ms))
            .collect();
        assert_eq!(got, want);
        assert!(tx.take_due(from_ms(1000), 100).unwrap().is_empty());
    }

    #[test]
    fn cancelling_drops_only_the_actions_in_scope() {
        let conn = db();
        let tx = Tx::new(&conn);
        let rota = |s: &str| Due::Handoff { schedule: s.into() };
        tx.set_due(&Due::Escalate { incident: 1 }, from_ms(1))
            .unwrap();
        tx.set_due(&rota("rota"), from_ms(2)).unwrap();
        tx.set_due(
            &Due::Shift {
                schedule: "rota".into(),
            },
            from_ms(3),
        )
        .unwrap();
        tx.set_due(&rota("other"), from_ms(4)).unwrap();
        tx.set_due(
            &Due::HeartbeatExpiry {
                heartbeat: "nightly".into(),
            },
            from_ms(5),
        )
        .unwrap();
        tx.cancel_due(&DueScope::Incident(1)).unwrap();
        tx.cancel_due(&DueScope::Handoff("rota".into())).unwrap();
        tx.cancel_due(&DueScope::Heartbeat("nightly".into()))
            .unwrap();
        let kept: Vec<Due> = tx
            .take_due(from_ms(100), 100)
            .unwrap()
            .into_iter()
            .map(|(d, _)| d)
            .collect();
        assert_eq!(
            kept,
            vec![
                Due::Shift {
                    schedule: "rota".into()
                },
                rota("other")
            ]
        );
    }
}
