//! The rebalance signal: the load report flags whoever is paged far more than the median
//! (gRPC and `pagerctl report`), and the schedule's owner gets a weekly notice — durable
//! across a restart, once per week, and none in a quiet week.

use chrono::{DateTime, Duration as Days, Utc};
use pagerd::engine::Clock;
use pagerd::proto::report_service_client::ReportServiceClient;
use pagerd::proto::schedule_service_client::ScheduleServiceClient;
use pagerd::proto::{self as pb, Severity};

use crate::helpers::*;

/// Daily turns ann, bob, cat from Monday 2026-01-05 09:00 UTC, limits switched off so only
/// the signal shows.
const POLICIES: &str = r#"
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

[[schedule]]
name = "rota"
time_zone = "UTC"
owner = "victor"
handoff_notifications = "off"
[schedule.burnout]
max_weeks_per_quarter = 0
max_consecutive_evening_weeks = 0
rest_days = 0
[[schedule.layer]]
name = "daily"
members = ["ann", "bob", "cat"]
shift = "1d"
start = "2026-01-05T09:00"
"#;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn ts(t: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

/// Waits (real time, bounded) until the turn in progress is recorded in the ledger.
async fn settle(app: &TestApp, clock: Clock) {
    within("the turn in progress is recorded", async {
        loop {
            let s = ScheduleServiceClient::new(app.channel.clone())
                .on_call(pb::OnCallRequest {
                    schedule: "rota".into(),
                    at: ts(clock.now()),
                })
                .await
                .expect("OnCall")
                .into_inner()
                .shift
                .expect("someone is on call");
            if !s.projected {
                return;
            }
            real_timeout(
                std::time::Duration::from_millis(20),
                std::future::pending::<()>(),
            )
            .await;
        }
    })
    .await
}

async fn advance_to(app: &TestApp, clock: Clock, t: DateTime<Utc>) {
    loop {
        settle(app, clock).await;
        let left = t - clock.now();
        if left <= Days::zero() {
            return;
        }
        advance(left.min(Days::hours(6)).to_std().unwrap()).await;
    }
}

async fn incident(app: &mut TestApp, sink: &mut WebhookSink, key: &str) -> String {
    let r = app.trigger("api", Severity::High, key).await;
    let page = app.page(sink).await;
    app.incidents
        .resolve(pb::ResolveRequest {
            id: r.incident_id,
            by: "test".into(),
            note: String::new(),
        })
        .await
        .expect("resolve accepted");
    page.person().to_string()
}

#[tokio::test(start_paused = true)]
async fn the_report_flags_the_busiest_and_the_owner_hears_once_a_week_across_a_restart() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(POLICIES);
    let mut sink = WebhookSink::start().await;
    // Monday 10:00: the first weekly notice is due a week later, Monday 12 January 10:00.
    let clock = Clock::anchored(at("2026-01-05T10:00:00Z"));
    let url = sink.url.clone();
    let settings = || {
        let mut s = test_settings(&dirs, &url);
        s.report.weekly_notice = true;
        s
    };
    let mut app = spawn_app_with(settings(), clock).await;
    settle(&app, clock).await;
    for k in 0..5 {
        assert_eq!(incident(&mut app, &mut sink, &format!("a{k}")).await, "ann");
    }
    advance_to(&app, clock, at("2026-01-06T10:00:00Z")).await;
    assert_eq!(incident(&mut app, &mut sink, "b").await, "bob");

    advance_to(&app, clock, at("2026-01-08T08:00:00Z")).await;
    // The report of 5–7 January: incidents 5, 1, 0 → median 1; 5 > 2 × 1 flags ann alone.
    let report = ReportServiceClient::new(app.channel.clone())
        .on_call_load(pb::OnCallLoadRequest {
            from: ts(at("2026-01-05T00:00:00Z")),
            to: ts(at("2026-01-08T00:00:00Z")),
            schedule: "rota".into(),
        })
        .await
        .expect("OnCallLoad")
        .into_inner();
    let flags: Vec<(&str, &str)> = (report.people.iter())
        .map(|p| (p.person.as_str(), p.rebalance.as_str()))
        .collect();
    assert_eq!(
        flags,
        [
            ("ann", "incidents 5 > 2× median 1"),
            ("bob", ""),
            ("cat", "")
        ]
    );
    // pagerctl shows it in its table and JSON.
    let token = app.daemon.admin_token().await;
    // Run on the runtime (not blocking it): the daemon answers on this thread.
    let pagerctl = async |format: &str| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_pagerctl"))
            .args(["--addr", &format!("http://{}", app.grpc_addr), "report"])
            .args([
                "--from",
                "2026-01-05T00:00:00Z",
                "--to",
                "2026-01-08T00:00:00Z",
            ])
            .args(["--schedule", "rota", "--format", format])
            .env_remove("PAGERD_TOKEN_FILE")
            .env("PAGERD_TOKEN", &token)
            .output()
            .await
            .expect("pagerctl runs")
    };
    let out = pagerctl("table").await;
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{table}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(table.contains("REBALANCE"), "{table}");
    let ann = table
        .lines()
        .find(|l| l.contains("ann"))
        .expect("ann's row");
    assert!(ann.contains("incidents 5 > 2× median 1"), "{table}");
    let bob = table
        .lines()
        .find(|l| l.contains("bob"))
        .expect("bob's row");
    assert!(!bob.contains("median"), "{table}");
    let json: serde_json::Value =
        serde_json::from_slice(&pagerctl("json").await.stdout).expect("pagerctl JSON");
    let ann = &json["people"][0];
    assert_eq!(
        (&ann["person"], &ann["rebalance"], &ann["rebalance_reason"]),
        (
            &"ann".into(),
            &true.into(),
            &"incidents 5 > 2× median 1".into()
        ),
        "{json}"
    );
    assert_eq!(json["people"][1]["rebalance"], false, "{json}");

    // Down over Thursday; the notice stays due on Monday 10:00 (a restart does not move it).

    app.stop().await;
    advance(Days::hours(4).to_std().unwrap()).await;
    let app = spawn_app_with(settings(), clock).await;
    advance_to(&app, clock, at("2026-01-12T09:59:00Z")).await;
    sink.expect_quiet("no notice before the week is up").await;
    advance_to(&app, clock, at("2026-01-12T10:00:00Z")).await;
    let notice = sink.next().await;
    assert_eq!((notice.person(), notice.kind()), ("victor", "handoff"));
    let subject = notice.body["notice"]["subject"]
        .as_str()
        .unwrap_or_default();
    let body = notice.body["notice"]["text"].as_str().unwrap_or_default();
    assert!(subject.contains("Rebalance rota: ann"), "{:#}", notice.body);
    assert!(
        body.contains("- ann: incidents 5 > 2× median 1 (5 incidents, 0 off-hours pages"),
        "{:#}",
        notice.body
    );
    assert!(body.contains("Mon 2026-01-05 to Mon 2026-01-12"), "{body}");

    // A restart right after sends nothing again; a quiet week sends nothing at all.
    app.stop().await;
    let app = spawn_app_with(settings(), clock).await;
    settle(&app, clock).await;
    sink.expect_quiet("the week's notice went out once").await;
    advance_to(&app, clock, at("2026-01-19T10:00:00Z")).await;
    sink.expect_quiet("nobody is flagged in a quiet week").await;
    app.stop().await;
}
