//! The audit trail: appended in the action's own transaction, listed for admins.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::{Context, Tx, from_ms, to_ms};
use crate::domain::audit::AuditEntry;
use crate::store::Result;

impl Tx<'_> {
    pub fn add_audit(&self, e: &AuditEntry) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO audit (at, actor, via, action, target, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                to_ms(e.at),
                e.actor,
                e.via,
                e.action,
                e.target,
                e.detail
            ])
            .context("writing an audit entry")?;
        Ok(())
    }

    pub fn list_audit(&self, since: DateTime<Utc>, limit: u32) -> Result<Vec<AuditEntry>> {
        self.conn
            .prepare_cached(
                "SELECT at, actor, via, action, target, detail FROM audit
                 WHERE at >= ?1 ORDER BY at, id LIMIT ?2",
            )?
            .query_map(params![to_ms(since), limit], |r| {
                Ok(AuditEntry {
                    at: from_ms(r.get(0)?),
                    actor: r.get(1)?,
                    via: r.get(2)?,
                    action: r.get(3)?,
                    target: r.get(4)?,
                    detail: r.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
            .context("listing the audit trail")
    }
}
