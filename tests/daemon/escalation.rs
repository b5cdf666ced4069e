//! Escalation over (paused) time: levels, per-severity ladders, repeat, ack, ack timeout.

use std::time::Duration;

use pagerd::engine::Clock;
use pagerd::proto::{self as pb, EventKind, IncidentState, Severity};

use crate::helpers::*;

fn secs_after_t0(ts: &Option<prost_types::Timestamp>) -> i64 {
    ts.as_ref().expect("timestamp set").seconds - t0().timestamp()
}

on_both_backends! {
    #[tokio::test(start_paused = true)]
    async fn second_level_is_paged_when_first_level_does_not_acknowledge_and_ack_stops_paging(backend) {
        let _frozen = freeze_time();
        let dirs = AppDirs::on(backend, TEST_POLICIES);
        let mut sink = WebhookSink::start().await;
        let mut app = spawn_app(&dirs, &sink, Clock::anchored(t0())).await;

        let r = app.trigger("checkout", Severity::High, "disk-full").await;
        assert!(!r.deduplicated);
        let first = app.page(&mut sink).await;
        assert_eq!(
            (first.person(), first.level(), first.kind()),
            ("alice", 1, "page")
        );
        assert_eq!(first.incident_id(), r.incident_id);
        assert!(!first.idempotency_key.is_empty());

        // One second before the 30-minute delay runs out, level 2 is still only scheduled.
        advance(mins(30) - Duration::from_secs(1)).await;
        let inc = app.get(r.incident_id).await.incident.unwrap();
        assert_eq!(
            (inc.level, secs_after_t0(&inc.next_action_at)),
            (0, 30 * 60)
        );
        sink.expect_quiet("level 2 paged before its delay").await;

        advance(Duration::from_secs(1)).await;
        let second = app.page(&mut sink).await;
        assert_eq!((second.person(), second.level()), ("bob", 2));

        let acked = app.ack(r.incident_id, "bob").await;
        assert!(acked.changed);
        let inc = acked.incident.unwrap();
        assert_eq!(inc.state(), IncidentState::Acknowledged);
        // The admin token acknowledged; "bob" is only a note.
        assert_eq!(inc.acknowledged_by, "local-admin");
        // Only the 4h ack timeout is pending; the escalation to the next level is gone.
        assert_eq!(secs_after_t0(&inc.next_action_at), 30 * 60 + 4 * 3600);

        advance(mins(200)).await;
        sink.expect_quiet("paging continued after acknowledgement")
            .await;
        assert_eq!(
            app.timeline_kinds(r.incident_id).await,
            [
                EventKind::Triggered,
                EventKind::Paged,
                EventKind::Delivered,
                EventKind::Escalated,
                EventKind::Paged,
                EventKind::Delivered,
                EventKind::Acknowledged,
            ]
        );
        // A second acknowledgement changes nothing.
        let again = app.ack(r.incident_id, "alice").await;
        assert!(!again.changed);
        assert_eq!(again.incident.unwrap().acknowledged_by, "local-admin");
        app.stop().await;
    }
}

on_both_backends! {
    #[tokio::test(start_paused = true)]
    async fn critical_incidents_climb_the_critical_ladder_on_its_timeline(backend) {
        let _frozen = freeze_time();
        let dirs = AppDirs::on(backend, TEST_POLICIES);
        let mut sink = WebhookSink::start().await;
        let mut app = spawn_app(&dirs, &sink, Clock::anchored(t0())).await;

        let r = app.trigger("checkout", Severity::Critical, "p0").await;
        assert_eq!(persons(&app.pages(&mut sink, 2).await), ["alice", "bob"]);

        // 15m → dana, 30m → victor, 1h → cora, 2h → erin, each one second late: not yet.
        for (wait, who, level) in [
            (15, "dana", 2),
            (30, "victor", 3),
            (60, "cora", 4),
            (120, "erin", 5),
        ] {
            advance(mins(wait) - Duration::from_secs(1)).await;
            sink.expect_quiet(&format!("{who} paged early")).await;
            advance(Duration::from_secs(1)).await;
            let page = app.page(&mut sink).await;
            assert_eq!((page.person(), page.level()), (who, level));
        }

        // Erin's 4h pass ends the chain (repeat 0): erin is told it went unanswered, nothing more.
        advance(mins(240)).await;
        let notice = app.page(&mut sink).await;
        assert_eq!((notice.person(), notice.kind()), ("erin", "unanswered"));
        let got = app.get(r.incident_id).await;
        let inc = got.incident.unwrap();
        assert_eq!(
            inc.state(),
            IncidentState::Triggered,
            "an unanswered incident stays open"
        );
        assert_eq!(inc.level, 4);
        assert!(inc.next_action_at.is_none(), "nothing more is scheduled");
        assert!(
            got.timeline
                .iter()
                .any(|e| e.kind() == EventKind::Unanswered)
        );
        advance(mins(600)).await;
        sink.expect_quiet("paged after the chain was exhausted")
            .await;
        app.stop().await;
    }
}

