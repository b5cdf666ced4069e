//! The store reads `/metrics` makes at scrape time: counts over partial indexes (open
//! incidents, pending pages), bounded by what is open or pending, never by history.

use chrono::{DateTime, Utc};

use super::{Context, Tx, from_ms};
use crate::domain::IncidentState;
use crate::store::Result;

impl Tx<'_> {
    /// Open incidents per state; states with none are left out.
    pub fn open_incidents_by_state(&self) -> Result<Vec<(IncidentState, u64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT state, COUNT(*) FROM incidents WHERE state != 'resolved' GROUP BY state",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (state, n) = row.context("counting open incidents by state")?;
            if let Some(state) = IncidentState::parse(&state) {
                out.push((state, n.max(0) as u64));
            }
        }
        Ok(out)
    }

    /// Pending pages and the earliest next attempt among them (the `pages_pending` index).
    pub fn outbox_summary(&self) -> Result<(u64, Option<DateTime<Utc>>)> {
        let (n, earliest): (i64, Option<i64>) = self
            .conn
            .prepare_cached(
                "SELECT COUNT(*), MIN(next_attempt_at) FROM pages WHERE status = 'pending'",
            )?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .context("summarizing the outbox")?;
        Ok((n.max(0) as u64, earliest.map(from_ms)))
    }
}
