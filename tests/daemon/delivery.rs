//! The outbox: every attempt is recorded; retries keep the idempotency key.

use axum::http::StatusCode;
use pagerd::proto::{EventKind, Severity};

use crate::helpers::*;

#[tokio::test(start_paused = true)]
async fn a_failed_delivery_is_retried_with_backoff_and_every_attempt_is_in_the_timeline() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(TEST_POLICIES);
    let mut sink = WebhookSink::start().await;
    sink.fail_next(&[StatusCode::SERVICE_UNAVAILABLE, StatusCode::BAD_GATEWAY]);
    let mut app = spawn_app(&dirs, &sink, pagerd::engine::Clock::anchored(t0())).await;
    let secs = std::time::Duration::from_secs;

    let r = app.trigger("checkout", Severity::High, "flaky").await;
    let a1 = app.page(&mut sink).await;
    // retry_initial is 10 s, doubling, with ±20% jitter: retry 1 in 8–12 s, retry 2 in 16–24 s.
    advance(secs(7)).await;
    sink.expect_quiet("retried before the backoff").await;
    advance(secs(5)).await;
    let a2 = app.page(&mut sink).await;
    advance(secs(15)).await;
    sink.expect_quiet("second retry came before the doubled backoff")
        .await;
    advance(secs(9)).await;
    let a3 = app.page(&mut sink).await;
    assert_eq!(a1.idempotency_key, a2.idempotency_key);
    assert_eq!(a2.idempotency_key, a3.idempotency_key);
    let attempts = [&a1, &a2, &a3].map(|a| a.body["attempt"].as_u64().unwrap());
    assert_eq!(attempts, [1, 2, 3]);

    let timeline = app.get(r.incident_id).await.timeline;
    let attempts: Vec<_> = timeline
        .iter()
        .filter(|e| matches!(e.kind(), EventKind::Delivered | EventKind::DeliveryFailed))
        .collect();
    assert_eq!(attempts.len(), 3);
    assert!(
        attempts[0].message.contains("503"),
        "{}",
        attempts[0].message
    );
    assert!(
        attempts[1].message.contains("502"),
        "{}",
        attempts[1].message
    );
    for a in &attempts {
        assert_eq!(
            (a.person.as_str(), a.channel.as_str()),
            ("alice", "webhook")
        );
    }
    app.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_client_error_fails_the_page_for_good_without_retrying() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(TEST_POLICIES);
    let mut sink = WebhookSink::start().await;
    sink.fail_next(&[StatusCode::NOT_FOUND]);
    let mut app = spawn_app(&dirs, &sink, pagerd::engine::Clock::anchored(t0())).await;

    let r = app.trigger("checkout", Severity::High, "gone").await;
    app.page(&mut sink).await;
    advance(mins(10)).await;
    sink.expect_quiet("a permanent failure was retried").await;
    let failed = app
        .get(r.incident_id)
        .await
        .timeline
        .into_iter()
        .find(|e| e.kind() == EventKind::DeliveryFailed)
        .unwrap();
    assert!(
        failed.message.contains("failed for good"),
        "{}",
        failed.message
    );
    app.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_webhook_body_carries_the_incident_and_the_persons_contacts() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(TEST_POLICIES);
    let mut sink = WebhookSink::start().await;
    let mut app = spawn_app(&dirs, &sink, pagerd::engine::Clock::anchored(t0())).await;

    let r = app
        .alerts
        .trigger(pagerd::proto::TriggerRequest {
            service: "checkout".into(),
            dedup_key: "body".into(),
            severity: Severity::High as i32,
            summary: "p99 latency over 2s".into(),
            source: "prometheus".into(),
            details: [("region".to_string(), "eu-west-1".to_string())].into(),
            links: vec![pagerd::proto::Link {
                href: "https://grafana.example.com/d/1".into(),
                text: "dashboard".into(),
            }],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let page = app.page(&mut sink).await;
    let b = &page.body;
    assert_eq!(b["incident"]["id"], r.incident_id);
    assert_eq!(b["incident"]["summary"], "p99 latency over 2s");
    assert_eq!(b["incident"]["severity"], "high");
    assert_eq!(b["incident"]["details"]["region"], "eu-west-1");
    assert_eq!(
        b["incident"]["links"][0]["href"],
        "https://grafana.example.com/d/1"
    );
    assert_eq!(b["person"]["email"], "alice@example.com");
    assert_eq!(b["person"]["time_zone"], "America/Los_Angeles");
    assert_eq!(b["idempotency_key"], page.idempotency_key.as_str());
    app.stop().await;
}
