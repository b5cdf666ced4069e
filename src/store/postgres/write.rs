//! Write operations on incidents, their timeline, due actions and the outbox; each runs
//! inside the writer's batch transaction.

use chrono::{DateTime, Utc};

use super::read::{limit, links_json};
use super::{Context, RowExt, Tx, from_ms, to_ms};
use crate::domain::due::{Due, DueScope};
use crate::domain::{Event, EventKind, NewAlert, NewEvent, PageKind, Position};
use crate::store::{AttemptInfo, AttemptOutcome, Error, Result};

impl Tx<'_, '_> {
    /// Inserts a new incident at `pos` and returns its id. Fails if an open incident with the
    /// same (service, dedup_key) exists (the unique index backs the dedup rule, across nodes).
    pub fn insert_incident(
        &self,
        alert: &NewAlert,
        policy: &str,
        pos: Position,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let details = serde_json::to_string(&alert.details)?;
        let now = to_ms(now);
        self.query_one(
            "INSERT INTO incidents (service, dedup_key, severity, summary, source, details,
                 links, state, policy, level, loop_no, alert_count, created_at, last_seen_at,
                 recent_alerts)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'triggered', $8, $9, $10, 1, $11, $11, $12)
             RETURNING id",
            &[
                &alert.service,
                &alert.dedup_key,
                &alert.severity.as_str(),
                &alert.summary,
                &alert.source,
                &details,
                &links_json(&alert.links),
                &policy,
                &i64::from(pos.level),
                &i64::from(pos.loop_no),
                &now,
                &format!("[{now}]"),
            ],
        )
        .context("inserting incident")?
        .at(0)
    }

    /// Counts another alert against an open incident and keeps it as the last payload;
    /// returns the new count.
    pub fn record_duplicate(&self, id: i64, alert: &NewAlert, now: DateTime<Utc>) -> Result<u32> {
        self.query_one(
            "UPDATE incidents SET alert_count = alert_count + 1, last_seen_at = $2,
                 last_summary = $3, last_details = $4
             WHERE id = $1 RETURNING alert_count",
            &[
                &id,
                &to_ms(now),
                &alert.summary,
                &serde_json::to_string(&alert.details)?,
            ],
        )
        .context("recording duplicate alert")?
        .u32_at(0)
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
        let latest = self
            .query_opt(
                "SELECT id, kind FROM incident_events WHERE incident_id = $1
                 ORDER BY id DESC LIMIT 1",
                &[&incident_id],
            )
            .context("loading the latest event")?;
        let latest: Option<(i64, String)> = match latest {
            Some(r) => Some((r.at(0)?, r.at(1)?)),
            None => None,
        };
        let repeat = EventKind::Deduplicated;
        let Some((old_id, _)) = latest.filter(|(_, kind)| kind == repeat.as_str()) else {
            return self.add_event(incident_id, service, NewEvent::new(repeat, message), now);
        };
        // The next value of the identity, as an insert would get: under the writer lock, the
        // sequence only ever grows in commit order.
        let id: i64 = self
            .query_one(
                "UPDATE incident_events
                 SET id = nextval(pg_get_serial_sequence('incident_events', 'id')),
                     at = $2, message = $3
                 WHERE id = $1 RETURNING id",
                &[&old_id, &to_ms(now), &message],
            )
            .context("moving the repeat event")?
            .at(0)?;
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
        self.execute(
            "UPDATE incidents SET level = $2, loop_no = $3 WHERE id = $1",
            &[&id, &i64::from(pos.level), &i64::from(pos.loop_no)],
        )
        .context("moving the incident's escalation position")?;
        Ok(())
    }

    pub fn set_acknowledged(&self, id: i64, by: &str, now: DateTime<Utc>) -> Result<()> {
        self.execute(
            "UPDATE incidents SET state = 'acknowledged', acknowledged_at = $2,
                 acknowledged_by = $3 WHERE id = $1",
            &[&id, &to_ms(now), &by],
        )
        .context("acknowledging incident")?;
        Ok(())
    }

    pub fn set_resolved(&self, id: i64, by: &str, note: &str, now: DateTime<Utc>) -> Result<()> {
        self.execute(
            "UPDATE incidents SET state = 'resolved', resolved_at = $2, resolved_by = $3,
                 resolve_note = $4 WHERE id = $1",
            &[&id, &to_ms(now), &by, &note],
        )
        .context("resolving incident")?;
        Ok(())
    }

    /// Marks the incident as needing a post-mortem.
    pub fn set_postmortem_required(&self, id: i64) -> Result<()> {
        self.execute(
            "UPDATE incidents SET postmortem_required = 1 WHERE id = $1",
            &[&id],
        )
        .context("marking a post-mortem required")?;
        Ok(())
    }

    /// Records where the incident's post-mortem went.
    pub fn set_postmortem_url(&self, id: i64, url: &str) -> Result<()> {
        self.execute(
            "UPDATE incidents SET postmortem_url = $2 WHERE id = $1",
            &[&id, &url],
        )
        .context("recording the post-mortem")?;
        Ok(())
    }

    /// Back to triggered (ack timeout or manual escalation of an acknowledged incident).
    pub fn set_triggered(&self, id: i64) -> Result<()> {
        self.execute(
            "UPDATE incidents SET state = 'triggered' WHERE id = $1",
            &[&id],
        )
        .context("re-triggering incident")?;
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
        let id: i64 = self
            .query_one(
                "INSERT INTO incident_events (incident_id, at, kind, level, person, channel,
                     actor, message) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                &[
                    &incident_id,
                    &to_ms(now),
                    &ev.kind.as_str(),
                    &ev.level.map(i64::from),
                    &ev.person,
                    &ev.channel,
                    &ev.actor,
                    &ev.message,
                ],
            )
            .context("appending incident event")?
            .at(0)?;
        let stored = Event {
            id,
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
        self.query_one(
            "INSERT INTO pages (incident_id, kind, person, channel, level, loop_no,
                 status, due_at, next_attempt_at, created_at, priority)
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $8,
                 (SELECT CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1
                      WHEN 'medium' THEN 2 ELSE 3 END FROM incidents WHERE id = $1))
             RETURNING id",
            &[
                &incident_id,
                &kind.as_str(),
                &person,
                &channel,
                &i64::from(pos.level),
                &i64::from(pos.loop_no),
                &to_ms(due_at),
                &to_ms(now),
            ],
        )
        .context("queueing page")?
        .at(0)
    }

    /// Acknowledged or resolved: pages not yet sent are not wanted any more.
    pub fn cancel_pending_pages(&self, incident_id: i64) -> Result<usize> {
        let n = self
            .execute(
                "UPDATE pages SET status = 'cancelled'
                 WHERE incident_id = $1 AND status = 'pending' AND kind = 'page'",
                &[&incident_id],
            )
            .context("cancelling pending pages")?;
        Ok(n as usize)
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
        // PostgreSQL takes one conflict target per statement: the key that applies.
        let on_conflict = if schedule.is_some() {
            "ON CONFLICT (schedule, kind) WHERE schedule IS NOT NULL
             DO UPDATE SET due_at = excluded.due_at"
        } else if heartbeat.is_some() {
            "ON CONFLICT (heartbeat, kind) WHERE heartbeat IS NOT NULL
             DO UPDATE SET due_at = excluded.due_at"
        } else {
            ""
        };
        let sql = format!(
            "INSERT INTO due_actions (incident_id, schedule, heartbeat, kind, due_at, person,
                 channel, level, loop_no)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) {on_conflict}"
        );
        self.execute(
            &sql,
            &[
                &incident,
                &schedule,
                &heartbeat,
                &due.kind(),
                &to_ms(due_at),
                &person,
                &channel,
                &pos.map(|p: Position| i64::from(p.level)),
                &pos.map(|p: Position| i64::from(p.loop_no)),
            ],
        )
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
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM due_actions WHERE schedule = $1 AND kind = $2)",
                &[&schedule, &due.kind()],
            )
            .context("looking up a pending due action")?
            .at(0)?;
        if pending {
            return Ok(false);
        }
        self.set_due(due, due_at)?;
        Ok(true)
    }

    /// Drops the pending due actions in `scope`.
    pub fn cancel_due(&self, scope: &DueScope) -> Result<()> {
        match scope {
            DueScope::Incident(id) => {
                self.execute("DELETE FROM due_actions WHERE incident_id = $1", &[id])
            }
            DueScope::Handoff(s) => self.execute(
                "DELETE FROM due_actions WHERE schedule = $1 AND kind = 'handoff'",
                &[s],
            ),
            DueScope::Shift(s) => self.execute(
                "DELETE FROM due_actions WHERE schedule = $1 AND kind = 'shift'",
                &[s],
            ),
            DueScope::Heartbeat(h) => {
                self.execute("DELETE FROM due_actions WHERE heartbeat = $1", &[h])
            }
            DueScope::Rebalance(s) => self.execute(
                "DELETE FROM due_actions WHERE schedule = $1 AND kind = 'rebalance'",
                &[s],
            ),
        }
        .context("cancelling due actions")?;
        Ok(())
    }

    /// Removes and returns up to `limit` actions due at or before `now`, earliest first. A
    /// stored row that is no known action is an error (the batch rolls back), never a guess.
    pub fn take_due(&self, now: DateTime<Utc>, n: usize) -> Result<Vec<(Due, DateTime<Utc>)>> {
        let rows = self
            .query(
                "DELETE FROM due_actions WHERE id IN
                     (SELECT id FROM due_actions WHERE due_at <= $1 ORDER BY due_at, id LIMIT $2)
                 RETURNING id, incident_id, schedule, heartbeat, kind, due_at, person, channel,
                           level, loop_no",
                &[&to_ms(now), &limit(n)],
            )
            .context("taking due actions")?;
        let mut due = Vec::with_capacity(rows.len());
        for r in &rows {
            let row = DueRow {
                id: r.at(0)?,
                incident: r.at(1)?,
                schedule: r.at(2)?,
                heartbeat: r.at(3)?,
                kind: r.at(4)?,
                due_at: r.at(5)?,
                person: r.at(6)?,
                channel: r.at(7)?,
                level: r.opt_u32_at(8)?,
                loop_no: r.opt_u32_at(9)?,
            };
            due.push((row.due_at, row.id, row.decode()?));
        }
        // RETURNING order is unspecified; run them in due order.
        due.sort_by_key(|(at, id, _)| (*at, *id));
        Ok(due.into_iter().map(|(_, _, d)| d).collect())
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
        self.execute(
            "UPDATE pages SET attempts = attempts + 1, last_error = $4, next_attempt_at = $3,
                 status = CASE WHEN status = 'cancelled' THEN 'cancelled' ELSE $2 END,
                 address = COALESCE($5, address), response = COALESCE($6, response),
                 sent_at = COALESCE($7, sent_at)
             WHERE id = $1",
            &[
                &page_id,
                &status,
                &to_ms(next),
                &error,
                &attempt.address,
                &attempt.response,
                &sent_at,
            ],
        )
        .context("recording page attempt")?;
        Ok(())
    }

    /// Holds pages back until `until` (a rate limit); returns the ids held for the first time.
    pub fn hold_pages(&self, ids: &[i64], until: DateTime<Utc>) -> Result<Vec<i64>> {
        let mut first = Vec::new();
        for id in ids {
            let was_held = self
                .query_one("SELECT held FROM pages WHERE id = $1", &[id])
                .context("reading a page's hold")?
                .bool_at(0)?;
            self.execute(
                "UPDATE pages SET next_attempt_at = $2, held = 1 WHERE id = $1",
                &[id, &to_ms(until)],
            )
            .context("holding a page")?;
            if !was_held {
                first.push(*id);
            }
        }
        Ok(first)
    }

    /// The person's SMS reply code for this incident: the one they already have, else a new
    /// random code none of their recent pages uses.
    pub fn reply_code(&self, incident_id: i64, person: &str, now: DateTime<Utc>) -> Result<String> {
        let existing = self
            .query_opt(
                "SELECT reply_code FROM pages
                 WHERE incident_id = $1 AND person = $2 AND reply_code IS NOT NULL LIMIT 1",
                &[&incident_id, &person],
            )
            .context("looking up a reply code")?;
        if let Some(r) = existing {
            return r.at(0);
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
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM pages WHERE person = $1 AND reply_code = $2
                         AND created_at > $3)",
                    &[&person, &code, &since],
                )
                .context("checking a reply code")?
                .at(0)?;
            if !taken {
                return Ok(code);
            }
        }
        Err(Error::Refused(format!("no free reply code for {person}")))
    }

    pub fn set_reply_code(&self, page_id: i64, code: &str) -> Result<()> {
        self.execute(
            "UPDATE pages SET reply_code = $2 WHERE id = $1",
            &[&page_id, &code],
        )
        .context("storing a reply code")?;
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
    fn decode(&self) -> Result<(Due, DateTime<Utc>)> {
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
