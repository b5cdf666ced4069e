//! Read operations, usable on a read snapshot and inside a write batch.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};

use super::{Context, Tx, from_ms, to_ms};
use crate::domain::{
    Event, EventKind, Incident, IncidentState, Link, Notice, Page, PageKind, Position, Severity,
};
use crate::store::{FreshPage, IncidentFilter, Result};

// Limits are written into the SQL text rather than bound: a bound LIMIT makes SQLite
// re-prepare the cached statement on every run.

const INCIDENT_COLUMNS: &str =
    incident_columns!("(SELECT MIN(d.due_at) FROM due_actions d WHERE d.incident_id = i.id)");
/// How many columns `INCIDENT_COLUMNS` selects (what `incident_from_row` reads).
const INCIDENT_COLUMN_COUNT: usize = 25;

impl Tx<'_> {
    pub fn incident(&self, id: i64) -> Result<Option<Incident>> {
        let sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents i WHERE i.id = ?1");
        self.conn
            .prepare_cached(&sql)?
            .query_row([id], incident_from_row)
            .optional()
            .context("loading incident")
    }

    /// The id of the open (not resolved) incident of `service` with `dedup_key`, if any.
    pub fn open_incident_id(&self, service: &str, dedup_key: &str) -> Result<Option<i64>> {
        self.conn
            .prepare_cached(
                "SELECT id FROM incidents
                 WHERE service = ?1 AND dedup_key = ?2 AND state != 'resolved'",
            )?
            .query_row(params![service, dedup_key], |r| r.get(0))
            .optional()
            .context("looking up open incident by dedup key")
    }

    pub fn list_incidents(&self, f: &IncidentFilter) -> Result<Vec<Incident>> {
        let mut sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents i WHERE 1 = 1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if !f.states.is_empty() {
            let marks = vec!["?"; f.states.len()].join(", ");
            sql.push_str(&format!(" AND i.state IN ({marks})"));
            args.extend(f.states.iter().map(|s| s.as_str().to_string().into()));
        }
        if let Some(svc) = &f.service {
            sql.push_str(" AND i.service = ?");
            args.push(svc.clone().into());
        }
        if let Some(t) = f.since {
            sql.push_str(" AND i.created_at >= ?");
            args.push(to_ms(t).into());
        }
        if let Some(t) = f.until {
            sql.push_str(" AND i.created_at < ?");
            args.push(to_ms(t).into());
        }
        if let Some(id) = f.before_id {
            sql.push_str(" AND i.id < ?");
            args.push(id.into());
        }
        sql.push_str(&format!(" ORDER BY i.id DESC LIMIT {}", f.limit));
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), incident_from_row)?;
        rows.collect::<Result<_, _>>().context("listing incidents")
    }

    /// The incident's timeline, oldest first.
    pub fn timeline(&self, incident_id: i64) -> Result<Vec<Event>> {
        self.timeline_after(incident_id, 0, usize::MAX)
    }

    /// Up to `limit` events of the incident with ids above `after_id`, oldest first.
    pub fn timeline_after(
        &self,
        incident_id: i64,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<Event>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self.conn.prepare_cached(&format!(
            "{EVENT_COLUMNS} WHERE e.incident_id = ?1 AND e.id > ?2 ORDER BY e.id LIMIT ?3"
        ))?;
        let rows = stmt.query_map(params![incident_id, after_id, limit], event_from_row)?;
        rows.collect::<Result<_, _>>().context("loading timeline")
    }

    /// Up to `limit` events of every incident (or one, or one service's) committed after
    /// sequence `after_id`, in sequence order.
    pub fn events_after(
        &self,
        after_id: i64,
        incident_id: Option<i64>,
        service: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Event>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self.conn.prepare_cached(&format!(
            "{EVENT_COLUMNS} WHERE e.id > ?1 AND (?2 IS NULL OR e.incident_id = ?2)
                 AND (?3 IS NULL OR i.service = ?3) ORDER BY e.id LIMIT ?4"
        ))?;
        let rows = stmt.query_map(
            params![after_id, incident_id, service, limit],
            event_from_row,
        )?;
        rows.collect::<Result<_, _>>().context("loading events")
    }

    /// The highest event sequence committed (0 before the first event).
    pub fn last_event_id(&self) -> Result<i64> {
        self.conn
            .prepare_cached("SELECT COALESCE(MAX(id), 0) FROM incident_events")?
            .query_row([], |r| r.get(0))
            .context("reading the last event sequence")
    }

    /// The earliest due action, for the timer task.
    pub fn next_due_at(&self) -> Result<Option<DateTime<Utc>>> {
        let ms: Option<i64> = self
            .conn
            .prepare_cached("SELECT MIN(due_at) FROM due_actions")?
            .query_row([], |r| r.get(0))?;
        Ok(ms.map(from_ms))
    }

    /// Pending pages whose next attempt is due, oldest first, with their incident (or, for
    /// notifications without one, their own text).
    pub fn pending_pages(
        &self,
        channel: &str,
        now: DateTime<Utc>,
        skip_ids: &[i64],
        skip_people: &[String],
        limit: usize,
    ) -> Result<Vec<Page>> {
        let now_ms = to_ms(now);
        let (by_id, by_person) = (!skip_ids.is_empty(), !skip_people.is_empty());
        let sql = pending_pages_sql(limit, by_id, by_person);
        let skip_ids = serde_json::to_string(skip_ids)?;
        let skip_people = serde_json::to_string(skip_people)?;
        let mut stmt = self.conn.prepare_cached(&sql)?;
        // An empty list's condition, and its parameter, is left out (see `pending_pages_sql`).
        let mut args: Vec<&dyn rusqlite::ToSql> = vec![&now_ms, &channel];
        if by_id {
            args.push(&skip_ids);
        }
        if by_person {
            args.push(&skip_people);
        }
        let rows = stmt.query_map(&args[..], page_from_row)?;
        rows.collect::<Result<_, _>>()
            .context("loading pending pages")
    }

    /// The pages with ids in `first..=last` that are still pending, with the time of their
    /// next attempt: the writer hands a batch's new pages to the outbox this way (see
    /// `store::PageFeed`), in the batch's transaction, where they are in its page cache.
    pub fn fresh_pages(&self, first: i64, last: i64) -> Result<Vec<FreshPage>> {
        let sql = format!(
            "{PAGE_SELECT}, p.next_attempt_at {PAGE_FROM}
             WHERE p.id BETWEEN ?1 AND ?2 AND p.status = 'pending' ORDER BY p.id"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([first, last], |r| {
            Ok(FreshPage {
                next_attempt_at: from_ms(r.get(INCIDENT_COLUMN_COUNT + 13)?),
                page: page_from_row(r)?,
            })
        })?;
        rows.collect::<Result<_, _>>().context("loading new pages")
    }

    /// When messages went to `person` on `channel` since `since` (a coalesced message once).
    pub fn recent_sends(
        &self,
        person: &str,
        channel: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT DISTINCT sent_at FROM pages
             WHERE person = ?1 AND channel = ?2 AND sent_at > ?3 ORDER BY sent_at",
        )?;
        let rows = stmt.query_map(params![person, channel, to_ms(since)], |r| {
            Ok(from_ms(r.get(0)?))
        })?;
        rows.collect::<Result<_, _>>()
            .context("loading recent sends")
    }

    /// Channels already used (or queued) to page `person` about the incident at `pos`.
    pub fn channels_tried(
        &self,
        incident_id: i64,
        person: &str,
        pos: Position,
    ) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT DISTINCT channel FROM pages
             WHERE incident_id = ?1 AND person = ?2 AND level = ?3 AND loop_no = ?4",
        )?;
        let rows = stmt.query_map(params![incident_id, person, pos.level, pos.loop_no], |r| {
            r.get(0)
        })?;
        rows.collect::<Result<_, _>>()
            .context("loading channels tried")
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
        self.conn
            .prepare_cached(
                "SELECT p.incident_id FROM pages p JOIN incidents i ON i.id = p.incident_id
                 WHERE p.person = ?1 AND p.reply_code = ?2 AND p.due_at > ?3
                   AND i.state != 'resolved'
                 ORDER BY p.id DESC LIMIT 1",
            )?
            .query_row(params![person, code, since], |r| r.get(0))
            .optional()
            .context("looking up reply code")
    }

    /// Open incidents of these services, newest first (at most `limit`).
    pub fn open_incidents_of(&self, services: &[&str], limit: usize) -> Result<Vec<Incident>> {
        if services.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; services.len()].join(", ");
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents i
             WHERE i.state != 'resolved' AND i.service IN ({marks})
             ORDER BY i.id DESC LIMIT {limit}"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(services), incident_from_row)?;
        rows.collect::<Result<_, _>>()
            .context("listing open incidents")
    }

    /// When the earliest pending page (including retries) due after `after` becomes due.
    pub fn next_page_after(&self, after: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        let ms: Option<i64> = self
            .conn
            .prepare_cached(
                "SELECT MIN(next_attempt_at) FROM pages
                 WHERE status = 'pending' AND next_attempt_at > ?1",
            )?
            .query_row([to_ms(after)], |r| r.get(0))?;
        Ok(ms.map(from_ms))
    }

    /// When the earliest pending page (including retries) was or is due; readiness compares
    /// it with now to tell a backlog.
    pub fn oldest_pending_page_at(&self) -> Result<Option<DateTime<Utc>>> {
        let ms: Option<i64> = self
            .conn
            .prepare_cached("SELECT MIN(next_attempt_at) FROM pages WHERE status = 'pending'")?
            .query_row([], |r| r.get(0))?;
        Ok(ms.map(from_ms))
    }

    /// The channels pending pages are queued for.
    pub fn pending_channels(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT DISTINCT channel FROM pages WHERE status = 'pending'")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect::<Result<_, _>>()
            .context("loading the channels of pending pages")
    }

    /// Number of incidents not yet resolved (for status and start-up logs).
    pub fn open_incident_count(&self) -> Result<u64> {
        let n: i64 = self
            .conn
            .prepare_cached("SELECT COUNT(*) FROM incidents WHERE state != 'resolved'")?
            .query_row([], |r| r.get(0))?;
        Ok(n as u64)
    }
}

