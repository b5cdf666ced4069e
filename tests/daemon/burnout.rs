//! Burnout limits in the running daemon: simulated quarters on a paused clock, the shift
//! ledger, projections with reasons, the owner told when nobody is eligible, the load report,
//! and restarts.

use chrono::{DateTime, Duration as Days, Utc};
use pagerd::engine::Clock;
use pagerd::proto::report_service_client::ReportServiceClient;
use pagerd::proto::schedule_service_client::ScheduleServiceClient;
use pagerd::proto::{self as pb, Severity};

use crate::helpers::*;

pub(crate) const POLICIES: &str = r#"
[[person]]
name = "ann"
time_zone = "UTC"
[[person]]
name = "bob"
time_zone = "UTC"
[[person]]
name = "cat"
time_zone = "UTC"
[[person]]
name = "victor"
time_zone = "UTC"

[[service]]
name = "api"
escalation_policy = "rota"
[[escalation_policy]]
name = "rota"
levels = [{ schedules = ["rota"], delay = "8h" }]

[[service]]
name = "night"
escalation_policy = "evenings"
[[escalation_policy]]
name = "evenings"
levels = [{ schedules = ["evenings"], delay = "8h" }]

# Weekly 24/7, Monday 09:00 UTC; at most 4 weeks a quarter (the other rules at their defaults
# never bind here: no evening layer, no incidents).
[[schedule]]
name = "rota"
time_zone = "UTC"
owner = "victor"
handoff_notifications = "off"
[schedule.burnout]
max_weeks_per_quarter = 4
[[schedule.layer]]
name = "weekly"
members = ["ann", "bob", "cat"]
shift = "1w"
start = "2026-01-05T09:00"

# Three people, weekly, the rest rule alone (default: a week after more than 3 incidents).
[[service]]
name = "web"
escalation_policy = "primary"
[[escalation_policy]]
name = "primary"
levels = [{ schedules = ["primary"], delay = "8h" }]
[[schedule]]
name = "primary"
time_zone = "UTC"
owner = "victor"
handoff_notifications = "off"
[schedule.burnout]
max_weeks_per_quarter = 0
[[schedule.layer]]
name = "weekly"
members = ["ann", "bob", "cat"]
shift = "1w"
start = "2026-01-05T09:00"

# Evenings only; no quarter cap, so the evening and rest rules show alone.
[[schedule]]
name = "evenings"
time_zone = "UTC"
owner = "victor"
handoff_notifications = "off"
[schedule.burnout]
max_weeks_per_quarter = 0
max_consecutive_evening_weeks = 2
rest_after_busy_week = 3
[[schedule.layer]]
name = "evenings"
members = ["ann", "bob"]
shift = "1w"
start = "2026-01-05T09:00"
restrictions = [{ daily = "17:00-09:00" }]
evening = true
"#;

pub(crate) fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

