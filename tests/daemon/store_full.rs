//! A full disk (SQLite's page limit, lowered through the store's test hook): writes are
//! refused with UNAVAILABLE / 503 so senders retry, `/readyz` says why (`/healthz`, liveness,
//! stays 200: a restart would not free space), a page that went out
//! is never sent again because its outcome could not be written, and once space returns the
//! daemon carries on by itself: outcomes recorded, queued pages out exactly once.

use std::collections::HashMap;
use std::time::Duration;

use pagerd::engine::Clock;
use pagerd::proto::{self as pb, EventKind};
use pagerd::store::sqlite::{PageLimit, set_page_limit};
use serde_json::json;

use crate::helpers::*;
use crate::ingest::{PAYMENTS_KEY, intake_policies, post_json};
use crate::outbox::{delivered, settings};

async fn get(app: &TestApp, path: &str) -> (u16, String) {
    let resp = within(
        path,
        reqwest::get(format!("http://{}{path}", app.http_addr)),
    )
    .await
    .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn health(app: &TestApp) -> (u16, String) {
    get(app, "/readyz").await
}

#[tokio::test]
async fn a_full_disk_refuses_writes_says_so_and_recovers_without_sending_a_page_twice() {
    let dirs = AppDirs::new(&intake_policies());
    let db = dirs.data().join("pagerd.db");
    let mut hook = HeldSink::start().await;
    let mut s = settings(&dirs, &hook.url);
    // At most two deliveries unrecorded at once: the rest wait in the queue while full.
    s.outbox.concurrency = 2;
    let mut app = spawn_app_with(s, Clock::System).await;
    let mut sent: HashMap<String, i64> = HashMap::new();

    // A page is in flight (the receiver holds it) when the disk fills up.
    let first = app
        .trigger("checkout", pb::Severity::High, "before")
        .await
        .incident_id;
    take(hook.next().await, &mut sent);
    set_page_limit(&db, PageLimit::FullNow);

    // Fill what space is left: triggers are accepted until the store refuses one.
    let mut accepted = vec![first];
    let refusal = within("the store to refuse a trigger", async {
        for i in 0..2_000 {
            let r = app
                .alerts
                .trigger(pb::TriggerRequest {
                    service: "checkout".into(),
                    dedup_key: format!("fill-{i}"),
                    severity: pb::Severity::High as i32,
                    summary: "filling the disk".into(),
                    ..Default::default()
                })
                .await;
            match r {
                Ok(r) => accepted.push(r.into_inner().incident_id),
                Err(status) => return status,
            }
        }
        panic!("the store never refused a write");
    })
    .await;
    assert_eq!(refusal.code(), tonic::Code::Unavailable, "{refusal:?}");
    let event = json!({
        "routing_key": PAYMENTS_KEY,
        "event_action": "trigger",
        "dedup_key": "over-http",
        "payload": {"summary": "Card payments failing", "source": "p-1", "severity": "error"},
    });
    let (status, body) = post_json(&app, "/v2/enqueue", &event).await;
    assert_eq!(status, 503, "HTTP intake asks for a retry: {body}");
    let (status, text) = health(&app).await;
    assert_eq!(status, 503, "{text}");
    assert!(text.starts_with("not ready: store: "), "{text}");
    assert!(text.contains("full"), "{text}");
    let (status, text) = get(&app, "/healthz").await;
    assert_eq!(status, 200, "a full disk is no reason to restart: {text}");
    assert!(text.starts_with("ok: "), "{text}");

    // The receiver answers now: the sends succeed, none can be recorded; at most
    // `outbox.concurrency` go out unrecorded, none twice, none recorded as delivered; the
    // others stay queued.
    assert!(accepted.len() > 2, "pages wait in the queue: {accepted:?}");
    hook.open();
    while let Some(p) = hook.next_within(Duration::from_millis(500)).await {
        take(p, &mut sent);
    }
    assert_eq!(
        sent.len(),
        2,
        "outbox.concurrency bounds what goes out unrecorded"
    );
    let kinds = app.timeline_kinds(first).await;
    assert!(!kinds.contains(&EventKind::Delivered), "{kinds:?}");
    assert_eq!(health(&app).await.0, 503);

    // Space returns: the outcomes are recorded, health recovers, intake accepts again, and
    // each page went out exactly once.
    set_page_limit(&db, PageLimit::Lifted);
    delivered(&mut app, "webhook", &accepted).await;
    within("/readyz to recover", async {
        while health(&app).await.0 != 200 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let (status, body) = post_json(&app, "/v2/enqueue", &event).await;
    assert_eq!(status, 202, "{body}");
    while sent.len() < accepted.len() + 1 {
        take(hook.next().await, &mut sent);
    }
    hook.expect_quiet("a page sent again after recovery").await;
    app.stop().await;
}

/// Records a page the receiver got; fails the test if its key came before.
fn take(p: ReceivedPage, sent: &mut HashMap<String, i64>) {
    let dup = sent.insert(p.idempotency_key.clone(), p.incident_id());
    assert!(dup.is_none(), "page {} sent twice", p.idempotency_key);
}
