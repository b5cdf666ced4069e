//! `Watch` in commit order, resumable: every event carries its sequence; concurrent commands
//! reach a watcher in strictly increasing sequence, the same order the store replays; a
//! watcher that reconnects with `after_sequence` misses nothing and repeats nothing; one that
//! falls behind is told where to resume. Real time and real concurrency (several runtime
//! threads), bounded waits.

use std::time::Duration;

use pagerd::engine::Clock;
use pagerd::proto::incident_service_client::IncidentServiceClient;
use pagerd::proto::{self as pb, EventKind, Severity};
use tonic::Code;

use crate::helpers::*;

type Incidents = IncidentServiceClient<AuthedChannel>;

async fn watch(client: &Incidents, after: Option<i64>) -> tonic::Streaming<pb::IncidentEvent> {
    client
        .clone()
        .watch(pb::WatchRequest {
            after_sequence: after,
            ..Default::default()
        })
        .await
        .expect("watch opens")
        .into_inner()
}

/// Reads `stream` until an event with sequence `until` or later arrives.
async fn read_until(
    stream: &mut tonic::Streaming<pb::IncidentEvent>,
    until: i64,
) -> Vec<pb::IncidentEvent> {
    let mut out: Vec<pb::IncidentEvent> = Vec::new();
    while out.last().is_none_or(|e| e.sequence < until) {
        let ev = within("more watched events", stream.message())
            .await
            .expect("watch stream failed")
            .expect("watch stream ended");
        out.push(ev);
    }
    out
}

/// Every committed event after `after` up to `until`, as the store replays them.
async fn stored(client: &Incidents, after: i64, until: i64) -> Vec<pb::IncidentEvent> {
    let mut s = watch(client, Some(after)).await;
    read_until(&mut s, until).await
}

fn sequences(events: &[pb::IncidentEvent]) -> Vec<i64> {
    events.iter().map(|e| e.sequence).collect()
}

fn assert_strictly_increasing(events: &[pb::IncidentEvent]) {
    for pair in events.windows(2) {
        assert!(
            pair[0].sequence < pair[1].sequence,
            "sequence {} ({:?}) came before {} ({:?})",
            pair[0].sequence,
            pair[0].kind(),
            pair[1].sequence,
            pair[1].kind()
        );
    }
    assert!(events.iter().all(|e| e.sequence == e.id && e.sequence > 0));
}

