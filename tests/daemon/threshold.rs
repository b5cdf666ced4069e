//! The threshold rule through the daemon: re-sends of an open incident never raise its
//! severity (from gRPC or from the real Alertmanager's PagerDuty integration re-sending a
//! group whenever it changes); a key that resolved and opened again within the window does,
//! and so do related open alerts of a service with `related_by`.

use std::process::Stdio;
use std::time::Duration;

use pagerd::engine::Clock;
use pagerd::proto::{self as pb, EventKind, IncidentState, Severity};
use serde_json::json;

use crate::alertmanager::{alertmanager_binary, wait_until};
use crate::helpers::*;
use crate::ingest::intake_policies;

/// The routing key of the service the real Alertmanager sends Events v2 to.
const AM_KEY: &str = "ThresholdAm000000000000000000001";

/// Test policies plus a service raising on the second opening within an hour, and one with
/// related alerts by alertname.
fn policies() -> String {
    format!(
        r#"{}
[[service]]
name = "am"
escalation_policy = "eng"
integration_keys = ["{AM_KEY}"]
threshold = {{ count = 2, within = "1h" }}

[[service]]
name = "cluster"
escalation_policy = "eng"
threshold = {{ count = 3, within = "1h" }}
related_by = ["alertname"]
"#,
        intake_policies()
    )
}

async fn resolve(app: &mut TestApp, id: i64) {
    app.incidents
        .resolve(pb::ResolveRequest {
            id,
            ..Default::default()
        })
        .await
        .expect("resolve accepted");
}

fn raised_event(got: &pb::GetIncidentResponse) -> Option<&pb::IncidentEvent> {
    got.timeline
        .iter()
        .find(|e| e.kind() == EventKind::SeverityRaised)
}

#[tokio::test(start_paused = true)]
async fn re_sends_never_raise_but_a_key_opening_again_within_the_window_does() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(&policies());
    let mut sink = WebhookSink::start().await;
    let mut app = spawn_app(&dirs, &sink, Clock::anchored(t0())).await;

    // Five re-sends of the open incident (checkout: 3 within 1h): counted, never raised.
    let first = app.trigger("checkout", Severity::High, "login").await;
    assert_eq!(app.page(&mut sink).await.person(), "alice");
    for _ in 0..5 {
        advance(mins(1)).await;
        let again = app.trigger("checkout", Severity::High, "login").await;
        assert!(again.deduplicated);
    }
    sink.expect_quiet("a re-send paged").await;
    let got = app.get(first.incident_id).await;
    let inc = got.incident.clone().unwrap();
    assert_eq!(inc.severity(), Severity::High);
    assert_eq!(inc.alert_count, 6);
    assert!(raised_event(&got).is_none());

    // Resolved and opened again: the third opening within the hour opens one step up and
    // pages the critical ladder (alice and bob).
    resolve(&mut app, first.incident_id).await;
    advance(mins(1)).await;
    let second = app.trigger("checkout", Severity::High, "login").await;
    assert!(!second.deduplicated);
    assert_eq!(app.page(&mut sink).await.person(), "alice");
    let got = app.get(second.incident_id).await;
    assert_eq!(got.incident.unwrap().severity(), Severity::High);
    resolve(&mut app, second.incident_id).await;
    advance(mins(1)).await;
    let third = app.trigger("checkout", Severity::High, "login").await;
    let pages = app.pages(&mut sink, 2).await;
    assert_eq!(persons(&pages), ["alice", "bob"]);
    let got = app.get(third.incident_id).await;
    assert_eq!(got.incident.clone().unwrap().severity(), Severity::Critical);
    let raised = raised_event(&got).expect("the raise is on the timeline");
    assert!(
        raised.message.contains("opened 3 times within 1h")
            && raised.message.contains("from high to critical"),
        "{}",
        raised.message
    );

    // Openings spread wider than the window do not raise.
    resolve(&mut app, third.incident_id).await;
    advance(mins(61)).await;
    let later = app.trigger("checkout", Severity::High, "login").await;
    assert_eq!(app.page(&mut sink).await.person(), "alice");
    let got = app.get(later.incident_id).await;
    assert_eq!(got.incident.unwrap().severity(), Severity::High);
    app.stop().await;
}

#[tokio::test(start_paused = true)]
async fn related_open_alerts_sharing_the_related_by_fields_raise_the_one_that_reaches_the_count() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(&policies());
    let sink = WebhookSink::start().await;
    let mut app = spawn_app(&dirs, &sink, Clock::anchored(t0())).await;
    let mut fire = async |key: &str, alertname: &str| {
        let r = app
            .alerts
            .trigger(pb::TriggerRequest {
                service: "cluster".into(),
                dedup_key: key.into(),
                severity: Severity::Medium as i32,
                summary: format!("{alertname} on {key}"),
                details: [("alertname".to_string(), alertname.to_string())].into(),
                ..Default::default()
            })
            .await
            .expect("trigger accepted")
            .into_inner();
        let got = app.get(r.incident_id).await;
        (r, got.incident.unwrap().severity())
    };
    assert_eq!(fire("node-1", "HighLatency").await.1, Severity::Medium);
    assert_eq!(fire("node-2", "HighLatency").await.1, Severity::Medium);
    // Another alertname is not related; a re-send of node-2 is not another alert.
    assert_eq!(fire("node-3", "DiskFull").await.1, Severity::Medium);
    let (resent, severity) = fire("node-2", "HighLatency").await;
    assert!(resent.deduplicated);
    assert_eq!(severity, Severity::Medium);
    // The third distinct open HighLatency alert opens one step up.
    let (third, severity) = fire("node-4", "HighLatency").await;
    assert_eq!(severity, Severity::High);
    let got = app.get(third.incident_id).await;
    let raised = raised_event(&got).expect("the raise is on the timeline");
    assert!(
        raised
            .message
            .contains("3 open alerts of this service within 1h share alertname=HighLatency"),
        "{}",
        raised.message
    );
    app.stop().await;
}

