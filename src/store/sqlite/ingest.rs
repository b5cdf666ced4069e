//! Alert intake state: maintenance windows made through the API, heartbeat pings and
//! expiries, held incidents' releases, and what the threshold rule looks at (earlier
//! openings of a key, open incidents of a service).

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};

use super::{Context, Tx, from_ms, to_ms};
use crate::domain::Severity;
use crate::domain::ingest::MaintenanceWindow;
use crate::domain::threshold::OpenAlert;
use crate::store::{HeartbeatState, Result, StoredWindow};

const WINDOW_COLUMNS: &str =
    "id, service, start_at, end_at, reason, page_after, created_by, removed_by";

fn window_from_row(r: &Row<'_>) -> rusqlite::Result<StoredWindow> {
    Ok(StoredWindow {
        window: MaintenanceWindow {
            id: Some(r.get(0)?),
            service: r.get(1)?,
            start: from_ms(r.get(2)?),
            end: from_ms(r.get(3)?),
            reason: r.get(4)?,
            page_after: r.get(5)?,
            created_by: r.get(6)?,
        },
        removed_by: r.get(7)?,
    })
}

impl Tx<'_> {
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
             WHERE end_at > ?1 AND (?2 IS NULL OR service = ?2) AND (?3 OR removed_at IS NULL)
             ORDER BY id LIMIT 1000"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(
            params![to_ms(since), service, include_removed],
            window_from_row,
        )?;
        rows.collect::<Result<_, _>>()
            .context("listing maintenance windows")
    }

    fn maintenance_window(&self, id: i64) -> Result<Option<StoredWindow>> {
        let sql = format!("SELECT {WINDOW_COLUMNS} FROM maintenance_windows WHERE id = ?1");
        self.conn
            .prepare_cached(&sql)?
            .query_row([id], window_from_row)
            .optional()
            .context("loading maintenance window")
    }

    /// When incidents of `service` with `dedup_key` opened after `since` (any state).
    pub fn openings_since(
        &self,
        service: &str,
        dedup_key: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT created_at FROM incidents
             WHERE service = ?1 AND dedup_key = ?2 AND created_at > ?3",
        )?;
        let rows = stmt.query_map(params![service, dedup_key, to_ms(since)], |r| {
            r.get::<_, i64>(0).map(from_ms)
        })?;
        rows.collect::<Result<_, _>>()
            .context("loading earlier openings")
    }

    /// Open incidents of `service` opened after `since` sharing the `(name, value)` pairs of
    /// `shared` in their details (at most `limit`, newest first). Names are checked by the
    /// policy loader (letters, digits, `_-./:`), so they are safe inside a quoted JSON path.
    pub fn open_since(
        &self,
        service: &str,
        since: DateTime<Utc>,
        shared: &[(String, String)],
        limit: usize,
    ) -> Result<Vec<OpenAlert>> {
        let mut sql = String::from(
            "SELECT created_at, details FROM incidents
             WHERE service = ? AND state != 'resolved' AND created_at > ?",
        );
        let mut args: Vec<rusqlite::types::Value> =
            vec![service.to_string().into(), to_ms(since).into()];
        for (name, value) in shared {
            sql.push_str(" AND json_extract(details, ?) = ?");
            args.push(format!("$.\"{name}\"").into());
            args.push(value.clone().into());
        }
        sql.push_str(" ORDER BY id DESC LIMIT ?");
        args.push(i64::try_from(limit).unwrap_or(i64::MAX).into());
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (at, details) = row.context("loading related open incidents")?;
            out.push((from_ms(at), serde_json::from_str(&details)?));
        }
        Ok(out)
    }

    /// Whether the incident waits for a release (maintenance window, support hours).
    pub fn is_held(&self, incident_id: i64) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT 1 FROM due_actions WHERE incident_id = ?1 AND kind = 'release' LIMIT 1",
            )?
            .query_row([incident_id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Every heartbeat with a stored ping or a scheduled expiry.
    pub fn heartbeat_states(&self) -> Result<Vec<HeartbeatState>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT n.name, h.last_ping_at, COALESCE(h.pings, 0), d.due_at
             FROM (SELECT name FROM heartbeats
                   UNION SELECT heartbeat FROM due_actions WHERE heartbeat IS NOT NULL) n
             LEFT JOIN heartbeats h ON h.name = n.name
             LEFT JOIN due_actions d ON d.heartbeat = n.name AND d.kind = 'heartbeat'
             ORDER BY n.name",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(HeartbeatState {
                name: r.get(0)?,
                last_ping_at: r.get::<_, Option<i64>>(1)?.map(from_ms),
                pings: r.get(2)?,
                expires_at: r.get::<_, Option<i64>>(3)?.map(from_ms),
            })
        })?;
        rows.collect::<Result<_, _>>()
            .context("loading heartbeat states")
    }
}

impl Tx<'_> {
    pub fn set_severity(&self, id: i64, severity: Severity) -> Result<()> {
        self.conn()
            .prepare_cached("UPDATE incidents SET severity = ?2 WHERE id = ?1")?
            .execute(params![id, severity.as_str()])?;
        Ok(())
    }

    pub fn insert_maintenance(
        &self,
        w: &MaintenanceWindow,
        now: DateTime<Utc>,
    ) -> Result<MaintenanceWindow> {
        self.conn()
            .prepare_cached(
                "INSERT INTO maintenance_windows
                     (service, start_at, end_at, reason, page_after, created_by, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                w.service,
                to_ms(w.start),
                to_ms(w.end),
                w.reason,
                w.page_after,
                w.created_by,
                to_ms(now)
            ])
            .context("storing maintenance window")?;
        let id = self.conn().last_insert_rowid();
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
        let changed = self
            .conn()
            .prepare_cached(
                "UPDATE maintenance_windows SET removed_by = ?2, removed_at = ?3
                 WHERE id = ?1 AND removed_at IS NULL",
            )?
            .execute(params![id, by, to_ms(now)])
            .context("removing maintenance window")?;
        Ok(self.maintenance_window(id)?.map(|w| (w, changed == 1)))
    }

    /// Moves the releases of a service's held incidents to `at` (a window ended early); the
    /// release decides again whether they page.
    pub fn advance_releases(&self, service: &str, at: DateTime<Utc>) -> Result<usize> {
        Ok(self
            .conn()
            .prepare_cached(
                "UPDATE due_actions SET due_at = ?2
                 WHERE kind = 'release' AND due_at > ?2
                   AND incident_id IN (SELECT id FROM incidents
                                       WHERE service = ?1 AND state != 'resolved')",
            )?
            .execute(params![service, to_ms(at)])?)
    }

    pub fn record_ping(&self, name: &str, now: DateTime<Utc>) -> Result<()> {
        self.conn()
            .prepare_cached(
                "INSERT INTO heartbeats (name, last_ping_at, pings) VALUES (?1, ?2, 1)
                 ON CONFLICT (name) DO UPDATE SET last_ping_at = excluded.last_ping_at,
                     pings = pings + 1",
            )?
            .execute(params![name, to_ms(now)])
            .context("recording heartbeat ping")?;
        Ok(())
    }
}
