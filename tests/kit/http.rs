//! Loopback HTTP servers standing in for receivers: each records every request it gets and
//! answers from a script, then with 200.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::{real_timeout, within};

/// One request a [`Recorder`] received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// When the request arrived (wall clock), for lateness measurements.
    pub received_at: DateTime<Utc>,
}

impl Recorded {
    pub fn form(&self) -> HashMap<String, String> {
        form_urlencoded::parse(&self.body).into_owned().collect()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

type Script = Arc<Mutex<VecDeque<(StatusCode, Vec<(&'static str, String)>)>>>;

#[derive(Clone)]
struct RecorderState {
    tx: mpsc::UnboundedSender<Recorded>,
    script: Script,
    ok_body: String,
}

/// Records every request; answers from a script of statuses, then 200 with `ok_body`.
pub struct Recorder {
    pub base: String,
    rx: mpsc::UnboundedReceiver<Recorded>,
    script: Script,
}

impl Recorder {
    pub async fn start(ok_body: &str) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let script: Script = Arc::new(Mutex::new(VecDeque::new()));
        let state = RecorderState {
            tx,
            script: script.clone(),
            ok_body: ok_body.to_string(),
        };
        let router = Router::new().fallback(record).with_state(state);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { base, rx, script }
    }

    /// The next request is answered with `status` and `headers` (then 200 again).
    pub fn answer(&self, status: StatusCode, headers: &[(&'static str, &str)]) {
        self.script.lock().unwrap().push_back((
            status,
            headers.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        ));
    }

    /// The next request (waits in real time, bounded).
    pub async fn next(&mut self) -> Recorded {
        within("a request at the stand-in server", self.rx.recv())
            .await
            .unwrap()
    }

    /// Asserts that no request arrives for a short real-time while.
    pub async fn expect_quiet(&mut self, why: &str) {
        if let Some(Some(r)) = real_timeout(Duration::from_millis(300), self.rx.recv()).await {
            panic!("{why}: unexpected request to {}", r.path);
        }
    }
}

async fn record(State(s): State<RecorderState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let received_at = Utc::now();
    let _ = s.tx.send(Recorded {
        path: parts.uri.path().to_string(),
        headers: parts.headers,
        body,
        received_at,
    });
    match s.script.lock().unwrap().pop_front() {
        Some((status, headers)) => {
            let mut resp = (status, "scripted failure").into_response();
            for (k, v) in headers {
                resp.headers_mut().insert(k, v.parse().unwrap());
            }
            resp
        }
        None => (
            StatusCode::OK,
            [("content-type", "application/json")],
            s.ok_body.clone(),
        )
            .into_response(),
    }
}

/// One page the webhook sink received.
#[derive(Debug, Clone)]
pub struct ReceivedPage {
    /// The JSON body (`null` if it was not JSON).
    pub body: serde_json::Value,
    pub idempotency_key: String,
    pub received_at: DateTime<Utc>,
}

impl ReceivedPage {
    pub fn person(&self) -> &str {
        self.body["person"]["name"].as_str().unwrap_or_default()
    }
    pub fn kind(&self) -> &str {
        self.body["kind"].as_str().unwrap_or_default()
    }
    pub fn level(&self) -> u64 {
        self.body["level"].as_u64().unwrap_or_default()
    }
    pub fn incident_id(&self) -> i64 {
        self.body["incident"]["id"].as_i64().unwrap_or_default()
    }
}

impl From<Recorded> for ReceivedPage {
    fn from(r: Recorded) -> Self {
        Self {
            body: serde_json::from_slice(&r.body).unwrap_or_default(),
            idempotency_key: r.header("idempotency-key").to_string(),
            received_at: r.received_at,
        }
    }
}

/// A local HTTP server standing in for the webhook receiver (the daemon's `notify.webhook`).
pub struct WebhookSink {
    /// The URL to configure as `notify.webhook.url`.
    pub url: String,
    server: Recorder,
}

impl WebhookSink {
    pub async fn start() -> Self {
        let server = Recorder::start("").await;
        Self {
            url: format!("{}/pages", server.base),
            server,
        }
    }

    /// The next requests get these statuses (then 200 again).
    pub fn fail_next(&self, statuses: &[StatusCode]) {
        for status in statuses {
            self.server.answer(*status, &[]);
        }
    }

    /// The next request the sink receives (waits in real time, bounded).
    pub async fn next(&mut self) -> ReceivedPage {
        within("a page at the webhook sink", self.server.rx.recv())
            .await
            .expect("sink closed")
            .into()
    }

    /// The next request as received, however long it takes; `None` once the server is gone.
    pub async fn recv(&mut self) -> Option<Recorded> {
        self.server.rx.recv().await
    }

    /// Asserts that no request arrives for a short real-time while. The tests pair this with
    /// checks of the incident's state, which are exact.
    pub async fn expect_quiet(&mut self, why: &str) {
        if let Some(Some(p)) = real_timeout(Duration::from_millis(300), self.server.rx.recv()).await
        {
            panic!("{why}: unexpected page {:#}", ReceivedPage::from(p).body);
        }
    }
}
