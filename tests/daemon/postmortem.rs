//! Notes and post-mortems over the real daemon on the paused clock: a critical incident is
//! paged, escalated, acknowledged, noted and resolved at known times; its draft is compared
//! with a golden file, the owner's notice arrives at the sink, and `PostMortemDone` clears
//! "post-mortem pending".

use std::time::Duration;

use chrono::{DateTime, Utc};
use pagerd::engine::Clock;
use pagerd::proto::daemon_service_client::DaemonServiceClient;
use pagerd::proto::incident_service_client::IncidentServiceClient;
use pagerd::proto::{self as pb, EventKind, Severity};
use tonic::Code;

use crate::helpers::*;

/// The golden draft; `UPDATE_GOLDEN=1 cargo test --test daemon postmortem` rewrites it.
const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/postmortem.md");

/// Monday 19:00 in Los Angeles: sam is on call for `evenings` (service `web`'s first level).
fn start() -> DateTime<Utc> {
    "2026-03-03T03:00:00Z".parse().unwrap()
}

async fn responder_for(app: &TestApp, person: &str) -> IncidentServiceClient<Channel> {
    let mut daemon = DaemonServiceClient::new(app.channel.clone());
    let secret = daemon
        .create_token(pb::CreateTokenRequest {
            name: format!("{person}-laptop"),
            role: "responder".into(),
            person: person.into(),
            expires_at: None,
        })
        .await
        .expect("the admin creates a token")
        .into_inner()
        .secret;
    let raw = tonic::transport::Channel::from_shared(format!("http://{}", app.grpc_addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    IncidentServiceClient::new(with_token(raw, &secret))
}

/// The test policies with a 10-minute critical response target on service `web`.
fn policies_with_target() -> String {
    let plain = "[[service]]\nname = \"web\"\nescalation_policy = \"oncall\"\n";
    assert!(TEST_POLICIES.contains(plain));
    TEST_POLICIES.replace(
        plain,
        &format!("{plain}response_targets = {{ critical = \"10m\" }}\n"),
    )
}

#[tokio::test(start_paused = true)]
async fn a_critical_incident_gets_a_draft_a_notice_to_its_owner_and_stays_pending_until_done() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(&policies_with_target());
    let mut sink = WebhookSink::start().await;
    let mut settings = test_settings(&dirs, &sink.url);
    settings.postmortem.required_for = vec!["critical".into()];
    let mut app = spawn_app_with(settings, Clock::anchored(start())).await;
    let mut dana = responder_for(&app, "dana").await;

    let id = app
        .alerts
        .trigger(pb::TriggerRequest {
            service: "web".into(),
            dedup_key: "pm".into(),
            severity: Severity::Critical as i32,
            summary: "Checkout fails | <b>EU</b>".into(),
            source: "grafana".into(),
            details: [
                ("impact".to_string(), "EU customers cannot pay".to_string()),
                ("customers".to_string(), "1200".to_string()),
            ]
            .into(),
            links: vec![pb::Link {
                href: "https://grafana.example/d/checkout".into(),
                text: "Dashboard".into(),
            }],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .incident_id;
    assert_eq!(persons(&app.pages(&mut sink, 1).await), ["sam"]);
    advance(mins(10)).await;
    assert_eq!(persons(&app.pages(&mut sink, 1).await), ["dana"]);
    advance(mins(2)).await;
    dana.acknowledge(pb::AcknowledgeRequest { id, by: "".into() })
        .await
        .unwrap();
    advance(mins(8)).await;
    let noted = dana
        .add_note(pb::AddNoteRequest {
            id,
            text: "rolled back deploy 4711 | <img src=x onerror=alert(1)>\n# not a heading".into(),
            by: "".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(noted.changed);
    let note = app
        .event_where("the note", |e| e.kind() == EventKind::Note)
        .await;
    assert_eq!(note.actor, "dana (token dana-laptop via gRPC)");
    advance(mins(25)).await;
    let resolved = app
        .incidents
        .resolve(pb::ResolveRequest {
            id,
            by: "".into(),
            note: "rollback complete".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .incident
        .unwrap();
    assert!(resolved.postmortem_pending);
    assert_eq!(resolved.postmortem_url, "");

    // The owner (dana acknowledged) is told, with the draft, through the outbox.
    let notice = sink.next().await;
    assert_eq!((notice.person(), notice.kind()), ("dana", "handoff"));
    let subject = notice.body["notice"]["subject"]
        .as_str()
        .unwrap_or_default();
    let text = notice.body["notice"]["text"].as_str().unwrap_or_default();
    assert_eq!(subject, "Post-mortem pending: incident 1 (critical web)");
    assert!(
        text.contains("`pagerctl postmortem 1 --done URL`"),
        "{text}"
    );
    assert!(
        text.contains("# Post-mortem: incident 1 — Checkout fails"),
        "{text}"
    );

    let draft = app
        .incidents
        .post_mortem(pb::PostMortemRequest { id })
        .await
        .unwrap()
        .into_inner();
    let markdown = draft.markdown;
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(GOLDEN, &markdown).unwrap();
    }
    let golden = std::fs::read_to_string(GOLDEN).expect("the golden draft exists");
    assert_eq!(markdown, golden, "the draft differs from {GOLDEN}");
    let json: serde_json::Value = serde_json::from_str(&draft.json).unwrap();
    assert_eq!(json["time_to_acknowledge_seconds"], 12 * 60);
    assert_eq!(json["time_to_resolve_seconds"], 45 * 60);
    assert_eq!(json["responders"][1]["person"], "dana");
    assert_eq!(json["responders"][1]["seconds_to_acknowledge"], 2 * 60);
    assert_eq!(json["zone"], "America/Los_Angeles");
    // Acknowledged after 12 minutes against the service's 10: a breach by 2.
    let sla = &json["sla"];
    assert_eq!(
        (&sla["target_seconds"], &sla["target_source"]),
        (&serde_json::json!(600), &serde_json::json!("service"))
    );
    assert_eq!(
        (&sla["outcome"], &sla["breached_by_seconds"]),
        (&serde_json::json!("breached"), &serde_json::json!(120))
    );
    assert_eq!(sla["answered_by"], "acknowledged");
    assert_eq!(json["responders"][1]["first_response"], "acknowledged");
    assert_eq!(json["responders"][1]["seconds_to_first_response"], 2 * 60);

    // Recorded where it went: no longer pending; again with the same URL changes nothing.
    let done = |url: &str| pb::PostMortemDoneRequest {
        id,
        url: url.into(),
        by: "".into(),
    };
    let r = dana
        .post_mortem_done(done("https://wiki.example/pm/1"))
        .await
        .unwrap()
        .into_inner();
    let inc = r.incident.unwrap();
    assert!(r.changed);
    assert!(!inc.postmortem_pending);
    assert_eq!(inc.postmortem_url, "https://wiki.example/pm/1");
    let again = dana
        .post_mortem_done(done("https://wiki.example/pm/1"))
        .await
        .unwrap()
        .into_inner();
    assert!(!again.changed);
    let listed = app.get(id).await.incident.unwrap();
    assert!(!listed.postmortem_pending);
    let audit = audit_of(&app, "incident 1").await;
    let actions: Vec<(&str, &str)> = audit
        .iter()
        .map(|(action, actor, _)| (action.as_str(), actor.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("acknowledge", "dana"),
            ("note", "dana"),
            ("resolve", "local-admin"),
            ("postmortem done", "dana"),
        ]
    );

    // A high incident needs none; nobody is told.
    let high = app.trigger("checkout", Severity::High, "minor").await;
    app.pages(&mut sink, 1).await;
    let r = app
        .incidents
        .resolve(pb::ResolveRequest {
            id: high.incident_id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!r.incident.unwrap().postmortem_pending);
    advance(Duration::from_secs(1)).await;
    sink.expect_quiet("a notice for an incident that needs no post-mortem")
        .await;
    app.stop().await;
}

#[tokio::test(start_paused = true)]
async fn notes_and_post_mortem_records_are_checked_at_the_edge() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(TEST_POLICIES);
    let mut sink = WebhookSink::start().await;
    let mut app = spawn_app(&dirs, &sink, Clock::anchored(t0())).await;
    let id = app
        .trigger("checkout", Severity::Critical, "edge")
        .await
        .incident_id;
    app.pages(&mut sink, 2).await;

    let note = |text: String| pb::AddNoteRequest {
        id,
        text,
        by: "".into(),
    };
    let table = [
        (note("  ".into()), Code::InvalidArgument, "text: required"),
        (
            note("x".repeat(4097)),
            Code::InvalidArgument,
            "text: at most 4096 bytes",
        ),
        (
            pb::AddNoteRequest {
                id: 99,
                text: "x".into(),
                by: "".into(),
            },
            Code::NotFound,
            "no incident 99",
        ),
    ];
    for (request, code, message) in table {
        let e = app.incidents.add_note(request).await.unwrap_err();
        assert_eq!((e.code(), e.message()), (code, message));
    }
    // A note keeps a `by` that names someone else beside the authenticated author.
    app.incidents
        .add_note(pb::AddNoteRequest {
            id,
            text: "looking".into(),
            by: "alice".into(),
        })
        .await
        .unwrap();
    let ev = app
        .event_where("the note", |e| e.kind() == EventKind::Note)
        .await;
    assert_eq!(
        (ev.actor.as_str(), ev.message.as_str()),
        (
            "local-admin (token local-admin via gRPC)",
            "looking (note: by=alice)"
        )
    );

    // Only a resolved incident's post-mortem can be recorded; nothing was required here.
    let e = app
        .incidents
        .post_mortem_done(pb::PostMortemDoneRequest {
            id,
            url: "https://wiki.example/pm".into(),
            by: "".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{}", e.message());
    let e = app
        .incidents
        .post_mortem_done(pb::PostMortemDoneRequest {
            id,
            url: "javascript:alert(1)".into(),
            by: "".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let r = app
        .incidents
        .resolve(pb::ResolveRequest {
            id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        !r.incident.unwrap().postmortem_pending,
        "post-mortems are off by default"
    );
    let e = app
        .incidents
        .post_mortem(pb::PostMortemRequest { id: 99 })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    app.stop().await;
}

/// The notice by email, through the real SMTP server: the acknowledger of a critical incident
/// gets the draft as a Markdown attachment, identical to what `PostMortem` (and so
/// `pagerctl postmortem`) prints; a high incident sends none.
#[tokio::test(start_paused = true)]
async fn the_owner_of_a_resolved_critical_incident_is_mailed_the_draft_as_an_attachment() {
    use crate::channels::{PEOPLE, channel_settings, stands};
    let _frozen = freeze_time();
    let dirs = AppDirs::new(PEOPLE);
    let mut s = stands().await;
    let mut settings = channel_settings(&dirs, &s);
    settings.postmortem.required_for = vec!["critical".into()];
    let mut app = spawn_app_with(settings, Clock::anchored(t0())).await;
    let mut bob = responder_for(&app, "bob").await;

    // Bob's default rules: SMS now, email a minute later; he acknowledges before the mail.
    let id = app
        .trigger("mail", Severity::Critical, "pm")
        .await
        .incident_id;
    assert_eq!(s.sms.next().await.form()["To"], "+15550000002");
    bob.acknowledge(pb::AcknowledgeRequest { id, by: "".into() })
        .await
        .unwrap();
    advance(mins(20)).await;
    app.incidents
        .resolve(pb::ResolveRequest {
            id,
            by: "".into(),
            note: "disk replaced".into(),
        })
        .await
        .unwrap();

    let mail = s.smtp.next_mail().await;
    assert_eq!(mail.headers["x-envelope-to"], "bob@example.com");
    assert_eq!(
        mail.headers["subject"],
        format!("[pagerd] Post-mortem pending: incident {id} (critical mail)")
    );
    assert!(
        mail.text
            .contains(&format!("`pagerctl postmortem {id} --done URL`")),
        "{}",
        mail.text
    );
    let filename = format!("postmortem-incident-{id}.md");
    assert!(
        mail.text.contains(&format!("Attached: {filename}")),
        "{}",
        mail.text
    );
    assert!(
        !mail.text.contains("# Post-mortem:"),
        "the draft is attached, not inline: {}",
        mail.text
    );
    assert_eq!(mail.attachments.len(), 1, "{:?}", mail.attachments);
    let file = &mail.attachments[0];
    assert_eq!(file.filename, filename);
    assert_eq!(file.content_type, "text/markdown; charset=utf-8");
    let draft = app
        .incidents
        .post_mortem(pb::PostMortemRequest { id })
        .await
        .unwrap()
        .into_inner()
        .markdown;
    // MIME text travels with CRLF line ends (RFC 2046); the lines are the draft's.
    assert_eq!(
        file.body.replace("\r\n", "\n"),
        draft,
        "the attachment is the draft"
    );
    assert!(
        draft.contains("- **SLA:** met (acknowledged after 0s)"),
        "{draft}"
    );

    // A high incident needs no post-mortem: the next mail is the page of a later incident.
    let high = app
        .trigger("mail", Severity::High, "minor")
        .await
        .incident_id;
    s.sms.next().await;
    bob.acknowledge(pb::AcknowledgeRequest {
        id: high,
        by: "".into(),
    })
    .await
    .unwrap();
    app.incidents
        .resolve(pb::ResolveRequest {
            id: high,
            ..Default::default()
        })
        .await
        .unwrap();
    let later = app
        .trigger("mail", Severity::High, "later")
        .await
        .incident_id;
    s.sms.next().await;
    advance(mins(1)).await;
    let next = s.smtp.next_mail().await;
    assert!(
        next.headers["subject"].ends_with(&format!("(#{later})")),
        "{:?}",
        next.headers["subject"]
    );
    assert!(next.attachments.is_empty());
    assert_eq!(s.smtp.count(), 2);
    app.stop().await;
}