async fn get(app: &TestApp, id: i64) -> pb::GetIncidentResponse {
    app.incidents
        .clone()
        .get(pb::GetIncidentRequest {
            id,
            ..Default::default()
        })
        .await
        .expect("incident exists")
        .into_inner()
}

async fn am_incidents(app: &TestApp) -> Vec<pb::Incident> {
    app.incidents
        .clone()
        .list(pb::ListIncidentsRequest {
            service: "am".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .incidents
}

/// Alertmanager's own PagerDuty integration, pointed at `/v2/enqueue`: it re-sends a group's
/// trigger (same dedup key) whenever the group changes. Churn in a group must not raise; an
/// alert that resolves and fires again within the window must.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_group_churn_does_not_raise_but_a_flapping_alert_does() {
    let bin = alertmanager_binary();
    let dirs = AppDirs::new(&policies());
    let sink = WebhookSink::start().await;
    let app = spawn_app(&dirs, &sink, Clock::System).await;

    let am_dir = tempfile::tempdir().unwrap();
    let config = am_dir.path().join("alertmanager.yml");
    std::fs::write(
        &config,
        format!(
            r#"
route:
  receiver: pagerd
  group_by: ['alertname']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: pagerd
    pagerduty_configs:
      - routing_key: {AM_KEY}
        url: http://{}/v2/enqueue
        send_resolved: true
"#,
            app.http_addr
        ),
    )
    .unwrap();
    let port = free_port().port();
    let am_url = format!("http://127.0.0.1:{port}");
    let _am = tokio::process::Command::new(&bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.path={}",
            am_dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("Alertmanager starts");
    let http = reqwest::Client::new();
    wait_until("Alertmanager to be ready", Duration::from_secs(30), || {
        let http = http.clone();
        let url = format!("{am_url}/-/ready");
        async move {
            let ok = http.get(url).send().await.ok()?.status().is_success();
            ok.then_some(())
        }
    })
    .await;
    let alert = |name: &str, instance: &str, resolved: bool| {
        let mut a = json!({
            "labels": {"alertname": name, "instance": instance},
            "annotations": {"summary": format!("{name} on {instance}")},
            "startsAt": (chrono::Utc::now() - chrono::Duration::seconds(30)).to_rfc3339(),
        });
        if resolved {
            a["endsAt"] = json!((chrono::Utc::now() - chrono::Duration::seconds(1)).to_rfc3339());
        }
        a
    };
    let push = |alerts: serde_json::Value| {
        let http = http.clone();
        let url = format!("{am_url}/api/v2/alerts");
        async move {
            let resp = http.post(url).json(&alerts).send().await.unwrap();
            assert!(resp.status().is_success(), "{:?}", resp.text().await);
        }
    };
    // Waits for the incidents of one Alertmanager group (one dedup key) to satisfy `ok`.
    let group = |name: &'static str, ok: fn(&[pb::Incident]) -> bool| {
        let app = &app;
        async move {
            wait_until(name, Duration::from_secs(30), || async move {
                let list: Vec<pb::Incident> = am_incidents(app)
                    .await
                    .into_iter()
                    .filter(|i| i.summary.contains(name))
                    .collect();
                ok(&list).then_some(list)
            })
            .await
        }
    };

    // Group churn: three alerts, then two resolve and one more joins. Each change re-sends
    // the group's trigger with the same key: counted on the one incident, never raised.
    push(json!([
        alert("Churn", "a", false),
        alert("Churn", "b", false),
        alert("Churn", "c", false)
    ]))
    .await;
    let opened = group("Churn", |l| l.len() == 1).await.remove(0);
    push(json!([
        alert("Churn", "a", true),
        alert("Churn", "b", true)
    ]))
    .await;
    group("Churn", |l| l[0].alert_count >= 2).await;
    push(json!([alert("Churn", "d", false)])).await;
    let churned = group("Churn", |l| l[0].alert_count >= 3).await;
    assert_eq!(churned.len(), 1, "one incident for the group");
    assert_eq!(churned[0].id, opened.id);
    assert_eq!(churned[0].severity(), opened.severity());
    let got = get(&app, opened.id).await;
    assert!(raised_event(&got).is_none(), "{:?}", got.timeline);

    // Flapping: fires, resolves, fires again within the hour (count 2): the second
    // incident of the key opens one step up.
    push(json!([alert("Flap", "x", false)])).await;
    let first = group("Flap", |l| l.len() == 1).await.remove(0);
    push(json!([alert("Flap", "x", true)])).await;
    group("Flap", |l| l[0].state() == IncidentState::Resolved).await;
    push(json!([alert("Flap", "x", false)])).await;
    let both = group("Flap", |l| l.len() == 2).await;
    let second = both.iter().find(|i| i.id != first.id).unwrap();
    assert_eq!(second.dedup_key, first.dedup_key);
    assert_eq!(second.severity(), Severity::Critical);
    assert_eq!(first.severity(), Severity::High);
    let got = get(&app, second.id).await;
    let raised = raised_event(&got).expect("the raise is on the timeline");
    assert!(
        raised.message.contains("opened 2 times within 1h"),
        "{}",
        raised.message
    );
    app.stop().await;
}
