//! Access control on gRPC: the role matrix over every pagerd.v1 method, revocation at once,
//! expiry, the local admin token file and the `pagerd token` command.

use std::collections::BTreeSet;
use std::process::Command;

use chrono::{Duration as ChronoDuration, Utc};
use pagerd::app::tokens;
use pagerd::domain::access::{METHODS, Role};
use pagerd::engine::Clock;
use pagerd::proto::{self as pb};
use pagerd::store::Store;
use pb::alert_service_client::AlertServiceClient;
use pb::daemon_service_client::DaemonServiceClient;
use pb::incident_service_client::IncidentServiceClient;
use pb::intake_service_client::IntakeServiceClient;
use pb::report_service_client::ReportServiceClient;
use pb::schedule_service_client::ScheduleServiceClient;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;

use crate::helpers::*;

const KEY: &str = "AccessTestKey0123456789abcdefXYZ";
/// Upper bound for anything these tests wait on; only reached when something is broken.
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(20);

fn policies() -> String {
    TEST_POLICIES.replacen(
        "name = \"checkout\"\n",
        &format!("name = \"checkout\"\nintegration_keys = [\"{KEY}\"]\n"),
        1,
    )
}

/// How a call ended, as far as access goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Unauthenticated,
    Denied,
    /// Passed the check: answered, or refused for another reason (NOT_FOUND, …).
    Allowed,
}

fn outcome<T>(r: Result<tonic::Response<T>, tonic::Status>) -> (Outcome, String) {
    match r {
        Ok(_) => (Outcome::Allowed, String::new()),
        Err(s) => match s.code() {
            Code::Unauthenticated => (Outcome::Unauthenticated, s.message().to_string()),
            Code::PermissionDenied => (Outcome::Denied, s.message().to_string()),
            _ => (Outcome::Allowed, s.message().to_string()),
        },
    }
}

