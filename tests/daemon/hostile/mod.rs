//! Hostile input against the real daemon: a corpus of bad bodies to every HTTP intake
//! endpoint (`http.rs`) and bad requests to the gRPC services (`grpc.rs`). Each gets a clean
//! 4xx or gRPC status (never a 5xx, a panic or a hang), and afterwards the daemon is healthy
//! and a normal trigger still pages.

mod grpc;
mod http;

use serde_json::{Value, json};

use crate::helpers::*;
use crate::ingest::{PAYMENTS_KEY, post_json};

pub(super) fn ok_payload() -> Value {
    json!({"summary": "Card payments failing", "source": "payments-1", "severity": "error"})
}

/// `/healthz` answers 200 and a normal Events v2 trigger is accepted and paged.
pub(super) async fn assert_healthy(app: &mut TestApp, sink: &mut WebhookSink, key: &str) {
    let health = within(
        "/healthz",
        reqwest::get(format!("http://{}/healthz", app.http_addr)),
    )
    .await
    .unwrap();
    assert_eq!(health.status(), 200);
    let (status, answer) = post_json(
        app,
        "/v2/enqueue",
        &json!({"routing_key": PAYMENTS_KEY, "event_action": "trigger", "dedup_key": key,
                "payload": ok_payload()}),
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    let page = app.page(sink).await;
    assert_eq!(page.body["incident"]["dedup_key"], key);
}
