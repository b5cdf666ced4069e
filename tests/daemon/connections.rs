//! Connection hygiene against the real `pagerd` binary: thousands of idle connections leave
//! it answering, connections over the limit are answered (HTTP 503) or closed (gRPC) rather
//! than left hanging, a slowloris is cut at the header timeout, a silent gRPC connection at
//! the idle timeout (while a quiet Watch that answers pings stays), and Watch streams are
//! capped. Every wait is a poll with a bound.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::Code;
use tonic::transport::Endpoint;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use pagerd::proto::alert_service_client::AlertServiceClient;
use pagerd::proto::incident_service_client::IncidentServiceClient;
use pagerd::proto::{self as pb};

use crate::helpers::*;

const PAGERD: &str = env!("CARGO_BIN_EXE_pagerd");
/// The longest any single step may take before the test fails.
const BOUND: Duration = Duration::from_secs(10);

async fn start(dirs: &AppDirs, env: &[(&str, &str)]) -> DaemonProcess {
    start_with_nofile(dirs, env, None).await
}

/// Starts pagerd with this RLIMIT_NOFILE (soft, hard).
async fn start_with_nofile(
    dirs: &AppDirs,
    env: &[(&str, &str)],
    nofile: Option<(u64, u64)>,
) -> DaemonProcess {
    let mut spec = ProcessSpec::new(PAGERD, dirs);
    spec.nofile = nofile;
    spec.env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    DaemonProcess::start(&spec).await.expect("pagerd starts")
}

/// One `GET /healthz` on a fresh connection: the status line, or why there was none.
async fn healthz(addr: std::net::SocketAddr) -> Result<String, String> {
    let exchange = async {
        let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        s.write_all(b"GET /healthz HTTP/1.1\r\nhost: pagerd\r\nconnection: close\r\n\r\n")
            .await
            .map_err(|e| e.to_string())?;
        let mut answer = String::new();
        s.read_to_string(&mut answer)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(answer)
    };
    tokio::time::timeout(BOUND, exchange)
        .await
        .map_err(|_| format!("no answer within {BOUND:?}"))?
}