#[tokio::test(start_paused = true)]
async fn high_severity_uses_the_default_ladder_not_the_critical_one() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(TEST_POLICIES);
    let mut sink = WebhookSink::start().await;
    let mut app = spawn_app(&dirs, &sink, Clock::anchored(t0())).await;

    app.trigger("checkout", Severity::High, "sev2").await;
    assert_eq!(persons(&app.pages(&mut sink, 1).await), ["alice"]);
    advance(mins(15)).await;
    sink.expect_quiet("high severity followed the 15-minute critical step")
        .await;
    advance(mins(15)).await;
    assert_eq!(app.page(&mut sink).await.person(), "bob");
    app.stop().await;
}

#[tokio::test(start_paused = true)]
async fn until_acknowledged_policies_loop_until_someone_acknowledges() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(TEST_POLICIES);
    let mut sink = WebhookSink::start().await;
    let mut app = spawn_app(&dirs, &sink, Clock::anchored(t0())).await;

    let r = app.trigger("tools", Severity::Low, "").await;
    assert!(
        !r.dedup_key.is_empty(),
        "a dedup key is generated when absent"
    );
    let mut seen = vec![app.page(&mut sink).await.person().to_string()];
    for _ in 0..6 {
        advance(mins(10)).await;
        seen.push(app.page(&mut sink).await.person().to_string());
    }
    assert_eq!(
        seen,
        ["sam", "alice", "sam", "alice", "sam", "alice", "sam"]
    );
    let inc = app.get(r.incident_id).await.incident.unwrap();
    assert_eq!((inc.level, inc.r#loop), (0, 3));

    app.ack(r.incident_id, "sam").await;
    advance(mins(120)).await;
    sink.expect_quiet("looping continued after acknowledgement")
        .await;
    app.stop().await;
}

#[tokio::test(start_paused = true)]
async fn bounded_repeat_runs_the_chain_again_then_reports_it_unanswered() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(TEST_POLICIES);
    let mut sink = WebhookSink::start().await;
    let mut app = spawn_app(&dirs, &sink, Clock::anchored(t0())).await;

    app.trigger("batch", Severity::Medium, "nightly").await;
    let mut kinds = vec![];
    for i in 0..3 {
        if i > 0 {
            advance(mins(5)).await;
        }
        let p = app.page(&mut sink).await;
        kinds.push(format!("{}:{}", p.person(), p.kind()));
    }
    assert_eq!(kinds, ["sam:page", "sam:page", "sam:unanswered"]);
    advance(mins(60)).await;
    sink.expect_quiet("paged after the repeat ran out").await;
    app.stop().await;
}