pub(crate) fn ts(t: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

/// Monday 2026-01-05 10:00 UTC: the first turn started an hour ago.
pub(crate) fn start() -> DateTime<Utc> {
    at("2026-01-05T10:00:00Z")
}

pub(crate) async fn shift_at(app: &TestApp, schedule: &str, when: DateTime<Utc>) -> pb::Shift {
    ScheduleServiceClient::new(app.channel.clone())
        .on_call(pb::OnCallRequest {
            schedule: schedule.into(),
            at: ts(when),
        })
        .await
        .expect("OnCall")
        .into_inner()
        .shift
        .expect("someone is on call")
}

async fn shifts(app: &TestApp, schedule: &str, from: &str, to: &str) -> Vec<pb::Shift> {
    ScheduleServiceClient::new(app.channel.clone())
        .shifts(pb::ShiftsRequest {
            schedule: schedule.into(),
            from: ts(at(from)),
            to: ts(at(to)),
        })
        .await
        .expect("Shifts")
        .into_inner()
        .shifts
}

/// Waits (real time) until the turn in progress is in the ledger: the daemon has run the
/// recording due at the last turn start and projected again.
pub(crate) async fn settle(app: &TestApp, clock: Clock) {
    within("the turn in progress is recorded", async {
        while shift_at(app, "rota", clock.now()).await.projected
            || shift_at(app, "primary", clock.now()).await.projected
        {
            real_timeout(
                mins(0) + std::time::Duration::from_millis(20),
                std::future::pending::<()>(),
            )
            .await;
        }
    })
    .await
}

/// Advances the paused clock to `t` a day at a time, letting the daemon record each turn at
/// its start.
pub(crate) async fn advance_to(app: &TestApp, clock: Clock, t: DateTime<Utc>) {
    loop {
        settle(app, clock).await;
        let left = t - clock.now();
        if left <= Days::zero() {
            return;
        }
        advance(left.min(Days::days(1)).to_std().unwrap()).await;
    }
}

pub(crate) async fn trigger_paged(
    app: &mut TestApp,
    sink: &mut WebhookSink,
    service: &str,
    key: &str,
) -> (i64, String) {
    let r = app.trigger(service, Severity::High, key).await;
    let page = app.page(sink).await;
    (r.incident_id, page.person().to_string())
}

pub(crate) async fn resolve(app: &mut TestApp, id: i64) {
    app.incidents
        .resolve(pb::ResolveRequest {
            id,
            by: "test".into(),
            note: String::new(),
        })
        .await
        .expect("resolve accepted");
}

const CAP_9_MARCH: &str = "ann skipped: 4 on-call weeks in 2026-Q1 already (limit 4) → bob; \
     ann is owed bob's next turn (back to back: nobody else eligible)";

on_both_backends! {
    #[tokio::test(start_paused = true)]
    async fn the_quarter_cap_moves_turns_flags_overrides_and_tells_the_owner_when_nobody_is_eligible(backend) {
        let _frozen = freeze_time();
        let dirs = AppDirs::on(backend, POLICIES);
        let mut sink = WebhookSink::start().await;
        let clock = Clock::anchored(start());
        let app = spawn_app(&dirs, &sink, clock).await;

        // Ann covers bob's second week: her weeks count (2 by 19 January).
        ScheduleServiceClient::new(app.channel.clone())
            .add_override(pb::AddOverrideRequest {
                schedule: "rota".into(),
                person: "ann".into(),
                start: ts(at("2026-01-12T09:00:00Z")),
                end: ts(at("2026-01-19T09:00:00Z")),
                reason: "swap".into(),
                by: "victor".into(),
            })
            .await
            .expect("AddOverride");

        // Projected: ann has 4 weeks after 16 February, so her turn of 9 March goes to bob.
        let s = shift_at(&app, "rota", at("2026-03-10T00:00:00Z")).await;
        assert_eq!(s.person, "bob");
        // Cat had 2 March and bob has 16 March: either would be on call two weeks in a row (ann
        // cannot take bob's week back, she is at the cap), so it is flagged.
        assert_eq!(s.reason, CAP_9_MARCH);
        assert!(s.projected && s.flagged);
        let o = shift_at(&app, "rota", at("2026-01-13T00:00:00Z")).await;
        assert_eq!(
            (o.person.as_str(), o.reason.as_str(), o.flagged),
            ("ann", "override: ann", false)
        );

        // An override beyond the cap is taken and flagged.
        ScheduleServiceClient::new(app.channel.clone())
            .add_override(pb::AddOverrideRequest {
                schedule: "rota".into(),
                person: "ann".into(),
                start: ts(at("2026-03-17T09:00:00Z")),
                end: ts(at("2026-03-18T09:00:00Z")),
                reason: "cover".into(),
                by: "victor".into(),
            })
            .await
            .expect("AddOverride");
        let o = shift_at(&app, "rota", at("2026-03-17T12:00:00Z")).await;
        assert_eq!(o.person, "ann");
        assert!(o.flagged);
        assert_eq!(
            o.reason,
            "override: ann takes it over a limit: 4 on-call weeks in 2026-Q1 already (limit 4)"
        );

        // The quarter runs: each turn is recorded at its start with the projected decision.
        advance_to(&app, clock, at("2026-03-09T10:00:00Z")).await;
        let s = shift_at(&app, "rota", at("2026-03-10T00:00:00Z")).await;
        assert_eq!(
            (s.person.as_str(), s.reason.as_str(), s.projected),
            ("bob", CAP_9_MARCH, false)
        );

        // 16 March is bob's (his third week: ann covered his second), though ann's flagged day
        // comes off it; 23 March is cat's fourth.
        advance_to(&app, clock, at("2026-03-23T10:00:00Z")).await;
        let s = shift_at(&app, "rota", at("2026-03-16T12:00:00Z")).await;
        assert_eq!(
            (s.person.as_str(), s.reason.as_str()),
            (
                "bob",
                "bob's turn (no swap back to ann: 4 on-call weeks in 2026-Q1 already (limit 4))"
            )
        );
        let s = shift_at(&app, "rota", at("2026-03-24T00:00:00Z")).await;
        assert_eq!(
            (s.person.as_str(), s.reason.as_str()),
            ("cat", "cat's turn")
        );

        // 30 March: ann (4 weeks and a day), bob (would be 4.9) and cat (would be 5) are all at
        // the cap. The least loaded (bob, 3.9) takes it and the owner is told.
        advance_to(&app, clock, at("2026-03-30T10:00:00Z")).await;
        let s = shift_at(&app, "rota", at("2026-03-31T00:00:00Z")).await;
        assert_eq!(s.person, "bob");
        assert_eq!(
            s.reason,
            "nobody eligible (ann skipped: 4.1 on-call weeks in 2026-Q1 already (limit 4); \
             bob skipped: 3.9 on-call weeks in 2026-Q1 already (limit 4); \
             cat skipped: 4 on-call weeks in 2026-Q1 already (limit 4)) \
             → least-loaded bob (3.9 weeks in 2026-Q1)"
        );
        let notice = sink.next().await;
        assert_eq!((notice.person(), notice.kind()), ("victor", "handoff"));
        assert!(
            notice.body["notice"]["subject"]
                .as_str()
                .unwrap()
                .contains("Nobody eligible for a shift on rota"),
            "{:?}",
            notice.body
        );
        // A new quarter starts afresh; bob's own turn follows the one he was left with (flagged).
        let s = shift_at(&app, "rota", at("2026-04-07T00:00:00Z")).await;
        assert_eq!(
            s.reason,
            "bob's turn (back to back: on call the turn before too)"
        );
        assert!(s.flagged);

        // The report counts the skips (9 and 30 March) and the flagged override.
        let report = ReportServiceClient::new(app.channel.clone())
            .on_call_load(pb::OnCallLoadRequest {
                from: ts(at("2026-01-01T00:00:00Z")),
                to: ts(at("2026-03-31T00:00:00Z")),
                schedule: "rota".into(),
            })
            .await
            .expect("OnCallLoad")
            .into_inner();
        let get = |name: &str| report.people.iter().find(|p| p.person == name).unwrap();
        let (ann, bob, cat) = (get("ann"), get("bob"), get("cat"));
        assert_eq!(
            (ann.limit_skips, bob.limit_skips, cat.limit_skips),
            (2, 0, 1)
        );
        assert_eq!((ann.flagged_overrides, bob.flagged_overrides), (1, 0));
        // Turns 0, 3 and 6, the swap week and the flagged day.
        assert_eq!(ann.shifts, 5);
        assert!(
            (ann.quarter_weeks - (4.0 + 1.0 / 7.0)).abs() < 1e-9,
            "{}",
            ann.quarter_weeks
        );
        app.stop().await;
    }
}

#[tokio::test(start_paused = true)]
async fn three_incidents_are_not_a_busy_shift_and_the_rest_is_the_week_after_four() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(POLICIES);
    let mut sink = WebhookSink::start().await;
    let clock = Clock::anchored(start());
    let mut app = spawn_app(&dirs, &sink, clock).await;

    // Bob's first evening week: 3 incidents.
    advance_to(&app, clock, at("2026-01-12T18:00:00Z")).await;
    for k in 0..3 {
        let (id, who) = trigger_paged(&mut app, &mut sink, "night", &format!("a{k}")).await;
        assert_eq!(who, "bob");
        resolve(&mut app, id).await;
    }
    // Three is not more than three: his next turn (26 January) is his.
    advance_to(&app, clock, at("2026-01-26T18:00:00Z")).await;
    let s = shift_at(&app, "evenings", clock.now()).await;
    assert_eq!(
        (s.person.as_str(), s.reason.as_str(), s.projected),
        ("bob", "bob's turn", false)
    );

    // Four this time: a week's rest after his shift ends (2–9 February), which ann's turn
    // covers anyway; his next turn (9 February) starts after it and is his.
    for k in 0..4 {
        let (id, who) = trigger_paged(&mut app, &mut sink, "night", &format!("b{k}")).await;
        assert_eq!(who, "bob");
        resolve(&mut app, id).await;
    }
    advance_to(&app, clock, at("2026-02-09T10:00:00Z")).await;
    let s = shift_at(&app, "evenings", at("2026-02-09T18:00:00Z")).await;
    assert_eq!(
        (s.person.as_str(), s.reason.as_str(), s.projected),
        ("bob", "bob's turn", false)
    );
    app.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_report_pays_a_15_minute_call_in_1_hour_and_2_h_10_min_3_hours() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(POLICIES);
    let mut sink = WebhookSink::start().await;
    let clock = Clock::anchored(start());
    let mut app = spawn_app(&dirs, &sink, clock).await;

    let (first, who) = trigger_paged(&mut app, &mut sink, "api", "short").await;
    assert_eq!(who, "ann");
    advance(mins(15)).await;
    app.ack(first, "ann").await;
    // Evening: off hours.
    advance_to(&app, clock, at("2026-01-05T20:00:00Z")).await;
    let (second, _) = trigger_paged(&mut app, &mut sink, "api", "long").await;
    advance(mins(130)).await;
    app.ack(second, "ann").await;

    let report = ReportServiceClient::new(app.channel.clone())
        .on_call_load(pb::OnCallLoadRequest {
            from: ts(at("2026-01-05T00:00:00Z")),
            to: ts(at("2026-01-12T00:00:00Z")),
            schedule: "rota".into(),
        })
        .await
        .expect("OnCallLoad")
        .into_inner();
    let ann = report.people.iter().find(|p| p.person == "ann").unwrap();
    assert_eq!((ann.incidents, ann.pages, ann.off_hours_pages), (2, 2, 1));
    assert_eq!((ann.hours_called_in, ann.toil_hours), (4, 4));
    assert_eq!((ann.shifts, ann.weeks, ann.quarter_weeks), (1, 1.0, 1.0));
    app.stop().await;
}

