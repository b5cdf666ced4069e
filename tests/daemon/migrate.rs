//! `pagerd migrate`: an installation made by the real daemon on SQLite is copied by the real
//! binary into a fresh PostgreSQL database (a real server, `store::pg_server`), and a daemon
//! started on that database serves exactly what the SQLite one served: incidents with their
//! timelines and pending actions, overrides, maintenance windows, tokens (which still work),
//! the audit trail; new rows get fresh ids. A second copy into the same database is refused,
//! and bad flags are refused with messages that name the flag and never show a password.

use std::process::Output;

use pagerd::proto::daemon_service_client::DaemonServiceClient;
use pagerd::proto::incident_service_client::IncidentServiceClient;
use pagerd::proto::intake_service_client::IntakeServiceClient;
use pagerd::proto::schedule_service_client::ScheduleServiceClient;
use pagerd::proto::{self as pb, EventKind, IncidentState, Severity};
use pagerd::store::pg_server::PgServer;

use crate::helpers::*;

/// Never to be printed: the test server trusts every local connection, so any password
/// connects, and one that appears in the output was leaked.
const PASSWORD: &str = "Sup3rSecretPw";

/// Runs the real `pagerd migrate` with a clean environment.
async fn migrate(from: &str, to: &str) -> Output {
    run_migrate(&["--from", from, "--to", to], None).await
}

/// `pagerd migrate ARGS`, with `PAGERD_STORE__URL` set to `to_env` if given.
async fn run_migrate(args: &[&str], to_env: Option<&str>) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_pagerd"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PAGERD_") {
            cmd.env_remove(&key);
        }
    }
    if let Some(to) = to_env {
        cmd.env("PAGERD_STORE__URL", to);
    }
    let run = cmd
        .env_remove("RUST_LOG")
        .arg("migrate")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output();
    within("pagerd migrate", run).await.expect("runs pagerd")
}