/// One call of `service/method` through `ch`, with a request that changes nothing lasting
/// where it can (unknown ids and names); alert calls carry the integration key if `key`.
async fn call(ch: AuthedChannel, service: &str, method: &str, key: bool) -> (Outcome, String) {
    let key = if key { KEY.to_string() } else { String::new() };
    let service_name = if key.is_empty() { "checkout" } else { "" };
    let ts = |t: chrono::DateTime<Utc>| prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    };
    let now = Utc::now();
    let mut alerts = AlertServiceClient::new(ch.clone());
    let mut incidents = IncidentServiceClient::new(ch.clone());
    let mut schedules = ScheduleServiceClient::new(ch.clone());
    let mut daemon = DaemonServiceClient::new(ch.clone());
    let mut reports = ReportServiceClient::new(ch.clone());
    let mut intake = IntakeServiceClient::new(ch);
    match (service, method) {
        ("AlertService", "Trigger") => outcome(
            alerts
                .trigger(pb::TriggerRequest {
                    service: service_name.into(),
                    integration_key: key,
                    dedup_key: "access-matrix".into(),
                    severity: pb::Severity::Low as i32,
                    summary: "matrix".into(),
                    ..Default::default()
                })
                .await,
        ),
        ("AlertService", "Acknowledge") => outcome(
            alerts
                .acknowledge(pb::AlertAcknowledgeRequest {
                    service: service_name.into(),
                    integration_key: key,
                    dedup_key: "no-such-key".into(),
                    ..Default::default()
                })
                .await,
        ),
        ("AlertService", "Resolve") => outcome(
            alerts
                .resolve(pb::AlertResolveRequest {
                    service: service_name.into(),
                    integration_key: key,
                    dedup_key: "no-such-key".into(),
                    ..Default::default()
                })
                .await,
        ),
        ("IncidentService", "Get") => outcome(
            incidents
                .get(pb::GetIncidentRequest {
                    id: 999_999,
                    ..Default::default()
                })
                .await,
        ),
        ("IncidentService", "List") => {
            outcome(incidents.list(pb::ListIncidentsRequest::default()).await)
        }
        ("IncidentService", "Watch") => outcome(
            incidents
                .watch(pb::WatchRequest {
                    incident_id: 999_999,
                    ..Default::default()
                })
                .await,
        ),
        ("IncidentService", "Acknowledge") => outcome(
            incidents
                .acknowledge(pb::AcknowledgeRequest {
                    id: 999_999,
                    ..Default::default()
                })
                .await,
        ),
        ("IncidentService", "Resolve") => outcome(
            incidents
                .resolve(pb::ResolveRequest {
                    id: 999_999,
                    ..Default::default()
                })
                .await,
        ),
        ("IncidentService", "Escalate") => outcome(
            incidents
                .escalate(pb::EscalateRequest {
                    id: 999_999,
                    ..Default::default()
                })
                .await,
        ),
        ("IncidentService", "AddNote") => outcome(
            incidents
                .add_note(pb::AddNoteRequest {
                    id: 999_999,
                    text: "matrix".into(),
                    ..Default::default()
                })
                .await,
        ),
        ("IncidentService", "PostMortem") => outcome(
            incidents
                .post_mortem(pb::PostMortemRequest { id: 999_999 })
                .await,
        ),
        ("IncidentService", "PostMortemDone") => outcome(
            incidents
                .post_mortem_done(pb::PostMortemDoneRequest {
                    id: 999_999,
                    url: "https://wiki.example/pm".into(),
                    ..Default::default()
                })
                .await,
        ),
        ("ScheduleService", "ListSchedules") => {
            outcome(schedules.list_schedules(pb::ListSchedulesRequest {}).await)
        }
        ("ScheduleService", "OnCall") => outcome(
            schedules
                .on_call(pb::OnCallRequest {
                    schedule: "no-such-schedule".into(),
                    at: None,
                })
                .await,
        ),
        ("ScheduleService", "Shifts") => outcome(
            schedules
                .shifts(pb::ShiftsRequest {
                    schedule: "no-such-schedule".into(),
                    from: Some(ts(now)),
                    to: Some(ts(now + ChronoDuration::days(1))),
                })
                .await,
        ),
        ("ScheduleService", "AddOverride") => outcome(
            schedules
                .add_override(pb::AddOverrideRequest {
                    schedule: "no-such-schedule".into(),
                    person: "alice".into(),
                    start: Some(ts(now)),
                    end: Some(ts(now + ChronoDuration::hours(1))),
                    ..Default::default()
                })
                .await,
        ),
        ("ScheduleService", "RemoveOverride") => outcome(
            schedules
                .remove_override(pb::RemoveOverrideRequest {
                    id: 999_999,
                    ..Default::default()
                })
                .await,
        ),
        ("ScheduleService", "ListOverrides") => outcome(
            schedules
                .list_overrides(pb::ListOverridesRequest::default())
                .await,
        ),
        ("ScheduleService", "Reload") => outcome(schedules.reload(pb::ReloadRequest {}).await),
        ("ScheduleService", "FeedUrl") => outcome(
            schedules
                .feed_url(pb::FeedUrlRequest {
                    schedule: "no-such-schedule".into(),
                    ..Default::default()
                })
                .await,
        ),
        ("DaemonService", "Status") => outcome(daemon.status(pb::StatusRequest {}).await),
        ("DaemonService", "TestPage") => outcome(
            daemon
                .test_page(pb::TestPageRequest {
                    person: "nobody-here".into(),
                    ..Default::default()
                })
                .await,
        ),
        ("DaemonService", "ListAudit") => outcome(
            daemon
                .list_audit(pb::ListAuditRequest {
                    since: None,
                    limit: 1,
                })
                .await,
        ),
        ("DaemonService", "CreateToken") => outcome(
            daemon
                .create_token(pb::CreateTokenRequest {
                    name: "not a valid name".into(),
                    role: "viewer".into(),
                    ..Default::default()
                })
                .await,
        ),
        ("DaemonService", "ListTokens") => {
            outcome(daemon.list_tokens(pb::ListTokensRequest {}).await)
        }
        ("DaemonService", "RevokeToken") => outcome(
            daemon
                .revoke_token(pb::RevokeTokenRequest {
                    name: "no-such-token".into(),
                })
                .await,
        ),
        ("ReportService", "OnCallLoad") => outcome(
            reports
                .on_call_load(pb::OnCallLoadRequest {
                    from: Some(ts(now - ChronoDuration::days(1))),
                    to: Some(ts(now)),
                    schedule: String::new(),
                })
                .await,
        ),
        ("ReportService", "Responsiveness") => outcome(
            reports
                .responsiveness(pb::ResponsivenessRequest {
                    from: Some(ts(now - ChronoDuration::days(1))),
                    to: Some(ts(now)),
                    ..Default::default()
                })
                .await,
        ),
        ("IntakeService", "Heartbeat") => outcome(
            intake
                .heartbeat(pb::HeartbeatRequest {
                    name: "no-such-heartbeat".into(),
                })
                .await,
        ),
        ("IntakeService", "ListHeartbeats") => outcome(
            intake
                .list_heartbeats(pb::ListHeartbeatsRequest::default())
                .await,
        ),
        ("IntakeService", "RotateHeartbeatToken") => outcome(
            intake
                .rotate_heartbeat_token(pb::RotateHeartbeatTokenRequest {
                    name: "no-such-heartbeat".into(),
                })
                .await,
        ),
        ("IntakeService", "AddMaintenance") => outcome(
            intake
                .add_maintenance(pb::AddMaintenanceRequest::default())
                .await,
        ),
        ("IntakeService", "RemoveMaintenance") => outcome(
            intake
                .remove_maintenance(pb::RemoveMaintenanceRequest {
                    id: 999_999,
                    ..Default::default()
                })
                .await,
        ),
        ("IntakeService", "ListMaintenance") => outcome(
            intake
                .list_maintenance(pb::ListMaintenanceRequest::default())
                .await,
        ),
        other => panic!("the matrix has no call for {other:?}: add one"),
    }
}