/// Opens `n` TCP connections to `addr` that never send a byte.
async fn idle_connections(addr: std::net::SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut held = Vec::with_capacity(n);
    for i in 0..n {
        let s = tokio::time::timeout(BOUND, TcpStream::connect(addr))
            .await
            .unwrap_or_else(|_| panic!("connection {i} to {addr} not accepted within {BOUND:?}"))
            .unwrap_or_else(|e| panic!("connection {i} to {addr}: {e}"));
        held.push(s);
    }
    held
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Polls `probe` (each call bounded by the caller) until it yields `Some`, for `BOUND`.
async fn poll<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(start.elapsed() < BOUND, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn grpc_channel(daemon: &DaemonProcess) -> Channel {
    let channel = Endpoint::from_shared(daemon.grpc_url())
        .unwrap()
        .connect_timeout(BOUND)
        .timeout(BOUND)
        .connect()
        .await
        .expect("a new gRPC connection is served");
    with_token(channel, &daemon.admin_token().await)
}

async fn trigger(channel: Channel, key: &str) -> Result<pb::TriggerResponse, tonic::Status> {
    AlertServiceClient::new(channel)
        .trigger(pb::TriggerRequest {
            service: "checkout".into(),
            dedup_key: key.into(),
            severity: pb::Severity::High as i32,
            summary: "checkout is down".into(),
            source: "test".into(),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_idle_connections_on_each_listener_leave_health_and_triggers_answering() {
    const IDLE: usize = 2_000;
    // This process holds 2 × IDLE sockets and the daemon (which inherits the hard limit and
    // raises its own soft limit to it) as many, plus its own files.
    let needed = 2 * IDLE as u64 + 600;
    let nofile = pagerd::app::conn::fds::raise_nofile_limit().expect("RLIMIT_NOFILE");
    if nofile < needed {
        eprintln!(
            "SKIPPED two_thousand_idle_connections…: the hard RLIMIT_NOFILE is {nofile}, \
             this test needs {needed} (raise it with `ulimit -Hn`)"
        );
        return;
    }
    let dirs = AppDirs::new(TEST_POLICIES);
    // Started with the usual soft limit of 1024: it must raise its own.
    let daemon = start_with_nofile(&dirs, &[], Some((1024, nofile))).await;
    let before = open_fds(daemon.pid);
    let _http_idle = idle_connections(daemon.http, IDLE).await;
    let _grpc_idle = idle_connections(daemon.grpc, IDLE).await;
    // The daemon holds every one of them (they are not waiting in the listen backlog).
    // (Its own descriptors come and go: the count before is only a rough base.)
    poll("the daemon to accept every idle connection", || async {
        (open_fds(daemon.pid) >= before / 2 + 2 * IDLE).then_some(())
    })
    .await;

    for round in 0..3 {
        let asked = Instant::now();
        let answer = healthz(daemon.http).await.unwrap_or_else(|e| panic!("{e}"));
        eprintln!(
            "round {round}: /healthz answered in {:?} with 4,000 idle connections held",
            asked.elapsed()
        );
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "round {round}: {answer}"
        );
        let channel = grpc_channel(&daemon).await;
        let health = HealthClient::new(channel.clone())
            .check(HealthCheckRequest::default())
            .await
            .expect("gRPC health answers");
        assert_eq!(health.get_ref().status, ServingStatus::Serving as i32);
        let opened = trigger(channel, &format!("idle-{round}"))
            .await
            .expect("a trigger is accepted");
        assert!(opened.incident_id > 0);
    }
    assert!(
        std::fs::read_to_string(&daemon.log)
            .unwrap()
            .lines()
            .all(|l| !l.contains("accept failed")),
        "{}",
        daemon.log_tail()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_get_503_over_http_and_unavailable_over_grpc() {
    let dirs = AppDirs::new(TEST_POLICIES);
    let daemon = start(
        &dirs,
        &[
            ("PAGERD_CONNECTIONS__HTTP__MAX_CONNECTIONS", "20"),
            ("PAGERD_CONNECTIONS__GRPC__MAX_CONNECTIONS", "10"),
        ],
    )
    .await;
    let ok = healthz(daemon.http).await.unwrap();
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");

    // HTTP: with 20 idle connections held, a new one is answered 503, promptly.
    let http_idle = idle_connections(daemon.http, 20).await;
    let busy = poll("a 503 while the HTTP limit is reached", || async {
        let answer = healthz(daemon.http).await.unwrap_or_else(|e| panic!("{e}"));
        answer.starts_with("HTTP/1.1 503").then_some(answer)
    })
    .await;
    assert!(busy.contains("retry-after: 1"), "{busy}");
    assert!(busy.contains("too many connections"), "{busy}");
    // Operators hear of it (once a minute at most, not once a connection).
    let log = std::fs::read_to_string(&daemon.log).unwrap();
    let warned: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("connection limit reached"))
        .collect();
    assert_eq!(warned.len(), 1, "{log}");
    assert!(
        warned[0].contains("listener=\"http\"") && warned[0].contains("max_connections=20"),
        "{}",
        warned[0]
    );
    // Closing them frees the slots.
    drop(http_idle);
    poll("/healthz answering again", || async {
        let a = healthz(daemon.http).await.unwrap_or_else(|e| panic!("{e}"));
        a.starts_with("HTTP/1.1 200").then_some(())
    })
    .await;

    // gRPC: with 10 idle connections held, a new call is answered UNAVAILABLE, promptly,
    // rather than left hanging; once they close, calls succeed again.
    let grpc_idle = idle_connections(daemon.grpc, 10).await;
    let (refused, took) = poll("a refused gRPC call", || async {
        let endpoint = Endpoint::from_shared(daemon.grpc_url())
            .unwrap()
            .connect_timeout(BOUND)
            .timeout(BOUND);
        let asked = Instant::now();
        let ch = endpoint
            .connect()
            .await
            .expect("the connection is accepted");
        match HealthClient::new(ch)
            .check(HealthCheckRequest::default())
            .await
        {
            Err(s) => Some((s, asked.elapsed())),
            Ok(_) => None, // one of the idle connections was not yet accepted
        }
    })
    .await;
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert!(
        refused.message().contains("too many connections"),
        "{refused:?}"
    );
    assert!(took < Duration::from_secs(2), "{took:?}");
    drop(grpc_idle);
    poll("gRPC answering again", || async {
        let endpoint = Endpoint::from_shared(daemon.grpc_url())
            .unwrap()
            .timeout(BOUND);
        let ch = endpoint.connect().await.ok()?;
        let r = HealthClient::new(ch)
            .check(HealthCheckRequest::default())
            .await;
        r.is_ok().then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_low_open_file_limit_the_connection_limits_shrink_so_accept_never_runs_out() {
    const IDLE: usize = 400;
    let nofile = pagerd::app::conn::fds::raise_nofile_limit().expect("RLIMIT_NOFILE");
    if nofile < IDLE as u64 + 400 {
        eprintln!("SKIPPED under_a_low_open_file_limit…: the hard RLIMIT_NOFILE is {nofile}");
        return;
    }
    let dirs = AppDirs::new(TEST_POLICIES);
    // 600 descriptors: 256 reserved, 128 for refusals, 108 connections per listener.
    let daemon = start_with_nofile(&dirs, &[], Some((600, 600))).await;
    let log = std::fs::read_to_string(&daemon.log).unwrap();
    assert!(
        log.contains("connection limits lowered") && log.contains("http_max_connections=108"),
        "{log}"
    );
    // Far more idle connections than its HTTP share: the rest are answered 503. (Those
    // beyond the refusals answered at once, 64, are closed unanswered for the second the
    // idle ones each hold a refusal; hence the retries on a reset.)
    let idle = idle_connections(daemon.http, IDLE).await;
    let busy = poll("a 503 at the lowered limit", || async {
        let a = healthz(daemon.http).await.ok()?;
        a.starts_with("HTTP/1.1 503").then_some(a)
    })
    .await;
    assert!(busy.contains("too many connections"), "{busy}");
    // ...the gRPC listener has its own share and answers...
    let channel = grpc_channel(&daemon).await;
    trigger(channel, "low-nofile")
        .await
        .expect("a trigger is accepted");
    // ...and accept never ran out of descriptors.
    let log = std::fs::read_to_string(&daemon.log).unwrap();
    assert!(!log.contains("accept failed"), "{log}");
    drop(idle);
    poll("/healthz answering again", || async {
        let a = healthz(daemon.http).await.unwrap_or_else(|e| panic!("{e}"));
        a.starts_with("HTTP/1.1 200").then_some(())
    })
    .await;
}

/// Sends a request head one byte at a time, never finishing it; returns how long the
/// daemon let that go on before closing the connection.
async fn slowloris(addr: std::net::SocketAddr) -> Duration {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: pagerd\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    loop {
        assert!(
            started.elapsed() < BOUND,
            "a slowloris was still connected after {BOUND:?}"
        );
        tokio::select! {
            r = s.read(&mut buf) => match r {
                Ok(0) | Err(_) => return started.elapsed(),
                Ok(_) => {} // an error response; the close follows
            },
            _ = tokio::time::sleep(Duration::from_millis(100)) => {
                if s.write_all(b"x").await.is_err() {
                    return started.elapsed();
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_is_cut_at_the_header_timeout_and_a_silent_grpc_connection_at_the_idle_timeout()
{
    let dirs = AppDirs::new(TEST_POLICIES);
    let daemon = start(
        &dirs,
        &[
            ("PAGERD_CONNECTIONS__HTTP__HEADER_TIMEOUT", "1s"),
            ("PAGERD_CONNECTIONS__GRPC__IDLE_TIMEOUT", "2s"),
            ("PAGERD_CONNECTIONS__GRPC__KEEPALIVE_INTERVAL", "500ms"),
            ("PAGERD_CONNECTIONS__GRPC__KEEPALIVE_TIMEOUT", "5s"),
        ],
    )
    .await;
    let cut = slowloris(daemon.http).await;
    assert!(
        cut >= Duration::from_millis(900) && cut < Duration::from_secs(5),
        "the slowloris was cut after {cut:?}; header_timeout is 1s"
    );

    // A quiet Watch answers the daemon's pings, so it outlives the idle timeout...
    let channel = grpc_channel(&daemon).await;
    let mut incidents = IncidentServiceClient::new(channel.clone());
    let mut watch = incidents
        .watch(pb::WatchRequest::default())
        .await
        .expect("watch opens")
        .into_inner();
    // ...while a connection that never speaks is closed after it.
    let mut silent = TcpStream::connect(daemon.grpc).await.unwrap();
    let opened = Instant::now();
    let mut buf = [0u8; 256];
    let closed = loop {
        match tokio::time::timeout(BOUND, silent.read(&mut buf)).await {
            Err(_) => panic!("a silent gRPC connection was still open after {BOUND:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => break opened.elapsed(),
            Ok(Ok(_)) => {} // the server's HTTP/2 SETTINGS
        }
    };
    assert!(
        closed >= Duration::from_millis(1900) && closed < Duration::from_secs(6),
        "closed after {closed:?}; idle_timeout is 2s"
    );
    // Well past the idle timeout, the Watch still delivers.
    let id = trigger(channel, "after-idle")
        .await
        .expect("trigger accepted")
        .incident_id;
    let ev = tokio::time::timeout(BOUND, watch.message())
        .await
        .expect("an event within the bound")
        .expect("the watch is still open")
        .expect("an event");
    assert_eq!(ev.incident_id, id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_streams_beyond_the_cap_get_resource_exhausted_and_a_closed_one_frees_its_slot() {
    let dirs = AppDirs::new(TEST_POLICIES);
    let daemon = start(
        &dirs,
        &[("PAGERD_CONNECTIONS__GRPC__MAX_WATCH_STREAMS", "2")],
    )
    .await;
    let channel = grpc_channel(&daemon).await;
    let mut client = IncidentServiceClient::new(channel.clone());
    let first = client.watch(pb::WatchRequest::default()).await.unwrap();
    let _second = client.watch(pb::WatchRequest::default()).await.unwrap();
    let third = client
        .watch(pb::WatchRequest::default())
        .await
        .expect_err("a third Watch is refused");
    assert_eq!(third.code(), Code::ResourceExhausted, "{third:?}");
    assert!(third.message().contains("max_watch_streams"), "{third:?}");
    // Other calls are not limited by it.
    trigger(channel.clone(), "while-capped")
        .await
        .expect("triggers still work");
    // Closing one frees its slot (once the daemon sees the stream reset).
    drop(first);
    poll("a Watch slot to come free", || {
        let mut client = client.clone();
        async move {
            match client.watch(pb::WatchRequest::default()).await {
                Ok(stream) => Some(stream),
                Err(s) if s.code() == Code::ResourceExhausted => None,
                Err(s) => panic!("{s:?}"),
            }
        }
    })
    .await;
}