fn text(out: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn channel(daemon: &DaemonProcess, token: &str) -> Channel {
    let ch = tonic::transport::Channel::from_shared(daemon.grpc_url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    with_token(ch, token)
}

/// Everything the API shows about the installation, to compare before and after.
#[derive(Debug, PartialEq)]
struct Shown {
    incidents: Vec<pb::GetIncidentResponse>,
    overrides: pb::ListOverridesResponse,
    maintenance: pb::ListMaintenanceResponse,
    tokens: pb::ListTokensResponse,
    audit: pb::ListAuditResponse,
}

async fn shown(ch: &Channel, ids: &[i64]) -> Shown {
    let mut incidents = IncidentServiceClient::new(ch.clone());
    let mut got = Vec::new();
    for &id in ids {
        let r = incidents
            .get(pb::GetIncidentRequest {
                id,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        got.push(r);
    }
    let mut schedules = ScheduleServiceClient::new(ch.clone());
    let mut intake = IntakeServiceClient::new(ch.clone());
    let mut daemon = DaemonServiceClient::new(ch.clone());
    Shown {
        incidents: got,
        overrides: (schedules.list_overrides(pb::ListOverridesRequest {
            include_removed: true,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner(),
        maintenance: (intake.list_maintenance(pb::ListMaintenanceRequest {
            include_removed: true,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner(),
        tokens: daemon
            .list_tokens(pb::ListTokensRequest {})
            .await
            .unwrap()
            .into_inner(),
        audit: daemon
            .list_audit(pb::ListAuditRequest::default())
            .await
            .unwrap()
            .into_inner(),
    }
}

async fn trigger(ch: &Channel, service: &str, severity: Severity, key: &str) -> i64 {
    pb::alert_service_client::AlertServiceClient::new(ch.clone())
        .trigger(pb::TriggerRequest {
            service: service.into(),
            dedup_key: key.into(),
            severity: severity as i32,
            summary: format!("{key}: tab\there, newline\nthere, backslash \\ \"quoted\""),
            details: [("region".to_string(), "eu-west\\1".to_string())].into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .incident_id
}

/// Polls (bounded) until the incidents' timelines hold `n` delivered pages: the outbox has
/// recorded every outcome, so nothing changes after the snapshot is taken.
async fn wait_delivered(ch: &Channel, ids: &[i64], n: usize) {
    let start = std::time::Instant::now();
    loop {
        let s = shown(ch, ids).await;
        let delivered = (s.incidents.iter().flat_map(|i| &i.timeline))
            .filter(|e| e.kind() == EventKind::Delivered)
            .count();
        if delivered >= n {
            return;
        }
        assert!(
            start.elapsed().as_secs() < 20,
            "{delivered} of {n} deliveries recorded within 20 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Makes incidents (acknowledged, resolved, open with a pending escalation), overrides, a
/// maintenance window and a token through the API; returns the incident ids and the token.
async fn populate(ch: &Channel, sink: &mut WebhookSink) -> (Vec<i64>, String) {
    let acked = trigger(ch, "checkout", Severity::High, "acked").await;
    let resolved = trigger(ch, "checkout", Severity::Critical, "resolved").await;
    let open = trigger(ch, "tools", Severity::Low, "open").await;
    let ids = vec![acked, resolved, open];
    // alice; alice and bob; sam.
    for _ in 0..4 {
        sink.next().await;
    }
    wait_delivered(ch, &ids, 4).await;

    let mut incidents = IncidentServiceClient::new(ch.clone());
    (incidents.acknowledge(pb::AcknowledgeRequest {
        id: acked,
        by: "alice".into(),
    }))
    .await
    .unwrap();
    (incidents.resolve(pb::ResolveRequest {
        id: resolved,
        by: "bob".into(),
        note: "rolled back".into(),
    }))
    .await
    .unwrap();
    (incidents.add_note(pb::AddNoteRequest {
        id: open,
        text: "looking; see runbook\nstep 2".into(),
        by: String::new(),
    }))
    .await
    .unwrap();

    let now = chrono::Utc::now();
    let ts = |h: i64| prost_types::Timestamp {
        seconds: (now + chrono::Duration::hours(h)).timestamp(),
        nanos: 0,
    };
    let mut schedules = ScheduleServiceClient::new(ch.clone());
    for (person, from, to) in [("dana", 1, 2), ("cora", 3, 4)] {
        (schedules.add_override(pb::AddOverrideRequest {
            schedule: "evenings".into(),
            person: person.into(),
            start: Some(ts(from)),
            end: Some(ts(to)),
            reason: "swap".into(),
            by: "victor".into(),
        }))
        .await
        .unwrap();
    }
    let listed = (schedules.list_overrides(pb::ListOverridesRequest::default()))
        .await
        .unwrap()
        .into_inner();
    (schedules.remove_override(pb::RemoveOverrideRequest {
        id: listed.overrides[1].id,
        by: "victor".into(),
    }))
    .await
    .unwrap();
    (IntakeServiceClient::new(ch.clone()).add_maintenance(pb::AddMaintenanceRequest {
        service: "batch".into(),
        start: Some(ts(0)),
        end: Some(ts(24)),
        reason: "database move".into(),
        ..Default::default()
    }))
    .await
    .unwrap();
    let secret = DaemonServiceClient::new(ch.clone())
        .create_token(pb::CreateTokenRequest {
            name: "wallboard".into(),
            role: "viewer".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .secret;
    (ids, secret)
}

#[tokio::test]
async fn an_installation_moves_from_sqlite_to_postgresql_whole() {
    let dirs = AppDirs::new(TEST_POLICIES);
    let mut sink = WebhookSink::start().await;
    let mut spec = ProcessSpec::new(env!("CARGO_BIN_EXE_pagerd"), &dirs);
    spec.webhook_url = Some(sink.url.clone());

    // 1. A daemon on SQLite makes an installation, then stops.
    let mut daemon = DaemonProcess::start(&spec).await.expect("pagerd on SQLite");
    let admin = daemon.admin_token().await;
    let ch = channel(&daemon, &admin).await;
    let (ids, viewer) = populate(&ch, &mut sink).await;
    let before = shown(&ch, &ids).await;
    assert_eq!(before.overrides.overrides.len(), 2);
    assert_eq!(
        before.incidents[2].incident.as_ref().unwrap().state(),
        IncidentState::Triggered
    );
    assert!(
        before.incidents[2]
            .incident
            .as_ref()
            .unwrap()
            .next_action_at
            .is_some()
    );
    let (_, status) = daemon.terminate().await.unwrap();
    assert!(status.success(), "{}", daemon.log_tail());
    drop(ch);

    // 2. The copy, into a fresh database, with a password in the URL.
    let db = dirs.data().join("pagerd.db");
    let file_before = std::fs::read(&db).unwrap();
    let url = PgServer::shared().fresh_database().replacen(
        "postgres://postgres@",
        &format!("postgres://postgres:{PASSWORD}@"),
        1,
    );
    assert!(url.contains(PASSWORD), "{url}");
    let from = format!("sqlite://{}", db.display());
    let out = migrate(&from, &url).await;
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(!said.contains(PASSWORD), "{said}");
    for table in [
        "incidents",
        "incident_events",
        "pages",
        "due_actions",
        "tokens",
        "audit",
    ] {
        assert!(said.contains(table), "{table} in the summary: {said}");
    }
    assert!(said.contains("15 tables"), "{said}");
    assert!(said.contains("postgres:***@"), "{said}");
    assert_eq!(
        std::fs::read(&db).unwrap(),
        file_before,
        "the SQLite file is only read"
    );

    // 3. A second copy into the now populated database is refused and changes nothing
    // (--to is the configured store.url this time: no password in the process list).
    let again = run_migrate(&["--from", &from], Some(&url)).await;
    let said = text(&again);
    assert!(!again.status.success(), "{said}");
    assert!(
        said.contains("--to: the target database is not empty"),
        "{said}"
    );
    assert!(said.contains("incidents holds 3 row(s)"), "{said}");
    assert!(!said.contains(PASSWORD), "{said}");

    // 4. A daemon on PostgreSQL (the same data directory: the admin token file) serves it all.
    spec.env = vec![("PAGERD_STORE__URL".into(), url.clone())];
    spec.log_name = "pagerd-postgres.log".into();
    let mut daemon = DaemonProcess::start(&spec)
        .await
        .expect("pagerd on PostgreSQL");
    let ch = channel(&daemon, &admin).await;
    let after = shown(&ch, &ids).await;
    assert_eq!(after, before);

    // The viewer token still works (and is still only a viewer's).
    let as_viewer = channel(&daemon, &viewer).await;
    let listed = IncidentServiceClient::new(as_viewer.clone())
        .list(pb::ListIncidentsRequest::default())
        .await
        .expect("the copied viewer token is accepted")
        .into_inner();
    assert_eq!(listed.incidents.len(), 3);
    let refused = pb::alert_service_client::AlertServiceClient::new(as_viewer)
        .trigger(pb::TriggerRequest {
            service: "checkout".into(),
            summary: "viewer".into(),
            severity: Severity::High as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");

    // New rows get ids above the copied ones; the open incident's key still dedups.
    let fresh = trigger(&ch, "checkout", Severity::High, "after-move").await;
    assert!(
        fresh > *ids.iter().max().unwrap(),
        "new id {fresh} after {ids:?}"
    );
    let last_event = (before.incidents.iter().flat_map(|i| &i.timeline))
        .map(|e| e.id)
        .max()
        .unwrap();
    let got = shown(&ch, &[fresh]).await;
    assert!(got.incidents[0].timeline[0].id > last_event, "{got:?}");
    assert_eq!(sink.next().await.incident_id(), fresh);
    let repeat = pb::alert_service_client::AlertServiceClient::new(ch.clone())
        .trigger(pb::TriggerRequest {
            service: "tools".into(),
            dedup_key: "open".into(),
            severity: Severity::Low as i32,
            summary: "again".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(repeat.deduplicated, "{repeat:?}");
    assert_eq!(repeat.incident_id, ids[2]);
    let (_, status) = daemon.terminate().await.unwrap();
    assert!(status.success(), "{}", daemon.log_tail());
}

#[tokio::test]
async fn bad_flags_are_refused_naming_the_flag_and_never_showing_a_password() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("pagerd.db");
    // A real, current pagerd file.
    let (store, writer) = pagerd::store::Store::open(&db, &Default::default())
        .await
        .unwrap();
    drop(store);
    writer.wait().await;
    let file = format!("sqlite://{}", db.display());
    let closed = free_port();
    let pg = format!("postgres://pagerd:{PASSWORD}@{closed}/pagerd");
    let cases = [
        (file.as_str(), file.as_str(), "--from and --to are the same"),
        (pg.as_str(), pg.as_str(), "--from and --to are the same"),
        (
            pg.as_str(),
            "postgres://h/other",
            "--from `postgres://pagerd:***@",
        ),
        (
            file.as_str(),
            "sqlite://other.db",
            "--to `sqlite://other.db` is not a postgres://",
        ),
        (
            "sqlite:///no/such/dir/pagerd.db",
            pg.as_str(),
            "--from: no file at /no/such/dir",
        ),
        (
            file.as_str(),
            pg.as_str(),
            "--to: connecting to postgres://pagerd:***@",
        ),
    ];
    for (from, to, want) in cases {
        let out = migrate(from, to).await;
        let said = text(&out);
        assert!(!out.status.success(), "{from} {to}: {said}");
        assert!(said.contains(want), "{from} {to}: want `{want}` in {said}");
        assert!(!said.contains(PASSWORD), "{from} {to}: {said}");
    }

    // An older schema: start this pagerd on it once first.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    conn.pragma_update(None, "user_version", version - 1)
        .unwrap();
    drop(conn);
    let out = migrate(&file, &pg).await;
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("start this pagerd on it once"), "{said}");
}
