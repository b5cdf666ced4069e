//! What the real `pagerd` binary writes when its output is a file: no ANSI colour codes
//! (they belong on a terminal only), and with `log.format = "json"` one JSON object a line
//! with `level` and `message`, as journald and Loki want.

use std::time::Duration;

use pagerd::proto::alert_service_client::AlertServiceClient;
use pagerd::proto::{self as pb};

use crate::helpers::*;

const PAGERD: &str = env!("CARGO_BIN_EXE_pagerd");

/// Runs the daemon with output to a file, has it log a few lines (start, a trigger, a
/// stop), and returns the file's bytes.
async fn log_of_a_run(dirs: &AppDirs, env: &[(&str, &str)]) -> Vec<u8> {
    let mut spec = ProcessSpec::new(PAGERD, dirs);
    spec.log_filter = "info".into();
    // The kit sets NO_COLOR=1; an empty NO_COLOR counts as unset, so colours are up to the
    // daemon alone.
    spec.env = [("NO_COLOR", "")]
        .iter()
        .chain(env)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut daemon = DaemonProcess::start(&spec).await.expect("pagerd starts");
    let channel = tonic::transport::Endpoint::from_shared(daemon.grpc_url())
        .unwrap()
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap();
    AlertServiceClient::new(with_token(channel, &daemon.admin_token().await))
        .trigger(pb::TriggerRequest {
            service: "checkout".into(),
            dedup_key: "logs".into(),
            severity: pb::Severity::High as i32,
            summary: "checkout is down".into(),
            source: "test".into(),
            ..Default::default()
        })
        .await
        .expect("trigger accepted");
    let (_, status) = daemon.terminate().await.unwrap();
    assert!(status.success(), "{status}\n{}", daemon.log_tail());
    std::fs::read(&daemon.log).unwrap()
}

#[tokio::test]
async fn a_log_written_to_a_file_carries_no_colour_codes() {
    let dirs = AppDirs::new(TEST_POLICIES);
    let log = log_of_a_run(&dirs, &[]).await;
    let text = String::from_utf8_lossy(&log);
    assert!(text.lines().count() >= 3, "{text}");
    assert!(
        text.contains("pagerd ready") && text.contains("pagerd stopped"),
        "{text}"
    );
    assert!(!log.contains(&0x1b), "ESC bytes in a log file:\n{text}");
}

#[tokio::test]
async fn with_log_format_json_every_line_is_an_object_with_level_and_message() {
    let dirs = AppDirs::new(TEST_POLICIES);
    let log = log_of_a_run(&dirs, &[("PAGERD_LOG__FORMAT", "json")]).await;
    let text = String::from_utf8(log).expect("UTF-8");
    assert!(!text.contains('\u{1b}'), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 3, "{text}");
    let mut messages = Vec::new();
    for line in lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let level = v["level"]
            .as_str()
            .unwrap_or_else(|| panic!("no level: {line}"));
        assert!(
            ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&level),
            "{line}"
        );
        let message = v["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no message: {line}"));
        messages.push(message.to_string());
        if message == "pagerd ready" {
            // Fields are keys of their own, for queries such as {grpc="…"}.
            assert!(
                v["grpc"].as_str().is_some_and(|a| a.contains("127.0.0.1")),
                "{line}"
            );
        }
    }
    for expected in ["pagerd ready", "pagerd stopped"] {
        assert!(messages.iter().any(|m| m == expected), "{messages:?}");
    }
}