fn conversion_error(idx: usize, msg: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, msg.into())
}

fn parse_severity(r: &Row<'_>, idx: usize) -> rusqlite::Result<Severity> {
    Severity::parse(&r.get::<_, String>(idx)?).map_err(|e| conversion_error(idx, e))
}

fn parse_state(r: &Row<'_>, idx: usize) -> rusqlite::Result<IncidentState> {
    let s: String = r.get(idx)?;
    IncidentState::parse(&s).ok_or_else(|| conversion_error(idx, format!("bad state {s}")))
}

fn parse_json(r: &Row<'_>, idx: usize) -> rusqlite::Result<BTreeMap<String, String>> {
    serde_json::from_str(&r.get::<_, String>(idx)?)
        .map_err(|e| conversion_error(idx, e.to_string()))
}

fn parse_links(r: &Row<'_>, idx: usize) -> rusqlite::Result<Vec<Link>> {
    let pairs: Vec<(String, String)> = serde_json::from_str(&r.get::<_, String>(idx)?)
        .map_err(|e| conversion_error(idx, e.to_string()))?;
    Ok(pairs
        .into_iter()
        .map(|(href, text)| Link { href, text })
        .collect())
}

fn incident_from_row(r: &Row<'_>) -> rusqlite::Result<Incident> {
    Ok(Incident {
        id: r.get(0)?,
        service: r.get(1)?,
        dedup_key: r.get(2)?,
        severity: parse_severity(r, 3)?,
        summary: r.get(4)?,
        source: r.get(5)?,
        details: parse_json(r, 6)?,
        links: parse_links(r, 7)?,
        state: parse_state(r, 8)?,
        escalation_policy: r.get(9)?,
        pos: Position {
            level: r.get(10)?,
            loop_no: r.get(11)?,
        },
        alert_count: r.get(12)?,
        created_at: from_ms(r.get(13)?),
        last_seen_at: from_ms(r.get(14)?),
        acknowledged_at: r.get::<_, Option<i64>>(15)?.map(from_ms),
        acknowledged_by: r.get(16)?,
        resolved_at: r.get::<_, Option<i64>>(17)?.map(from_ms),
        resolved_by: r.get(18)?,
        resolve_note: r.get(19)?,
        next_action_at: r.get::<_, Option<i64>>(20)?.map(from_ms),
        last_summary: r.get(21)?,
        last_details: match r.get::<_, Option<String>>(22)? {
            Some(_) => Some(parse_json(r, 22)?),
            None => None,
        },
        postmortem_required: r.get(23)?,
        postmortem_url: r.get(24)?,
    })
}

