//! Durability across restarts: accepted alerts and due escalations survive.

use pagerd::engine::Clock;
use pagerd::proto::{EventKind, IncidentState, Severity};

use crate::helpers::*;

on_both_backends! {
    #[tokio::test(start_paused = true)]
    async fn a_pending_escalation_fires_after_a_restart(backend) {
        let _frozen = freeze_time();
        let dirs = AppDirs::on(backend, TEST_POLICIES);
        let mut sink = WebhookSink::start().await;
        // One clock for both runs, as the wall clock would be.
        let clock = Clock::anchored(t0());

        let mut app = spawn_app(&dirs, &sink, clock).await;
        let r = app.trigger("checkout", Severity::High, "restart").await;
        assert_eq!(app.page(&mut sink).await.person(), "alice");
        advance(mins(10)).await;
        app.stop().await;

        advance(mins(5)).await;
        let mut app = spawn_app(&dirs, &sink, clock).await;
        let inc = app.get(r.incident_id).await.incident.unwrap();
        assert_eq!(inc.state(), IncidentState::Triggered);
        assert_eq!(
            inc.next_action_at.unwrap().seconds,
            (t0() + chrono::Duration::minutes(30)).timestamp()
        );

        advance(mins(15) - std::time::Duration::from_secs(1)).await;
        sink.expect_quiet("escalated early after restart").await;
        advance(std::time::Duration::from_secs(1)).await;
        assert_eq!(app.page(&mut sink).await.person(), "bob");
        app.stop().await;
    }
}

on_both_backends! {
    #[tokio::test(start_paused = true)]
    async fn an_overdue_escalation_fires_at_start(backend) {
        let _frozen = freeze_time();
        let dirs = AppDirs::on(backend, TEST_POLICIES);
        let mut sink = WebhookSink::start().await;
        let clock = Clock::anchored(t0());

        let mut app = spawn_app(&dirs, &sink, clock).await;
        let r = app.trigger("checkout", Severity::Critical, "overdue").await;
        app.pages(&mut sink, 2).await;
        app.stop().await;

        // Down for two hours: dana's 15-minute escalation is long overdue. The clock stays frozen
        // from here, so the page can only come from the start-up pass.
        advance(mins(120)).await;
        let mut app = spawn_app(&dirs, &sink, clock).await;
        // The start-up pass may deliver before the test's Watch stream opens (it is live
        // only), so only the receiver is asked.
        assert_eq!(sink.next().await.person(), "dana");
        // The chain continues from the restart: victor 30 minutes after dana's page.
        let inc = app.get(r.incident_id).await.incident.unwrap();
        assert_eq!(
            inc.next_action_at.unwrap().seconds,
            (t0() + chrono::Duration::minutes(150)).timestamp()
        );
        advance(mins(30)).await;
        assert_eq!(app.page(&mut sink).await.person(), "victor");
        let kinds = app.timeline_kinds(r.incident_id).await;
        assert_eq!(
            kinds.iter().filter(|k| **k == EventKind::Escalated).count(),
            2
        );
        app.stop().await;
    }
}

on_both_backends! {
    #[tokio::test(start_paused = true)]
    async fn pages_queued_before_a_stop_are_delivered_after_restart_with_the_same_key(backend) {
        let _frozen = freeze_time();
        let dirs = AppDirs::on(backend, TEST_POLICIES);
        let mut sink = WebhookSink::start().await;
        let clock = Clock::anchored(t0());

        // The receiver is down (503) for the first attempt; the daemon stops before the retry.
        sink.fail_next(&[axum::http::StatusCode::SERVICE_UNAVAILABLE]);
        let mut app = spawn_app(&dirs, &sink, clock).await;
        let r = app.trigger("checkout", Severity::High, "retry").await;
        let failed = app.page(&mut sink).await;
        app.stop().await;

        let mut app = spawn_app(&dirs, &sink, clock).await;
        // retry_initial is 10 s with ±20% jitter.
        advance(std::time::Duration::from_secs(13)).await;
        let retried = app.page(&mut sink).await;
        assert_eq!(retried.idempotency_key, failed.idempotency_key);
        assert_eq!(retried.body["attempt"], 2);
        let kinds = app.timeline_kinds(r.incident_id).await;
        assert!(
            kinds.ends_with(&[EventKind::DeliveryFailed, EventKind::Delivered]),
            "{kinds:?}"
        );
        app.stop().await;
    }
}

on_both_backends! {
    #[tokio::test(start_paused = true)]
    async fn shutdown_finishes_in_flight_triggers_and_every_accepted_one_is_kept(backend) {
        let _frozen = freeze_time();
        let dirs = AppDirs::on(backend, TEST_POLICIES);
        let sink = WebhookSink::start().await;
        let clock = Clock::anchored(t0());

        let app = spawn_app(&dirs, &sink, clock).await;
        let mut calls = tokio::task::JoinSet::new();
        for i in 0..200 {
            let mut client = app.alerts.clone();
            calls.spawn(async move {
                let req = pagerd::proto::TriggerRequest {
                    service: "checkout".into(),
                    dedup_key: format!("k{i}"),
                    severity: Severity::High as i32,
                    summary: "storm".into(),
                    ..Default::default()
                };
                client.trigger(req).await.map(|r| r.into_inner())
            });
        }
        // Let some requests reach the server, then ask for shutdown while others are in flight.
        tokio::task::yield_now().await;
        app.stop().await;
        let mut accepted = std::collections::BTreeMap::new();
        while let Some(r) = calls.join_next().await {
            if let Ok(resp) = r.unwrap() {
                accepted.insert(resp.incident_id, resp.dedup_key);
            }
        }
        assert!(!accepted.is_empty(), "no trigger was in flight at shutdown");

        let mut app = spawn_app(&dirs, &sink, clock).await;
        let stored = app
            .incidents
            .list(pagerd::proto::ListIncidentsRequest {
                page_size: 500,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .incidents;
        let stored: std::collections::BTreeMap<_, _> =
            stored.into_iter().map(|i| (i.id, i.dedup_key)).collect();
        assert_eq!(stored, accepted, "exactly the accepted triggers are stored");
        app.stop().await;
    }
}