on_both_backends! {
    #[tokio::test(start_paused = true)]
    async fn acknowledged_incident_is_retriggered_and_escalated_after_the_ack_timeout(backend) {
        let _frozen = freeze_time();
        let dirs = AppDirs::on(backend, TEST_POLICIES);
        let mut sink = WebhookSink::start().await;
        let mut app = spawn_app(&dirs, &sink, Clock::anchored(t0())).await;

        let r = app.trigger("checkout", Severity::High, "slow").await;
        assert_eq!(app.page(&mut sink).await.person(), "alice");
        let acked = app.ack(r.incident_id, "alice").await.incident.unwrap();
        assert_eq!(secs_after_t0(&acked.next_action_at), 4 * 3600);

        advance(mins(239)).await;
        sink.expect_quiet("re-triggered before the ack timeout")
            .await;
        advance(mins(1)).await;
        let page = app.page(&mut sink).await;
        assert_eq!(
            (page.person(), page.level()),
            ("bob", 2),
            "ack timeout escalates to the next level"
        );
        let inc = app.get(r.incident_id).await.incident.unwrap();
        assert_eq!(inc.state(), IncidentState::Triggered);
        assert!(
            app.timeline_kinds(r.incident_id)
                .await
                .contains(&EventKind::Retriggered)
        );

        // Resolving stops everything, including the pending escalation.
        let resolved = app
            .incidents
            .resolve(pb::ResolveRequest {
                id: r.incident_id,
                by: "bob".into(),
                note: "rolled back".into(),
            })
            .await
            .unwrap()
            .into_inner();
        let inc = resolved.incident.unwrap();
        assert_eq!(inc.state(), IncidentState::Resolved);
        // `by` names someone other than the admin token: kept as a note only.
        assert_eq!(inc.resolve_note, "rolled back (note: by=bob)");
        assert!(inc.next_action_at.is_none());
        advance(mins(600)).await;
        sink.expect_quiet("paged after resolve").await;
        app.stop().await;
    }
}

#[tokio::test(start_paused = true)]
async fn manual_escalation_pages_the_next_level_now_and_restarts_its_timer() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(TEST_POLICIES);
    let mut sink = WebhookSink::start().await;
    let mut app = spawn_app(&dirs, &sink, Clock::anchored(t0())).await;

    let r = app.trigger("checkout", Severity::Critical, "manual").await;
    app.pages(&mut sink, 2).await;
    advance(mins(5)).await;
    let esc = app
        .incidents
        .escalate(pb::EscalateRequest {
            id: r.incident_id,
            by: "alice".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let inc = esc.incident.unwrap();
    assert_eq!(inc.level, 1);
    // Dana's level gets its full 30 minutes from now, not the old 15-minute mark.
    assert_eq!(secs_after_t0(&inc.next_action_at), 35 * 60);
    assert_eq!(app.page(&mut sink).await.person(), "dana");
    advance(mins(30)).await;
    assert_eq!(app.page(&mut sink).await.person(), "victor");

    // At the end of a chain without repeats, manual escalation is refused.
    let end = app.trigger("checkout", Severity::High, "end").await;
    app.page(&mut sink).await;
    let req = pb::EscalateRequest {
        id: end.incident_id,
        by: String::new(),
    };
    app.incidents.escalate(req.clone()).await.unwrap();
    app.page(&mut sink).await;
    let err = app.incidents.escalate(req).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition, "{err:?}");
    assert!(err.message().contains("last level"), "{}", err.message());
    app.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_schedule_target_pages_whoever_is_on_call_and_its_owner_in_a_gap() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(TEST_POLICIES);
    let mut sink = WebhookSink::start().await;
    let mut app = spawn_app(&dirs, &sink, Clock::anchored(t0())).await;

    // t0 is Monday 09:00 Pacific: the evening schedule has nobody on call, so its owner is
    // paged and the incident records the gap instead of waiting silently.
    let day = app.trigger("web", Severity::High, "daytime").await;
    assert_eq!(app.page(&mut sink).await.person(), "victor");
    let paged = app
        .get(day.incident_id)
        .await
        .timeline
        .into_iter()
        .find(|e| e.kind() == EventKind::Paged)
        .unwrap();
    assert!(
        paged
            .message
            .contains("schedule evenings has nobody on call: paging its owner victor"),
        "{}",
        paged.message
    );
    // Its ladder goes on: dana after the level's 10 minutes, then the unanswered notice.
    advance(mins(10)).await;
    assert_eq!(app.page(&mut sink).await.person(), "dana");
    advance(mins(10)).await;
    assert_eq!(app.page(&mut sink).await.kind(), "unanswered");

    // 17:00 Pacific: sam's evening turn has begun.
    advance(mins(8 * 60 - 20)).await;
    app.trigger("web", Severity::High, "evening").await;
    assert_eq!(app.page(&mut sink).await.person(), "sam");
    app.stop().await;
}