/// Links are stored as `[[href, text], ...]`.
pub(super) fn links_json(links: &[Link]) -> String {
    let pairs: Vec<(&str, &str)> = links
        .iter()
        .map(|l| (l.href.as_str(), l.text.as_str()))
        .collect();
    serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".into())
}

/// The columns `event_from_row` reads, joined with the incident for its service.
const EVENT_COLUMNS: &str = "SELECT e.id, e.incident_id, i.service, e.kind, e.at, e.level, \
    e.person, e.channel, e.actor, e.message \
    FROM incident_events e JOIN incidents i ON i.id = e.incident_id";

fn event_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Event> {
    Ok(Event {
        id: r.get(0)?,
        incident_id: r.get(1)?,
        service: r.get(2)?,
        kind: EventKind::parse(&r.get::<_, String>(3)?).unwrap_or(EventKind::Triggered),
        at: from_ms(r.get(4)?),
        level: r.get(5)?,
        person: r.get(6)?,
        channel: r.get(7)?,
        actor: r.get(8)?,
        message: r.get(9)?,
    })
}

/// The due-pages query of [`Tx::pending_pages`] for `limit` rows, with the conditions for
/// pages (`?3`) and people (`?4`) to skip only where there are some.
/// A page as the outbox gets it (read by `page_from_row`), and where it is selected from.
/// Its incident's next action's time is `NULL`: no channel shows it, and looking it up cost
/// a due-actions search per page read.
const PAGE_SELECT: &str = concat!(
    "SELECT ",
    incident_columns!("NULL"),
    ", p.id, (SELECT value FROM meta WHERE key = 'store_id') || '-' || p.id,
        p.kind, p.person, p.channel, p.level, p.loop_no, p.attempts, p.due_at, p.created_at,
        p.subject, p.body, p.reply_code"
);
const PAGE_FROM: &str = "FROM pages p LEFT JOIN incidents i ON i.id = p.incident_id";