/// The least a method needs, written out here (not read from `access::METHODS`), so a wrong
/// entry there fails this test. `K`: an integration key or a responder token.
const EXPECTED: &[(&str, &str, char)] = &[
    ("AlertService", "Trigger", 'K'),
    ("AlertService", "Acknowledge", 'K'),
    ("AlertService", "Resolve", 'K'),
    ("IncidentService", "Get", 'V'),
    ("IncidentService", "List", 'V'),
    ("IncidentService", "Watch", 'V'),
    ("IncidentService", "Acknowledge", 'R'),
    ("IncidentService", "Resolve", 'R'),
    ("IncidentService", "Escalate", 'R'),
    ("IncidentService", "AddNote", 'R'),
    ("IncidentService", "PostMortem", 'V'),
    ("IncidentService", "PostMortemDone", 'R'),
    ("ScheduleService", "ListSchedules", 'V'),
    ("ScheduleService", "OnCall", 'V'),
    ("ScheduleService", "Shifts", 'V'),
    ("ScheduleService", "AddOverride", 'R'),
    ("ScheduleService", "RemoveOverride", 'R'),
    ("ScheduleService", "ListOverrides", 'V'),
    ("ScheduleService", "Reload", 'A'),
    ("ScheduleService", "FeedUrl", 'A'),
    ("DaemonService", "Status", 'V'),
    ("DaemonService", "TestPage", 'A'),
    ("DaemonService", "ListAudit", 'A'),
    ("DaemonService", "CreateToken", 'A'),
    ("DaemonService", "ListTokens", 'A'),
    ("DaemonService", "RevokeToken", 'A'),
    ("ReportService", "OnCallLoad", 'V'),
    ("ReportService", "Responsiveness", 'V'),
    ("IntakeService", "Heartbeat", 'A'),
    ("IntakeService", "ListHeartbeats", 'A'),
    ("IntakeService", "RotateHeartbeatToken", 'A'),
    ("IntakeService", "AddMaintenance", 'A'),
    ("IntakeService", "RemoveMaintenance", 'A'),
    ("IntakeService", "ListMaintenance", 'V'),
];

#[derive(Debug, Clone, Copy)]
enum Caller {
    Viewer,
    Responder,
    Admin,
    IntegrationKey,
    NoToken,
    Revoked,
    Expired,
    Unknown,
}

fn expected(caller: Caller, need: char) -> Outcome {
    use Outcome::*;
    let rank = |c: char| match c {
        'V' => 0,
        'R' | 'K' => 1,
        _ => 2,
    };
    let have = match caller {
        Caller::Viewer => 0,
        Caller::Responder => 1,
        Caller::Admin => 2,
        Caller::IntegrationKey => {
            return if need == 'K' {
                Allowed
            } else {
                Unauthenticated
            };
        }
        Caller::NoToken | Caller::Revoked | Caller::Expired | Caller::Unknown => {
            return Unauthenticated;
        }
    };
    if have >= rank(need) { Allowed } else { Denied }
}

