//! Harness: runs the real daemon in-process on port 0 with a temp database, a local HTTP sink
//! standing in for the webhook receiver, and real gRPC clients.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::{Json, Router, extract::State, routing::post};
use chrono::{DateTime, Utc};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use pagerd::app::{self, Listeners, Options};
use pagerd::config::{self, Settings};
use pagerd::engine::Clock;
use pagerd::proto::alert_service_client::AlertServiceClient;
use pagerd::proto::incident_service_client::IncidentServiceClient;
use pagerd::proto::{self as pb};

/// A small policy set with short, distinct ladders so tests can tell levels apart.
pub const TEST_POLICIES: &str = r#"
[[person]]
name = "alice"
time_zone = "America/Los_Angeles"
email = "alice@example.com"
[[person]]
name = "bob"
time_zone = "America/New_York"
[[person]]
name = "dana"
time_zone = "Europe/Berlin"
[[person]]
name = "victor"
time_zone = "UTC"
[[person]]
name = "cora"
time_zone = "UTC"
[[person]]
name = "erin"
time_zone = "UTC"
[[person]]
name = "sam"
time_zone = "UTC"

[[service]]
name = "checkout"
escalation_policy = "eng"
[[service]]
name = "tools"
escalation_policy = "loop"
[[service]]
name = "batch"
escalation_policy = "twice"

[[escalation_policy]]
name = "eng"
ack_timeout = "4h"
levels = [
  { targets = ["alice"], delay = "30m" },
  { targets = ["bob"], delay = "1h" },
]
[escalation_policy.critical]
levels = [
  { targets = ["alice", "bob"], delay = "15m" },
  { targets = ["dana"], delay = "30m" },
  { targets = ["victor"], delay = "1h" },
  { targets = ["cora"], delay = "2h" },
  { targets = ["erin"], delay = "4h" },
]

[[escalation_policy]]
name = "loop"
repeat = "until_acknowledged"
levels = [
  { targets = ["sam"], delay = "10m" },
  { targets = ["alice"], delay = "10m" },
]

[[escalation_policy]]
name = "twice"
repeat = 1
levels = [{ targets = ["sam"], delay = "5m" }]

[[service]]
name = "web"
escalation_policy = "oncall"

[[escalation_policy]]
name = "oncall"
levels = [
  { schedules = ["evenings"], delay = "10m" },
  { targets = ["dana"], delay = "10m" },
]

# On call 17:00-09:00 Pacific only; victor owns the daytime gap.
[[schedule]]
name = "evenings"
time_zone = "America/Los_Angeles"
owner = "victor"
handoff_notifications = "off"
[[schedule.layer]]
name = "evenings"
members = ["sam", "bob"]
shift = "1w"
start = "2026-03-02T09:00"
restrictions = [{ daily = "17:00-09:00" }]
"#;

/// Where every test's clock starts: a Monday morning.
pub fn t0() -> DateTime<Utc> {
    "2026-03-02T17:00:00Z".parse().unwrap()
}

