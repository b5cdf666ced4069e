//! Alert intake state: maintenance windows made through the API, heartbeat pings and
//! expiries, held incidents' releases, and what the threshold rule looks at (earlier
//! openings of a key, open incidents of a service).

use chrono::{DateTime, Utc};
use postgres::Row;
use postgres::types::ToSql;

use super::read::limit;
use super::{Context, RowExt, Tx, to_ms};
use crate::domain::Severity;
use crate::domain::ingest::MaintenanceWindow;
use crate::domain::threshold::OpenAlert;
use crate::store::{HeartbeatState, Result, StoredWindow};

const WINDOW_COLUMNS: &str =
    "id, service, start_at, end_at, reason, page_after, created_by, removed_by";

fn window_from_row(r: &Row) -> Result<StoredWindow> {
    Ok(StoredWindow {
        window: MaintenanceWindow {
            id: Some(r.at(0)?),
            service: r.at(1)?,
            start: r.ms_at(2)?,
            end: r.ms_at(3)?,
            reason: r.at(4)?,
            page_after: r.bool_at(5)?,
            created_by: r.at(6)?,
        },
        removed_by: r.at(7)?,
    })
}

impl Tx<'_, '_> {
    /// Windows not removed that end after `since`, oldest first.
    pub fn live_maintenance(&self, since: DateTime<Utc>) -> Result<Vec<StoredWindow>> {
        self.list_maintenance(None, since, false)
    }

    pub fn list_maintenance(
        &self,
        service: Option<&str>,
        since: DateTime<Utc>,
        include_removed: bool,
    ) -> Result<Vec<StoredWindow>> {
        let sql = format!(
            "SELECT {WINDOW_COLUMNS} FROM maintenance_windows
             WHERE end_at > $1 AND ($2::text IS NULL OR service = $2)
               AND ($3 OR removed_at IS NULL)
             ORDER BY id LIMIT 1000"
        );
        let rows = self
            .query(&sql, &[&to_ms(since), &service, &include_removed])
            .context("listing maintenance windows")?;
        rows.iter().map(window_from_row).collect()
    }

    fn maintenance_window(&self, id: i64) -> Result<Option<StoredWindow>> {
        let sql = format!("SELECT {WINDOW_COLUMNS} FROM maintenance_windows WHERE id = $1");
        self.query_opt(&sql, &[&id])
            .context("loading maintenance window")?
            .map(|r| window_from_row(&r))
            .transpose()
    }

    /// When incidents of `service` with `dedup_key` opened after `since` (any state).
    pub fn openings_since(
        &self,
        service: &str,
        dedup_key: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>> {
        let rows = self
            .query(
                "SELECT created_at FROM incidents
                 WHERE service = $1 AND dedup_key = $2 AND created_at > $3",
                &[&service, &dedup_key, &to_ms(since)],
            )
            .context("loading earlier openings")?;
        rows.iter().map(|r| r.ms_at(0)).collect()
    }

    /// Open incidents of `service` opened after `since` sharing the `(name, value)` pairs of
    /// `shared` in their details (at most `limit`, newest first). Names are bound as
    /// parameters, never written into the SQL.
    pub fn open_since(
        &self,
        service: &str,
        since: DateTime<Utc>,
        shared: &[(String, String)],
        n: usize,
    ) -> Result<Vec<OpenAlert>> {
        let since = to_ms(since);
        let n = limit(n);
        let mut sql = String::from(
            "SELECT created_at, details FROM incidents
             WHERE service = $1 AND state <> 'resolved' AND created_at > $2",
        );
        let mut args: Vec<&(dyn ToSql + Sync)> = vec![&service, &since];
        for (name, value) in shared {
            args.push(name);
            args.push(value);
            let (a, b) = (args.len() - 1, args.len());
            sql.push_str(&format!(" AND (details::jsonb ->> ${a}) = ${b}"));
        }
        args.push(&n);
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", args.len()));
        let rows = self
            .query(&sql, &args)
            .context("loading related open incidents")?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push((r.ms_at(0)?, serde_json::from_str(&r.at::<String>(1)?)?));
        }
        Ok(out)
    }

