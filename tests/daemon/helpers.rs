//! The daemon suite's vocabulary on top of the shared kit (`tests/kit`): the test policy set,
//! where the clock starts, and a daemon with connected gRPC clients that follows its event
//! stream.

use std::time::Duration;

use chrono::{DateTime, Utc};

use pagerd::app::Options;
use pagerd::config::Settings;
use pagerd::engine::Clock;
use pagerd::proto::alert_service_client::AlertServiceClient;
use pagerd::proto::incident_service_client::IncidentServiceClient;
use pagerd::proto::{self as pb};

pub use crate::kit::*;

/// The kit's channel: every call carries the daemon's admin token.
pub type Channel = AuthedChannel;

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
    pub grpc_addr: std::net::SocketAddr,
    pub daemon: InProcess,
}

pub fn test_settings(dirs: &AppDirs, webhook: &str) -> Settings {
    let mut settings = dirs.settings();
    settings.notify.log.enabled = false;
    settings.notify.webhook.url = Some(webhook.to_string());
    settings.outbox.retry_initial = Duration::from_secs(10);
    // The weekly rebalance notice would interleave with the pages a test expects; its own
    // test (rebalance.rs) switches it on.
    settings.report.weekly_notice = false;
    settings
}

/// Starts the daemon with `settings` and `clock`; returns connected clients.
pub async fn spawn_app_with(settings: Settings, clock: Clock) -> TestApp {
    let options = Options {
        clock,
        extra_channels: Vec::new(),
    };
    let daemon = InProcess::start(settings, options).await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", daemon.grpc_addr))
        .unwrap()
        .connect()
        .await
        .expect("daemon accepts gRPC connections");
    let channel = with_token(channel, &daemon.admin_token().await);
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
        http_addr: daemon.http_addr,
        grpc_addr: daemon.grpc_addr,
        daemon,
    }
}

/// The usual test daemon: test policies, webhook to `sink`, clock anchored at [`t0`].
pub async fn spawn_app(dirs: &AppDirs, sink: &WebhookSink, clock: Clock) -> TestApp {
    spawn_app_with(test_settings(dirs, &sink.url), clock).await
}

impl TestApp {
    /// Graceful shutdown; fails the test if the daemon reports an error.
    pub async fn stop(self) {
        self.daemon.stop().await;
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
            .get(pb::GetIncidentRequest {
                id,
                ..Default::default()
            })
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

/// The audit trail's rows about `target` (e.g. "incident 3"), as (action, actor, via), read
/// by the test's admin channel.
pub async fn audit_of(app: &TestApp, target: &str) -> Vec<(String, String, String)> {
    let mut daemon =
        pagerd::proto::daemon_service_client::DaemonServiceClient::new(app.channel.clone());
    daemon
        .list_audit(pb::ListAuditRequest::default())
        .await
        .expect("the admin reads the audit trail")
        .into_inner()
        .entries
        .into_iter()
        .filter(|e| e.target == target)
        .map(|e| (e.action, e.actor, e.via))
        .collect()
}

/// Waits (real time, bounded) until the turn of `schedule` in progress at the test clock's
/// now is recorded in the ledger (no longer projected).
pub async fn settle_schedule(app: &TestApp, clock: Clock, schedule: &str) {
    use pagerd::proto::schedule_service_client::ScheduleServiceClient;
    within("the turn in progress is recorded", async {
        loop {
            let s = ScheduleServiceClient::new(app.channel.clone())
                .on_call(pb::OnCallRequest {
                    schedule: schedule.into(),
                    at: Some(prost_types::Timestamp {
                        seconds: clock.now().timestamp(),
                        nanos: 0,
                    }),
                })
                .await
                .expect("OnCall")
                .into_inner()
                .shift
                .expect("someone is on call");
            if !s.projected {
                return;
            }
            real_timeout(Duration::from_millis(20), std::future::pending::<()>()).await;
        }
    })
    .await
}

/// Advances the paused clock to `t` in steps of at most `step`, letting each turn of
/// `schedule` be recorded on the way (so burnout decisions see the incidents before them).
pub async fn advance_settled(
    app: &TestApp,
    clock: Clock,
    schedule: &str,
    t: DateTime<Utc>,
    step: chrono::Duration,
) {
    loop {
        settle_schedule(app, clock, schedule).await;
        let left = t - clock.now();
        if left <= chrono::Duration::zero() {
            return;
        }
        advance(left.min(step).to_std().unwrap()).await;
    }
}

/// Triggers on `service`, waits for the page, resolves at once (a 1-hour call-in); returns
/// who was paged.
pub async fn paged_and_resolved(
    app: &mut TestApp,
    sink: &mut WebhookSink,
    service: &str,
    key: &str,
) -> String {
    let r = app.trigger(service, pb::Severity::High, key).await;
    let page = app.page(sink).await;
    app.incidents
        .resolve(pb::ResolveRequest {
            id: r.incident_id,
            by: "test".into(),
            note: String::new(),
        })
        .await
        .expect("resolve accepted");
    page.person().to_string()
}

/// `pagerd token create NAME --role ROLE --person P` on the daemon's database; the secret.
pub fn create_token(dirs: &AppDirs, name: &str, role: &str, person: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pagerd"))
        .args(["token", "create", name, "--role", role, "--person", person])
        .env("PAGERD_DATA_DIR", dirs.data())
        .env("PAGERD_SCHEDULES_DIR", dirs.schedules())
        .output()
        .expect("pagerd runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
