//! Events v2 takes JSON only: a cross-site `<form>` or a CORS-free `fetch` can only send
//! `text/plain`, form or multipart bodies, so requiring `application/json` keeps web pages
//! from raising alerts with a leaked routing key.

use pagerd::engine::Clock;
use pagerd::proto as pb;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::ingest::{PAYMENTS_KEY, intake_policies};

async fn post(app: &TestApp, content_type: Option<&str>, body: &Value) -> (u16, Value) {
    let url = format!("http://{}/v2/enqueue", app.http_addr);
    let mut req = reqwest::Client::new()
        .post(url)
        .body(serde_json::to_vec(body).unwrap());
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let resp = within("an HTTP answer", req.send()).await.unwrap();
    let status = resp.status().as_u16();
    let text = within("an HTTP body", resp.text()).await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test(start_paused = true)]
async fn events_v2_refuses_anything_but_json_with_415_and_stores_nothing() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(&intake_policies());
    let mut sink = WebhookSink::start().await;
    let mut app = spawn_app(&dirs, &sink, Clock::anchored(t0())).await;
    let event = |key: &str| {
        json!({
            "routing_key": PAYMENTS_KEY, "event_action": "trigger", "dedup_key": key,
            "payload": {"summary": "Card payments failing", "source": "payments-1", "severity": "error"},
        })
    };
    for (ct, key) in [
        (Some("text/plain"), "plain"),
        (Some("text/plain;charset=UTF-8"), "plain-utf8"),
        (Some("application/x-www-form-urlencoded"), "form"),
        (Some("multipart/form-data; boundary=x"), "multipart"),
        (None, "none"),
    ] {
        let (status, body) = post(&app, ct, &event(key)).await;
        assert_eq!(status, 415, "{ct:?}: {body}");
        assert_eq!(body["status"], "invalid event", "{body}");
        assert!(
            body["errors"][0]
                .as_str()
                .unwrap()
                .starts_with("Content-Type:"),
            "{body}"
        );
    }
    let list = app
        .incidents
        .list(pb::ListIncidentsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(list.incidents.is_empty(), "{:?}", list.incidents);
    sink.expect_quiet("a refused event paged someone").await;

    // What PagerDuty's clients send, in any case and with parameters, is accepted.
    for (ct, key) in [
        ("application/json", "json"),
        ("Application/JSON; charset=utf-8", "json-utf8"),
    ] {
        let (status, body) = post(&app, Some(ct), &event(key)).await;
        assert_eq!(status, 202, "{ct}: {body}");
        assert_eq!(body["dedup_key"], key);
        app.page(&mut sink).await;
    }
    app.stop().await;
}
