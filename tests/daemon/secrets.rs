//! Provider secrets never reach a timeline or the log: the real `pagerd` binary pages
//! through a webhook and a Slack incoming webhook whose URLs carry secrets (in the path and
//! the query), and the providers fail — one refuses the connection, the other answers 500
//! with a body echoing the URL, as a careless provider does. The secrets appear nowhere in
//! `Get`, in `Watch`, or in the daemon's log.

use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{StatusCode, Uri};
use pagerd::proto::incident_service_client::IncidentServiceClient;
use pagerd::proto::{self as pb, EventKind, Severity};
use tokio::net::TcpListener;

use crate::helpers::*;

const PATH_SECRET: &str = "XoxSecretWebhookToken123";
const QUERY_SECRET: &str = "QuerySecret456789";
const SLACK_SECRET: &str = "B0SLACKSECRET9876";

const POLICIES: &str = r#"
[[person]]
name = "alice"
time_zone = "UTC"
slack = "U0ALICE"
contact_rules = [{ method = "slack", after = "0m" }]

[[service]]
name = "checkout"
escalation_policy = "eng"

[[escalation_policy]]
name = "eng"
levels = [{ targets = ["alice"], delay = "30m" }]
"#;

/// A provider that answers every request 500, echoing what it was asked for.
async fn failing_provider() -> String {
    let router = Router::new().fallback(|uri: Uri| async move {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("no such hook: {uri}"),
        )
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

/// A loopback address nothing listens on: connections are refused.
async fn refusing_provider() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    base
}

/// Runs the daemon with these provider URLs, triggers one alert, waits for a failed
/// delivery on both channels; returns everything a responder or an operator could read.
async fn run(webhook: &str, slack: &str) -> String {
    let dirs = AppDirs::new(POLICIES);
    let mut spec = ProcessSpec::new(env!("CARGO_BIN_EXE_pagerd"), &dirs);
    spec.log_filter = "info".into();
    spec.webhook_url = Some(format!(
        "{webhook}/hooks/{PATH_SECRET}?token={QUERY_SECRET}"
    ));
    spec.env = vec![(
        "PAGERD_NOTIFY__SLACK__WEBHOOK_URL".into(),
        format!("{slack}/services/T0TEAM/{SLACK_SECRET}"),
    )];
    let mut daemon = DaemonProcess::start(&spec).await.expect("pagerd starts");
    let channel = tonic::transport::Channel::from_shared(daemon.grpc_url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let channel = with_token(channel, &daemon.admin_token().await);
    let mut incidents = IncidentServiceClient::new(channel.clone());
    let mut watch = incidents
        .watch(pb::WatchRequest::default())
        .await
        .unwrap()
        .into_inner();
    let id = pagerd::proto::alert_service_client::AlertServiceClient::new(channel)
        .trigger(pb::TriggerRequest {
            service: "checkout".into(),
            dedup_key: "secrets".into(),
            severity: Severity::High as i32,
            summary: "checkout is down".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .incident_id;

    let mut seen = String::new();
    let mut failed_on = std::collections::BTreeSet::new();
    while failed_on.len() < 2 {
        let ev = within("a failed delivery on Watch", watch.message())
            .await
            .expect("watch stream")
            .expect("watch open");
        seen.push_str(&format!("{ev:?}\n"));
        if ev.kind() == EventKind::DeliveryFailed {
            failed_on.insert(ev.channel.clone());
        }
    }
    assert_eq!(
        failed_on.into_iter().collect::<Vec<_>>(),
        ["slack", "webhook"],
        "{seen}"
    );
    let got = incidents
        .get(pb::GetIncidentRequest {
            id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    seen.push_str(&format!("{got:?}\n"));
    // The failure is logged (as a warning) before the outcome is recorded; wait for it.
    let start = Instant::now();
    loop {
        let log = std::fs::read_to_string(&daemon.log).unwrap_or_default();
        if log.contains("slack") && log.contains("webhook") || start.elapsed().as_secs() > 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, status) = daemon.terminate().await.unwrap();
    assert!(status.success(), "{}", daemon.log_tail());
    seen.push_str(&std::fs::read_to_string(&daemon.log).unwrap());
    seen
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in [PATH_SECRET, QUERY_SECRET, SLACK_SECRET] {
        assert!(
            !text.contains(secret),
            "{what}: `{secret}` leaked in:\n{text}"
        );
    }
}

#[tokio::test]
async fn provider_urls_never_appear_in_timelines_watch_or_the_log_when_providers_fail() {
    let refusing = refusing_provider().await;
    let failing = failing_provider().await;

    let seen = run(&refusing, &failing).await;
    assert!(
        seen.contains("webhook request failed: error sending request"),
        "the failure is still described:\n{seen}"
    );
    assert!(seen.contains("provider answered HTTP 500"), "{seen}");
    assert!(seen.contains("[redacted]"), "{seen}");
    assert_no_secret("webhook refused, Slack 500", &seen);

    let seen = run(&failing, &refusing).await;
    assert!(seen.contains("Slack webhook failed"), "{seen}");
    assert!(seen.contains("webhook answered 500"), "{seen}");
    assert_no_secret("webhook 500, Slack refused", &seen);
}
