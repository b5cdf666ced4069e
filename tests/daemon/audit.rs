//! The audit trail names the authenticated caller, never the request's `by`: in the
//! timeline, in `ListAudit` and in `pagerctl audit`; only admins may read it.

use pagerd::engine::Clock;
use pagerd::proto as pb;
use pb::daemon_service_client::DaemonServiceClient;
use pb::incident_service_client::IncidentServiceClient;
use pb::intake_service_client::IntakeServiceClient;
use tonic::Code;

use crate::helpers::*;

const PAGERCTL: &str = env!("CARGO_BIN_EXE_pagerctl");

#[tokio::test(flavor = "multi_thread")]
async fn the_audit_trail_names_the_token_not_the_by_field() {
    let dirs = AppDirs::new(TEST_POLICIES);
    let mut sink = WebhookSink::start().await;
    let mut app = spawn_app(&dirs, &sink, Clock::System).await;
    let bob = create_token(&dirs, "bob-laptop", "responder", "bob");
    let raw = tonic::transport::Channel::from_shared(format!("http://{}", app.grpc_addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut as_bob = IncidentServiceClient::new(with_token(raw.clone(), &bob));

    let id = app
        .trigger("checkout", pb::Severity::High, "audit-1")
        .await
        .incident_id;
    app.page(&mut sink).await;
    let r = as_bob
        .acknowledge(pb::AcknowledgeRequest {
            id,
            by: "alice".into(),
        })
        .await
        .expect("a responder may acknowledge")
        .into_inner();
    assert_eq!(r.incident.unwrap().acknowledged_by, "bob");

    // The timeline: bob through his token, alice only as a note.
    let timeline = app.get(id).await.timeline;
    let ack = timeline
        .iter()
        .find(|e| e.kind == pb::EventKind::Acknowledged as i32)
        .expect("an ack event");
    assert_eq!(ack.actor, "bob (token bob-laptop via gRPC)", "{ack:?}");
    assert!(ack.message.ends_with("(note: by=alice)"), "{ack:?}");

    // The audit trail, read by an admin.
    let mut daemon = DaemonServiceClient::new(app.channel.clone());
    let entries = daemon
        .list_audit(pb::ListAuditRequest::default())
        .await
        .unwrap()
        .into_inner()
        .entries;
    let target = format!("incident {id}");
    let entry = entries
        .iter()
        .find(|e| e.action == "acknowledge" && e.target == target)
        .unwrap_or_else(|| panic!("no audit entry for the ack: {entries:?}"));
    assert_eq!(
        (
            entry.actor.as_str(),
            entry.via.as_str(),
            entry.detail.as_str()
        ),
        ("bob", "token bob-laptop via gRPC", "by=alice")
    );
    assert!(entries.iter().all(|e| e.actor != "alice"), "{entries:?}");

    // A resolve by the admin token with no `by` is recorded too, under the local admin.
    app.incidents
        .resolve(pb::ResolveRequest {
            id,
            ..Default::default()
        })
        .await
        .unwrap();

    // So is a maintenance window, whatever its `by` says.
    let end = chrono::Utc::now() + chrono::Duration::hours(1);
    IntakeServiceClient::new(app.channel.clone())
        .add_maintenance(pb::AddMaintenanceRequest {
            service: "checkout".into(),
            end: Some(prost_types::Timestamp {
                seconds: end.timestamp(),
                nanos: 0,
            }),
            reason: "upgrade".into(),
            by: "alice".into(),
            ..Default::default()
        })
        .await
        .unwrap();

    // A reload and a test page change nothing stored, but who did them is recorded.
    pb::schedule_service_client::ScheduleServiceClient::new(app.channel.clone())
        .reload(pb::ReloadRequest {})
        .await
        .unwrap();
    let mut daemon = DaemonServiceClient::new(app.channel.clone());
    daemon
        .test_page(pb::TestPageRequest {
            person: "alice".into(),
            channel: "webhook".into(),
            by: "mallory".into(),
        })
        .await
        .unwrap();

    // `pagerctl audit` shows them all.
    let out = within(
        "pagerctl audit",
        tokio::process::Command::new(PAGERCTL)
            .arg("--addr")
            .arg(app.grpc_addr.to_string())
            .args(["audit", "--since", "1h", "--json"])
            .env_remove("PAGERD_ADDR")
            .env_remove("PAGERD_TOKEN_FILE")
            .env("PAGERD_TOKEN", app.daemon.admin_token().await)
            .output(),
    )
    .await
    .expect("pagerctl runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_str(&stdout).expect(&stdout);
    let rows = json["entries"].as_array().expect(&stdout);
    let field = |e: &serde_json::Value, k: &str| e[k].as_str().unwrap().to_string();
    // The token bob acts with was made on the database by the OS user running the command.
    let created = &rows[0];
    assert_eq!(
        (field(created, "action"), field(created, "via")),
        ("create token".into(), "pagerd token on the database".into()),
        "{stdout}"
    );
    let actions: Vec<(String, String, String)> = rows[1..]
        .iter()
        .map(|e| (field(e, "actor"), field(e, "action"), field(e, "detail")))
        .collect();
    let row = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    assert_eq!(
        actions,
        [
            row("bob", "acknowledge", "by=alice"),
            row("local-admin", "resolve", ""),
            row("local-admin", "add maintenance", "by=alice"),
            row("local-admin", "reload", ""),
            row("local-admin", "test page", "by=mallory"),
        ],
        "{stdout}"
    );
    assert_eq!(field(&rows[4], "target"), "policy set (applied)");
    assert_eq!(field(&rows[5], "target"), "person alice on webhook");

    // Not for responders.
    let err = DaemonServiceClient::new(with_token(raw, &bob))
        .list_audit(pb::ListAuditRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    app.stop().await;
}
