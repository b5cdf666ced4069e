//! Independent deliveries: one slow receiver holds back only its own pages, the most severe
//! pages go first where a channel is full, and a graceful stop records what was in flight.
//! Real time throughout: the slow receiver is a [`HeldSink`] the test releases.

use std::collections::HashSet;
use std::time::Duration;

use pagerd::config::Settings;
use pagerd::engine::Clock;
use pagerd::proto::{self as pb, EventKind};

use crate::helpers::*;

pub(crate) const POLICIES: &str = r#"
[[person]]
name = "ana"
time_zone = "UTC"
sms = "+15550000001"
contact_rules = [{ method = "sms", after = "0m" }]

[[service]]
name = "api"
escalation_policy = "p"

[[escalation_policy]]
name = "p"
levels = [{ targets = ["ana"], delay = "30m" }]
"#;

pub(crate) fn settings(dirs: &AppDirs, webhook: &str) -> Settings {
    let mut s = test_settings(dirs, webhook);
    s.notify.sms.inbound.enabled = false;
    s
}

/// Waits for a `Delivered` event on `channel` for each of `ids`.
pub(crate) async fn delivered(app: &mut TestApp, channel: &str, ids: &[i64]) {
    let mut left: HashSet<i64> = ids.iter().copied().collect();
    left.retain(|id| {
        !app.events.iter().any(|e| {
            e.kind() == EventKind::Delivered && e.channel == channel && e.incident_id == *id
        })
    });
    while !left.is_empty() {
        let ev = app
            .event_where("a delivery", |e| {
                e.kind() == EventKind::Delivered && e.channel == channel
            })
            .await;
        left.remove(&ev.incident_id);
    }
}

fn count_delivered(app: &TestApp, channel: &str) -> usize {
    app.events
        .iter()
        .filter(|e| e.kind() == EventKind::Delivered && e.channel == channel)
        .count()
}

