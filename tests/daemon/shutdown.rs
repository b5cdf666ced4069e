//! A stop is bounded: a client that never reads its Watch stream cannot hold the daemon's
//! graceful shutdown open (it would otherwise wait for the connection's idle timeout).

use std::time::Duration;

use pagerd::proto::alert_service_client::AlertServiceClient;
use pagerd::proto::incident_service_client::IncidentServiceClient;
use pagerd::proto::{self as pb};

use crate::helpers::*;

const PAGERD: &str = env!("CARGO_BIN_EXE_pagerd");

#[tokio::test(flavor = "multi_thread")]
async fn a_watcher_that_never_reads_does_not_hold_up_a_stop() {
    let dirs = AppDirs::new(TEST_POLICIES);
    let mut spec = ProcessSpec::new(PAGERD, &dirs);
    spec.log_filter = "info".into();
    spec.env = vec![("PAGERD_OUTBOX__DRAIN_TIMEOUT".into(), "1s".into())];
    let mut daemon = DaemonProcess::start(&spec).await.expect("pagerd starts");
    let token = daemon.admin_token().await;

    // A watcher whose stream window is 1 KiB and which never reads: once an event or two
    // are sent, the daemon cannot write to it any more.
    let stuck = tonic::transport::Endpoint::from_shared(daemon.grpc_url())
        .unwrap()
        .initial_stream_window_size(Some(1024))
        .connect()
        .await
        .unwrap();
    let _stream = IncidentServiceClient::new(with_token(stuck, &token))
        .watch(pb::WatchRequest::default())
        .await
        .expect("a watch")
        .into_inner();
    let channel = tonic::transport::Endpoint::from_shared(daemon.grpc_url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut alerts = AlertServiceClient::new(with_token(channel, &token));
    for i in 0..20 {
        alerts
            .trigger(pb::TriggerRequest {
                service: "checkout".into(),
                dedup_key: format!("big-{i}"),
                severity: pb::Severity::Low as i32,
                summary: format!("{i} {}", "x".repeat(1000)),
                ..Default::default()
            })
            .await
            .expect("a trigger");
    }

    // SIGTERM: the stop waits drain_timeout (1 s) + 5 s at most, then cuts the stuck
    // connection, and the daemon exits cleanly with everything committed.
    let (took, status) = daemon.terminate().await.expect("the daemon exits");
    assert!(status.success(), "{status}\n{}", daemon.log_tail());
    assert!(took < Duration::from_secs(15), "the stop took {took:?}");
    let log = std::fs::read_to_string(&daemon.log).unwrap();
    assert!(log.contains("pagerd stopped"), "{}", daemon.log_tail());
    assert!(
        log.contains("tasks still running after the grace period"),
        "{}",
        daemon.log_tail()
    );
}