    /// Whether the incident waits for a release (maintenance window, support hours).
    pub fn is_held(&self, incident_id: i64) -> Result<bool> {
        Ok(self
            .query_opt(
                "SELECT 1 FROM due_actions WHERE incident_id = $1 AND kind = 'release' LIMIT 1",
                &[&incident_id],
            )
            .context("looking up a held incident")?
            .is_some())
    }

    /// Every heartbeat with a stored ping or a scheduled expiry.
    pub fn heartbeat_states(&self) -> Result<Vec<HeartbeatState>> {
        let rows = self
            .query(
                "SELECT n.name, h.last_ping_at, COALESCE(h.pings, 0), d.due_at
                 FROM (SELECT name FROM heartbeats
                       UNION SELECT heartbeat FROM due_actions WHERE heartbeat IS NOT NULL) n
                 LEFT JOIN heartbeats h ON h.name = n.name
                 LEFT JOIN due_actions d ON d.heartbeat = n.name AND d.kind = 'heartbeat'
                 ORDER BY n.name",
                &[],
            )
            .context("loading heartbeat states")?;
        rows.iter()
            .map(|r| {
                Ok(HeartbeatState {
                    name: r.at(0)?,
                    last_ping_at: r.opt_ms_at(1)?,
                    pings: r.at(2)?,
                    expires_at: r.opt_ms_at(3)?,
                })
            })
            .collect()
    }
}

impl Tx<'_, '_> {
    pub fn set_severity(&self, id: i64, severity: Severity) -> Result<()> {
        self.execute(
            "UPDATE incidents SET severity = $2 WHERE id = $1",
            &[&id, &severity.as_str()],
        )
        .context("raising the incident's severity")?;
        Ok(())
    }

    pub fn insert_maintenance(
        &self,
        w: &MaintenanceWindow,
        now: DateTime<Utc>,
    ) -> Result<MaintenanceWindow> {
        self.notify_schedules()?;
        let id: i64 = self
            .query_one(
                "INSERT INTO maintenance_windows
                     (service, start_at, end_at, reason, page_after, created_by, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                &[
                    &w.service,
                    &to_ms(w.start),
                    &to_ms(w.end),
                    &w.reason,
                    &i64::from(w.page_after),
                    &w.created_by,
                    &to_ms(now),
                ],
            )
            .context("storing maintenance window")?
            .at(0)?;
        Ok(self
            .maintenance_window(id)?
            .context("reading back the stored window")?
            .window)
    }

    /// Marks a window removed; returns it and whether this call removed it; `None` if there
    /// is no such id.
    pub fn remove_maintenance(
        &self,
        id: i64,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(StoredWindow, bool)>> {
        self.notify_schedules()?;
        let changed = self
            .execute(
                "UPDATE maintenance_windows SET removed_by = $2, removed_at = $3
                 WHERE id = $1 AND removed_at IS NULL",
                &[&id, &by, &to_ms(now)],
            )
            .context("removing maintenance window")?;
        Ok(self.maintenance_window(id)?.map(|w| (w, changed == 1)))
    }

    /// Moves the releases of a service's held incidents to `at` (a window ended early); the
    /// release decides again whether they page.
    pub fn advance_releases(&self, service: &str, at: DateTime<Utc>) -> Result<usize> {
        let n = self
            .execute(
                "UPDATE due_actions SET due_at = $2
                 WHERE kind = 'release' AND due_at > $2
                   AND incident_id IN (SELECT id FROM incidents
                                       WHERE service = $1 AND state <> 'resolved')",
                &[&service, &to_ms(at)],
            )
            .context("advancing releases")?;
        Ok(n as usize)
    }

    pub fn record_ping(&self, name: &str, now: DateTime<Utc>) -> Result<()> {
        self.execute(
            "INSERT INTO heartbeats (name, last_ping_at, pings) VALUES ($1, $2, 1)
             ON CONFLICT (name) DO UPDATE SET last_ping_at = excluded.last_ping_at,
                 pings = heartbeats.pings + 1",
            &[&name, &to_ms(now)],
        )
        .context("recording heartbeat ping")?;
        Ok(())
    }
}
