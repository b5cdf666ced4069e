//! Versioned migrations, embedded and run at start (tracked in `PRAGMA user_version`).

use rusqlite::Connection;

use crate::store::{Error, Result};

/// Each entry moves the schema from version `i` to `i + 1`. Never edit a shipped entry:
/// append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: incidents, their timeline, due actions and the page outbox.
    r#"
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    -- Prefix of every idempotency key: page ids restart if a database is replaced, keys do not.
    INSERT INTO meta (key, value) VALUES ('store_id', lower(hex(randomblob(16))));

    CREATE TABLE incidents (
        id              INTEGER PRIMARY KEY,
        service         TEXT    NOT NULL,
        dedup_key       TEXT    NOT NULL,
        severity        TEXT    NOT NULL,
        summary         TEXT    NOT NULL,
        source          TEXT    NOT NULL,
        details         TEXT    NOT NULL,   -- JSON object of strings
        links           TEXT    NOT NULL,   -- JSON array of {href, text}
        state           TEXT    NOT NULL CHECK (state IN ('triggered', 'acknowledged', 'resolved')),
        policy          TEXT    NOT NULL,
        level           INTEGER NOT NULL,
        loop_no         INTEGER NOT NULL,
        alert_count     INTEGER NOT NULL,
        created_at      INTEGER NOT NULL,   -- Unix ms, UTC
        last_seen_at    INTEGER NOT NULL,
        acknowledged_at INTEGER,
        acknowledged_by TEXT,
        resolved_at     INTEGER,
        resolved_by     TEXT,
        resolve_note    TEXT
    );
    -- One open incident per (service, dedup_key).
    CREATE UNIQUE INDEX incidents_open_key ON incidents (service, dedup_key)
        WHERE state != 'resolved';
    CREATE INDEX incidents_created ON incidents (created_at);

    CREATE TABLE incident_events (
        id          INTEGER PRIMARY KEY,
        incident_id INTEGER NOT NULL REFERENCES incidents (id),
        at          INTEGER NOT NULL,
        kind        TEXT    NOT NULL,
        level       INTEGER,
        person      TEXT,
        channel     TEXT,
        actor       TEXT,
        message     TEXT    NOT NULL
    );
    CREATE INDEX incident_events_incident ON incident_events (incident_id, id);

    -- Every future action is a row with a due time; the timer task runs them.
    CREATE TABLE due_actions (
        id          INTEGER PRIMARY KEY,
        incident_id INTEGER NOT NULL REFERENCES incidents (id),
        kind        TEXT    NOT NULL CHECK (kind IN ('escalate', 'ack_timeout')),
        due_at      INTEGER NOT NULL
    );
    CREATE INDEX due_actions_due ON due_actions (due_at);
    CREATE INDEX due_actions_incident ON due_actions (incident_id);

    -- The outbox: one row per (incident, person, channel, decision).
    CREATE TABLE pages (
        id              INTEGER PRIMARY KEY,
        incident_id     INTEGER NOT NULL REFERENCES incidents (id),
        kind            TEXT    NOT NULL,
        person          TEXT    NOT NULL,
        channel         TEXT    NOT NULL,
        level           INTEGER NOT NULL,
        loop_no         INTEGER NOT NULL,
        status          TEXT    NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'cancelled')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        due_at          INTEGER NOT NULL,
        next_attempt_at INTEGER NOT NULL,
        created_at      INTEGER NOT NULL,
        last_error      TEXT
    );
    CREATE INDEX pages_pending ON pages (next_attempt_at) WHERE status = 'pending';
    CREATE INDEX pages_incident ON pages (incident_id) WHERE status = 'pending';
    "#,
    // 2: schedule state (overrides made through the API, rotation phases kept across member
    // changes) and schedule-level due actions and notifications (handoffs), which belong to
    // no incident: due_actions and pages are rebuilt with a nullable incident_id.
    r#"
    CREATE TABLE schedule_overrides (
        id          INTEGER PRIMARY KEY,
        schedule    TEXT    NOT NULL,
        person      TEXT    NOT NULL,
        start_at    INTEGER NOT NULL,
        end_at      INTEGER NOT NULL,
        reason      TEXT    NOT NULL,
        created_by  TEXT    NOT NULL,
        created_at  INTEGER NOT NULL,
        removed_by  TEXT,
        removed_at  INTEGER
    );
    CREATE INDEX schedule_overrides_live ON schedule_overrides (schedule, end_at)
        WHERE removed_at IS NULL;

    -- Per rotation layer: the definition last installed and the member offset applied to it,
    -- so a changed member list keeps the person on shift (see domain::members).
    CREATE TABLE rotation_phases (
        schedule    TEXT    NOT NULL,
        layer       TEXT    NOT NULL,
        definition  TEXT    NOT NULL,   -- JSON: zone, start, length, members (file order)
        phase       INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL,
        PRIMARY KEY (schedule, layer)
    ) WITHOUT ROWID;

    CREATE TABLE due_actions_v2 (
        id          INTEGER PRIMARY KEY,
        incident_id INTEGER REFERENCES incidents (id),
        schedule    TEXT,
        kind        TEXT    NOT NULL CHECK (kind IN ('escalate', 'ack_timeout', 'handoff')),
        due_at      INTEGER NOT NULL,
        CHECK ((incident_id IS NULL) != (schedule IS NULL))
    );
    INSERT INTO due_actions_v2 (id, incident_id, kind, due_at)
        SELECT id, incident_id, kind, due_at FROM due_actions;
    DROP TABLE due_actions;
    ALTER TABLE due_actions_v2 RENAME TO due_actions;
    CREATE INDEX due_actions_due ON due_actions (due_at);
    CREATE INDEX due_actions_incident ON due_actions (incident_id);
    CREATE UNIQUE INDEX due_actions_schedule ON due_actions (schedule, kind)
        WHERE schedule IS NOT NULL;

    CREATE TABLE pages_v2 (
        id              INTEGER PRIMARY KEY,
        incident_id     INTEGER REFERENCES incidents (id),
        kind            TEXT    NOT NULL,
        person          TEXT    NOT NULL,
        channel         TEXT    NOT NULL,
        level           INTEGER NOT NULL,
        loop_no         INTEGER NOT NULL,
        status          TEXT    NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'cancelled')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        due_at          INTEGER NOT NULL,
        next_attempt_at INTEGER NOT NULL,
        created_at      INTEGER NOT NULL,
        last_error      TEXT,
        -- Notifications without an incident (handoffs) carry their own text.
        subject         TEXT,
        body            TEXT
    );
    INSERT INTO pages_v2 (id, incident_id, kind, person, channel, level, loop_no, status,
                          attempts, due_at, next_attempt_at, created_at, last_error)
        SELECT id, incident_id, kind, person, channel, level, loop_no, status,
               attempts, due_at, next_attempt_at, created_at, last_error FROM pages;
    DROP TABLE pages;
    ALTER TABLE pages_v2 RENAME TO pages;
    CREATE INDEX pages_pending ON pages (next_attempt_at) WHERE status = 'pending';
    CREATE INDEX pages_incident ON pages (incident_id) WHERE status = 'pending';
    "#,
    // 3: contact methods. A contact-rule step is a due action for one person and channel at
    // one escalation position; pages record the address used, the provider's answer, a short
    // reply code (SMS "ACK 4821") and when they were last held by a rate limit.
    r#"
    CREATE TABLE due_actions_v3 (
        id          INTEGER PRIMARY KEY,
        incident_id INTEGER REFERENCES incidents (id),
        schedule    TEXT,
        kind        TEXT    NOT NULL
            CHECK (kind IN ('escalate', 'ack_timeout', 'handoff', 'contact')),
        due_at      INTEGER NOT NULL,
        -- For 'contact': whom to reach on which channel, for which escalation position.
        person      TEXT,
        channel     TEXT,
        level       INTEGER,
        loop_no     INTEGER,
        CHECK ((incident_id IS NULL) != (schedule IS NULL)),
        CHECK ((kind = 'contact') = (person IS NOT NULL AND channel IS NOT NULL))
    );
    INSERT INTO due_actions_v3 (id, incident_id, schedule, kind, due_at)
        SELECT id, incident_id, schedule, kind, due_at FROM due_actions;
    DROP TABLE due_actions;
    ALTER TABLE due_actions_v3 RENAME TO due_actions;
    CREATE INDEX due_actions_due ON due_actions (due_at);
    CREATE INDEX due_actions_incident ON due_actions (incident_id);
    CREATE UNIQUE INDEX due_actions_schedule ON due_actions (schedule, kind)
        WHERE schedule IS NOT NULL;
    ALTER TABLE pages ADD COLUMN address TEXT;
    ALTER TABLE pages ADD COLUMN response TEXT;
    ALTER TABLE pages ADD COLUMN reply_code TEXT;
    ALTER TABLE pages ADD COLUMN sent_at INTEGER;
    ALTER TABLE pages ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX pages_sent_recently ON pages (person, channel, sent_at) WHERE sent_at IS NOT NULL;
    CREATE INDEX pages_reply_code ON pages (person, reply_code) WHERE reply_code IS NOT NULL;
    "#,
    // 4: alert intake. Maintenance windows made through the API; heartbeat pings; each
    // incident's recent alert times (threshold rule); due actions that belong to a heartbeat
    // (its expiry) and the release of an incident held by a maintenance window or support
    // hours: due_actions is rebuilt with a heartbeat column and the new kinds.
    r#"
    CREATE TABLE maintenance_windows (
        id          INTEGER PRIMARY KEY,
        service     TEXT    NOT NULL,
        start_at    INTEGER NOT NULL,
        end_at      INTEGER NOT NULL,
        reason      TEXT    NOT NULL,
        page_after  INTEGER NOT NULL,
        created_by  TEXT    NOT NULL,
        created_at  INTEGER NOT NULL,
        removed_by  TEXT,
        removed_at  INTEGER
    );
    CREATE INDEX maintenance_windows_live ON maintenance_windows (end_at)
        WHERE removed_at IS NULL;

    CREATE TABLE heartbeats (
        name         TEXT    PRIMARY KEY,
        last_ping_at INTEGER NOT NULL,
        pings        INTEGER NOT NULL
    ) WITHOUT ROWID;

    -- JSON array of Unix ms: the alerts since the last severity raise, within its window.
    ALTER TABLE incidents ADD COLUMN recent_alerts TEXT NOT NULL DEFAULT '[]';

    CREATE TABLE due_actions_v4 (
        id          INTEGER PRIMARY KEY,
        incident_id INTEGER REFERENCES incidents (id),
        schedule    TEXT,
        heartbeat   TEXT,
        kind        TEXT    NOT NULL
            CHECK (kind IN ('escalate', 'ack_timeout', 'handoff', 'contact', 'release',
                            'heartbeat')),
        due_at      INTEGER NOT NULL,
        -- For 'contact': whom to reach on which channel, for which escalation position.
        person      TEXT,
        channel     TEXT,
        level       INTEGER,
        loop_no     INTEGER,
        -- Each action belongs to exactly one of an incident, a schedule, a heartbeat.
        CHECK ((incident_id IS NOT NULL) + (schedule IS NOT NULL) + (heartbeat IS NOT NULL) = 1),
        CHECK ((kind = 'contact') = (person IS NOT NULL AND channel IS NOT NULL))
    );
    INSERT INTO due_actions_v4 (id, incident_id, schedule, kind, due_at, person, channel,
                                level, loop_no)
        SELECT id, incident_id, schedule, kind, due_at, person, channel, level, loop_no
        FROM due_actions;
    DROP TABLE due_actions;
    ALTER TABLE due_actions_v4 RENAME TO due_actions;
    CREATE INDEX due_actions_due ON due_actions (due_at);
    CREATE INDEX due_actions_incident ON due_actions (incident_id);
    CREATE UNIQUE INDEX due_actions_schedule ON due_actions (schedule, kind)
        WHERE schedule IS NOT NULL;
    CREATE UNIQUE INDEX due_actions_heartbeat ON due_actions (heartbeat, kind)
        WHERE heartbeat IS NOT NULL;
    "#,
    // 5: the shift ledger (who took each layer turn or override of a schedule with burnout
    // limits, and why) and its due action, 'shift': record the next turn as it starts.
    // due_actions is rebuilt for the new kind.
    r#"
    CREATE TABLE shift_ledger (
        id              INTEGER PRIMARY KEY,
        schedule        TEXT    NOT NULL,
        layer           TEXT    NOT NULL,   -- '' for an override
        turn            INTEGER,            -- the layer turn's index; NULL for an override
        start_at        INTEGER NOT NULL,
        end_at          INTEGER NOT NULL,
        person          TEXT    NOT NULL,
        candidate       TEXT    NOT NULL,   -- whom the rotation named (an override: its person)
        reason          TEXT    NOT NULL,
        skipped         TEXT    NOT NULL,   -- JSON array: members passed over for a limit
        flagged         INTEGER NOT NULL,   -- an override over a limit
        nobody_eligible INTEGER NOT NULL,
        rested          INTEGER NOT NULL,   -- the candidate was skipped for a rest (served)
        evening         INTEGER NOT NULL,
        recorded_at     INTEGER NOT NULL,
        -- A turn or override is recorded once; a past decision never changes.
        UNIQUE (schedule, layer, start_at, end_at, person)
    );
    CREATE INDEX shift_ledger_time ON shift_ledger (schedule, end_at);
    CREATE INDEX shift_ledger_person ON shift_ledger (person, start_at);

    CREATE TABLE due_actions_v5 (
        id          INTEGER PRIMARY KEY,
        incident_id INTEGER REFERENCES incidents (id),
        schedule    TEXT,
        heartbeat   TEXT,
        kind        TEXT    NOT NULL
            CHECK (kind IN ('escalate', 'ack_timeout', 'handoff', 'contact', 'release',
                            'heartbeat', 'shift')),
        due_at      INTEGER NOT NULL,
        person      TEXT,
        channel     TEXT,
        level       INTEGER,
        loop_no     INTEGER,
        CHECK ((incident_id IS NOT NULL) + (schedule IS NOT NULL) + (heartbeat IS NOT NULL) = 1),
        CHECK ((kind = 'contact') = (person IS NOT NULL AND channel IS NOT NULL))
    );
    INSERT INTO due_actions_v5 (id, incident_id, schedule, heartbeat, kind, due_at, person,
                                channel, level, loop_no)
        SELECT id, incident_id, schedule, heartbeat, kind, due_at, person, channel, level,
               loop_no
        FROM due_actions;
    DROP TABLE due_actions;
    ALTER TABLE due_actions_v5 RENAME TO due_actions;
    CREATE INDEX due_actions_due ON due_actions (due_at);
    CREATE INDEX due_actions_incident ON due_actions (incident_id);
    CREATE UNIQUE INDEX due_actions_schedule ON due_actions (schedule, kind)
        WHERE schedule IS NOT NULL;
    CREATE UNIQUE INDEX due_actions_heartbeat ON due_actions (heartbeat, kind)
        WHERE heartbeat IS NOT NULL;
    "#, // 6: the secrets in public HTTP URLs: a heartbeat's ping token, a calendar feed's token
    // (per schedule or person). Rotating one replaces its row.
    r#"
    CREATE TABLE url_secrets (
        kind        TEXT    NOT NULL CHECK (kind IN ('heartbeat', 'schedule', 'person')),
        name        TEXT    NOT NULL,
        token       TEXT    NOT NULL,
        created_at  INTEGER NOT NULL,
        PRIMARY KEY (kind, name)
    ) WITHOUT ROWID;
    "#,
    // 7: API tokens. Only the SHA-256 of a secret is kept; the secret is shown once.
    r#"
    CREATE TABLE tokens (
        id          INTEGER PRIMARY KEY,
        name        TEXT    NOT NULL UNIQUE,
        role        TEXT    NOT NULL CHECK (role IN ('viewer', 'responder', 'admin')),
        person      TEXT,
        secret_hash TEXT    NOT NULL UNIQUE,   -- hex SHA-256 of the whole token
        created_at  INTEGER NOT NULL,
        expires_at  INTEGER,
        revoked_at  INTEGER
    );
    "#,
    // 8: the audit trail: who (as authenticated) did what, written in the action's transaction.
    r#"
    CREATE TABLE audit (
        id      INTEGER PRIMARY KEY,
        at      INTEGER NOT NULL,
        actor   TEXT    NOT NULL,
        via     TEXT    NOT NULL,
        action  TEXT    NOT NULL,
        target  TEXT    NOT NULL,
        detail  TEXT    NOT NULL
    );
    CREATE INDEX audit_at ON audit (at);
    "#,
    // 9: the outbox picks due pages per channel, most urgent first: each page keeps
    // its incident's severity rank when it was queued (0 critical .. 3 low; notifications 2).
    r#"
    ALTER TABLE pages ADD COLUMN priority INTEGER NOT NULL DEFAULT 2;
    UPDATE pages SET priority = (SELECT CASE i.severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1
                                     WHEN 'medium' THEN 2 ELSE 3 END
                                 FROM incidents i WHERE i.id = pages.incident_id)
        WHERE status = 'pending' AND incident_id IS NOT NULL;
    CREATE INDEX pages_due_by_channel ON pages (channel, priority, next_attempt_at)
        WHERE status = 'pending';
    "#,
    // 10: what the threshold rule reads (earlier openings of a key, in any
    // state) gets an index; an incident keeps its last alert's payload beside its count.
    r#"
    CREATE INDEX incidents_key_opened ON incidents (service, dedup_key, created_at);
    ALTER TABLE incidents ADD COLUMN last_summary TEXT;
    ALTER TABLE incidents ADD COLUMN last_details TEXT;
    "#,
    // 11: the weekly rebalance notice is a schedule's due action too.
    r#"
    CREATE TABLE due_actions_new (
        id          INTEGER PRIMARY KEY,
        incident_id INTEGER REFERENCES incidents (id),
        schedule    TEXT,
        heartbeat   TEXT,
        kind        TEXT    NOT NULL
            CHECK (kind IN ('escalate', 'ack_timeout', 'handoff', 'contact', 'release',
                            'heartbeat', 'shift', 'rebalance')),
        due_at      INTEGER NOT NULL,
        person      TEXT,
        channel     TEXT,
        level       INTEGER,
        loop_no     INTEGER,
        CHECK ((incident_id IS NOT NULL) + (schedule IS NOT NULL) + (heartbeat IS NOT NULL) = 1),
        CHECK ((kind = 'contact') = (person IS NOT NULL AND channel IS NOT NULL))
    );
    INSERT INTO due_actions_new (id, incident_id, schedule, heartbeat, kind, due_at, person,
                                channel, level, loop_no)
        SELECT id, incident_id, schedule, heartbeat, kind, due_at, person, channel, level,
               loop_no
        FROM due_actions;
    DROP TABLE due_actions;
    ALTER TABLE due_actions_new RENAME TO due_actions;
    CREATE INDEX due_actions_due ON due_actions (due_at);
    CREATE INDEX due_actions_incident ON due_actions (incident_id);
    CREATE UNIQUE INDEX due_actions_schedule ON due_actions (schedule, kind)
        WHERE schedule IS NOT NULL;
    CREATE UNIQUE INDEX due_actions_heartbeat ON due_actions (heartbeat, kind)
        WHERE heartbeat IS NOT NULL;
    "#,
    // 12: post-mortems: whether resolving the incident required one
    // (`postmortem.required_for`), and where it went once recorded.
    r#"
    ALTER TABLE incidents ADD COLUMN postmortem_required INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE incidents ADD COLUMN postmortem_url TEXT;
    "#,
    // 13: the dashboard: its sessions (the hash of each cookie) and the sign-in links
    // already used (each works once).
    r#"
    CREATE TABLE ui_sessions (
        id_hash     TEXT    PRIMARY KEY,
        person      TEXT,
        token_hash  TEXT,
        label       TEXT    NOT NULL,
        role        TEXT    NOT NULL CHECK (role IN ('viewer', 'responder', 'admin')),
        csrf        TEXT    NOT NULL,
        created_at  INTEGER  NOT NULL,   -- Unix ms, UTC
        expires_at  INTEGER  NOT NULL
    );
    CREATE INDEX ui_sessions_expires ON ui_sessions (expires_at);
    CREATE TABLE ui_used_links (
        nonce       TEXT    PRIMARY KEY,
        expires_at  INTEGER  NOT NULL
    );
    CREATE INDEX ui_used_links_expires ON ui_used_links (expires_at);
    "#,
    // 14: `CHECK (x IN (…))` becomes `CHECK (x = … OR …)`: done in Rust, `checks_as_equalities`.
    "SELECT 1;",
];