fn page_from_row(r: &Row<'_>) -> rusqlite::Result<Page> {
    let p = INCIDENT_COLUMN_COUNT;
    let incident = match r.get::<_, Option<i64>>(0)? {
        Some(_) => Some(incident_from_row(r)?),
        None => None,
    };
    let notice = match (
        r.get::<_, Option<String>>(p + 10)?,
        r.get::<_, Option<String>>(p + 11)?,
    ) {
        (Some(subject), Some(body)) => Some(Notice { subject, body }),
        _ => None,
    };
    Ok(Page {
        incident,
        notice,
        reply_code: r.get(p + 12)?,
        id: r.get(p)?,
        idempotency_key: r.get(p + 1)?,
        kind: PageKind::parse(&r.get::<_, String>(p + 2)?).unwrap_or(PageKind::Page),
        person: r.get(p + 3)?,
        channel: r.get(p + 4)?,
        pos: Position {
            level: r.get(p + 5)?,
            loop_no: r.get(p + 6)?,
        },
        attempts: r.get(p + 7)?,
        due_at: from_ms(r.get(p + 8)?),
        created_at: from_ms(r.get(p + 9)?),
    })
}

fn pending_pages_sql(limit: usize, skip_ids: bool, skip_people: bool) -> String {
    // Most urgent first, then oldest: under a full channel the order is what goes first.
    // The skip lists are small (pages in flight, people with a send in flight on a
    // rate-limited channel), passed as JSON arrays. An empty one is left out rather than
    // matched against `[]`: SQLite builds each `NOT IN` list afresh on every run, with a
    // 10,000-byte Bloom filter to clear (about a tenth of a read's instructions, by
    // callgrind), and most reads have no people to skip. The channel is
    // `CAST(?2 AS TEXT)`, not a bare `?2`: SQLite plans a bare `?2` here by its value, so
    // the statement cache's `clear_bindings` expired it and every read re-prepared it (half
    // of this read's instructions, by callgrind; the plan is the same). The limit stays a
    // literal for the same reason (a bound LIMIT is planned by its value too).
    // The lists are bound in this order after the time and the channel.
    let ids = if skip_ids {
        "AND p.id NOT IN (SELECT value FROM json_each(?3))"
    } else {
        ""
    };
    let people = match (skip_ids, skip_people) {
        (_, false) => "",
        (true, true) => "AND p.person NOT IN (SELECT value FROM json_each(?4))",
        (false, true) => "AND p.person NOT IN (SELECT value FROM json_each(?3))",
    };
    format!(
        "{PAGE_SELECT} {PAGE_FROM}
             WHERE p.status = 'pending' AND p.channel = CAST(?2 AS TEXT)
               AND p.next_attempt_at <= ?1 {ids} {people}
             ORDER BY p.priority, p.next_attempt_at, p.id LIMIT {limit}"
    )
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use rusqlite::{Connection, StatementStatus};

    use super::{Tx, pending_pages_sql};

    /// The outbox reads due pages after every wake; a cached statement that SQLite re-prepares
    /// on each run costs as much again as the read (see `pending_pages_sql`).
    #[test]
    fn the_due_pages_read_is_not_re_prepared_on_each_run() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::migrate_for_tests(&mut conn).unwrap();
        let now = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
        for round in 0..5i64 {
            let tx = Tx::new(&conn);
            let skip: Vec<i64> = (0..round).collect();
            let people = vec![format!("p{round}")];
            tx.pending_pages(&format!("ch{round}"), now, &skip, &people, 7)
                .unwrap();
        }
        for (ids, people) in [(false, true), (true, true)] {
            let stmt = conn
                .prepare_cached(&pending_pages_sql(7, ids, people))
                .unwrap();
            assert_eq!(stmt.get_status(StatementStatus::RePrepare), 0);
        }
    }
}
