//! Alert intake: the PagerDuty Events v2 endpoint, heartbeats, maintenance windows, routing
//! rules and support hours, through the daemon's HTTP and gRPC APIs (the threshold rule:
//! `threshold.rs`).

use std::time::Duration;

use crate::helpers::Channel;
use chrono::{DateTime, Utc};
use pagerd::engine::Clock;
use pagerd::proto::intake_service_client::IntakeServiceClient;
use pagerd::proto::{self as pb, EventKind, IncidentState, Severity};
use serde_json::{Value, json};
use tonic::Code;

use crate::helpers::*;

pub const PAYMENTS_KEY: &str = "PaymentsKey000000000000000000001";
pub const OFFICE_KEY: &str = "OfficeKey00000000000000000000001";

/// The test policies plus services with integration keys, rules and support hours.
pub fn intake_policies() -> String {
    format!(
        r#"{TEST_POLICIES}
[[service]]
name = "payments"
escalation_policy = "eng"
integration_keys = ["{PAYMENTS_KEY}"]
[[service.route]]
when = {{ team = "billing" }}
escalation_policy = "billing"
[[service.route]]
severities = ["low"]
escalation_policy = "twice"

[[escalation_policy]]
name = "billing"
levels = [{{ targets = ["dana"], delay = "20m" }}]

[[service]]
name = "office"
escalation_policy = "eng"
integration_keys = ["{OFFICE_KEY}"]
threshold = "off"
support_hours = {{ time_zone = "America/Los_Angeles", hours = [{{ weekly = "Mon 09:00 - Fri 17:00" }}] }}
"#
    )
}

/// With a heartbeat the nightly backup of `batch` pings.
pub fn heartbeat_policies() -> String {
    intake_policies()
        + r#"
[[heartbeat]]
name = "backup"
service = "batch"
interval = "1h"
"#
}

fn intake(app: &TestApp) -> IntakeServiceClient<Channel> {
    IntakeServiceClient::new(app.channel.clone())
}

