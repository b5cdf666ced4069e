//! Every HTTP intake endpoint against a corpus of hostile bodies.

use serde_json::{Value, json};

use super::{assert_healthy, ok_payload};
use crate::helpers::*;
use crate::ingest::{PAYMENTS_KEY, heartbeat_policies};
use pagerd::proto as pb;

/// One HTTP request of the corpus.
struct Hostile {
    what: &'static str,
    method: reqwest::Method,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    /// The status it must get.
    want: u16,
    /// A word the answer must contain (the field it names), if any.
    names: Option<&'static str>,
}

fn post(what: &'static str, path: &str, body: Vec<u8>, want: u16) -> Hostile {
    Hostile {
        what,
        method: reqwest::Method::POST,
        path: path.to_string(),
        content_type: Some("application/json"),
        body,
        want,
        names: None,
    }
}

fn naming(mut h: Hostile, field: &'static str) -> Hostile {
    h.names = Some(field);
    h
}

/// Bytes from a fixed-seed generator: the same "random" body every run.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn deep_json(depth: usize) -> Vec<u8> {
    let mut v = "[".repeat(depth).into_bytes();
    v.extend(std::iter::repeat_n(b']', depth));
    v
}

fn event(payload: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "routing_key": PAYMENTS_KEY, "event_action": "trigger", "dedup_key": "h",
        "payload": payload,
    }))
    .unwrap()
}

fn with(mut v: Value, key: &str, value: Value) -> Vec<u8> {
    v[key] = value;
    serde_json::to_vec(&v).unwrap()
}

fn am(alerts: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "version": "4", "groupKey": "{}:{alertname=\"X\"}", "status": "firing",
        "alerts": alerts,
    }))
    .unwrap()
}

fn am_alert(labels: Value, annotations: Value) -> Value {
    json!({"status": "firing", "labels": labels, "annotations": annotations, "fingerprint": "f1"})
}

