//! The real Prometheus Alertmanager (Debian's `prometheus-alertmanager`) sends its webhook to
//! pagerd: alerts pushed to its API open incidents, and resolving them resolves the
//! incidents. Real time throughout (Alertmanager runs its own clock), with bounded waits.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use pagerd::engine::Clock;
use pagerd::proto::{self as pb, IncidentState, Severity};
use serde_json::json;

use crate::helpers::*;
use crate::ingest::{PAYMENTS_KEY, intake_policies};

/// The Alertmanager binary, installed by `.ci/install-alertmanager` when missing.
pub(crate) fn alertmanager_binary() -> PathBuf {
    let find = || {
        ["prometheus-alertmanager", "alertmanager"]
            .iter()
            .find_map(|name| {
                std::env::var_os("PATH").and_then(|paths| {
                    std::env::split_paths(&paths)
                        .map(|dir| dir.join(name))
                        .find(|p| p.is_file())
                })
            })
    };
    if let Some(bin) = find() {
        return bin;
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci/install-alertmanager");
    let status = std::process::Command::new(&script).status();
    find().unwrap_or_else(|| {
        panic!(
            "prometheus-alertmanager is not installed and {} could not install it ({status:?}); \
             install the Debian package prometheus-alertmanager",
            script.display()
        )
    })
}

pub(crate) async fn wait_until<F, Fut, T>(what: &str, limit: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn payments_incidents(app: &TestApp) -> Vec<pb::Incident> {
    app.incidents
        .clone()
        .list(pb::ListIncidentsRequest {
            service: "payments".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .incidents
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_alerts_open_and_resolve_pagerd_incidents() {
    let bin = alertmanager_binary();
    let dirs = AppDirs::new(&intake_policies());
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
    webhook_configs:
      - url: http://{}/integrations/alertmanager/{PAYMENTS_KEY}
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
        // No gossip: a lone test instance.
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

    // Two alerts of one group, sharing a summary: two incidents (keys from the fingerprint),
    // routed by the team label, severity from the severity label.
    let alert = |instance: &str, ends: Option<chrono::DateTime<chrono::Utc>>| {
        let mut a = json!({
            "labels": {"alertname": "CheckoutErrors", "severity": "critical",
                       "instance": instance, "team": "billing"},
            "annotations": {"summary": "Checkout error rate above 5%"},
            "startsAt": (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339(),
            "generatorURL": "http://prometheus.example/graph",
        });
        if let Some(t) = ends {
            a["endsAt"] = json!(t.to_rfc3339());
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
    push(json!([alert("web-1", None), alert("web-2", None)])).await;

    let open = wait_until(
        "two incidents from Alertmanager",
        Duration::from_secs(30),
        || {
            let app = &app;
            async move {
                let list = payments_incidents(app).await;
                (list.len() == 2).then_some(list)
            }
        },
    )
    .await;
    for inc in &open {
        assert_eq!(inc.summary, "Checkout error rate above 5%");
        assert_eq!(inc.severity(), Severity::Critical);
        assert_eq!(inc.escalation_policy, "billing");
        assert!(inc.dedup_key.starts_with("am/"), "{}", inc.dedup_key);
        assert_eq!(inc.state(), IncidentState::Triggered);
    }
    assert_ne!(open[0].dedup_key, open[1].dedup_key);
    let sources: Vec<&str> = open.iter().map(|i| i.source.as_str()).collect();
    assert!(sources.contains(&"web-1") && sources.contains(&"web-2"));

    // Resolve web-1 in Alertmanager (endsAt in the past): its incident resolves, the other
    // stays open.
    let past = chrono::Utc::now() - chrono::Duration::seconds(1);
    push(json!([alert("web-1", Some(past))])).await;
    let after = wait_until(
        "the web-1 incident to resolve",
        Duration::from_secs(30),
        || {
            let app = &app;
            async move {
                let list = payments_incidents(app).await;
                list.iter()
                    .any(|i| i.source == "web-1" && i.state() == IncidentState::Resolved)
                    .then_some(list)
            }
        },
    )
    .await;
    let web1 = after.iter().find(|i| i.source == "web-1").unwrap();
    assert_eq!(web1.resolved_by, "alertmanager");
    let web2 = after.iter().find(|i| i.source == "web-2").unwrap();
    assert_ne!(web2.state(), IncidentState::Resolved);
    // Repeated notifications of the still-firing alert do not open more incidents.
    assert_eq!(after.len(), 2);
    app.stop().await;
}