fn ts(t: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// POSTs JSON to the daemon's HTTP listener; returns the status and the JSON answer.
pub async fn post_json(app: &TestApp, path: &str, body: &Value) -> (u16, Value) {
    post_raw(app, path, serde_json::to_vec(body).unwrap()).await
}

async fn post_raw(app: &TestApp, path: &str, body: Vec<u8>) -> (u16, Value) {
    let url = format!("http://{}{path}", app.http_addr);
    let resp = within(
        "an HTTP answer",
        reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .body(body)
            .send(),
    )
    .await
    .expect("HTTP request");
    let status = resp.status().as_u16();
    let text = within("an HTTP body", resp.text()).await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn event(action: &str, key: Option<&str>) -> Value {
    let mut e = json!({
        "routing_key": PAYMENTS_KEY,
        "event_action": action,
        "payload": {"summary": "Card payments failing", "source": "payments-1", "severity": "error"},
    });
    if let Some(k) = key {
        e["dedup_key"] = json!(k);
    }
    e
}

async fn incident_by_key(app: &mut TestApp, service: &str, key: &str) -> pb::Incident {
    let list = app
        .incidents
        .list(pb::ListIncidentsRequest {
            service: service.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    list.incidents
        .into_iter()
        .find(|i| i.dedup_key == key)
        .unwrap_or_else(|| panic!("no incident with key {key}"))
}

async fn resolve(app: &mut TestApp, id: i64) {
    app.incidents
        .resolve(pb::ResolveRequest {
            id,
            ..Default::default()
        })
        .await
        .unwrap();
}

on_both_backends! {
    #[tokio::test(start_paused = true)]
    async fn the_events_v2_endpoint_answers_like_pagerduty(backend) {
        let _frozen = freeze_time();
        let dirs = AppDirs::on(backend, &intake_policies());
        let mut sink = WebhookSink::start().await;
        let mut app = spawn_app(&dirs, &sink, Clock::anchored(t0())).await;

        // 202 after the commit, with the key; alice (eng, high) is paged.
        let (status, body) = post_json(&app, "/v2/enqueue", &event("trigger", Some("card-1"))).await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(
            body,
            json!({"status": "success", "message": "Event processed", "dedup_key": "card-1"})
        );
        assert_eq!(app.page(&mut sink).await.person(), "alice");
        let inc = incident_by_key(&mut app, "payments", "card-1").await;
        assert_eq!(inc.severity(), Severity::High);
        assert_eq!(inc.source, "payments-1");

        // No dedup_key: one is generated and returned.
        let (status, body) = post_json(&app, "/v2/enqueue", &event("trigger", None)).await;
        assert_eq!(status, 202);
        let generated = body["dedup_key"].as_str().unwrap().to_string();
        assert!(!generated.is_empty());
        app.page(&mut sink).await;

        // Acknowledge and resolve by key; an unknown key is accepted and dropped.
        let (status, _) = post_json(&app, "/v2/enqueue", &event("acknowledge", Some("card-1"))).await;
        assert_eq!(status, 202);
        let inc = incident_by_key(&mut app, "payments", "card-1").await;
        assert_eq!(inc.state(), IncidentState::Acknowledged);
        assert_eq!(inc.acknowledged_by, "events-v2");
        let (status, body) = post_json(&app, "/v2/enqueue", &event("resolve", Some("card-1"))).await;
        assert_eq!((status, body["dedup_key"].as_str()), (202, Some("card-1")));
        let inc = incident_by_key(&mut app, "payments", "card-1").await;
        assert_eq!(inc.state(), IncidentState::Resolved);
        let (status, _) = post_json(&app, "/v2/enqueue", &event("resolve", Some("never-seen"))).await;
        assert_eq!(status, 202);

        // 400 naming each bad field.
        let mut bad = event("trigger", Some("bad"));
        bad["payload"]["summary"] = json!("x".repeat(1025));
        bad["payload"]["severity"] = json!("fatal");
        bad["links"] = json!([{"href": "not a url"}]);
        let (status, body) = post_json(&app, "/v2/enqueue", &bad).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["status"], "invalid event");
        assert_eq!(body["message"], "Event object is invalid");
        let errors = body["errors"].to_string();
        for field in ["payload.summary", "payload.severity", "links[0].href"] {
            assert!(errors.contains(field), "{errors} lacks {field}");
        }
        let (status, body) = post_raw(&app, "/v2/enqueue", b"{not json".to_vec()).await;
        assert_eq!(status, 400);
        assert!(body["errors"][0].as_str().unwrap().starts_with("body:"));
        let (status, body) = post_json(&app, "/v2/enqueue", &json!({"event_action": "trigger"})).await;
        assert_eq!(status, 400);
        assert!(
            body["errors"][0]
                .as_str()
                .unwrap()
                .starts_with("routing_key")
        );

        // 404 for a key no service has: never a page to a default.
        let mut unknown = event("trigger", Some("x"));
        unknown["routing_key"] = json!("NoSuchKey0000000000000000000000x");
        let (status, body) = post_json(&app, "/v2/enqueue", &unknown).await;
        assert_eq!(status, 404, "{body}");

        // 413 over 512 KB.
        let mut huge = event("trigger", Some("huge"));
        huge["payload"]["custom_details"] = json!({"blob": "x".repeat(600 * 1024)});
        let (status, _) = post_json(&app, "/v2/enqueue", &huge).await;
        assert_eq!(status, 413);
        sink.expect_quiet("a refused event paged someone").await;

        // The gRPC Trigger takes the key too; an unknown one is NOT_FOUND.
        let r = app
            .alerts
            .trigger(pb::TriggerRequest {
                integration_key: PAYMENTS_KEY.into(),
                dedup_key: "grpc".into(),
                severity: Severity::High as i32,
                summary: "by key".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            app.get(r.incident_id).await.incident.unwrap().service,
            "payments"
        );
        app.page(&mut sink).await;
        let err = app
            .alerts
            .trigger(pb::TriggerRequest {
                integration_key: "nope".into(),
                severity: Severity::High as i32,
                summary: "by key".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound);
        assert!(err.message().starts_with("integration_key"));
        app.stop().await;
    }
}

#[tokio::test(start_paused = true)]
async fn the_alertmanager_receiver_refuses_unknown_keys_and_malformed_bodies() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(&intake_policies());
    let mut sink = WebhookSink::start().await;
    let mut app = spawn_app(&dirs, &sink, Clock::anchored(t0())).await;
    let path = format!("/integrations/alertmanager/{PAYMENTS_KEY}");
    let body = json!({
        "version": "4", "groupKey": "{}:{alertname=\"DiskFull\"}", "status": "firing",
        "receiver": "pagerd", "groupLabels": {}, "commonAnnotations": {}, "extra": [1, 2],
        "alerts": [{"status": "firing", "labels": {"alertname": "DiskFull", "severity": "info"},
                    "annotations": {}, "startsAt": "2026-03-02T16:59:00Z", "fingerprint": "f1"}]
    });
    let (status, answer) = post_json(&app, &path, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["triggered"], 1);
    assert_eq!(
        app.page(&mut sink).await.person(),
        "sam",
        "low goes to the twice policy"
    );
    let inc = incident_by_key(
        &mut app,
        "payments",
        &pagerd::api::http::ingest::am_dedup_key("{}:{alertname=\"DiskFull\"}", "f1"),
    )
    .await;
    assert_eq!(
        (inc.summary.as_str(), inc.severity()),
        ("DiskFull", Severity::Low)
    );

    let (status, _) = post_json(&app, "/integrations/alertmanager/nope", &body).await;
    assert_eq!(status, 404);
    let (status, answer) = post_json(&app, &path, &json!({"status": "firing"})).await;
    assert_eq!(status, 400);
    assert!(
        answer["message"].as_str().unwrap().contains("alerts"),
        "{answer}"
    );
    let mut no_fp = body.clone();
    no_fp["alerts"][0]
        .as_object_mut()
        .unwrap()
        .remove("fingerprint");
    let (status, answer) = post_json(&app, &path, &no_fp).await;
    assert_eq!(status, 400);
    assert_eq!(
        answer["message"],
        "alerts[0] (DiskFull).fingerprint: required"
    );
    app.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_key_over_its_rate_limit_gets_429() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(&intake_policies());
    let sink = WebhookSink::start().await;
    let mut settings = test_settings(&dirs, &sink.url);
    settings.integrations.events_per_minute = 2;
    let app = spawn_app_with(settings, Clock::anchored(t0())).await;
    for i in 0..2 {
        let (status, _) = post_json(
            &app,
            "/v2/enqueue",
            &event("trigger", Some(&format!("r{i}"))),
        )
        .await;
        assert_eq!(status, 202);
    }
    let (status, body) = post_json(&app, "/v2/enqueue", &event("trigger", Some("r3"))).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["status"], "throttle event");
    // A token comes back after half a minute at 2 a minute.
    advance(Duration::from_secs(30)).await;
    let (status, _) = post_json(&app, "/v2/enqueue", &event("trigger", Some("r3"))).await;
    assert_eq!(status, 202);
    app.stop().await;
}

/// Real time: the database is locked by another connection, so commits fail.
#[tokio::test]
async fn a_storage_failure_is_a_503_and_the_retry_is_accepted() {
    let dirs = AppDirs::new(&intake_policies());
    let sink = WebhookSink::start().await;
    let mut settings = test_settings(&dirs, &sink.url);
    settings.store.busy_timeout = Duration::from_millis(200);
    let mut app = spawn_app_with(settings, Clock::System).await;

    let lock = pagerd::store::sqlite::WriteLock::take(&dirs.data().join("pagerd.db")).unwrap();
    let (status, body) = post_json(&app, "/v2/enqueue", &event("trigger", Some("locked"))).await;
    assert_eq!(status, 503, "a locked store is retried later: {body}");
    lock.release().unwrap();

    let (status, _) = post_json(&app, "/v2/enqueue", &event("trigger", Some("locked"))).await;
    assert_eq!(status, 202);
    let inc = incident_by_key(&mut app, "payments", "locked").await;
    assert_eq!(inc.alert_count, 1, "the refused event left nothing behind");
    app.stop().await;
}

on_both_backends! {
    #[tokio::test(start_paused = true)]
    async fn a_heartbeat_that_misses_its_interval_opens_an_incident_and_a_ping_resolves_it(backend) {
        let _frozen = freeze_time();
        let dirs = AppDirs::on(backend, &heartbeat_policies());
        let mut sink = WebhookSink::start().await;
        let mut app = spawn_app(&dirs, &sink, Clock::anchored(t0())).await;

        // Watched from the start: pings at 50 minutes (HTTP GET, as from cron, with the ping URL
        // as listed: its token in the path) keep it quiet.
        advance(mins(50)).await;
        let listed = intake(&app)
            .list_heartbeats(pb::ListHeartbeatsRequest {})
            .await
            .unwrap()
            .into_inner();
        let url = listed.heartbeats[0].ping_url.clone();
        assert!(
            url.starts_with(&format!("http://{}/heartbeats/backup/", app.http_addr)),
            "{url}"
        );
        let resp = within("a ping", reqwest::get(&url)).await.unwrap();
        assert_eq!(resp.status(), 200);
        advance(mins(59)).await;
        sink.expect_quiet("the heartbeat expired early").await;

        // A miss: an hour after the last ping, the incident opens and sam (batch) is paged.
        advance(mins(1)).await;
        let page = app.page(&mut sink).await;
        assert_eq!(page.person(), "sam");
        let id = page.incident_id();
        let inc = app.get(id).await.incident.unwrap();
        assert_eq!(inc.dedup_key, "heartbeat/backup");
        assert!(
            inc.summary.contains("heartbeat backup expired"),
            "{}",
            inc.summary
        );

        // The next ping (gRPC) resolves it and watches again.
        let r = intake(&app)
            .heartbeat(pb::HeartbeatRequest {
                name: "backup".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.resolved_incident_id, id);
        assert_eq!(
            app.get(id).await.incident.unwrap().state(),
            IncidentState::Resolved
        );
        let list = intake(&app)
            .list_heartbeats(pb::ListHeartbeatsRequest {})
            .await
            .unwrap()
            .into_inner();
        assert_eq!(list.heartbeats[0].expires_at, r.expires_at);

        let err = intake(&app)
            .heartbeat(pb::HeartbeatRequest {
                name: "nope".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound);
        let resp = within(
            "a ping",
            reqwest::Client::new()
                .post(format!(
                    "http://{}/heartbeats/nope/{}",
                    app.http_addr, listed.heartbeats[0].token
                ))
                .send(),
        )
        .await
        .unwrap();
        assert_eq!(resp.status(), 404);
        app.stop().await;
    }
}

on_both_backends! {
    #[tokio::test(start_paused = true)]
    async fn a_heartbeat_overdue_across_a_restart_fires_after_it(backend) {
        let _frozen = freeze_time();
        let dirs = AppDirs::on(backend, &heartbeat_policies());
        let mut sink = WebhookSink::start().await;
        let clock = Clock::anchored(t0());
        let app = spawn_app(&dirs, &sink, clock).await;
        advance(mins(30)).await;
        app.stop().await;

        // Down for two hours: the expiry (t0 + 1h) is overdue and runs at start.
        advance(mins(120)).await;
        let mut app = spawn_app(&dirs, &sink, clock).await;
        let page = app.page(&mut sink).await;
        assert_eq!(page.person(), "sam");
        let inc = app.get(page.incident_id()).await.incident.unwrap();
        assert_eq!(inc.dedup_key, "heartbeat/backup");
        // Once: no second incident for the same expiry after another restart.
        app.stop().await;
        let mut app = spawn_app(&dirs, &sink, clock).await;
        sink.expect_quiet("the expiry fired twice").await;
        let open = app
            .incidents
            .list(pb::ListIncidentsRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(open.incidents.len(), 1);
        app.stop().await;
    }
}

on_both_backends! {
    #[tokio::test(start_paused = true)]
    async fn alerts_during_a_maintenance_window_page_nobody_until_it_ends(backend) {
        let _frozen = freeze_time();
        let dirs = AppDirs::on(backend, &intake_policies());
        let mut sink = WebhookSink::start().await;
        let mut app = spawn_app(&dirs, &sink, Clock::anchored(t0())).await;

        let window = intake(&app)
            .add_maintenance(pb::AddMaintenanceRequest {
                service: "checkout".into(),
                end: ts(t0() + chrono::Duration::hours(1)),
                reason: "database upgrade".into(),
                by: "alice".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .window
            .unwrap();
        assert!(window.page_after);

        // Recorded and visible, but nobody is paged.
        let r = app.trigger("checkout", Severity::Critical, "db").await;
        sink.expect_quiet("an alert in a maintenance window paged")
            .await;
        let kinds = app.timeline_kinds(r.incident_id).await;
        assert_eq!(kinds, [EventKind::Triggered, EventKind::Held]);
        let other = app.trigger("tools", Severity::High, "elsewhere").await;
        assert_eq!(app.page(&mut sink).await.incident_id(), other.incident_id);
        app.ack(other.incident_id, "sam").await;

        // The window ends: the still-open incident starts paging its first level.
        advance(mins(60)).await;
        let pages = app.pages(&mut sink, 2).await;
        assert_eq!(persons(&pages), ["alice", "bob"]);
        assert_eq!(pages[0].incident_id(), r.incident_id);
        resolve(&mut app, r.incident_id).await;

        // A window that stays quiet after it ends, removed early: its incident stays unpaged.
        let quiet = intake(&app)
            .add_maintenance(pb::AddMaintenanceRequest {
                service: "batch".into(),
                end: ts(t0() + chrono::Duration::hours(5)),
                quiet_after: true,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .window
            .unwrap();
        let q = app.trigger("batch", Severity::High, "quiet").await;
        let listed = intake(&app)
            .list_maintenance(pb::ListMaintenanceRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.windows.len(), 1, "the first window is over");
        assert_eq!(listed.windows[0].id, quiet.id);
        advance(mins(300)).await;
        sink.expect_quiet("a page_after = false window paged").await;
        assert_eq!(
            app.get(q.incident_id).await.incident.unwrap().state(),
            IncidentState::Triggered
        );

        // Removing a window early releases its held incidents at once.
        let w = intake(&app)
            .add_maintenance(pb::AddMaintenanceRequest {
                service: "checkout".into(),
                end: ts(t0() + chrono::Duration::hours(48)),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .window
            .unwrap();
        let held = app.trigger("checkout", Severity::High, "early").await;
        sink.expect_quiet("held").await;
        // Escalating a held incident by hand pages its first level, not its second.
        let by_hand = app.trigger("checkout", Severity::High, "by-hand").await;
        app.incidents
            .escalate(pb::EscalateRequest {
                id: by_hand.incident_id,
                by: "alice".into(),
            })
            .await
            .unwrap();
        let page = app.page(&mut sink).await;
        assert_eq!((page.person(), page.level()), ("alice", 1));
        resolve(&mut app, by_hand.incident_id).await;
        intake(&app)
            .remove_maintenance(pb::RemoveMaintenanceRequest {
                id: w.id,
                by: "alice".into(),
            })
            .await
            .unwrap();
        let page = app.page(&mut sink).await;
        assert_eq!(
            (page.person(), page.incident_id()),
            ("alice", held.incident_id)
        );
        let again = intake(&app)
            .remove_maintenance(pb::RemoveMaintenanceRequest {
                id: w.id,
                by: "alice".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(again.code(), Code::FailedPrecondition);
        let bad = intake(&app)
            .add_maintenance(pb::AddMaintenanceRequest {
                service: "nope".into(),
                end: ts(t0() + chrono::Duration::hours(1)),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(bad.code(), Code::NotFound);
        app.stop().await;
    }
}

#[tokio::test(start_paused = true)]
async fn routing_rules_send_matching_alerts_to_their_policy_first_match_wins() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(&intake_policies());
    let mut sink = WebhookSink::start().await;
    let mut app = spawn_app(&dirs, &sink, Clock::anchored(t0())).await;

    // (details, severity, escalation policy, first person paged)
    type Pairs<'a> = &'a [(&'a str, &'a str)];
    let table: [(Pairs, Severity, &str, &str); 4] = [
        (&[("team", "billing")], Severity::High, "billing", "dana"),
        // First match wins: the billing rule comes before the low rule.
        (&[("team", "billing")], Severity::Low, "billing", "dana"),
        (&[("team", "search")], Severity::Low, "twice", "sam"),
        (&[], Severity::High, "eng", "alice"),
    ];
    for (i, (details, severity, policy, person)) in table.into_iter().enumerate() {
        let r = app
            .alerts
            .trigger(pb::TriggerRequest {
                service: "payments".into(),
                dedup_key: format!("route-{i}"),
                severity: severity as i32,
                summary: "routed".into(),
                details: details
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let inc = app.get(r.incident_id).await.incident.unwrap();
        assert_eq!(inc.escalation_policy, policy, "{details:?} {severity:?}");
        assert_eq!(app.page(&mut sink).await.person(), person, "{details:?}");
    }
    app.stop().await;
}

#[tokio::test(start_paused = true)]
async fn low_urgency_outside_support_hours_waits_for_them() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(&intake_policies());
    let mut sink = WebhookSink::start().await;
    // Friday 18:00 Pacific: support hours (Mon-Fri 09-17) are over for the weekend.
    let friday_evening = at("2026-03-07T02:00:00Z");
    let mut app = spawn_app(&dirs, &sink, Clock::anchored(friday_evening)).await;

    let low = app.trigger("office", Severity::Low, "printer").await;
    let kinds = app.timeline_kinds(low.incident_id).await;
    assert_eq!(kinds, [EventKind::Triggered, EventKind::Held]);
    // High urgency pages at once.
    let high = app.trigger("office", Severity::High, "vpn").await;
    assert_eq!(app.page(&mut sink).await.incident_id(), high.incident_id);
    resolve(&mut app, high.incident_id).await;

    // Monday 09:00 PDT (after the March 8 clock change) is 16:00Z: 62 hours on.
    let inc = app.get(low.incident_id).await.incident.unwrap();
    assert_eq!(
        inc.next_action_at.unwrap().seconds,
        at("2026-03-09T16:00:00Z").timestamp()
    );
    advance(mins(62 * 60) - Duration::from_secs(1)).await;
    sink.expect_quiet("paged before support hours").await;
    advance(Duration::from_secs(1)).await;
    let page = app.page(&mut sink).await;
    assert_eq!(
        (page.person(), page.incident_id()),
        ("alice", low.incident_id)
    );
    app.stop().await;
}

async fn reload(app: &TestApp) {
    let r = pagerd::proto::schedule_service_client::ScheduleServiceClient::new(app.channel.clone())
        .reload(pb::ReloadRequest {})
        .await
        .unwrap()
        .into_inner()
        .result
        .unwrap();
    assert!(r.applied, "{:?}", r.errors);
}

#[tokio::test(start_paused = true)]
async fn a_reload_that_shortens_a_file_window_releases_its_incidents_at_the_new_end() {
    let _frozen = freeze_time();
    // A file window on checkout for the first four hours.
    let window = |to: &str| {
        format!(
            "{}\n[[service]]\nname = \"quiet\"\nescalation_policy = \"eng\"\n\
             [[service.maintenance]]\nfrom = \"2026-03-02T17:00:00Z\"\nto = \"{to}\"\n",
            intake_policies()
        )
    };
    let dirs = AppDirs::new(&window("2026-03-02T21:00:00Z"));
    let mut sink = WebhookSink::start().await;
    let mut settings = test_settings(&dirs, &sink.url);
    settings.reload.watch = false;
    let mut app = spawn_app_with(settings, Clock::anchored(t0())).await;
    let r = app.trigger("quiet", Severity::High, "held").await;
    sink.expect_quiet("held in the window").await;

    // Shortened to end after one hour: released then, not at the old end.
    write_policies(&dirs, &window("2026-03-02T18:00:00Z"));
    reload(&app).await;
    advance(mins(59)).await;
    sink.expect_quiet("released before the new end").await;
    advance(mins(1)).await;
    let page = app.page(&mut sink).await;
    assert_eq!(
        (page.person(), page.incident_id()),
        ("alice", r.incident_id)
    );
    app.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_reload_that_changes_a_heartbeat_interval_applies_from_the_last_ping() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(&heartbeat_policies());
    let mut sink = WebhookSink::start().await;
    let mut settings = test_settings(&dirs, &sink.url);
    settings.reload.watch = false;
    let mut app = spawn_app_with(settings, Clock::anchored(t0())).await;
    advance(mins(10)).await;
    intake(&app)
        .heartbeat(pb::HeartbeatRequest {
            name: "backup".into(),
        })
        .await
        .unwrap();
    // 1 h → 30 min: it now expires 30 minutes after that ping, not 60.
    write_policies(
        &dirs,
        &heartbeat_policies().replace("interval = \"1h\"", "interval = \"30m\""),
    );
    reload(&app).await;
    advance(mins(29)).await;
    sink.expect_quiet("expired early").await;
    advance(mins(1)).await;
    let page = app.page(&mut sink).await;
    let inc = app.get(page.incident_id()).await.incident.unwrap();
    assert_eq!(inc.dedup_key, "heartbeat/backup");
    app.stop().await;
}
