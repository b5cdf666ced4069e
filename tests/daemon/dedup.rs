//! Deduplication follows PagerDuty Events v2 rules.

use pagerd::proto::{self as pb, EventKind, IncidentState, Severity};

use crate::helpers::*;

on_both_backends! {
    #[tokio::test(start_paused = true)]
    async fn a_trigger_with_an_open_incidents_key_is_added_to_it_and_pages_nobody(backend) {
        let _frozen = freeze_time();
        let dirs = AppDirs::on(backend, TEST_POLICIES);
        let mut sink = WebhookSink::start().await;
        let mut app = spawn_app(&dirs, &sink, pagerd::engine::Clock::anchored(t0())).await;

        let first = app.trigger("checkout", Severity::High, "cpu").await;
        app.page(&mut sink).await;
        advance(mins(1)).await;
        let again = app.trigger("checkout", Severity::High, "cpu").await;
        assert!(again.deduplicated);
        assert_eq!(again.incident_id, first.incident_id);
        assert_eq!(again.alert_count, 2);
        sink.expect_quiet("a duplicate paged someone").await;

        let inc = app.get(first.incident_id).await.incident.unwrap();
        assert_eq!(inc.alert_count, 2);
        assert_eq!(
            inc.last_seen_at.unwrap().seconds - inc.created_at.unwrap().seconds,
            60
        );
        assert!(
            app.timeline_kinds(first.incident_id)
                .await
                .contains(&EventKind::Deduplicated)
        );

        // The same key on another service is another incident.
        let other = app.trigger("tools", Severity::High, "cpu").await;
        assert!(!other.deduplicated);
        assert_ne!(other.incident_id, first.incident_id);

        // Still deduplicated while acknowledged; after resolve the key opens a new incident.
        app.ack(first.incident_id, "alice").await;
        assert!(
            app.trigger("checkout", Severity::High, "cpu")
                .await
                .deduplicated
        );
        let resolved = app
            .alerts
            .resolve(pb::AlertResolveRequest {
                service: "checkout".into(),
                dedup_key: "cpu".into(),
                by: "prometheus".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(resolved.matched && resolved.changed);
        assert_eq!(resolved.incident_id, first.incident_id);
        assert_eq!(resolved.state(), IncidentState::Resolved);

        let fresh = app.trigger("checkout", Severity::High, "cpu").await;
        assert!(!fresh.deduplicated);
        assert_ne!(fresh.incident_id, first.incident_id);
        app.stop().await;
    }
}

#[tokio::test(start_paused = true)]
async fn ack_and_resolve_for_a_key_without_an_open_incident_are_reported_no_ops() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(TEST_POLICIES);
    let sink = WebhookSink::start().await;
    let mut app = spawn_app(&dirs, &sink, pagerd::engine::Clock::anchored(t0())).await;

    let ack = app
        .alerts
        .acknowledge(pb::AlertAcknowledgeRequest {
            service: "checkout".into(),
            dedup_key: "nope".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        ack,
        pb::AlertActionResponse::default(),
        "matched = false, nothing changed"
    );
    let res = app
        .alerts
        .resolve(pb::AlertResolveRequest {
            service: "checkout".into(),
            dedup_key: "nope".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!res.matched);

    // Acknowledge by key works on an open one, and a second ack reports no change.
    let r = app.trigger("checkout", Severity::Low, "k").await;
    let req = pb::AlertAcknowledgeRequest {
        service: "checkout".into(),
        dedup_key: "k".into(),
        by: "grafana".into(),
        ..Default::default()
    };
    let first = app
        .alerts
        .acknowledge(req.clone())
        .await
        .unwrap()
        .into_inner();
    assert!(first.matched && first.changed);
    assert_eq!(first.incident_id, r.incident_id);
    let second = app.alerts.acknowledge(req).await.unwrap().into_inner();
    assert!(second.matched && !second.changed);
    let listed = app
        .incidents
        .list(pb::ListIncidentsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.incidents.len(), 1, "no-ops created nothing");
    app.stop().await;
}
