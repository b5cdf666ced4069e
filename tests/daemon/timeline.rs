//! Bounded timelines: thousands of repeats of an open incident are counted on it and
//! coalesced on its timeline; `Get` pages a long timeline, each answer far under the gRPC
//! message limit; `pagerctl show` shows a big incident. Real time and real concurrency.

use prost::Message;

use pagerd::engine::Clock;
use pagerd::proto::{self as pb, EventKind, Severity};

use crate::helpers::*;

const PAGERCTL: &str = env!("CARGO_BIN_EXE_pagerctl");
/// tonic's default limit on a decoded message.
const GRPC_LIMIT: usize = 4 * 1024 * 1024;

async fn repeat(app: &TestApp, n: usize, summary: String) {
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..n {
        let mut alerts = app.alerts.clone();
        let summary = summary.clone();
        calls.spawn(async move {
            alerts
                .trigger(pb::TriggerRequest {
                    service: "tools".into(),
                    dedup_key: "big".into(),
                    severity: Severity::High as i32,
                    summary,
                    details: [("n".to_string(), i.to_string())].into(),
                    ..Default::default()
                })
                .await
                .expect("trigger accepted")
        });
        // At most 32 in flight.
        if calls.len() >= 32 {
            calls.join_next().await.unwrap().unwrap();
        }
    }
    while let Some(r) = calls.join_next().await {
        r.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousands_of_repeats_and_notes_keep_get_paged_and_pagerctl_show_working() {
    let dirs = AppDirs::new(TEST_POLICIES);
    let sink = WebhookSink::start().await;
    let app = spawn_app(&dirs, &sink, Clock::System).await;
    let first = within(
        "the first trigger",
        app.alerts.clone().trigger(pb::TriggerRequest {
            service: "tools".into(),
            dedup_key: "big".into(),
            severity: Severity::High as i32,
            summary: "tools are down".into(),
            ..Default::default()
        }),
    )
    .await
    .unwrap()
    .into_inner();
    let id = first.incident_id;

    // 5,000 repeats of a 1 KB alert, while 150 hand escalations with notes (the `loop`
    // policy repeats until acknowledged) page and record deliveries in between.
    let escalations = {
        let incidents = app.incidents.clone();
        tokio::spawn(async move {
            for i in 0..150 {
                incidents
                    .clone()
                    .escalate(pb::EscalateRequest {
                        id,
                        by: format!("{i}: {}", "n".repeat(100)),
                    })
                    .await
                    .expect("escalation accepted");
            }
        })
    };
    within(
        "5,000 repeats",
        repeat(&app, 5000, format!("tools are down {}", "x".repeat(1000))),
    )
    .await;
    escalations.await.unwrap();
    repeat(&app, 1, "the final repeat".into()).await;

    // Every page of the timeline: in sequence order, none twice, each far under the limit.
    let mut request = pb::GetIncidentRequest {
        id,
        ..Default::default()
    };
    let mut timeline: Vec<pb::IncidentEvent> = Vec::new();
    let mut pages = 0;
    let incident = loop {
        let r = app
            .incidents
            .clone()
            .get(request.clone())
            .await
            .expect("Get answers")
            .into_inner();
        assert!(
            r.encoded_len() < GRPC_LIMIT / 2,
            "{} bytes",
            r.encoded_len()
        );
        pages += 1;
        timeline.extend(r.timeline);
        if r.next_timeline_page_token.is_empty() {
            break r.incident.unwrap();
        }
        request.timeline_page_token = r.next_timeline_page_token;
    };
    assert!(pages >= 2, "a timeline this long comes in pages");
    for pair in timeline.windows(2) {
        assert!(pair[0].sequence < pair[1].sequence);
    }
    assert_eq!(incident.alert_count, 5002);
    assert_eq!(incident.last_summary, "the final repeat");
    assert_eq!(
        incident.summary, "tools are down",
        "the first alert's summary stays"
    );
    // Repeats are coalesced: at most one repeat line between two other events.
    let repeats = timeline
        .iter()
        .filter(|e| e.kind() == EventKind::Deduplicated)
        .count();
    let escalated = timeline
        .iter()
        .filter(|e| e.kind() == EventKind::Escalated)
        .count();
    assert_eq!(escalated, 150);
    assert!(repeats <= 2 * escalated + 2, "{repeats} repeat events");
    for pair in timeline.windows(2) {
        assert!(
            pair[0].kind() != EventKind::Deduplicated || pair[1].kind() != EventKind::Deduplicated,
            "two repeat lines in a row"
        );
    }
    let last_repeat = timeline
        .iter()
        .rfind(|e| e.kind() == EventKind::Deduplicated)
        .unwrap();
    assert!(
        last_repeat
            .message
            .starts_with("alert #5002 added (5001 repeats")
            && last_repeat.message.ends_with("the final repeat"),
        "{}",
        last_repeat.message
    );

    // pagerctl show fetches every page and prints the whole incident.
    let out = within(
        "pagerctl show",
        tokio::process::Command::new(PAGERCTL)
            .arg("--addr")
            .arg(app.grpc_addr.to_string())
            .args(["show", &id.to_string()])
            .env_remove("PAGERD_ADDR")
            .env_remove("PAGERD_TOKEN_FILE")
            .env("PAGERD_TOKEN", app.daemon.admin_token().await)
            .output(),
    )
    .await
    .expect("pagerctl runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("5002"), "{stdout}");
    assert!(stdout.contains("the final repeat"), "{stdout}");
    assert_eq!(stdout.matches("escalated by hand").count(), 150);
    app.stop().await;
}
