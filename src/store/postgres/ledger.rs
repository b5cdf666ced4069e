//! The shift ledger (who took each turn of a schedule with burnout limits, and why), its due
//! action, and what the on-call load report reads.

use chrono::{DateTime, Utc};
use postgres::Row;

use super::{Context, RowExt, Tx, to_ms};
use crate::store::{DeliveredPage, LedgerEntry, Result};

// One incident counts once however many pages it took; only pages that went out count.
const LEDGER_SELECT: &str = "SELECT l.schedule, l.layer, l.turn, l.start_at, l.end_at, l.person,
        l.candidate, l.reason, l.skipped, l.flagged, l.nobody_eligible, l.rested, l.evening,
        (SELECT COUNT(DISTINCT p.incident_id) FROM pages p
          WHERE p.person = l.person AND p.kind = 'page' AND p.incident_id IS NOT NULL
            AND p.sent_at IS NOT NULL AND p.sent_at >= l.start_at AND p.sent_at < l.end_at)
     FROM shift_ledger l";

fn entry_from_row(r: &Row) -> Result<LedgerEntry> {
    let skipped: String = r.at(8)?;
    Ok(LedgerEntry {
        schedule: r.at(0)?,
        layer: r.at(1)?,
        turn: r.at(2)?,
        start: r.ms_at(3)?,
        end: r.ms_at(4)?,
        person: r.at(5)?,
        candidate: r.at(6)?,
        reason: r.at(7)?,
        skipped: serde_json::from_str(&skipped).unwrap_or_default(),
        flagged: r.bool_at(9)?,
        nobody_eligible: r.bool_at(10)?,
        rested: r.bool_at(11)?,
        evening: r.bool_at(12)?,
        incidents: r.u32_at(13)?,
    })
}

impl Tx<'_, '_> {
    /// A schedule's ledger rows ending after `since`, in start order.
    pub fn ledger(&self, schedule: &str, since: DateTime<Utc>) -> Result<Vec<LedgerEntry>> {
        let sql = format!(
            "{LEDGER_SELECT} WHERE l.schedule = $1 AND l.end_at > $2 ORDER BY l.start_at, l.id"
        );
        let rows = self
            .query(&sql, &[&schedule, &to_ms(since)])
            .context("loading the shift ledger")?;
        rows.iter().map(entry_from_row).collect()
    }

    /// Ledger rows (of one schedule or all) starting in `[from, to)`, in start order.
    pub fn ledger_between(
        &self,
        schedule: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<LedgerEntry>> {
        let sql = format!(
            "{LEDGER_SELECT} WHERE ($1::text IS NULL OR l.schedule = $1)
               AND l.start_at >= $2 AND l.start_at < $3 ORDER BY l.start_at, l.id"
        );
        let rows = self
            .query(&sql, &[&schedule, &to_ms(from), &to_ms(to)])
            .context("reading the shift ledger")?;
        rows.iter().map(entry_from_row).collect()
    }

    /// Incident pages that went out in `[from, to)`.
    pub fn delivered_pages(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<DeliveredPage>> {
        let rows = self
            .query(
                "SELECT p.person, p.incident_id, p.sent_at, i.acknowledged_at, i.resolved_at
                 FROM pages p JOIN incidents i ON i.id = p.incident_id
                 WHERE p.kind = 'page' AND p.sent_at IS NOT NULL
                   AND p.sent_at >= $1 AND p.sent_at < $2
                 ORDER BY p.sent_at, p.id",
                &[&to_ms(from), &to_ms(to)],
            )
            .context("reading delivered pages")?;
        rows.iter()
            .map(|r| {
                Ok(DeliveredPage {
                    person: r.at(0)?,
                    incident_id: r.at(1)?,
                    sent_at: r.ms_at(2)?,
                    acknowledged_at: r.opt_ms_at(3)?,
                    resolved_at: r.opt_ms_at(4)?,
                })
            })
            .collect()
    }

    /// Every scheduled ledger recording: (schedule, due).
    pub fn scheduled_shifts(&self) -> Result<Vec<(String, DateTime<Utc>)>> {
        let rows = self
            .query(
                "SELECT schedule, due_at FROM due_actions WHERE kind = 'shift' ORDER BY schedule",
                &[],
            )
            .context("loading scheduled shift recordings")?;
        rows.iter().map(|r| Ok((r.at(0)?, r.ms_at(1)?))).collect()
    }

    /// Records who took a shift; a row already there (same schedule, layer, start, end,
    /// person) is kept as it was: a past decision never changes.
    pub fn record_shift(&self, e: &LedgerEntry, now: DateTime<Utc>) -> Result<bool> {
        let n = self
            .execute(
                "INSERT INTO shift_ledger (schedule, layer, turn, start_at, end_at, person,
                     candidate, reason, skipped, flagged, nobody_eligible, rested, evening,
                     recorded_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                 ON CONFLICT DO NOTHING",
                &[
                    &e.schedule,
                    &e.layer,
                    &e.turn,
                    &to_ms(e.start),
                    &to_ms(e.end),
                    &e.person,
                    &e.candidate,
                    &e.reason,
                    &serde_json::to_string(&e.skipped).unwrap_or_else(|_| "[]".into()),
                    &i64::from(e.flagged),
                    &i64::from(e.nobody_eligible),
                    &i64::from(e.rested),
                    &i64::from(e.evening),
                    &to_ms(now),
                ],
            )
            .context("recording a shift in the ledger")?;
        Ok(n == 1)
    }
}
