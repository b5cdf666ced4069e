//! The response-time report over a scenario with known times on the paused clock: one
//! incident answered in time, one escalated and acknowledged late (an SLA breach), one
//! re-triggered off hours and still pending; the RPC's figures exactly, and `pagerctl report
//! response` as a table, CSV and JSON.

use chrono::{DateTime, Duration as Days, Utc};
use pagerd::engine::Clock;
use pagerd::proto::report_service_client::ReportServiceClient;
use pagerd::proto::{self as pb, Severity};
use tonic::Code;

use crate::helpers::*;

/// ann then bob; the policy sets critical to 10 minutes, the service high to 20 (the
/// defaults stand for the rest).
const POLICIES: &str = r#"
[[person]]
name = "ann"
time_zone = "UTC"
[[person]]
name = "bob"
time_zone = "UTC"

[[service]]
name = "api"
escalation_policy = "ops"
response_targets = { high = "20m" }

[[escalation_policy]]
name = "ops"
response_targets = { critical = "10m", high = "2h" }
levels = [
  { targets = ["ann"], delay = "15m" },
  { targets = ["bob"], delay = "15m" },
]
"#;

fn ts(t: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

async fn resolve(app: &mut TestApp, id: i64) {
    app.incidents
        .resolve(pb::ResolveRequest {
            id,
            by: "test".into(),
            note: String::new(),
        })
        .await
        .expect("resolve accepted");
}

fn request(by: &str) -> pb::ResponsivenessRequest {
    pb::ResponsivenessRequest {
        from: ts(t0()),
        to: ts(t0() + Days::hours(2)),
        service: String::new(),
        by: by.into(),
    }
}

#[tokio::test(start_paused = true)]
async fn the_report_gives_exact_response_times_and_lists_the_late_acknowledgement() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(POLICIES);
    let mut sink = WebhookSink::start().await;
    // Monday 17:00 UTC.
    let mut app = spawn_app(&dirs, &sink, Clock::anchored(t0())).await;

    // A (high, 17:00): acknowledged after 5 minutes, resolved after 30. Within 20m: met.
    let a = app.trigger("api", Severity::High, "a").await.incident_id;
    assert_eq!(app.page(&mut sink).await.person(), "ann");
    advance(mins(5)).await;
    app.ack(a, "ann").await;
    advance(mins(25)).await;
    resolve(&mut app, a).await;

    // B (critical, 17:30): ann does not answer, bob is paged at 17:45 and acknowledges at
    // 17:55: 25 minutes against the policy's 10 → 15 minutes late. Resolved at 18:05.
    let b = app
        .trigger("api", Severity::Critical, "b")
        .await
        .incident_id;
    assert_eq!(app.page(&mut sink).await.person(), "ann");
    advance(mins(15)).await;
    assert_eq!(app.page(&mut sink).await.person(), "bob");
    advance(mins(10)).await;
    app.ack(b, "bob").await;
    advance(mins(10)).await;
    resolve(&mut app, b).await;

    // C (high, 18:10, off hours): A's key again 40 minutes after A was resolved; still open
    // and unanswered 10 minutes later, inside its 20: pending, neither met nor breached.
    advance(mins(5)).await;
    let c = app.trigger("api", Severity::High, "a").await.incident_id;
    assert_ne!(c, a);
    assert_eq!(app.page(&mut sink).await.person(), "ann");
    advance(mins(10)).await;

    let mut reports = ReportServiceClient::new(app.channel.clone());
    let r = reports
        .responsiveness(request(""))
        .await
        .expect("Responsiveness")
        .into_inner();
    assert_eq!(r.by, "service");
    let third = 1.0 / 3.0;
    let want = pb::ResponseGroup {
        key: "api".into(),
        incidents: 3,
        acknowledged: 2,
        resolved: 2,
        mtta_median_seconds: Some(5 * 60),
        mtta_p90_seconds: Some(25 * 60),
        mttr_median_seconds: Some(30 * 60),
        mttr_p90_seconds: Some(35 * 60),
        escalated: 1,
        escalation_rate: third,
        retriggered: 1,
        retrigger_rate: third,
        off_hours: 1,
        off_hours_share: third,
        sla_met: 1,
        sla_breached: 1,
        sla_compliance: Some(0.5),
    };
    assert_eq!(r.groups, std::slice::from_ref(&want));
    assert_eq!(
        r.total,
        Some(pb::ResponseGroup {
            key: "all".into(),
            ..want
        })
    );
    assert_eq!(
        r.breaches,
        [pb::ResponseBreach {
            incident_id: b,
            service: "api".into(),
            severity: Severity::Critical as i32,
            created_at: ts(t0() + Days::minutes(30)),
            first_paged: "ann".into(),
            target_seconds: 10 * 60,
            late_seconds: 15 * 60,
            answered: true,
        }]
    );

    // By severity: critical first; by person, who was paged first.
    let keys = |r: pb::ResponsivenessResponse| -> Vec<(String, u32)> {
        r.groups.into_iter().map(|g| (g.key, g.incidents)).collect()
    };
    let by_severity = reports.responsiveness(request("severity")).await.unwrap();
    assert_eq!(
        keys(by_severity.into_inner()),
        [("critical".to_string(), 1), ("high".to_string(), 2)]
    );
    let by_person = reports.responsiveness(request("person")).await.unwrap();
    assert_eq!(keys(by_person.into_inner()), [("ann".to_string(), 3)]);

    // Bad requests are refused with the field named.
    let refused = |e: tonic::Status| (e.code(), e.message().to_string());
    let mut bad = request("team");
    let e = reports.responsiveness(bad.clone()).await.unwrap_err();
    assert_eq!(
        refused(e),
        (
            Code::InvalidArgument,
            "by: must be service, severity, person or policy".into()
        )
    );
    bad.by = String::new();
    bad.to = ts(t0() + Days::days(367));
    let e = reports.responsiveness(bad).await.unwrap_err();
    assert_eq!(
        refused(e),
        (
            Code::InvalidArgument,
            "to: at most 366 days after from".into()
        )
    );

    // pagerctl shows the same figures.
    let token = app.daemon.admin_token().await;
    let pagerctl = async |format: &str| {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_pagerctl"))
            .args(["--addr", &format!("http://{}", app.grpc_addr), "report"])
            .args(["response", "--from", "2026-03-02T17:00:00Z"])
            .args(["--to", "2026-03-02T19:00:00Z", "--format", format])
            .env_remove("PAGERD_TOKEN_FILE")
            .env("PAGERD_TOKEN", &token)
            .env("TZ", "UTC")
            .output()
            .await
            .expect("pagerctl runs");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let csv = pagerctl("csv").await;
    let figures = "3,2,2,300,1500,1800,2100,1,0.333,1,0.333,1,0.333,1,1,0.500";
    assert_eq!(
        csv.trim_end(),
        format!(
            "service,incidents,acknowledged,resolved,mtta_median_seconds,mtta_p90_seconds,\
             mttr_median_seconds,mttr_p90_seconds,escalated,escalation_rate,retriggered,\
             retrigger_rate,off_hours,off_hours_share,sla_met,sla_breached,sla_compliance\n\
             api,{figures}\nall,{figures}"
        )
    );
    let table = pagerctl("table").await;
    let api = table
        .lines()
        .find(|l| l.starts_with("api"))
        .expect("api row");
    let cells: Vec<&str> = api
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        cells,
        [
            "api",
            "3",
            "5m",
            "25m",
            "30m",
            "35m",
            "1 (33%)",
            "1 (33%)",
            "1 (33%)",
            "50% (1 of 2)"
        ],
        "{table}"
    );
    let breach = table
        .lines()
        .skip_while(|l| !l.starts_with("SLA breaches:"))
        .find(|l| l.trim_start().starts_with(&b.to_string()))
        .expect("the breach row");
    for cell in ["api", "critical", "ann", "10m", "15m", "yes"] {
        assert!(breach.contains(cell), "{cell}: {table}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&pagerctl("json").await).expect("pagerctl JSON");
    assert_eq!(json["by"], "service");
    assert_eq!(json["groups"][0]["mtta_p90_seconds"], 1500, "{json}");
    assert_eq!(json["total"]["sla_compliance"], 0.5, "{json}");
    assert_eq!(json["total"]["retriggered"], 1, "{json}");
    let breach = &json["breaches"][0];
    assert_eq!(
        (
            &breach["incident"],
            &breach["severity"],
            &breach["first_paged"],
            &breach["late_seconds"],
            &breach["opened"]
        ),
        (
            &b.into(),
            &"critical".into(),
            &"ann".into(),
            &900.into(),
            &"2026-03-02T17:30:00Z".into()
        ),
        "{json}"
    );
    app.stop().await;
}
