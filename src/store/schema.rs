//! Versioned migrations, embedded and run at start (tracked in `PRAGMA user_version`).

use rusqlite::Connection;

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
];

pub fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if current > known {
        anyhow::bail!(
            "database schema version {current} is newer than this pagerd knows ({known}); \
             refusing to run an older binary on it"
        );
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "applied database migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        let err = migrate(&mut conn).unwrap_err().to_string();
        assert!(err.contains("newer"), "{err}");
    }
}
