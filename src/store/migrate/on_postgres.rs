//! `run` against a real PostgreSQL (`store::pg_server`): ids, identities and `meta` carry
//! over, and a table whose count does not match after the copy rolls everything back.
//! Plain (non-async) tests: the sync `postgres` client must not run on a runtime thread.

use postgres::{Client, NoTls};
use rusqlite::Connection;

use super::run;
use crate::store::pg_server::PgServer;

/// A current pagerd SQLite file with two incidents (ids 5 and 9), their events, an audit
/// entry and an awkward text value.
fn sqlite_file(dir: &std::path::Path) -> String {
    let path = dir.join("pagerd.db");
    let mut conn = Connection::open(&path).unwrap();
    crate::store::sqlite::migrate_for_tests(&mut conn).unwrap();
    conn.execute_batch(
        "INSERT INTO incidents (id, service, dedup_key, severity, summary, source, details,
             links, state, policy, level, loop_no, alert_count, created_at, last_seen_at)
         VALUES (5, 'web', 'a', 'high', 'tab\there \\N back\\slash', '', '{}', '[]',
                 'resolved', 'p', 0, 0, 1, 0, 0),
                (9, 'web', 'b', 'low', 'line1
line2', '', '{}', '[]', 'triggered', 'p', 0, 0, 1, 0, 0);
         INSERT INTO incident_events (id, incident_id, at, kind, message)
             VALUES (40, 5, 1, 'triggered', ''), (41, 9, 2, 'triggered', '');
         INSERT INTO due_actions (incident_id, kind, due_at) VALUES (9, 'escalate', 600000);
         INSERT INTO audit (at, actor, via, action, target, detail)
             VALUES (1, 'alice', 'cli', 'ack', 'incident 5', '');",
    )
    .unwrap();
    format!("sqlite://{}", path.display())
}

fn client(url: &str) -> Client {
    Client::connect(url, NoTls).unwrap()
}

fn count(c: &mut Client, table: &str) -> i64 {
    c.query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])
        .unwrap()
        .get(0)
}

#[test]
fn rows_ids_text_and_store_id_are_copied_and_identities_continue_after_them() {
    let dir = tempfile::tempdir().unwrap();
    let from = sqlite_file(dir.path());
    let to = PgServer::shared().fresh_database();
    let summary = run(&from, &to).unwrap();
    let incidents = summary.tables.iter().find(|t| t.table == "incidents");
    assert_eq!(incidents.unwrap().max_id, Some(9));

    let store_id: String = Connection::open(dir.path().join("pagerd.db"))
        .unwrap()
        .query_row("SELECT value FROM meta WHERE key = 'store_id'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let mut pg = client(&to);
    let copied: String = pg
        .query_one("SELECT value FROM meta WHERE key = 'store_id'", &[])
        .unwrap()
        .get(0);
    assert_eq!(copied, store_id, "idempotency keys keep their prefix");
    assert_eq!(count(&mut pg, "meta"), 1);
    let summaries: Vec<(i64, String)> = pg
        .query("SELECT id, summary FROM incidents ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        summaries,
        [
            (5, "tab\there \\N back\\slash".to_string()),
            (9, "line1\nline2".to_string())
        ]
    );
    // The next rows get fresh ids, past the copied ones.
    let next: i64 = pg
        .query_one(
            "INSERT INTO incidents (service, dedup_key, severity, summary, source, details,
                 links, state, policy, level, loop_no, alert_count, created_at, last_seen_at)
             VALUES ('web', 'c', 'low', 's', '', '{}', '[]', 'triggered', 'p', 0, 0, 1, 0, 0)
             RETURNING id",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(next, 10);
    let event: i64 = pg
        .query_one(
            "INSERT INTO incident_events (incident_id, at, kind, message)
             VALUES (10, 3, 'triggered', '') RETURNING id",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(event, 42);
    // An empty table's identity starts at 1.
    let first: i64 = pg
        .query_one(
            "INSERT INTO tokens (name, role, secret_hash, created_at)
             VALUES ('t', 'viewer', 'h', 0) RETURNING id",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(first, 1);
}

#[test]
fn a_table_that_does_not_match_after_the_copy_rolls_the_whole_copy_back() {
    let dir = tempfile::tempdir().unwrap();
    let from = sqlite_file(dir.path());
    let to = PgServer::shared().fresh_database();
    let mut pg = client(&to);
    crate::store::postgres::schema::migrate(&mut pg).unwrap();
    // A target that silently drops audit rows (as a broken trigger or extension might).
    pg.batch_execute(
        "CREATE FUNCTION drop_row() RETURNS trigger LANGUAGE plpgsql AS
             $$ BEGIN RETURN NULL; END $$;
         CREATE TRIGGER drop_audit BEFORE INSERT ON audit
             FOR EACH ROW EXECUTE FUNCTION drop_row();",
    )
    .unwrap();
    let store_id: String = pg
        .query_one("SELECT value FROM meta WHERE key = 'store_id'", &[])
        .unwrap()
        .get(0);

    let err = format!("{:#}", run(&from, &to).unwrap_err());
    assert!(err.contains("table audit"), "{err}");
    assert!(err.contains("nothing was copied"), "{err}");
    for table in ["incidents", "incident_events", "due_actions", "audit"] {
        assert_eq!(count(&mut pg, table), 0, "{table} rolled back");
    }
    let kept: String = pg
        .query_one("SELECT value FROM meta WHERE key = 'store_id'", &[])
        .unwrap()
        .get(0);
    assert_eq!(kept, store_id, "meta is as it was");
}

#[test]
fn a_target_with_any_pagerd_row_is_refused_naming_each_table() {
    let dir = tempfile::tempdir().unwrap();
    let from = sqlite_file(dir.path());
    let to = PgServer::shared().fresh_database();
    let mut pg = client(&to);
    crate::store::postgres::schema::migrate(&mut pg).unwrap();
    pg.batch_execute(
        "INSERT INTO heartbeats (name, last_ping_at, pings) VALUES ('nightly', 0, 1);
         INSERT INTO audit (at, actor, via, action, target, detail)
             VALUES (1, 'a', 'cli', 'x', 't', ''), (2, 'a', 'cli', 'x', 't', '');",
    )
    .unwrap();
    let err = format!("{:#}", run(&from, &to).unwrap_err());
    assert!(err.contains("not empty"), "{err}");
    assert!(err.contains("heartbeats holds 1 row(s)"), "{err}");
    assert!(err.contains("audit holds 2 row(s)"), "{err}");
    assert_eq!(count(&mut pg, "incidents"), 0);
}
