//! Read operations, usable on a read snapshot and inside a write batch.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use postgres::Row;
use postgres::types::ToSql;

use super::{Context, RowExt, Tx, to_ms};
use crate::domain::{
    Event, EventKind, Incident, IncidentState, Link, Notice, Page, PageKind, Position, Severity,
};
use crate::store::{Error, IncidentFilter, Result};

pub(super) const INCIDENT_COLUMNS: &str =
    incident_columns!("(SELECT MIN(d.due_at) FROM due_actions d WHERE d.incident_id = i.id)");
/// A page's incident, as channels render it: no channel shows the next action's time (as
/// in the SQLite backend, which saves a due-actions search per page read).
const PAGE_INCIDENT_COLUMNS: &str = incident_columns!("NULL::BIGINT");
/// How many columns `INCIDENT_COLUMNS` selects (what `incident_from_row` reads).
const INCIDENT_COLUMN_COUNT: usize = 25;

/// A `usize` limit as PostgreSQL's BIGINT.
pub(super) fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Tx<'_, '_> {
    pub fn incident(&self, id: i64) -> Result<Option<Incident>> {
        let sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents i WHERE i.id = $1");
        self.query_opt(&sql, &[&id])
            .context("loading incident")?
            .map(|r| incident_from_row(&r))
            .transpose()
    }

    /// The id of the open (not resolved) incident of `service` with `dedup_key`, if any.
    pub fn open_incident_id(&self, service: &str, dedup_key: &str) -> Result<Option<i64>> {
        self.query_opt(
            "SELECT id FROM incidents
             WHERE service = $1 AND dedup_key = $2 AND state <> 'resolved'",
            &[&service, &dedup_key],
        )
        .context("looking up open incident by dedup key")?
        .map(|r| r.at(0))
        .transpose()
    }

    pub fn list_incidents(&self, f: &IncidentFilter) -> Result<Vec<Incident>> {
        let mut sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents i WHERE TRUE");
        let states: Vec<&str> = f.states.iter().map(|s| s.as_str()).collect();
        let since = f.since.map(to_ms);
        let until = f.until.map(to_ms);
        let limit = limit(f.limit);
        let mut args: Vec<&(dyn ToSql + Sync)> = Vec::new();
        if !states.is_empty() {
            args.push(&states);
            sql.push_str(&format!(" AND i.state = ANY(${})", args.len()));
        }
        if let Some(svc) = &f.service {
            args.push(svc);
            sql.push_str(&format!(" AND i.service = ${}", args.len()));
        }
        if let Some(t) = &since {
            args.push(t);
            sql.push_str(&format!(" AND i.created_at >= ${}", args.len()));
        }
        if let Some(t) = &until {
            args.push(t);
            sql.push_str(&format!(" AND i.created_at < ${}", args.len()));
        }
        if let Some(id) = &f.before_id {
            args.push(id);
            sql.push_str(&format!(" AND i.id < ${}", args.len()));
        }
        args.push(&limit);
        sql.push_str(&format!(" ORDER BY i.id DESC LIMIT ${}", args.len()));
        let rows = self.query(&sql, &args).context("listing incidents")?;
        rows.iter().map(incident_from_row).collect()
    }

    /// The incident's timeline, oldest first.
    pub fn timeline(&self, incident_id: i64) -> Result<Vec<Event>> {
        self.timeline_after(incident_id, 0, usize::MAX)
    }

    /// Up to `limit` events of the incident with ids above `after_id`, oldest first.
    pub fn timeline_after(&self, incident_id: i64, after_id: i64, n: usize) -> Result<Vec<Event>> {
        let rows = self
            .query(
                &format!(
                    "{EVENT_COLUMNS} WHERE e.incident_id = $1 AND e.id > $2 ORDER BY e.id LIMIT $3"
                ),
                &[&incident_id, &after_id, &limit(n)],
            )
            .context("loading timeline")?;
        rows.iter().map(event_from_row).collect()
    }

    /// Up to `limit` events of every incident (or one, or one service's) committed after
    /// sequence `after_id`, in sequence order.
    pub fn events_after(
        &self,
        after_id: i64,
        incident_id: Option<i64>,
        service: Option<&str>,
        n: usize,
    ) -> Result<Vec<Event>> {
        let rows = self
            .query(
                &format!(
                    "{EVENT_COLUMNS} WHERE e.id > $1
                         AND ($2::bigint IS NULL OR e.incident_id = $2)
                         AND ($3::text IS NULL OR i.service = $3) ORDER BY e.id LIMIT $4"
                ),
                &[&after_id, &incident_id, &service, &limit(n)],
            )
            .context("loading events")?;
        rows.iter().map(event_from_row).collect()
    }

    /// The highest event sequence committed (0 before the first event).
    pub fn last_event_id(&self) -> Result<i64> {
        self.query_one("SELECT COALESCE(MAX(id), 0) FROM incident_events", &[])
            .context("reading the last event sequence")?
            .at(0)
    }

    /// The earliest due action, for the timer task.
    pub fn next_due_at(&self) -> Result<Option<DateTime<Utc>>> {
        self.query_one("SELECT MIN(due_at) FROM due_actions", &[])
            .context("reading the next due action")?
            .opt_ms_at(0)
    }

    /// Pending pages whose next attempt is due, most urgent then oldest first, with their
    /// incident (or, for notifications without one, their own text).
    pub fn pending_pages(
        &self,
        channel: &str,
        now: DateTime<Utc>,
        skip_ids: &[i64],
        skip_people: &[String],
        n: usize,
    ) -> Result<Vec<Page>> {
        let sql = format!(
            "SELECT {PAGE_INCIDENT_COLUMNS}, p.id,
                    (SELECT value FROM meta WHERE key = 'store_id') || '-' || p.id,
                    p.kind, p.person, p.channel,
                    p.level, p.loop_no, p.attempts, p.due_at, p.created_at, p.subject, p.body,
                    p.reply_code
             FROM pages p LEFT JOIN incidents i ON i.id = p.incident_id
             WHERE p.status = 'pending' AND p.channel = $2 AND p.next_attempt_at <= $1
               AND p.id <> ALL($3::bigint[])
               AND p.person <> ALL($4::text[])
             ORDER BY p.priority, p.next_attempt_at, p.id LIMIT $5"
        );
        let rows = self
            .query(
                &sql,
                &[&to_ms(now), &channel, &skip_ids, &skip_people, &limit(n)],
            )
            .context("loading pending pages")?;
        rows.iter()
            .map(|r| {
                let p = INCIDENT_COLUMN_COUNT;
                let incident = match r.at::<Option<i64>>(0)? {
                    Some(_) => Some(incident_from_row(r)?),
                    None => None,
                };
                let notice = match (
                    r.at::<Option<String>>(p + 10)?,
                    r.at::<Option<String>>(p + 11)?,
                ) {
                    (Some(subject), Some(body)) => Some(Notice { subject, body }),
                    _ => None,
                };
                Ok(Page {
                    incident,
                    notice,
                    reply_code: r.at(p + 12)?,
                    id: r.at(p)?,
                    idempotency_key: r.at(p + 1)?,
                    kind: PageKind::parse(&r.at::<String>(p + 2)?).unwrap_or(PageKind::Page),
                    person: r.at(p + 3)?,
                    channel: r.at(p + 4)?,
                    pos: Position {
                        level: r.u32_at(p + 5)?,
                        loop_no: r.u32_at(p + 6)?,
                    },
                    attempts: r.u32_at(p + 7)?,
                    due_at: r.ms_at(p + 8)?,
                    created_at: r.ms_at(p + 9)?,
                })
            })
            .collect()
    }

    /// When messages went to `person` on `channel` since `since` (a coalesced message once).
    pub fn recent_sends(
        &self,
        person: &str,
        channel: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>> {
        let rows = self
            .query(
                "SELECT DISTINCT sent_at FROM pages
                 WHERE person = $1 AND channel = $2 AND sent_at > $3 ORDER BY sent_at",
                &[&person, &channel, &to_ms(since)],
            )
            .context("loading recent sends")?;
        rows.iter().map(|r| r.ms_at(0)).collect()
    }

    /// Channels already used (or queued) to page `person` about the incident at `pos`.
    pub fn channels_tried(
        &self,
        incident_id: i64,
        person: &str,
        pos: Position,
    ) -> Result<Vec<String>> {
        let rows = self
            .query(
                "SELECT DISTINCT channel FROM pages
                 WHERE incident_id = $1 AND person = $2 AND level = $3 AND loop_no = $4",
                &[
                    &incident_id,
                    &person,
                    &i64::from(pos.level),
                    &i64::from(pos.loop_no),
                ],
            )
            .context("loading channels tried")?;
        rows.iter().map(|r| r.at(0)).collect()
    }

    /// The incident an SMS reply code of `person` belongs to (their latest page with it),
    /// while the incident is open and the page was due within the code's lifetime.
    pub fn incident_for_reply_code(
        &self,
        person: &str,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>> {
        let since = to_ms(now - crate::domain::contact::REPLY_CODE_TTL);
        self.query_opt(
            "SELECT p.incident_id FROM pages p JOIN incidents i ON i.id = p.incident_id
             WHERE p.person = $1 AND p.reply_code = $2 AND p.due_at > $3
               AND i.state <> 'resolved'
             ORDER BY p.id DESC LIMIT 1",
            &[&person, &code, &since],
        )
        .context("looking up reply code")?
        .map(|r| r.at(0))
        .transpose()
    }

    /// Open incidents of these services, newest first (at most `limit`).
    pub fn open_incidents_of(&self, services: &[&str], n: usize) -> Result<Vec<Incident>> {
        if services.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents i
             WHERE i.state <> 'resolved' AND i.service = ANY($1)
             ORDER BY i.id DESC LIMIT $2"
        );
        let rows = self
            .query(&sql, &[&services, &limit(n)])
            .context("listing open incidents")?;
        rows.iter().map(incident_from_row).collect()
    }

    /// When the earliest pending page (including retries) due after `after` becomes due.
    pub fn next_page_after(&self, after: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        self.query_one(
            "SELECT MIN(next_attempt_at) FROM pages
             WHERE status = 'pending' AND next_attempt_at > $1",
            &[&to_ms(after)],
        )
        .context("reading the next page due")?
        .opt_ms_at(0)
    }

    /// When the earliest pending page (including retries) was or is due; readiness compares
    /// it with now to tell a backlog.
    pub fn oldest_pending_page_at(&self) -> Result<Option<DateTime<Utc>>> {
        self.query_one(
            "SELECT MIN(next_attempt_at) FROM pages WHERE status = 'pending'",
            &[],
        )
        .context("reading the oldest pending page")?
        .opt_ms_at(0)
    }

    /// The channels pending pages are queued for.
    pub fn pending_channels(&self) -> Result<Vec<String>> {
        let rows = self
            .query(
                "SELECT DISTINCT channel FROM pages WHERE status = 'pending'",
                &[],
            )
            .context("loading the channels of pending pages")?;
        rows.iter().map(|r| r.at(0)).collect()
    }

    /// Number of incidents not yet resolved (for status and start-up logs).
    pub fn open_incident_count(&self) -> Result<u64> {
        let n: i64 = self
            .query_one(
                "SELECT COUNT(*) FROM incidents WHERE state <> 'resolved'",
                &[],
            )
            .context("counting open incidents")?
            .at(0)?;
        Ok(n.max(0) as u64)
    }
}

fn corrupt(idx: usize, msg: impl std::fmt::Display) -> Error {
    Error::Corrupt(format!("column {idx}: {msg}"))
}

fn parse_json(r: &Row, idx: usize) -> Result<BTreeMap<String, String>> {
    serde_json::from_str(&r.at::<String>(idx)?).map_err(|e| corrupt(idx, e))
}

fn parse_links(r: &Row, idx: usize) -> Result<Vec<Link>> {
    let pairs: Vec<(String, String)> =
        serde_json::from_str(&r.at::<String>(idx)?).map_err(|e| corrupt(idx, e))?;
    Ok(pairs
        .into_iter()
        .map(|(href, text)| Link { href, text })
        .collect())
}

pub(super) fn incident_from_row(r: &Row) -> Result<Incident> {
    let state: String = r.at(8)?;
    Ok(Incident {
        id: r.at(0)?,
        service: r.at(1)?,
        dedup_key: r.at(2)?,
        severity: Severity::parse(&r.at::<String>(3)?).map_err(|e| corrupt(3, e))?,
        summary: r.at(4)?,
        source: r.at(5)?,
        details: parse_json(r, 6)?,
        links: parse_links(r, 7)?,
        state: IncidentState::parse(&state)
            .ok_or_else(|| corrupt(8, format!("bad state {state}")))?,
        escalation_policy: r.at(9)?,
        pos: Position {
            level: r.u32_at(10)?,
            loop_no: r.u32_at(11)?,
        },
        alert_count: r.u32_at(12)?,
        created_at: r.ms_at(13)?,
        last_seen_at: r.ms_at(14)?,
        acknowledged_at: r.opt_ms_at(15)?,
        acknowledged_by: r.at(16)?,
        resolved_at: r.opt_ms_at(17)?,
        resolved_by: r.at(18)?,
        resolve_note: r.at(19)?,
        next_action_at: r.opt_ms_at(20)?,
        last_summary: r.at(21)?,
        last_details: match r.at::<Option<String>>(22)? {
            Some(_) => Some(parse_json(r, 22)?),
            None => None,
        },
        postmortem_required: r.bool_at(23)?,
        postmortem_url: r.at(24)?,
    })
}

/// The columns `event_from_row` reads, joined with the incident for its service.
pub(super) const EVENT_COLUMNS: &str = "SELECT e.id, e.incident_id, i.service, e.kind, e.at, e.level, \
    e.person, e.channel, e.actor, e.message \
    FROM incident_events e JOIN incidents i ON i.id = e.incident_id";

pub(super) fn event_from_row(r: &Row) -> Result<Event> {
    Ok(Event {
        id: r.at(0)?,
        incident_id: r.at(1)?,
        service: r.at(2)?,
        kind: EventKind::parse(&r.at::<String>(3)?).unwrap_or(EventKind::Triggered),
        at: r.ms_at(4)?,
        level: r.opt_u32_at(5)?,
        person: r.at(6)?,
        channel: r.at(7)?,
        actor: r.at(8)?,
        message: r.at(9)?,
    })
}

/// Links are stored as `[[href, text], ...]` (as SQLite keeps them).
pub(super) fn links_json(links: &[Link]) -> String {
    let pairs: Vec<(&str, &str)> = links
        .iter()
        .map(|l| (l.href.as_str(), l.text.as_str()))
        .collect();
    serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".into())
}