async fn raw_channel(app: &TestApp) -> tonic::transport::Channel {
    tonic::transport::Channel::from_shared(format!("http://{}", app.daemon.grpc_addr))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn no_token(ch: tonic::transport::Channel) -> AuthedChannel {
    InterceptedService::new(ch, Bearer(None))
}

/// A second handle on the daemon's database, as `pagerd token` opens it.
async fn open_store(dirs: &AppDirs) -> (Store, pagerd::store::WriterDone) {
    let settings = dirs.settings();
    Store::open(&settings.database_path(), &settings.store)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_method_answers_each_caller_by_role() {
    let dirs = AppDirs::new(&policies());
    let sink = WebhookSink::start().await;
    let app = spawn_app(&dirs, &sink, Clock::System).await;
    let now = Utc::now();
    let (store, writer) = open_store(&dirs).await;
    let secret = |name: &str, role, expires| {
        let store = store.clone();
        let name = name.to_string();
        async move {
            // Persons matter for overrides only: the responder may cover alice's shifts,
            // which is all the matrix's override call asks.
            let person = (role == Role::Responder).then(|| "alice".to_string());
            tokens::create(
                &store,
                &name,
                role,
                person,
                expires,
                &tokens::cli_actor(),
                now,
            )
            .await
            .unwrap()
        }
    };
    let viewer = secret("v", Role::Viewer, None).await;
    let responder = secret("r", Role::Responder, None).await;
    let revoked = secret("gone", Role::Admin, None).await;
    let expired = secret("old", Role::Admin, Some(now - ChronoDuration::hours(1))).await;
    tokens::revoke(&store, &dirs.data(), "gone", &tokens::cli_actor(), now)
        .await
        .unwrap();
    drop(store);
    writer.wait().await;
    let admin = app.daemon.admin_token().await;

    // The matrix covers every method the daemon's table knows, and only those.
    let listed: BTreeSet<_> = METHODS.iter().map(|(s, m, _)| (*s, *m)).collect();
    let here: BTreeSet<_> = EXPECTED.iter().map(|(s, m, _)| (*s, *m)).collect();
    assert_eq!(listed, here);

    let raw = raw_channel(&app).await;
    let callers = [
        (Caller::Viewer, Some(viewer.as_str())),
        (Caller::Responder, Some(responder.as_str())),
        (Caller::Admin, Some(admin.as_str())),
        (Caller::IntegrationKey, None),
        (Caller::NoToken, None),
        (Caller::Revoked, Some(revoked.as_str())),
        (Caller::Expired, Some(expired.as_str())),
        (Caller::Unknown, Some("pgd_not-a-token-anyone-was-given")),
    ];
    let mut failures = Vec::new();
    for (caller, token) in callers {
        let ch = match token {
            Some(t) => with_token(raw.clone(), t),
            None => no_token(raw.clone()),
        };
        for &(service, method, need) in EXPECTED {
            let key = matches!(caller, Caller::IntegrationKey);
            let (got, message) = call(ch.clone(), service, method, key).await;
            let want = expected(caller, need);
            if got != want {
                failures.push(format!(
                    "{caller:?} {service}/{method}: got {got:?} ({message}), want {want:?}"
                ));
            }
            if got == Outcome::Denied {
                let role = match need {
                    'A' => "admin",
                    _ => "responder",
                };
                assert!(
                    message.starts_with(&format!("needs role {role};")),
                    "{caller:?} {service}/{method}: {message}"
                );
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // An integration key acts on its own service only.
    let mut alerts = AlertServiceClient::new(no_token(raw.clone()));
    let err = alerts
        .trigger(pb::TriggerRequest {
            service: "tools".into(),
            integration_key: KEY.into(),
            severity: pb::Severity::Low as i32,
            summary: "x".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    let err = alerts
        .trigger(pb::TriggerRequest {
            integration_key: "NoSuchKey0123456789abcdefXYZ0123".into(),
            severity: pb::Severity::Low as i32,
            summary: "x".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");

    // Health and reflection stay open.
    let mut health = tonic_health::pb::health_client::HealthClient::new(raw.clone());
    health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .expect("health is open");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_token_is_refused_from_the_next_call_and_the_cli_manages_tokens() {
    let dirs = AppDirs::new(&policies());
    let sink = WebhookSink::start().await;
    let app = spawn_app(&dirs, &sink, Clock::System).await;
    let raw = raw_channel(&app).await;
    let pagerd = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_pagerd"))
            .args(args)
            .env("PAGERD_DATA_DIR", dirs.data())
            .env("PAGERD_SCHEDULES_DIR", dirs.schedules())
            .output()
            .expect("pagerd runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    // Created through the CLI while the daemon runs, shown once.
    let (code, stdout, stderr) = pagerd(&[
        "token",
        "create",
        "ana",
        "--role",
        "responder",
        "--person",
        "alice",
        "--expires",
        "90d",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let secret = stdout.trim().to_string();
    assert!(secret.starts_with("pgd_") && secret.len() == 47, "{stdout}");
    let mut incidents = IncidentServiceClient::new(with_token(raw.clone(), &secret));
    incidents
        .list(pb::ListIncidentsRequest::default())
        .await
        .expect("the new token works at once");

    // The list names tokens, never secrets; a name is never reused.
    let (code, stdout, _) = pagerd(&["token", "list"]);
    assert_eq!(code, Some(0));
    assert!(!stdout.contains(&secret));
    let row = stdout
        .lines()
        .find(|l| l.starts_with("ana\t"))
        .expect(&stdout);
    assert!(
        row.contains("\tresponder\talice\t") && row.ends_with("\tactive"),
        "{row}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("local-admin\tadmin\t")),
        "{stdout}"
    );
    let (code, _, stderr) = pagerd(&["token", "create", "ana", "--role", "viewer"]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("a token named `ana` exists already"),
        "{stderr}"
    );
    let (code, _, stderr) = pagerd(&["token", "create", "x", "--role", "root"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("`root` is not a role"), "{stderr}");

    // Revoked: the very next call is refused.
    let (code, _, stderr) = pagerd(&["token", "revoke", "ana"]);
    assert_eq!(code, Some(0), "{stderr}");
    let err = incidents
        .list(pb::ListIncidentsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let (_, stdout, _) = pagerd(&["token", "list"]);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("ana\t") && l.ends_with("\trevoked"))
    );
    let (code, _, stderr) = pagerd(&["token", "revoke", "ana"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("no live token named `ana`"), "{stderr}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_token_file_is_private_works_and_is_written_once() {
    use std::os::unix::fs::PermissionsExt;
    let dirs = AppDirs::new(&policies());
    let sink = WebhookSink::start().await;
    let app = spawn_app(&dirs, &sink, Clock::System).await;
    let path = dirs.data().join("admin.token");
    let token = app.daemon.admin_token().await;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    let raw = raw_channel(&app).await;
    let mut schedules = ScheduleServiceClient::new(with_token(raw.clone(), &token));
    schedules
        .reload(pb::ReloadRequest {})
        .await
        .expect("the admin token may reload");
    app.stop().await;

    // A restart keeps the token (and does not rewrite the file).
    let app = spawn_app(&dirs, &sink, Clock::System).await;
    assert_eq!(std::fs::read_to_string(&path).unwrap().trim(), token);
    let raw = raw_channel(&app).await;
    let mut daemon = DaemonServiceClient::new(with_token(raw, &token));
    daemon
        .status(pb::StatusRequest {})
        .await
        .expect("still valid after a restart");
    app.stop().await;
}

/// A token made through the admin RPC, as `pagerctl token create` makes it.
async fn rpc_token(daemon: &mut DaemonServiceClient<AuthedChannel>, name: &str) -> String {
    daemon
        .create_token(pb::CreateTokenRequest {
            name: name.into(),
            role: "viewer".into(),
            ..Default::default()
        })
        .await
        .expect("an admin creates a token")
        .into_inner()
        .secret
}

#[tokio::test(flavor = "multi_thread")]
async fn revoking_a_token_ends_its_open_watch_whether_the_rpc_or_the_cli_revokes_it() {
    let dirs = AppDirs::new(&policies());
    let sink = WebhookSink::start().await;
    let app = spawn_app(&dirs, &sink, Clock::System).await;
    let raw = raw_channel(&app).await;
    let admin = app.daemon.admin_token().await;
    let mut daemon = DaemonServiceClient::new(with_token(raw.clone(), &admin));
    let by_rpc = rpc_token(&mut daemon, "watch-rpc").await;
    let by_cli = rpc_token(&mut daemon, "watch-cli").await;
    let kept = rpc_token(&mut daemon, "watch-kept").await;

    let watch = |secret: &str| {
        let mut incidents = IncidentServiceClient::new(with_token(raw.clone(), secret));
        async move {
            incidents
                .watch(pb::WatchRequest::default())
                .await
                .expect("a viewer may watch")
                .into_inner()
        }
    };
    let mut rpc_stream = watch(&by_rpc).await;
    let mut cli_stream = watch(&by_cli).await;
    let mut kept_stream = watch(&kept).await;

    // Through the daemon: the RPC empties the daemon's cache.
    daemon
        .revoke_token(pb::RevokeTokenRequest {
            name: "watch-rpc".into(),
        })
        .await
        .unwrap();
    // Through `pagerd token revoke` on the database: the stamp file tells the daemon.
    let out = Command::new(env!("CARGO_BIN_EXE_pagerd"))
        .args(["token", "revoke", "watch-cli"])
        .env("PAGERD_DATA_DIR", dirs.data())
        .env("PAGERD_SCHEDULES_DIR", dirs.schedules())
        .output()
        .expect("pagerd runs");
    assert!(out.status.success(), "{out:?}");

    for (name, stream) in [("rpc", &mut rpc_stream), ("cli", &mut cli_stream)] {
        let ended = tokio::time::timeout(PATIENCE, stream.message())
            .await
            .unwrap_or_else(|_| panic!("{name}: the revoked token's watch is still open"));
        let status = ended.expect_err("the stream ends with an error");
        assert_eq!(status.code(), Code::Unauthenticated, "{name}: {status:?}");
    }

    // The token nobody revoked still watches: an event reaches it.
    let mut alerts = AlertServiceClient::new(with_token(raw.clone(), &admin));
    alerts
        .trigger(pb::TriggerRequest {
            service: "checkout".into(),
            severity: pb::Severity::Low as i32,
            summary: "still watched".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let ev = tokio::time::timeout(PATIENCE, kept_stream.message())
        .await
        .expect("an event within the patience")
        .expect("the kept stream stays open")
        .expect("an event");
    assert!(ev.incident_id > 0);

    // Both revocations are in the audit trail with who did them.
    let audit = daemon
        .list_audit(pb::ListAuditRequest::default())
        .await
        .unwrap()
        .into_inner()
        .entries;
    let revoked: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "revoke token")
        .map(|e| (e.target.as_str(), e.actor.as_str(), e.via.as_str()))
        .collect();
    assert_eq!(revoked.len(), 2, "{audit:?}");
    assert_eq!(
        revoked[0],
        (
            "token watch-rpc",
            "local-admin",
            "token local-admin via gRPC"
        )
    );
    assert_eq!(
        (revoked[1].0, revoked[1].2),
        ("token watch-cli", "pagerd token on the database")
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_responder_adds_and_removes_overrides_for_themselves_only_and_an_admin_for_anyone() {
    let dirs = AppDirs::new(&policies());
    let sink = WebhookSink::start().await;
    let app = spawn_app(&dirs, &sink, Clock::System).await;
    let raw = raw_channel(&app).await;
    let admin = app.daemon.admin_token().await;
    let mut daemon = DaemonServiceClient::new(with_token(raw.clone(), &admin));
    let alice = daemon
        .create_token(pb::CreateTokenRequest {
            name: "alice-phone".into(),
            role: "responder".into(),
            person: "alice".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .secret;
    let now = Utc::now();
    let ts = |t: chrono::DateTime<Utc>| prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    };
    let add = |person: &str| pb::AddOverrideRequest {
        schedule: "evenings".into(),
        person: person.into(),
        start: Some(ts(now + ChronoDuration::hours(1))),
        end: Some(ts(now + ChronoDuration::hours(2))),
        ..Default::default()
    };
    let mut as_alice = ScheduleServiceClient::new(with_token(raw.clone(), &alice));
    let mut as_admin = ScheduleServiceClient::new(with_token(raw.clone(), &admin));

    // Her own shift: yes. Someone else's: no, and the answer says who may.
    let own = as_alice.add_override(add("alice")).await.expect("her own");
    let err = as_alice.add_override(add("bob")).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(
        err.message(),
        "needs role admin for an override of bob; token `alice-phone` (role responder) may \
         add and remove overrides for alice only"
    );
    // An admin puts bob on; alice cannot take that away, but may remove her own.
    let bobs = as_admin
        .add_override(add("bob"))
        .await
        .expect("an admin: anyone");
    let bob_id = bobs.into_inner().entry.unwrap().id;
    let err = as_alice
        .remove_override(pb::RemoveOverrideRequest {
            id: bob_id,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    as_alice
        .remove_override(pb::RemoveOverrideRequest {
            id: own.into_inner().entry.unwrap().id,
            ..Default::default()
        })
        .await
        .expect("her own");
    as_admin
        .remove_override(pb::RemoveOverrideRequest {
            id: bob_id,
            ..Default::default()
        })
        .await
        .expect("an admin: anyone's");
    app.stop().await;
}
