//! Health against the real `pagerd` binary: `/healthz` (alive), `/readyz` (ready), gRPC
//! health per service, and the systemd watchdog — pings on a Unix datagram socket the test
//! binds as `NOTIFY_SOCKET`, which must stop while the timer loop is wedged (the
//! `health.wedge_timer_file` test hook) and resume once it turns again.

use std::path::Path;
use std::time::{Duration, Instant};

use tokio::net::UnixDatagram;
use tokio::sync::mpsc;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::*;

const PAGERD: &str = env!("CARGO_BIN_EXE_pagerd");
/// The longest any single step may take before the test fails.
const BOUND: Duration = Duration::from_secs(10);
/// `WATCHDOG_USEC`: pagerd pings every quarter of it.
const WATCHDOG: Duration = Duration::from_millis(400);

/// Status and body of `GET path`.
async fn get(daemon: &DaemonProcess, path: &str) -> (u16, String) {
    let resp = reqwest::get(format!("{}{path}", daemon.http_url()))
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// Polls `GET path` until `done(status, body)`; the last answer.
async fn poll_get(
    daemon: &DaemonProcess,
    path: &str,
    what: &str,
    done: impl Fn(u16, &str) -> bool,
) -> (u16, String) {
    let started = Instant::now();
    loop {
        let (status, body) = get(daemon, path).await;
        if done(status, &body) {
            return (status, body);
        }
        assert!(
            started.elapsed() < BOUND,
            "{what}: GET {path} still answers {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The gRPC health of `service` ("" = the whole server).
async fn grpc_health(daemon: &DaemonProcess, service: &str) -> i32 {
    let channel = tonic::transport::Endpoint::from_shared(daemon.grpc_url())
        .unwrap()
        .connect()
        .await
        .expect("gRPC connects");
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .expect("health answers")
        .into_inner()
        .status
}

async fn poll_grpc_health(daemon: &DaemonProcess, services: &[&str], want: ServingStatus) {
    let started = Instant::now();
    for service in services {
        loop {
            let status = grpc_health(daemon, service).await;
            if status == want as i32 {
                break;
            }
            assert!(
                started.elapsed() < BOUND,
                "gRPC health of {service:?} is {status}, not {want:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Reads the notify socket all the time (a datagram socket nobody reads blocks its sender),
/// passing on each `WATCHDOG=1` (READY=1 and the like are skipped).
fn pings(socket: UnixDatagram) -> mpsc::UnboundedReceiver<()> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok(n) = socket.recv(&mut buf).await {
            let text = String::from_utf8_lossy(&buf[..n]);
            if text.lines().any(|l| l == "WATCHDOG=1") && tx.send(()).is_err() {
                return;
            }
        }
    });
    rx
}

/// The next ping within `limit`; `None` if none came.
async fn next_ping(pings: &mut mpsc::UnboundedReceiver<()>, limit: Duration) -> Option<()> {
    tokio::time::timeout(limit, pings.recv())
        .await
        .ok()
        .flatten()
}

/// Discards the pings received so far.
fn drain(pings: &mut mpsc::UnboundedReceiver<()>) {
    while pings.try_recv().is_ok() {}
}

fn log_has(log: &Path, needle: &str) -> bool {
    std::fs::read_to_string(log).is_ok_and(|l| l.contains(needle))
}

#[tokio::test]
async fn a_wedged_timer_loop_makes_pagerd_not_ready_and_stops_the_watchdog_pings() {
    let dirs = AppDirs::new(TEST_POLICIES);
    let socket_path = dirs.root.path().join("notify.sock");
    let mut socket = pings(UnixDatagram::bind(&socket_path).expect("binding the notify socket"));
    let wedge = dirs.root.path().join("wedge-timer");
    let mut spec = ProcessSpec::new(PAGERD, &dirs);
    spec.env = vec![
        ("NOTIFY_SOCKET".into(), socket_path.display().to_string()),
        ("WATCHDOG_USEC".into(), WATCHDOG.as_micros().to_string()),
        ("PAGERD_HEALTH__STALL_LIMIT".into(), "2s".into()),
        (
            "PAGERD_HEALTH__WEDGE_TIMER_FILE".into(),
            wedge.display().to_string(),
        ),
    ];
    let mut daemon = DaemonProcess::start(&spec).await.expect("pagerd starts");
    let services = ["", "pagerd.v1.AlertService", "pagerd.v1.IncidentService"];

    // Healthy: pings keep coming, alive, ready, SERVING.
    for i in 0..5 {
        assert!(
            next_ping(&mut socket, BOUND).await.is_some(),
            "watchdog ping {i} while healthy\n{}",
            daemon.log_tail()
        );
    }
    assert_eq!(get(&daemon, "/readyz").await, (200, "ready\n".into()));
    assert_eq!(
        get(&daemon, "/healthz").await,
        (200, "ok: 0 open incidents\n".into())
    );
    poll_grpc_health(&daemon, &services, ServingStatus::Serving).await;

    // Wedge the timer loop: not alive, not ready (naming the loop), NOT_SERVING, no pings.
    std::fs::write(&wedge, "").unwrap();
    let (_, body) = poll_get(&daemon, "/readyz", "not ready once wedged", |s, _| s == 503).await;
    assert!(
        body.starts_with("not ready: timer loop stalled: no progress for "),
        "{body}"
    );
    assert!(
        !body.contains("outbox"),
        "only the timer loop is wedged: {body}"
    );
    let (status, body) = get(&daemon, "/healthz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.starts_with("unhealthy: timer loop stalled"), "{body}");
    poll_grpc_health(&daemon, &services, ServingStatus::NotServing).await;
    // The stall is past the limit for good now, so no ping may follow the ones queued.
    drain(&mut socket);
    let quiet = WATCHDOG * 4;
    assert!(
        next_ping(&mut socket, quiet).await.is_none(),
        "a watchdog ping within {quiet:?} while the timer loop is wedged"
    );
    assert!(
        log_has(&daemon.log, "watchdog pings withheld"),
        "{}",
        daemon.log_tail()
    );

    // It turns again: pings resume, ready and SERVING again.
    std::fs::remove_file(&wedge).unwrap();
    assert!(
        next_ping(&mut socket, BOUND).await.is_some(),
        "pings resume once the loop turns\n{}",
        daemon.log_tail()
    );
    poll_get(&daemon, "/readyz", "ready again", |s, _| s == 200).await;
    poll_grpc_health(&daemon, &services, ServingStatus::Serving).await;

    let (_, exit) = daemon.terminate().await.unwrap();
    assert!(exit.success(), "{exit}\n{}", daemon.log_tail());
}

#[tokio::test]
async fn without_watchdog_usec_pagerd_sends_no_pings() {
    let dirs = AppDirs::new(TEST_POLICIES);
    let socket_path = dirs.root.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("binding the notify socket");
    let mut spec = ProcessSpec::new(PAGERD, &dirs);
    spec.env = vec![
        ("NOTIFY_SOCKET".into(), socket_path.display().to_string()),
        // systemd names the process the watchdog is for; this one is not pagerd.
        ("WATCHDOG_USEC".into(), WATCHDOG.as_micros().to_string()),
        ("WATCHDOG_PID".into(), "1".into()),
    ];
    let mut daemon = DaemonProcess::start(&spec).await.expect("pagerd starts");
    // READY=1 arrives (so the socket works) ...
    let mut buf = [0u8; 512];
    let n = tokio::time::timeout(BOUND, socket.recv(&mut buf))
        .await
        .expect("READY=1 arrives")
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("READY=1"));
    // ... and no ping within several periods.
    let mut socket = pings(socket);
    let quiet = WATCHDOG * 4;
    assert!(next_ping(&mut socket, quiet).await.is_none());
    let (_, exit) = daemon.terminate().await.unwrap();
    assert!(exit.success());
}

#[tokio::test]
async fn a_page_stuck_in_flight_past_the_behind_limit_makes_pagerd_not_ready_but_alive() {
    use pagerd::engine::Clock;
    use pagerd::proto as pb;

    let dirs = AppDirs::new(TEST_POLICIES);
    let mut hook = HeldSink::start().await;
    let mut s = crate::outbox::settings(&dirs, &hook.url);
    s.health.behind_limit = Duration::from_secs(1);
    let mut app = spawn_app_with(s, Clock::System).await;
    let base = format!("http://{}", app.http_addr);
    let get = |path: &'static str| {
        let url = format!("{base}{path}");
        async move {
            let resp = reqwest::get(&url).await.unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    assert_eq!(get("/readyz").await, (200, "ready\n".into()));

    // The provider holds the page: it stays due and unsent past the limit.
    app.trigger("checkout", pb::Severity::High, "held").await;
    hook.next().await;
    let body = within("/readyz to say the outbox is behind", async {
        loop {
            let (status, body) = get("/readyz").await;
            if status == 503 {
                return body;
            }
            assert_eq!(status, 200, "{body}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        body.starts_with("not ready: outbox dispatcher behind: work due "),
        "{body}"
    );
    let (status, body) = get("/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok: 1 open incidents\n"));

    // The provider answers: the page is recorded and pagerd is ready again.
    hook.open();
    within("/readyz to recover", async {
        while get("/readyz").await.0 != 200 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    app.stop().await;
}