fn corpus() -> Vec<Hostile> {
    let ev = "/v2/enqueue";
    let amp = format!("/integrations/alertmanager/{PAYMENTS_KEY}");
    let big = |n: usize| "x".repeat(n);
    let base_event = json!({
        "routing_key": PAYMENTS_KEY, "event_action": "trigger", "payload": ok_payload(),
    });
    let mut c = vec![
        // Events v2.
        post("random bytes", ev, noise(4096, 1), 400),
        post("deep JSON", ev, deep_json(100_000), 400),
        post("a JSON string", ev, b"\"trigger\"".to_vec(), 400),
        post("over 512 KiB", ev, vec![b' '; 600 * 1024], 413),
        naming(
            post(
                "a javascript: link",
                ev,
                with(
                    base_event.clone(),
                    "links",
                    json!([{"href": "javascript:alert(document.cookie)", "text": "Acknowledge"}]),
                ),
                400,
            ),
            "links[0].href",
        ),
        naming(
            post(
                "a data: client_url",
                ev,
                with(
                    base_event.clone(),
                    "client_url",
                    json!("data:text/html,<script>x</script>"),
                ),
                400,
            ),
            "client_url",
        ),
        naming(
            post(
                "a 3 KiB href",
                ev,
                with(
                    base_event.clone(),
                    "links",
                    json!([{"href": format!("https://x.example/{}", big(3000))}]),
                ),
                400,
            ),
            "links[0].href",
        ),
        naming(
            post(
                "a 1 KiB link text",
                ev,
                with(
                    base_event.clone(),
                    "links",
                    json!([{"href": "https://x.example/", "text": big(1024)}]),
                ),
                400,
            ),
            "links[0].text",
        ),
        naming(
            post(
                "a 300-byte source",
                ev,
                event(json!({"summary": "s", "source": big(300), "severity": "error"})),
                400,
            ),
            "payload.source",
        ),
        naming(
            post(
                "100 KiB of details",
                ev,
                event(json!({"summary": "s", "source": "x", "severity": "error",
                             "custom_details": {"blob": big(100 * 1024)}})),
                400,
            ),
            "custom_details",
        ),
        naming(
            post(
                "a 2 KiB summary",
                ev,
                event(json!({"summary": big(2048), "source": "x", "severity": "error"})),
                400,
            ),
            "payload.summary",
        ),
        naming(
            post(
                "a numeric summary",
                ev,
                event(json!({"summary": 5, "source": "x", "severity": "error"})),
                400,
            ),
            "payload.summary",
        ),
        Hostile {
            content_type: Some("text/plain"),
            ..post("a form post", ev, event(ok_payload()), 415)
        },
        // Alertmanager.
        post("random bytes", &amp, noise(4096, 2), 400),
        post("deep JSON", &amp, deep_json(100_000), 400),
        post("over 8 MiB", &amp, vec![b' '; 9 * 1024 * 1024], 413),
        naming(
            post(
                "a 6 MiB annotation",
                &amp,
                am(vec![am_alert(
                    json!({"alertname": "HugeAnnotation"}),
                    json!({"description": big(6 * 1024 * 1024)}),
                )]),
                400,
            ),
            "alerts[0] (HugeAnnotation).labels+annotations",
        ),
        naming(
            post(
                "1001 alerts",
                &amp,
                am((0..1001)
                    .map(|i| {
                        let mut a = am_alert(json!({"alertname": "Many"}), json!({}));
                        a["fingerprint"] = json!(format!("f{i}"));
                        a
                    })
                    .collect()),
                400,
            ),
            "at most 1000",
        ),
        naming(
            post(
                "a 300-byte instance",
                &amp,
                am(vec![am_alert(
                    json!({"alertname": "LongSource", "instance": big(300)}),
                    json!({}),
                )]),
                400,
            ),
            "alerts[0] (LongSource).labels.instance",
        ),
        naming(
            post(
                "a 300-byte fingerprint",
                &amp,
                am(vec![
                    json!({"status": "firing", "labels": {}, "fingerprint": big(300)}),
                ]),
                400,
            ),
            "alerts[0].fingerprint",
        ),
        naming(
            post(
                "an unknown status",
                &amp,
                am(vec![json!({"status": big(10_000), "fingerprint": "f"})]),
                400,
            ),
            "alerts[0].status",
        ),
        post(
            "an unknown key",
            "/integrations/alertmanager/nope",
            noise(64, 3),
            404,
        ),
        // Heartbeats, action links, the Slack and SMS endpoints, calendar feeds.
        post(
            "a wrong heartbeat token",
            "/heartbeats/backup/not-the-token",
            vec![],
            404,
        ),
        post(
            "a heartbeat with no token",
            "/heartbeats/backup",
            noise(100, 4),
            404,
        ),
        post(
            "a forged action link",
            &format!("/act/{}", big(4000)),
            noise(100, 5),
            403,
        ),
        post(
            "an unsigned Slack action",
            "/integrations/slack/actions",
            noise(2048, 6),
            404,
        ),
        post(
            "an unsigned SMS reply",
            "/integrations/sms/inbound",
            noise(2048, 7),
            404,
        ),
    ];
    c.push(Hostile {
        method: reqwest::Method::GET,
        ..post(
            "a forged calendar token",
            &format!("/schedules/evenings/{}.ics", big(300)),
            vec![],
            404,
        )
    });
    c
}

async fn send(app: &TestApp, h: &Hostile) -> (u16, String) {
    let mut req = reqwest::Client::new()
        .request(
            h.method.clone(),
            format!("http://{}{}", app.http_addr, h.path),
        )
        .body(h.body.clone());
    if let Some(ct) = h.content_type {
        req = req.header("content-type", ct);
    }
    let resp = within("an HTTP answer", req.send())
        .await
        .unwrap_or_else(|e| panic!("{} to {}: no answer: {e}", h.what, h.path));
    let status = resp.status().as_u16();
    (status, within("an HTTP body", resp.text()).await.unwrap())
}

#[tokio::test(start_paused = true)]
async fn every_http_intake_answers_hostile_bodies_with_a_clean_4xx_and_stays_healthy() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(&heartbeat_policies());
    let mut sink = WebhookSink::start().await;
    let mut app = spawn_app(&dirs, &sink, pagerd::engine::Clock::anchored(t0())).await;
    let corpus = corpus();
    let mut failures = Vec::new();
    for h in &corpus {
        let (status, body) = send(&app, h).await;
        let shown: String = body.chars().take(300).collect();
        let path: String = h.path.chars().take(60).collect();
        if status != h.want {
            failures.push(format!(
                "{} to {path}: {status} (want {}): {shown}",
                h.what, h.want
            ));
        } else if let Some(field) = h.names
            && !body.contains(field)
        {
            failures.push(format!(
                "{} to {path}: answer does not name `{field}`: {shown}",
                h.what
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    sink.expect_quiet("a hostile body paged someone").await;
    let list = app
        .incidents
        .list(pb::ListIncidentsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(list.incidents.is_empty(), "{:?}", list.incidents);
    assert_healthy(&mut app, &mut sink, "after-http-corpus").await;
    app.stop().await;
}
