//! The audit trail: appended in the action's own transaction, listed for admins.

use chrono::{DateTime, Utc};

use super::{Context, RowExt, Tx, to_ms};
use crate::domain::audit::AuditEntry;
use crate::store::Result;

impl Tx<'_, '_> {
    pub fn add_audit(&self, e: &AuditEntry) -> Result<()> {
        self.execute(
            "INSERT INTO audit (at, actor, via, action, target, detail)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &to_ms(e.at),
                &e.actor,
                &e.via,
                &e.action,
                &e.target,
                &e.detail,
            ],
        )
        .context("writing an audit entry")?;
        Ok(())
    }

    pub fn list_audit(&self, since: DateTime<Utc>, limit: u32) -> Result<Vec<AuditEntry>> {
        let rows = self
            .query(
                "SELECT at, actor, via, action, target, detail FROM audit
                 WHERE at >= $1 ORDER BY at, id LIMIT $2",
                &[&to_ms(since), &i64::from(limit)],
            )
            .context("listing the audit trail")?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    at: r.ms_at(0)?,
                    actor: r.at(1)?,
                    via: r.at(2)?,
                    action: r.at(3)?,
                    target: r.at(4)?,
                    detail: r.at(5)?,
                })
            })
            .collect()
    }
}
