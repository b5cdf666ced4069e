//! The store reads `/metrics` makes at scrape time: counts over partial indexes (open
//! incidents, pending pages), bounded by what is open or pending, never by history.

use chrono::{DateTime, Utc};

use super::{Context, RowExt, Tx};
use crate::domain::IncidentState;
use crate::store::Result;

impl Tx<'_, '_> {
    /// Open incidents per state; states with none are left out.
    pub fn open_incidents_by_state(&self) -> Result<Vec<(IncidentState, u64)>> {
        let rows = self
            .query(
                "SELECT state, COUNT(*) FROM incidents WHERE state <> 'resolved' GROUP BY state",
                &[],
            )
            .context("counting open incidents by state")?;
        let mut out = Vec::new();
        for r in &rows {
            let (state, n): (String, i64) = (r.at(0)?, r.at(1)?);
            if let Some(state) = IncidentState::parse(&state) {
                out.push((state, n.max(0) as u64));
            }
        }
        Ok(out)
    }

    /// Pending pages and the earliest next attempt among them (the `pages_pending` index).
    pub fn outbox_summary(&self) -> Result<(u64, Option<DateTime<Utc>>)> {
        let r = self
            .query_one(
                "SELECT COUNT(*), MIN(next_attempt_at) FROM pages WHERE status = 'pending'",
                &[],
            )
            .context("summarizing the outbox")?;
        let n: i64 = r.at(0)?;
        Ok((n.max(0) as u64, r.opt_ms_at(1)?))
    }
}