pub fn mins(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

/// One request the sink received.
#[derive(Debug, Clone)]
pub struct ReceivedPage {
    pub body: serde_json::Value,
    pub idempotency_key: String,
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

#[derive(Clone)]
struct SinkState {
    tx: mpsc::UnboundedSender<ReceivedPage>,
    /// Statuses to answer with before answering 200, in order.
    script: Arc<Mutex<VecDeque<StatusCode>>>,
}

/// A local HTTP server standing in for the webhook receiver.
pub struct WebhookSink {
    pub url: String,
    rx: mpsc::UnboundedReceiver<ReceivedPage>,
    script: Arc<Mutex<VecDeque<StatusCode>>>,
}

impl WebhookSink {
    pub async fn start() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let script = Arc::new(Mutex::new(VecDeque::new()));
        let state = SinkState {
            tx,
            script: script.clone(),
        };
        let router = Router::new()
            .route("/pages", post(receive))
            .with_state(state);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/pages", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { url, rx, script }
    }

    /// The next requests get these statuses (then 200 again).
    pub fn fail_next(&self, statuses: &[StatusCode]) {
        self.script.lock().unwrap().extend(statuses.iter().copied());
    }

    /// The next request the sink receives (waits in real time, bounded).
    pub async fn next(&mut self) -> ReceivedPage {
        within("a page at the webhook sink", self.rx.recv())
            .await
            .expect("sink closed")
    }

    /// Asserts that no request arrives for a short real-time while. The tests pair this with
    /// checks of the incident's state, which are exact.
    pub async fn expect_quiet(&mut self, why: &str) {
        if let Some(Some(p)) = real_timeout(Duration::from_millis(300), self.rx.recv()).await {
            panic!("{why}: unexpected page {:#}", p.body);
        }
    }
}

async fn receive(
    State(state): State<SinkState>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> StatusCode {
    let idempotency_key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let _ = state.tx.send(ReceivedPage {
        body,
        idempotency_key,
    });
    state
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(StatusCode::OK)
}

/// Files a test daemon keeps across restarts.
pub struct AppDirs {
    pub root: tempfile::TempDir,
}

impl AppDirs {
    pub fn new(policies: &str) -> Self {
        let root = tempfile::tempdir().unwrap();
        let schedules = root.path().join("schedules");
        std::fs::create_dir_all(&schedules).unwrap();
        std::fs::write(schedules.join("policies.toml"), policies).unwrap();
        Self { root }
    }

    pub fn schedules(&self) -> PathBuf {
        self.root.path().join("schedules")
    }

    pub fn data(&self) -> PathBuf {
        self.root.path().join("data")
    }
}

pub struct TestApp {
    /// Every event since start, as streamed by `Watch`, in order.
    pub events: Vec<pb::IncidentEvent>,
    watch: tonic::Streaming<pb::IncidentEvent>,
    /// Delivery outcomes (delivered or failed) already awaited by `pages`.
    outcomes_taken: usize,
    pub alerts: AlertServiceClient<Channel>,
    pub incidents: IncidentServiceClient<Channel>,
    pub channel: Channel,
    pub http_addr: std::net::SocketAddr,
    shutdown: CancellationToken,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

pub fn test_settings(dirs: &AppDirs, webhook: &str) -> Settings {
    let mut settings = Settings {
        data_dir: dirs.data(),
        schedules_dir: dirs.schedules(),
        ..Settings::default()
    };
    settings.notify.log.enabled = false;
    settings.notify.webhook.url = Some(webhook.to_string());
    settings.outbox.retry_initial = Duration::from_secs(10);
    settings
}

/// Starts the daemon with `settings` and `clock`; returns connected clients.
pub async fn spawn_app_with(settings: Settings, clock: Clock) -> TestApp {
    let policies = config::load_dir(&settings.schedules_dir).expect("test policies are valid");
    let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let grpc_addr = grpc.local_addr().unwrap();
    let http_addr = http.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let options = Options {
        clock,
        extra_channels: Vec::new(),
    };
    let handle = tokio::spawn(app::run(
        settings,
        policies,
        Listeners { grpc, http },
        options,
        shutdown.clone(),
    ));
    let channel = Channel::from_shared(format!("http://{grpc_addr}"))
        .unwrap()
        .connect()
        .await
        .expect("daemon accepts gRPC connections");
    let mut incidents = IncidentServiceClient::new(channel.clone());
    let watch = incidents
        .watch(pb::WatchRequest::default())
        .await
        .expect("watch opens")
        .into_inner();
    TestApp {
        events: Vec::new(),
        watch,
        outcomes_taken: 0,
        alerts: AlertServiceClient::new(channel.clone()),
        incidents,
        channel,
        http_addr,
        shutdown,
        handle,
    }
}

/// The usual test daemon: test policies, webhook to `sink`, clock anchored at [`t0`].
pub async fn spawn_app(dirs: &AppDirs, sink: &WebhookSink, clock: Clock) -> TestApp {
    spawn_app_with(test_settings(dirs, &sink.url), clock).await
}

impl TestApp {
    /// Graceful shutdown; fails the test if the daemon reports an error.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.handle
            .await
            .expect("daemon task panicked")
            .expect("daemon stopped with an error");
    }

    pub async fn trigger(
        &mut self,
        service: &str,
        severity: pb::Severity,
        key: &str,
    ) -> pb::TriggerResponse {
        self.alerts
            .trigger(pb::TriggerRequest {
                service: service.into(),
                dedup_key: key.into(),
                severity: severity as i32,
                summary: format!("{service} is down"),
                source: "test".into(),
                ..Default::default()
            })
            .await
            .expect("trigger accepted")
            .into_inner()
    }

    pub async fn ack(&mut self, id: i64, by: &str) -> pb::IncidentActionResponse {
        self.incidents
            .acknowledge(pb::AcknowledgeRequest { id, by: by.into() })
            .await
            .expect("ack accepted")
            .into_inner()
    }

    pub async fn get(&mut self, id: i64) -> pb::GetIncidentResponse {
        self.incidents
            .get(pb::GetIncidentRequest { id })
            .await
            .expect("incident exists")
            .into_inner()
    }

    /// Timeline event kinds of an incident, in order.
    pub async fn timeline_kinds(&mut self, id: i64) -> Vec<pb::EventKind> {
        self.get(id)
            .await
            .timeline
            .iter()
            .map(|e| pb::EventKind::try_from(e.kind).unwrap())
            .collect()
    }
}

impl TestApp {
    /// Takes the next `n` pages from the sink (sorted by person) and waits until the daemon has
    /// recorded their outcomes, so no delivery is in flight when the test moves the clock.
    pub async fn pages(&mut self, sink: &mut WebhookSink, n: usize) -> Vec<ReceivedPage> {
        let mut pages = Vec::with_capacity(n);
        for _ in 0..n {
            pages.push(sink.next().await);
        }
        pages.sort_by(|a, b| a.person().cmp(b.person()));
        let want = self.outcomes_taken + n;
        while self.outcomes() < want {
            self.next_event().await;
        }
        self.outcomes_taken = want;
        pages
    }

    /// The next page (see [`TestApp::pages`]).
    pub async fn page(&mut self, sink: &mut WebhookSink) -> ReceivedPage {
        self.pages(sink, 1).await.remove(0)
    }

    /// Reads the event stream until an event matching `pred` arrives (real time, bounded).
    pub async fn event_where(
        &mut self,
        what: &str,
        pred: impl Fn(&pb::IncidentEvent) -> bool,
    ) -> pb::IncidentEvent {
        loop {
            let ev = within(what, self.watch.message())
                .await
                .expect("watch stream failed")
                .expect("watch stream ended");
            self.events.push(ev.clone());
            if pred(&ev) {
                return ev;
            }
        }
    }

    fn outcomes(&self) -> usize {
        self.events
            .iter()
            .filter(|e| {
                matches!(
                    e.kind(),
                    pb::EventKind::Delivered | pb::EventKind::DeliveryFailed
                )
            })
            .count()
    }

    async fn next_event(&mut self) {
        let ev = within("an incident event", self.watch.message())
            .await
            .expect("watch stream failed")
            .expect("watch stream ended");
        self.events.push(ev);
    }
}

pub fn persons(pages: &[ReceivedPage]) -> Vec<&str> {
    pages.iter().map(|p| p.person()).collect()
}

/// Stops tokio's paused clock from jumping ahead on its own.
///
/// A paused clock auto-advances whenever the runtime looks idle, and a task woken by socket
/// I/O does not count as busy, so with real sockets time could leap while a request is in
/// flight. A blocking task inhibits auto-advance for as long as it runs, so while this guard
/// lives the clock moves only by `tokio::time::advance`.
pub struct Frozen(#[allow(dead_code)] std::sync::mpsc::Sender<()>);

pub fn freeze_time() -> Frozen {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    tokio::task::spawn_blocking(move || {
        let _ = rx.recv();
    });
    Frozen(tx)
}

/// Moves the frozen clock forward; due timers fire.
pub async fn advance(d: Duration) {
    tokio::time::advance(d).await;
}

/// Runs `f` for at most `limit` of real time (the virtual clock does not move by itself).
pub async fn real_timeout<F: std::future::Future>(limit: Duration, f: F) -> Option<F::Output> {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    // Ends early when `tx` is dropped, so no thread outlives the wait.
    let timer = tokio::task::spawn_blocking(move || {
        let _ = rx.recv_timeout(limit);
    });
    let out = tokio::select! {
        v = f => Some(v),
        _ = timer => None,
    };
    drop(tx);
    out
}

/// Like [`real_timeout`], failing the test after 20 s.
pub async fn within<F: std::future::Future>(what: &str, f: F) -> F::Output {
    real_timeout(Duration::from_secs(20), f)
        .await
        .unwrap_or_else(|| panic!("timed out waiting for {what}"))
}

/// Replaces the test policy file the way editors and config management do: written beside
/// and renamed, so a reload never sees half a file.
pub fn write_policies(dirs: &AppDirs, text: &str) {
    let tmp = dirs.schedules().join(".policies.toml.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, dirs.schedules().join("policies.toml")).unwrap();
}

#[allow(dead_code)]
pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}