#[tokio::test]
async fn a_held_webhook_does_not_delay_pages_on_another_channel() {
    let dirs = AppDirs::new(POLICIES);
    let mut hook = HeldSink::start().await;
    let mut sms = Recorder::start(r#"{"sid":"SM1"}"#).await;
    let mut s = settings(&dirs, &hook.url);
    s.notify.sms.url = Some(format!("{}/Messages.json", sms.base));
    // The webhook host's cap (the channel's is wider).
    s.outbox.per_host = 2;
    let mut app = spawn_app_with(s, Clock::System).await;

    let mut ids = Vec::new();
    for key in ["a", "b", "c"] {
        ids.push(
            app.trigger("api", pb::Severity::High, key)
                .await
                .incident_id,
        );
    }
    // The webhook receiver holds its first two requests (the host's cap); the third waits.
    let held: HashSet<i64> = [hook.next().await, hook.next().await]
        .iter()
        .map(|p| p.incident_id())
        .collect();
    assert_eq!(held.len(), 2);
    // Meanwhile every SMS goes out and is recorded.
    for _ in 0..3 {
        assert!(sms.next().await.form()["Body"].contains("api is down"));
    }
    delivered(&mut app, "sms", &ids).await;
    assert_eq!(
        count_delivered(&app, "webhook"),
        0,
        "the webhook receiver still holds its requests"
    );
    hook.expect_quiet("a third webhook request past the host's cap")
        .await;

    // Released, the held requests are recorded and the third page goes out.
    hook.open();
    let third = hook.next().await;
    assert!(!held.contains(&third.incident_id()));
    delivered(&mut app, "webhook", &ids).await;
    sms.expect_quiet("an SMS sent twice").await;
    app.stop().await;
}

/// A rate-limited channel sends one person's pages one job at a time, so a read while that
/// job is in flight skips the person's other pages. When the job ends, a page queued
/// meanwhile goes out at once: nothing else wakes the outbox in this test.
#[tokio::test]
async fn a_page_queued_while_its_person_is_busy_goes_out_when_the_send_ends() {
    let dirs = AppDirs::new(POLICIES);
    let mut sms = HeldSink::start().await;
    let mut hook = Recorder::start("{}").await;
    let mut s = settings(&dirs, &format!("{}/pages", hook.base));
    s.notify.sms.url = Some(sms.url.clone());
    let mut app = spawn_app_with(s, Clock::System).await;

    let a = app
        .trigger("api", pb::Severity::High, "a")
        .await
        .incident_id;
    // a's SMS is held at the provider: ana's SMS lane is busy.
    let first = sms.next().await;
    let b = app
        .trigger("api", pb::Severity::High, "b")
        .await
        .incident_id;
    // b's webhook page went out, so the outbox has read both channels since b was queued.
    for _ in 0..2 {
        hook.next().await;
    }
    delivered(&mut app, "webhook", &[a, b]).await;
    sms.expect_quiet("a second SMS to ana while her first is in flight")
        .await;
    // The first answer ends the lane's job; b's SMS follows without any other wake.
    sms.open();
    let second = sms.next().await;
    assert_ne!(second.idempotency_key, first.idempotency_key);
    delivered(&mut app, "sms", &[a, b]).await;
    app.stop().await;
}

#[tokio::test]
async fn critical_pages_go_first_when_a_channel_is_full() {
    let dirs = AppDirs::new(POLICIES);
    let mut hook = HeldSink::start().await;
    let mut s = settings(&dirs, &hook.url);
    s.outbox.per_channel = 1;
    let mut app = spawn_app_with(s, Clock::System).await;

    app.trigger("api", pb::Severity::Low, "low-1").await;
    assert_eq!(hook.next().await.body["incident"]["dedup_key"], "low-1");
    // Queued behind it, oldest first: two low pages, then a critical one.
    for (key, severity) in [
        ("low-2", pb::Severity::Low),
        ("low-3", pb::Severity::Low),
        ("crit", pb::Severity::Critical),
    ] {
        app.trigger("api", severity, key).await;
    }
    let mut order = Vec::new();
    for _ in 0..3 {
        hook.release(1);
        let page = hook.next().await;
        order.push(
            page.body["incident"]["dedup_key"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(order, ["crit", "low-2", "low-3"]);
    hook.open();
    app.stop().await;
}

/// Under a burst, pages start from two places: the writer hands each batch's new pages to
/// the outbox, and a channel that was full is read from the store. Every page goes out, and
/// none twice.
#[tokio::test]
async fn a_burst_on_a_full_channel_sends_every_page_once() {
    const PLAIN: &str = r#"
[[person]]
name = "ana"
time_zone = "UTC"

[[service]]
name = "api"
escalation_policy = "p"

[[escalation_policy]]
name = "p"
levels = [{ targets = ["ana"], delay = "30m" }]
"#;
    let dirs = AppDirs::new(PLAIN);
    let mut sink = WebhookSink::start().await;
    let mut s = settings(&dirs, &sink.url);
    // Full at once, so reads of the store and handed-over pages interleave.
    s.outbox.per_channel = 2;
    let app = spawn_app_with(s, Clock::System).await;
    let (writers, each) = (8, 25);
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..writers {
        let mut alerts = app.alerts.clone();
        tasks.spawn(async move {
            for i in 0..each {
                alerts
                    .trigger(pb::TriggerRequest {
                        service: "api".into(),
                        dedup_key: format!("burst-{w}-{i}"),
                        severity: pb::Severity::High as i32,
                        summary: "api is down".into(),
                        source: "test".into(),
                        ..Default::default()
                    })
                    .await
                    .expect("trigger accepted");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let mut keys = HashSet::new();
    for _ in 0..writers * each {
        let page = sink.next().await;
        assert!(
            keys.insert(page.idempotency_key.clone()),
            "page {} sent twice",
            page.idempotency_key
        );
    }
    sink.expect_quiet("a page sent twice").await;
    app.stop().await;
}

/// Polls until the daemon's HTTP listener stops answering: the shutdown has begun.
async fn wait_until_closed(addr: std::net::SocketAddr) {
    let url = format!("http://{addr}/healthz");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    within("the HTTP listener to close", async {
        while client.get(&url).send().await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_graceful_stop_lets_a_delivery_in_flight_finish_and_records_it() {
    let dirs = AppDirs::new(POLICIES);
    let mut hook = HeldSink::start().await;
    let mut app = spawn_app_with(settings(&dirs, &hook.url), Clock::System).await;
    let id = app
        .trigger("api", pb::Severity::High, "in-flight")
        .await
        .incident_id;
    let key = hook.next().await.idempotency_key;

    // Stop while the receiver holds the request; release it once the stop is under way.
    let http = app.http_addr;
    let stopping = tokio::spawn(app.stop());
    wait_until_closed(http).await;
    assert!(!stopping.is_finished(), "the stop waits for the delivery");
    hook.open();
    within("the daemon to stop", stopping).await.unwrap();

    // Recorded before the stop: after a restart it is not sent again.
    let mut app = spawn_app_with(settings(&dirs, &hook.url), Clock::System).await;
    let kinds = app.timeline_kinds(id).await;
    assert!(kinds.contains(&EventKind::Delivered), "{kinds:?}");
    hook.expect_quiet("a recorded page sent again after the restart")
        .await;
    assert!(!key.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn past_the_drain_timeout_a_delivery_is_abandoned_and_sent_again_with_its_key() {
    let dirs = AppDirs::new(POLICIES);
    let mut hook = HeldSink::start().await;
    let mut s = settings(&dirs, &hook.url);
    s.outbox.drain_timeout = Duration::from_millis(200);
    let mut app = spawn_app_with(s.clone(), Clock::System).await;
    let id = app
        .trigger("api", pb::Severity::High, "stuck")
        .await
        .incident_id;
    let first = hook.next().await.idempotency_key;
    // Never released: the stop gives up on it after the drain timeout.
    app.stop().await;

    hook.open();
    let mut app = spawn_app_with(s, Clock::System).await;
    let again = hook.next().await;
    assert_eq!(again.idempotency_key, first, "the same idempotency key");
    delivered(&mut app, "webhook", &[id]).await;
    app.stop().await;
}