/// Migration 14, after its (empty) SQL.
const CHECKS_AS_EQUALITIES: usize = 13;

/// The schema version this binary writes (read-only readers check it instead of migrating).
pub(super) fn known_version() -> i64 {
    MIGRATIONS.len() as i64
}

pub fn migrate(conn: &mut Connection) -> Result<()> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if current > known {
        return Err(Error::Refused(format!(
            "database schema version {current} is newer than this pagerd knows ({known}); \
             refusing to run an older binary on it"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        if i == CHECKS_AS_EQUALITIES {
            checks_as_equalities(&tx)?;
        }
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "applied database migration");
    }
    Ok(())
}

/// `CHECK (x IN ('a', 'b', 'c'))` becomes `CHECK (x = 'a' OR x = 'b' OR x = 'c')` in every
/// table. The same rule, but SQLite checks an `IN` list of three or more by building an
/// ephemeral table each time a row is written: about four per trigger, 11 % of the daemon's
/// instructions (BENCHMARKS.md). The rows already satisfy it, so only the schema text
/// changes, the way SQLite documents for constraints ("Making Other Kinds Of Table Schema
/// Changes"): `writable_schema`, then a new `schema_version` so every connection re-reads it.
fn checks_as_equalities(tx: &rusqlite::Transaction) -> Result<()> {
    let tables: Vec<(String, String)> = tx
        .prepare("SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND sql LIKE '%CHECK%'")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let changed: Vec<(String, String)> = tables
        .into_iter()
        .filter_map(|(name, sql)| {
            let new = in_checks_as_equalities(&sql);
            (new != sql).then_some((name, new))
        })
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    let version: i64 = tx.pragma_query_value(None, "schema_version", |r| r.get(0))?;
    tx.pragma_update(None, "writable_schema", true)?;
    for (name, sql) in &changed {
        tx.execute(
            "UPDATE sqlite_schema SET sql = ?2 WHERE type = 'table' AND name = ?1",
            rusqlite::params![name, sql],
        )?;
    }
    tx.pragma_update(None, "schema_version", version + 1)?;
    // RESET, not OFF: this connection re-reads the schema too.
    tx.execute_batch("PRAGMA writable_schema = RESET")?;
    Ok(())
}

/// Rewrites each `CHECK (column IN ('a', …))` of a `CREATE TABLE` text; anything else (and
/// any check it does not recognise whole) is left as it is.
fn in_checks_as_equalities(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find("CHECK (") {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        match in_check(&from["CHECK (".len()..]) {
            Some((column, values, len)) => {
                let alternatives: Vec<String> =
                    values.iter().map(|v| format!("{column} = '{v}'")).collect();
                out.push_str(&format!("CHECK ({})", alternatives.join(" OR ")));
                rest = &from["CHECK (".len() + len..];
            }
            None => {
                out.push_str("CHECK (");
                rest = &from["CHECK (".len()..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// After `CHECK (`: `column IN ('a', 'b'))` → (column, [a, b], bytes up to and including the
/// check's closing parenthesis).
fn in_check(s: &str) -> Option<(&str, Vec<&str>, usize)> {
    let column_len = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|&n| n > 0)?;
    let column = &s[..column_len];
    let after = s[column_len..].trim_start();
    let list = after.strip_prefix("IN")?.trim_start().strip_prefix('(')?;
    let close = list.find(')')?;
    let values = list[..close]
        .split(',')
        .map(|v| {
            let v = v.trim();
            let inner = v.strip_prefix('\'')?.strip_suffix('\'')?;
            (!inner.contains('\'')).then_some(inner)
        })
        .collect::<Option<Vec<&str>>>()?;
    let tail = list[close + 1..].trim_start().strip_prefix(')')?;
    Some((column, values, s.len() - tail.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_checks_become_equalities_and_nothing_else_changes() {
        let cases = [
            (
                "state TEXT NOT NULL CHECK (state IN ('triggered', 'acknowledged', 'resolved')),",
                "state TEXT NOT NULL CHECK (state = 'triggered' OR state = 'acknowledged' OR state = 'resolved'),",
            ),
            (
                "kind TEXT NOT NULL\n    CHECK (kind IN ('escalate', 'ack_timeout',\n        'heartbeat')),\n x",
                "kind TEXT NOT NULL\n    CHECK (kind = 'escalate' OR kind = 'ack_timeout' OR kind = 'heartbeat'),\n x",
            ),
            // Not an IN list of plain literals: left alone.
            (
                "CHECK (a > 0), CHECK (b IN (1, 2))",
                "CHECK (a > 0), CHECK (b IN (1, 2))",
            ),
            (
                "CHECK (held IN ('a''b', 'c'))",
                "CHECK (held IN ('a''b', 'c'))",
            ),
            ("no checks here", "no checks here"),
        ];
        for (sql, want) in cases {
            assert_eq!(in_checks_as_equalities(sql), want, "{sql}");
        }
    }

    #[test]
    fn after_migration_14_a_status_change_builds_no_ephemeral_table_and_checks_still_hold() {
        let mut conn = Connection::open_in_memory().unwrap();
        for (i, sql) in MIGRATIONS[..CHECKS_AS_EQUALITIES].iter().enumerate() {
            conn.execute_batch(sql).unwrap();
            conn.pragma_update(None, "user_version", (i + 1) as i64)
                .unwrap();
        }
        let ephemeral = |conn: &Connection| -> bool {
            let mut stmt = conn
                .prepare("EXPLAIN UPDATE pages SET status = 'sent' WHERE id = 1")
                .unwrap();
            let ops: Vec<String> = stmt
                .query_map([], |r| r.get::<_, String>(1))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            ops.iter().any(|op| op == "OpenEphemeral")
        };
        assert!(
            ephemeral(&conn),
            "version 13 builds one (the test can fail)"
        );
        conn.execute(
            "INSERT INTO pages (kind, person, channel, level, loop_no, status, due_at,
                 next_attempt_at, created_at) VALUES ('page', 'ann', 'email', 0, 0, 'pending', 1, 1, 1)",
            [],
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        assert!(!ephemeral(&conn));
        let schema: Vec<String> = conn
            .prepare("SELECT sql FROM sqlite_schema WHERE type = 'table'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(!schema.iter().any(|s| s.contains(" IN (")), "{schema:?}");
        let ok: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
        // The rules hold as before, and the row is still there.
        conn.execute("UPDATE pages SET status = 'sent' WHERE id = 1", [])
            .unwrap();
        let bad = conn.execute("UPDATE pages SET status = 'lost' WHERE id = 1", []);
        assert!(bad.is_err(), "{bad:?}");
        let bad = conn.execute(
            "INSERT INTO incidents (service, dedup_key, state, severity, summary, created_at, updated_at)
             VALUES ('s', 'k', 'sleeping', 'low', 'x', 1, 1)",
            [],
        );
        assert!(bad.is_err(), "{bad:?}");
        let status: String = conn
            .query_row("SELECT status FROM pages WHERE id = 1", [], |r| r.get(0))
            .unwrap();
        assert_eq!(status, "sent");
    }

    #[test]
    fn migrations_apply_once_and_are_idempotent() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len() as i64);
    }

    #[test]
    fn version_2_keeps_queued_pages_and_due_actions_of_version_1() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute_batch(
            "INSERT INTO incidents VALUES (7, 'web', 'k', 'high', 's', '', '{}', '[]',
                 'triggered', 'p', 0, 0, 1, 0, 0, NULL, NULL, NULL, NULL, NULL);
             INSERT INTO due_actions (incident_id, kind, due_at) VALUES (7, 'escalate', 60000);
             INSERT INTO pages (incident_id, kind, person, channel, level, loop_no, status,
                 due_at, next_attempt_at, created_at) VALUES
                 (7, 'page', 'alice', 'webhook', 0, 0, 'pending', 0, 0, 0);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let due: (i64, String, i64) = conn
            .query_row(
                "SELECT incident_id, kind, due_at FROM due_actions",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(due, (7, "escalate".into(), 60000));
        let page: (i64, String, String) = conn
            .query_row("SELECT incident_id, person, status FROM pages", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!(page, (7, "alice".into(), "pending".into()));
        // A due action belongs to an incident or to a schedule, never both or neither.
        let both = conn.execute(
            "INSERT INTO due_actions (incident_id, schedule, kind, due_at)
             VALUES (7, 's', 'handoff', 0)",
            [],
        );
        assert!(both.is_err());
    }

    #[test]
    fn version_4_keeps_contact_actions_and_adds_heartbeat_ones() {
        let mut conn = Connection::open_in_memory().unwrap();
        for (i, sql) in MIGRATIONS[..3].iter().enumerate() {
            conn.execute_batch(sql).unwrap();
            conn.pragma_update(None, "user_version", (i + 1) as i64)
                .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO incidents VALUES (7, 'web', 'k', 'high', 's', '', '{}', '[]',
                 'triggered', 'p', 0, 0, 1, 0, 0, NULL, NULL, NULL, NULL, NULL);
             INSERT INTO due_actions (incident_id, kind, due_at, person, channel, level, loop_no)
                 VALUES (7, 'contact', 60000, 'alice', 'sms', 0, 0);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let kept: (String, String) = conn
            .query_row("SELECT kind, person FROM due_actions", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(kept, ("contact".into(), "alice".into()));
        conn.execute(
            "INSERT INTO due_actions (heartbeat, kind, due_at) VALUES ('backup', 'heartbeat', 1)",
            [],
        )
        .unwrap();
        let two_owners = conn.execute(
            "INSERT INTO due_actions (incident_id, heartbeat, kind, due_at)
             VALUES (7, 'backup', 'release', 1)",
            [],
        );
        assert!(two_owners.is_err());
    }

    #[test]
    fn version_5_keeps_due_actions_of_version_4_and_allows_shift_recordings() {
        let mut conn = Connection::open_in_memory().unwrap();
        for (i, sql) in MIGRATIONS.iter().take(4).enumerate() {
            conn.execute_batch(sql).unwrap();
            conn.pragma_update(None, "user_version", (i + 1) as i64)
                .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO due_actions (heartbeat, kind, due_at) VALUES ('nightly', 'heartbeat', 5);
             INSERT INTO due_actions (schedule, kind, due_at) VALUES ('rota', 'handoff', 7);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let kept: Vec<(String, i64)> = conn
            .prepare("SELECT kind, due_at FROM due_actions ORDER BY due_at")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(kept, [("heartbeat".into(), 5), ("handoff".into(), 7)]);
        // One recording per schedule beside its handoff.
        conn.execute(
            "INSERT INTO due_actions (schedule, kind, due_at) VALUES ('rota', 'shift', 9)",
            [],
        )
        .unwrap();
        let again = conn.execute(
            "INSERT INTO due_actions (schedule, kind, due_at) VALUES ('rota', 'shift', 10)",
            [],
        );
        assert!(again.is_err());
    }

    #[test]
    fn version_12_marks_existing_incidents_as_needing_no_post_mortem() {
        let mut conn = Connection::open_in_memory().unwrap();
        for (i, sql) in MIGRATIONS.iter().take(11).enumerate() {
            conn.execute_batch(sql).unwrap();
            conn.pragma_update(None, "user_version", (i + 1) as i64)
                .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO incidents (id, service, dedup_key, severity, summary, source, details,
                 links, state, policy, level, loop_no, alert_count, created_at, last_seen_at)
             VALUES (7, 'web', 'k', 'critical', 's', '', '{}', '[]', 'resolved', 'p', 0, 0, 1,
                 0, 0);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let kept: (i64, Option<String>) = conn
            .query_row(
                "SELECT postmortem_required, postmortem_url FROM incidents WHERE id = 7",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(kept, (0, None));
    }

    #[test]
    fn newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        let err = migrate(&mut conn).unwrap_err().to_string();
        assert!(err.contains("newer"), "{err}");
    }
}
