//! The shift ledger (who took each turn of a schedule with burnout limits, and why), its due
//! action, and what the on-call load report reads.

use chrono::{DateTime, Utc};
use rusqlite::{Row, params};

use super::{Context, Tx, from_ms, to_ms};
use crate::store::{DeliveredPage, LedgerEntry, Result};

// One incident counts once however many pages it took; only pages that went out count.
const LEDGER_SELECT: &str = "SELECT l.schedule, l.layer, l.turn, l.start_at, l.end_at, l.person,
        l.candidate, l.reason, l.skipped, l.flagged, l.nobody_eligible, l.rested, l.evening,
        (SELECT COUNT(DISTINCT p.incident_id) FROM pages p
          WHERE p.person = l.person AND p.kind = 'page' AND p.incident_id IS NOT NULL
            AND p.sent_at IS NOT NULL AND p.sent_at >= l.start_at AND p.sent_at < l.end_at)
     FROM shift_ledger l";

fn entry_from_row(r: &Row<'_>) -> rusqlite::Result<LedgerEntry> {
    let skipped: String = r.get(8)?;
    Ok(LedgerEntry {
        schedule: r.get(0)?,
        layer: r.get(1)?,
        turn: r.get(2)?,
        start: from_ms(r.get(3)?),
        end: from_ms(r.get(4)?),
        person: r.get(5)?,
        candidate: r.get(6)?,
        reason: r.get(7)?,
        skipped: serde_json::from_str(&skipped).unwrap_or_default(),
        flagged: r.get(9)?,
        nobody_eligible: r.get(10)?,
        rested: r.get(11)?,
        evening: r.get(12)?,
        incidents: r.get(13)?,
    })
}

impl Tx<'_> {
    /// A schedule's ledger rows ending after `since`, in start order.
    pub fn ledger(&self, schedule: &str, since: DateTime<Utc>) -> Result<Vec<LedgerEntry>> {
        let sql = format!(
            "{LEDGER_SELECT} WHERE l.schedule = ?1 AND l.end_at > ?2 ORDER BY l.start_at, l.id"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![schedule, to_ms(since)], entry_from_row)?;
        rows.collect::<Result<_, _>>()
            .context("loading the shift ledger")
    }

    /// Ledger rows (of one schedule or all) starting in `[from, to)`, in start order.
    pub fn ledger_between(
        &self,
        schedule: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<LedgerEntry>> {
        let sql = format!(
            "{LEDGER_SELECT} WHERE (?1 IS NULL OR l.schedule = ?1)
               AND l.start_at >= ?2 AND l.start_at < ?3 ORDER BY l.start_at, l.id"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![schedule, to_ms(from), to_ms(to)], entry_from_row)?;
        rows.collect::<Result<_, _>>()
            .context("reading the shift ledger")
    }

    /// Incident pages that went out in `[from, to)`.
    pub fn delivered_pages(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<DeliveredPage>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT p.person, p.incident_id, p.sent_at, i.acknowledged_at, i.resolved_at
             FROM pages p JOIN incidents i ON i.id = p.incident_id
             WHERE p.kind = 'page' AND p.sent_at IS NOT NULL
               AND p.sent_at >= ?1 AND p.sent_at < ?2
             ORDER BY p.sent_at, p.id",
        )?;
        let rows = stmt.query_map(params![to_ms(from), to_ms(to)], |r| {
            Ok(DeliveredPage {
                person: r.get(0)?,
                incident_id: r.get(1)?,
                sent_at: from_ms(r.get(2)?),
                acknowledged_at: r.get::<_, Option<i64>>(3)?.map(from_ms),
                resolved_at: r.get::<_, Option<i64>>(4)?.map(from_ms),
            })
        })?;
        rows.collect::<Result<_, _>>()
            .context("reading delivered pages")
    }

    /// Every scheduled ledger recording: (schedule, due).
    pub fn scheduled_shifts(&self) -> Result<Vec<(String, DateTime<Utc>)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT schedule, due_at FROM due_actions WHERE kind = 'shift' ORDER BY schedule",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, from_ms(r.get(1)?))))?;
        rows.collect::<Result<_, _>>()
            .context("loading scheduled shift recordings")
    }
}

impl Tx<'_> {
    /// Records who took a shift; a row already there (same schedule, layer, start, person)
    /// is kept as it was: a past decision never changes.
    pub fn record_shift(&self, e: &LedgerEntry, now: DateTime<Utc>) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached(
                "INSERT INTO shift_ledger (schedule, layer, turn, start_at, end_at, person,
                     candidate, reason, skipped, flagged, nobody_eligible, rested, evening,
                     recorded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![
                e.schedule,
                e.layer,
                e.turn,
                to_ms(e.start),
                to_ms(e.end),
                e.person,
                e.candidate,
                e.reason,
                serde_json::to_string(&e.skipped).unwrap_or_else(|_| "[]".into()),
                e.flagged,
                e.nobody_eligible,
                e.rested,
                e.evening,
                to_ms(now),
            ])
            .context("recording a shift in the ledger")?;
        Ok(n == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn an_incident_paged_twice_counts_once_and_only_pages_sent_in_the_shift_count() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut conn).unwrap();
        for id in [1, 2, 3] {
            conn.execute(
                "INSERT INTO incidents (id, service, dedup_key, severity, summary, source,
                     details, links, state, policy, level, loop_no, alert_count, created_at,
                     last_seen_at)
                 VALUES (?1, 'api', ?1, 'high', 's', '', '{}', '[]', 'resolved', 'p', 0, 0, 1,
                     0, 0)",
                [id],
            )
            .unwrap();
        }
        let (start, end) = (utc("2026-01-05T09:00:00Z"), utc("2026-01-12T09:00:00Z"));
        let page = |incident: i64, person: &str, status: &str, sent: Option<&str>| {
            conn.execute(
                "INSERT INTO pages (incident_id, kind, person, channel, level, loop_no, status,
                     due_at, next_attempt_at, created_at, sent_at)
                 VALUES (?1, 'page', ?2, 'webhook', 0, 0, ?3, 0, 0, 0, ?4)",
                params![incident, person, status, sent.map(|s| to_ms(utc(s)))],
            )
            .unwrap();
        };
        // Incident 1 paged twice in ann's shift (and once to bob): one incident for ann.
        page(1, "ann", "sent", Some("2026-01-06T10:00:00Z"));
        page(1, "ann", "sent", Some("2026-01-06T10:05:00Z"));
        page(1, "bob", "sent", Some("2026-01-06T10:10:00Z"));
        // Incident 2: still pending in the shift, then sent after it ended.
        page(2, "ann", "pending", None);
        page(2, "ann", "sent", Some("2026-01-12T09:00:00Z"));
        // Incident 3: sent in the shift.
        page(3, "ann", "sent", Some("2026-01-11T23:59:00Z"));
        let entry = LedgerEntry {
            schedule: "rota".into(),
            layer: "weekly".into(),
            turn: Some(0),
            start,
            end,
            person: "ann".into(),
            candidate: "ann".into(),
            reason: "ann's turn".into(),
            skipped: vec![],
            flagged: false,
            nobody_eligible: false,
            rested: false,
            evening: false,
            incidents: 0,
        };
        let w = Tx::new(&conn);
        assert!(w.record_shift(&entry, start).unwrap());
        // Recorded once: the same decision again changes nothing.
        let mut other = entry.clone();
        other.reason = "something else".into();
        assert!(!w.record_shift(&other, start).unwrap());
        let rows = Tx::new(&conn).ledger("rota", start).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].reason.as_str(), rows[0].incidents),
            ("ann's turn", 2)
        );
    }
}