/// Triggers `n` alerts with distinct keys, all at once; returns their incident ids.
async fn trigger_many(app: &TestApp, prefix: &str, n: usize, summary: &str) -> Vec<i64> {
    let calls = (0..n).map(|i| {
        let mut alerts = app.alerts.clone();
        let summary = summary.to_string();
        let key = format!("{prefix}-{i}");
        tokio::spawn(async move {
            alerts
                .trigger(pb::TriggerRequest {
                    service: "checkout".into(),
                    dedup_key: key,
                    severity: Severity::High as i32,
                    summary,
                    ..Default::default()
                })
                .await
                .expect("trigger accepted")
                .into_inner()
                .incident_id
        })
    });
    let mut ids = Vec::new();
    for call in calls.collect::<Vec<_>>() {
        ids.push(call.await.unwrap());
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_commands_reach_a_watcher_in_strictly_increasing_store_order() {
    let dirs = AppDirs::new(TEST_POLICIES);
    let sink = WebhookSink::start().await;
    let app = spawn_app(&dirs, &sink, Clock::System).await;
    let client = app.incidents.clone();
    let mut live = watch(&client, None).await;

    // Many triggers, then many acks, in parallel; deliveries commit beside them.
    let ids = trigger_many(&app, "order", 150, "checkout is down").await;
    let acks = ids.iter().map(|&id| {
        let mut incidents = app.incidents.clone();
        tokio::spawn(async move {
            incidents
                .acknowledge(pb::AcknowledgeRequest {
                    id,
                    by: "alice".into(),
                })
                .await
                .expect("ack accepted")
        })
    });
    for ack in acks.collect::<Vec<_>>() {
        ack.await.unwrap();
    }

    // Read until every acknowledgement arrived.
    let mut seen = Vec::new();
    while seen
        .iter()
        .filter(|e: &&pb::IncidentEvent| e.kind() == EventKind::Acknowledged)
        .count()
        < ids.len()
    {
        let ev = within("the acknowledgements", live.message())
            .await
            .unwrap()
            .expect("watch stream ended");
        seen.push(ev);
    }
    assert_strictly_increasing(&seen);
    // The live stream is exactly what the store holds, in the same order, nothing skipped.
    let first = seen[0].sequence;
    let last = seen.last().unwrap().sequence;
    let replayed = stored(&client, first - 1, last).await;
    assert_eq!(sequences(&replayed), sequences(&seen));
    let kinds = |v: &[pb::IncidentEvent]| v.iter().map(|e| e.kind()).collect::<Vec<_>>();
    assert_eq!(kinds(&replayed), kinds(&seen));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watcher_resuming_after_a_disconnect_misses_nothing_and_repeats_nothing() {
    let dirs = AppDirs::new(TEST_POLICIES);
    let sink = WebhookSink::start().await;
    let app = spawn_app(&dirs, &sink, Clock::System).await;
    let client = app.incidents.clone();

    let mut first = watch(&client, None).await;
    trigger_many(&app, "before", 5, "before the disconnect").await;
    let ev = within("an event", first.message()).await.unwrap().unwrap();
    let mut last = ev.sequence;
    // Whatever was already on its way is the client's too: it read up to `last` only.
    drop(first);

    // Commands keep committing while the watcher is away and while it reconnects.
    let busy = {
        let app_alerts = app.alerts.clone();
        tokio::spawn(async move {
            for i in 0..60 {
                let mut alerts = app_alerts.clone();
                alerts
                    .trigger(pb::TriggerRequest {
                        service: "checkout".into(),
                        dedup_key: format!("during-{i}"),
                        severity: Severity::High as i32,
                        summary: "while away".into(),
                        ..Default::default()
                    })
                    .await
                    .expect("trigger accepted");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut resumed = watch(&client, Some(last)).await;
    busy.await.unwrap();
    let done = trigger_many(&app, "after", 1, "the last one").await[0];
    let mut got = Vec::new();
    loop {
        let ev = within("the resumed stream", resumed.message())
            .await
            .unwrap()
            .expect("watch stream ended");
        let end = ev.incident_id == done && ev.kind() == EventKind::Triggered;
        got.push(ev);
        if end {
            break;
        }
    }
    assert!(
        got[0].sequence > last,
        "nothing at or before the resume point"
    );
    assert_strictly_increasing(&got);
    let until = got.last().unwrap().sequence;
    assert_eq!(
        sequences(&stored(&client, last, until).await),
        sequences(&got)
    );
    last = until;

    // A resume point past what was committed is refused, naming the field.
    let beyond = client
        .clone()
        .watch(pb::WatchRequest {
            after_sequence: Some(last + 1_000_000),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(beyond.code(), Code::InvalidArgument);
    assert!(
        beyond.message().starts_with("after_sequence:"),
        "{beyond:?}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watcher_that_falls_behind_is_told_the_sequence_to_resume_after() {
    let dirs = AppDirs::new(TEST_POLICIES);
    let sink = WebhookSink::start().await;
    let mut settings = test_settings(&dirs, &sink.url);
    settings.store.event_buffer = 16;
    let app = spawn_app_with(settings, Clock::System).await;
    // A client with small HTTP/2 windows, so the daemon cannot park many events in them.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", app.grpc_addr))
        .unwrap()
        .initial_stream_window_size(Some(16 * 1024))
        .initial_connection_window_size(Some(16 * 1024))
        .connect()
        .await
        .unwrap();
    let slow_client =
        IncidentServiceClient::new(with_token(channel, &app.daemon.admin_token().await));
    let mut slow = watch(&slow_client, None).await;

    // Far more than 16 events and 16 KiB while the slow watcher reads nothing.
    let ids = trigger_many(&app, "flood", 200, &"x".repeat(900)).await;
    let mut got = Vec::new();
    let status = loop {
        match within("the slow watcher's stream", slow.message()).await {
            Ok(Some(ev)) => got.push(ev),
            Ok(None) => panic!("the stream ended without saying it fell behind"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::Aborted, "{status:?}");
    let resume: i64 = status
        .metadata()
        .get("pagerd-resume-after-sequence")
        .expect("the resume point is in the metadata")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(Some(resume), got.last().map(|e| e.sequence), "{status:?}");
    assert!(
        status
            .message()
            .contains(&format!("after_sequence = {resume}"))
    );

    // Resuming there gives the rest: every trigger is seen exactly once.
    let last_trigger = ids.iter().max().unwrap();
    let mut rest = watch(&slow_client, Some(resume)).await;
    let mut more = Vec::new();
    loop {
        let ev = within("the resumed stream", rest.message())
            .await
            .unwrap()
            .expect("watch stream ended");
        let end = ev.kind() == EventKind::Triggered && ev.incident_id == *last_trigger;
        more.push(ev);
        if end {
            break;
        }
    }
    got.extend(more);
    assert_strictly_increasing(&got);
    let mut triggered: Vec<i64> = got
        .iter()
        .filter(|e| e.kind() == EventKind::Triggered)
        .map(|e| e.incident_id)
        .collect();
    triggered.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(triggered, want);
    app.stop().await;
}
