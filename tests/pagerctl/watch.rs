//! `pagerctl watch` resumes by itself: the daemon restarts under it, an alert is raised
//! while it reconnects, and the watcher prints every event once, in sequence order.

use std::net::SocketAddr;
use std::process::Stdio;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};

use pagerd::app::Options;

use super::kit::InProcess;
use super::{Daemon, PATIENCE, command, pagerctl};

async fn next_line<R: tokio::io::AsyncBufRead + Unpin>(lines: &mut Lines<R>, what: &str) -> String {
    tokio::time::timeout(PATIENCE, lines.next_line())
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .expect("read")
        .unwrap_or_else(|| panic!("output ended before {what}"))
}

async fn trigger(addr: &str, key: &str) {
    pagerctl(
        addr,
        &[
            "trigger",
            "--service",
            "checkout-api",
            "--severity",
            "high",
            "--summary",
            key,
            "--dedup-key",
            key,
        ],
    )
    .await
    .success();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_resumes_after_a_daemon_restart_missing_and_repeating_nothing() {
    let d = Daemon::start().await;
    let addr = d.addr.clone();
    let grpc: SocketAddr = addr.parse().unwrap();
    let http = d.daemon.http_addr;
    let mut watch = tokio::process::Command::from(command(&["--addr", &addr, "--json", "watch"]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("watch starts");
    let mut err = BufReader::new(watch.stderr.take().unwrap()).lines();
    let mut out = BufReader::new(watch.stdout.take().unwrap()).lines();
    let ready = next_line(&mut err, "the watch to start").await;
    assert!(ready.starts_with("watching pagerd at http://"), "{ready}");

    let mut events: Vec<Value> = Vec::new();
    let mut read_until_triggered = async |events: &mut Vec<Value>, summary: &str| loop {
        let line = next_line(&mut out, summary).await;
        let ev: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let done = ev["kind"] == "triggered" && ev["message"].as_str().unwrap().ends_with(summary);
        events.push(ev);
        if done {
            return;
        }
    };
    trigger(&addr, "before-restart").await;
    read_until_triggered(&mut events, "before-restart").await;

    // Restart the daemon on the same ports and raise an alert at once, while the watcher is
    // still reconnecting (or already back: either way it must print it once).
    let Daemon { dirs, daemon, .. } = d;
    daemon.stop().await;
    let mut settings = dirs.settings();
    settings.reload.watch = false;
    let again = InProcess::start_on(settings, Options::default(), grpc, http).await;
    trigger(&addr, "after-restart").await;
    read_until_triggered(&mut events, "after-restart").await;
    let reconnected = loop {
        let line = next_line(&mut err, "the reconnect notice").await;
        if line.starts_with("reconnected to pagerd") {
            break line;
        }
    };
    assert!(
        reconnected.contains("resuming after sequence"),
        "{reconnected}"
    );

    let sequences: Vec<i64> = events
        .iter()
        .map(|e| e["sequence"].as_i64().unwrap())
        .collect();
    assert!(
        sequences.windows(2).all(|w| w[0] < w[1]),
        "in order, none twice: {sequences:?}"
    );
    let triggered = |summary: &str| {
        events
            .iter()
            .filter(|e| {
                e["kind"] == "triggered" && e["message"].as_str().unwrap().ends_with(summary)
            })
            .count()
    };
    assert_eq!(triggered("before-restart"), 1);
    assert_eq!(triggered("after-restart"), 1);

    let pid = watch.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(PATIENCE, watch.wait())
        .await
        .expect("watch ends")
        .unwrap();
    assert_eq!(status.code(), Some(0));
    again.stop().await;
}
