//! A read-only look at a database for `pagerd check --simulate`: opened without write
//! access and never migrated, so a running daemon's file is not disturbed (WAL readers do
//! not block its writer).

use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, params};

use super::{Context, Tx, from_ms, schema, to_ms};
use crate::domain::Severity;
use crate::domain::simulate::{Recorded, RecordedIncident};
use crate::store::{Error, Result};

/// What the database at `path` recorded for `[from, to)`: the incidents created in it, the
/// ledger rows from `LOOKBACK` before it, the pages sent in it, the API overrides.
pub fn read_recorded(path: &Path, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Recorded> {
    if !path.is_file() {
        return Err(Error::Refused(format!(
            "no database at {} (give the daemon's with --db FILE)",
            path.display()
        )));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening {} read-only", path.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "query_only", true)?;
    // The last connection to close would otherwise checkpoint the WAL into the file.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )?;
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .with_context(|| format!("reading {}", path.display()))?;
    let known = schema::known_version();
    if version != known {
        return Err(Error::Refused(format!(
            "{}: database schema version {version}, this pagerd reads version {known} \
             (not a pagerd database, or one of another version; it is never migrated here)",
            path.display()
        )));
    }
    let conn = &conn;
    let tx = conn.unchecked_transaction()?;
    let t = Tx::new(&tx);
    let recorded = Recorded {
        incidents: t.incidents_created(from, to)?,
        ledger: t.ledger_between(None, from - crate::domain::burnout::LOOKBACK, to)?,
        pages: t.delivered_pages(from, to)?,
        overrides: t.live_overrides(from - crate::domain::burnout::LOOKBACK)?,
    };
    drop(tx);
    Ok(recorded)
}

impl Tx<'_> {
    /// Incidents created in `[from, to)`, oldest first.
    fn incidents_created(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<RecordedIncident>> {
        let mut stmt = self.conn().prepare(
            "SELECT id, service, policy, severity, created_at, acknowledged_at, resolved_at
             FROM incidents WHERE created_at >= ?1 AND created_at < ?2 ORDER BY created_at, id",
        )?;
        let rows = stmt.query_map(params![to_ms(from), to_ms(to)], |r| {
            let severity: String = r.get(3)?;
            Ok((
                RecordedIncident {
                    id: r.get(0)?,
                    service: r.get(1)?,
                    escalation_policy: r.get(2)?,
                    severity: Severity::High,
                    created_at: from_ms(r.get(4)?),
                    acknowledged_at: r.get::<_, Option<i64>>(5)?.map(from_ms),
                    resolved_at: r.get::<_, Option<i64>>(6)?.map(from_ms),
                },
                severity,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (mut i, severity) = row.context("reading incidents")?;
            i.severity = Severity::parse(&severity)
                .map_err(|e| Error::Refused(format!("incident {}: severity: {e}", i.id)))?;
            out.push(i);
        }
        Ok(out)
    }
}