on_both_backends! {
    #[tokio::test(start_paused = true)]
    async fn a_restart_mid_quarter_changes_no_past_decision_and_no_projection(backend) {
        let _frozen = freeze_time();
        let dirs = AppDirs::on(backend, POLICIES);
        let sink = WebhookSink::start().await;
        let clock = Clock::anchored(start());
        let app = spawn_app(&dirs, &sink, clock).await;
        ScheduleServiceClient::new(app.channel.clone())
            .add_override(pb::AddOverrideRequest {
                schedule: "rota".into(),
                person: "ann".into(),
                start: ts(at("2026-01-12T09:00:00Z")),
                end: ts(at("2026-01-19T09:00:00Z")),
                reason: "swap".into(),
                by: "victor".into(),
            })
            .await
            .expect("AddOverride");
        advance_to(&app, clock, at("2026-02-12T10:00:00Z")).await;
        let quarter = |s: Vec<pb::Shift>| -> Vec<(String, String, i64)> {
            s.into_iter()
                .map(|s| (s.person, s.reason, s.start.unwrap().seconds))
                .collect()
        };
        let before =
            quarter(shifts(&app, "rota", "2026-01-05T00:00:00Z", "2026-04-13T00:00:00Z").await);
        app.stop().await;

        // Down across a turn start (Monday 16 February 09:00).
        advance(mins(5 * 24 * 60)).await;
        let app = spawn_app(&dirs, &sink, clock).await;
        settle(&app, clock).await;
        let after = shifts(&app, "rota", "2026-01-05T00:00:00Z", "2026-04-13T00:00:00Z").await;
        let missed = after
            .iter()
            .find(|s| s.start.unwrap().seconds == at("2026-02-16T09:00:00Z").timestamp())
            .unwrap();
        assert!(!missed.projected, "the missed turn is recorded at start");
        assert_eq!(quarter(after), before);
        app.stop().await;
    }
}
