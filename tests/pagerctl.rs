//! Runs the compiled `pagerctl` binary: against an address where nothing listens, with bad
//! arguments, and once end to end against a daemon started in-process on port 0.

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use pagerd::app::{self, Listeners, Options};
use pagerd::config::{self, Settings};

const PAGERCTL: &str = env!("CARGO_BIN_EXE_pagerctl");
/// Upper bound for anything the tests wait on; only reached when something is broken.
const PATIENCE: Duration = Duration::from_secs(20);

/// The outcome of one `pagerctl` run.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Self {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    #[track_caller]
    fn success(self) -> Self {
        assert_eq!(
            self.code,
            Some(0),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

/// A pagerctl command with a clean environment: no `PAGERD_ADDR` from the caller, UTC times.
fn command(args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(PAGERCTL);
    cmd.args(args).env_remove("PAGERD_ADDR").env("TZ", "UTC");
    cmd
}

fn pagerctl_sync(args: &[&str]) -> Run {
    command(args).output().expect("pagerctl runs").into()
}

async fn pagerctl(addr: &str, args: &[&str]) -> Run {
    let mut cmd = tokio::process::Command::from(command(&["--addr", addr]));
    cmd.args(args);
    tokio::time::timeout(PATIENCE, cmd.output())
        .await
        .expect("pagerctl finishes")
        .expect("pagerctl runs")
        .into()
}

/// A local port with nothing listening on it.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("local addr").port()
}

#[test]
fn an_unreachable_daemon_exits_2_with_a_hint_and_no_debug_dump() {
    let addr = format!("127.0.0.1:{}", closed_port());
    let run = pagerctl_sync(&["--addr", &addr, "list"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert_eq!(
        run.stderr.trim(),
        format!(
            "pagerctl: cannot reach pagerd at http://{addr} (connection refused). \
             Is it running? Set --addr or PAGERD_ADDR."
        )
    );
    assert!(run.stdout.is_empty());
}

#[test]
fn the_address_can_come_from_pagerd_addr() {
    let addr = format!("http://127.0.0.1:{}", closed_port());
    let run: Run = command(&["ack", "12"])
        .env("PAGERD_ADDR", &addr)
        .output()
        .expect("runs")
        .into();
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("cannot reach pagerd at {addr} ")),
        "{}",
        run.stderr
    );
}

#[test]
fn argument_errors_are_reported_by_clap() {
    for args in [
        &["ack", "notanumber"][..],
        &["ack"],
        &["ack", "12", "--service", "checkout-api", "--dedup-key", "k"],
        &["resolve", "--service", "checkout-api"],
        &["trigger", "--service", "checkout-api"],
        &[
            "trigger",
            "--service",
            "s",
            "--summary",
            "x",
            "--severity",
            "urgent",
        ],
        &[
            "trigger",
            "--service",
            "s",
            "--summary",
            "x",
            "--detail",
            "novalue",
        ],
        &["list", "--limit", "501"],
        &["list", "--since", "last tuesday"],
        &["--timeout", "0", "list"],
        &["--addr", "https://pagerd:50051", "list"],
    ] {
        let run = pagerctl_sync(args);
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.starts_with("error: "),
            "{args:?}: {}",
            run.stderr
        );
        assert!(
            !run.stderr.contains("cannot reach"),
            "{args:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn a_repeated_detail_key_is_a_usage_error_before_connecting() {
    let addr = format!("127.0.0.1:{}", closed_port());
    let run = pagerctl_sync(&[
        "--addr",
        &addr,
        "trigger",
        "--service",
        "s",
        "--summary",
        "x",
        "--detail",
        "a=1",
        "--detail",
        "a=2",
    ]);
    assert_eq!(run.code, Some(2));
    assert_eq!(
        run.stderr.trim(),
        "pagerctl: --detail `a` is given more than once"
    );
}

/// The daemon, in-process on port 0, with its database in a temporary directory.
struct Daemon {
    addr: String,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    _data: tempfile::TempDir,
}

impl Daemon {
    async fn start() -> Self {
        let data = tempfile::tempdir().expect("tempdir");
        let settings = Settings {
            data_dir: data.path().to_path_buf(),
            ..Settings::default()
        };
        let schedules = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/schedules"));
        let policies = config::load_dir(schedules).unwrap_or_else(|e| panic!("{e}"));
        let listeners = Listeners {
            grpc: TcpListener::bind("127.0.0.1:0").await.expect("bind grpc"),
            http: TcpListener::bind("127.0.0.1:0").await.expect("bind http"),
        };
        // Without a scheme, as a responder would type it.
        let addr = listeners.grpc.local_addr().expect("grpc addr").to_string();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(app::run(
            settings,
            policies,
            listeners,
            Options::default(),
            shutdown.clone(),
        ));
        Self {
            addr,
            shutdown,
            task,
            _data: data,
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let result = tokio::time::timeout(PATIENCE, self.task)
            .await
            .expect("pagerd stops")
            .expect("pagerd task does not panic");
        if let Err(e) = result {
            panic!("pagerd failed: {e:#}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_responder_triggers_lists_shows_acknowledges_and_resolves_an_incident() {
    let pagerd = Daemon::start().await;
    let addr = pagerd.addr.as_str();

    // Trigger twice with one key: one incident, two alerts.
    let trigger = [
        "trigger",
        "--service",
        "checkout-api",
        "--summary",
        "Checkout returns 500s",
        "--severity",
        "P1",
        "--dedup-key",
        "e2e-checkout",
        "--source",
        "grafana",
        "--detail",
        "region=eu-west",
        "--link",
        "https://example.com/runbook=Runbook",
    ];
    let run = pagerctl(addr, &trigger).await.success();
    assert_eq!(
        run.stdout.trim(),
        "incident 1 triggered (dedup key e2e-checkout)"
    );
    let run = pagerctl(addr, &trigger).await.success();
    assert_eq!(run.stdout.trim(), "incident 1: deduplicated (2 alerts)");

    // List: a table, and JSON with 1-based levels.
    let run = pagerctl(addr, &["list", "--state", "triggered"])
        .await
        .success();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert!(lines[0].starts_with("ID  STATE"), "{}", run.stdout);
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        row[..6],
        ["1", "triggered", "high", "checkout-api", "1", "2"],
        "{}",
        run.stdout
    );
    assert!(
        lines[1].ends_with("Checkout returns 500s"),
        "{}",
        run.stdout
    );

    let listed = pagerctl(addr, &["--json", "list"]).await.success().json();
    assert_eq!(listed["next_page_token"], "");
    let incident = &listed["incidents"][0];
    assert_eq!(incident["id"], 1);
    assert_eq!(incident["state"], "triggered");
    assert_eq!(incident["severity"], "high");
    assert_eq!(incident["level"], 1);
    assert_eq!(incident["alert_count"], 2);
    assert_eq!(incident["details"]["region"], "eu-west");
    assert_eq!(incident["links"][0]["text"], "Runbook");
    assert!(incident["next_action_at"].is_string());

    let run = pagerctl(addr, &["list", "--state", "resolved"])
        .await
        .success();
    assert!(run.stdout.is_empty());
    assert_eq!(run.stderr.trim(), "no incidents match");

    // Show: header and timeline.
    let run = pagerctl(addr, &["show", "1"]).await.success();
    assert!(
        run.stdout.starts_with("incident 1: triggered, high\n"),
        "{}",
        run.stdout
    );
    for expected in [
        "Checkout returns 500s",
        "e2e-checkout",
        "region = eu-west",
        "Runbook <https://example.com/runbook>",
        "TIMELINE",
        "EVENT",
        "deduplicated",
        "paged",
    ] {
        assert!(
            run.stdout.contains(expected),
            "{expected} missing from:\n{}",
            run.stdout
        );
    }

    // Watch incident 1 while it is acknowledged and resolved.
    let mut watch = tokio::process::Command::from(command(&[
        "--addr",
        addr,
        "--json",
        "watch",
        "--incident",
        "1",
    ]))
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true)
    .spawn()
    .expect("watch starts");
    let mut watch_err = BufReader::new(watch.stderr.take().expect("stderr")).lines();
    let ready = tokio::time::timeout(PATIENCE, watch_err.next_line())
        .await
        .expect("watch is ready");
    assert!(
        ready
            .expect("stderr")
            .is_some_and(|l| l.starts_with("watching pagerd at http://"))
    );

    let run = pagerctl(addr, &["ack", "1", "--by", "alice"])
        .await
        .success();
    assert!(
        run.stdout.starts_with("incident 1: acknowledged by alice"),
        "{}",
        run.stdout
    );
    let run = pagerctl(addr, &["ack", "1", "--by", "bob"]).await.success();
    assert!(
        run.stdout
            .starts_with("incident 1: already acknowledged by alice"),
        "{}",
        run.stdout
    );

    let shown = pagerctl(addr, &["--json", "show", "1"])
        .await
        .success()
        .json();
    assert_eq!(shown["state"], "acknowledged");
    assert_eq!(shown["acknowledged_by"], "alice");
    let kinds: Vec<&str> = shown["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(kinds.first(), Some(&"triggered"), "{kinds:?}");
    assert!(kinds.contains(&"acknowledged"), "{kinds:?}");

    let run = pagerctl(
        addr,
        &[
            "resolve",
            "--service",
            "checkout-api",
            "--dedup-key",
            "e2e-checkout",
            "--by",
            "alice",
            "--note",
            "rolled back",
        ],
    )
    .await
    .success();
    assert_eq!(run.stdout.trim(), "incident 1: resolved");
    let run = pagerctl(
        addr,
        &[
            "resolve",
            "--service",
            "checkout-api",
            "--dedup-key",
            "e2e-checkout",
        ],
    )
    .await
    .success();
    assert_eq!(
        run.stdout.trim(),
        "no open incident for checkout-api/e2e-checkout (nothing to do)"
    );
    let run = pagerctl(addr, &["resolve", "1"]).await.success();
    assert!(
        run.stdout
            .starts_with("incident 1: already resolved by alice"),
        "{}",
        run.stdout
    );

    // The watcher saw the acknowledgement and the resolution as JSON lines; Ctrl-C ends it cleanly.
    let mut watch_out = BufReader::new(watch.stdout.take().expect("stdout")).lines();
    let mut seen = Vec::new();
    while !seen.contains(&"resolved".to_owned()) {
        let line = tokio::time::timeout(PATIENCE, watch_out.next_line())
            .await
            .unwrap_or_else(|_| panic!("no resolved event; saw {seen:?}"))
            .expect("stdout")
            .expect("watch still running");
        let event: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(event["incident_id"], 1, "{line}");
        seen.push(event["kind"].as_str().unwrap_or_default().to_owned());
    }
    assert!(seen.contains(&"acknowledged".to_owned()), "{seen:?}");
    let pid = watch.id().expect("watch pid").to_string();
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill runs");
    assert!(interrupted.success());
    let status = tokio::time::timeout(PATIENCE, watch.wait())
        .await
        .expect("watch ends")
        .expect("wait");
    assert_eq!(status.code(), Some(0));

    // gRPC errors: one line, exit 1.
    let run = pagerctl(addr, &["show", "99"]).await;
    assert_eq!(run.code, Some(1));
    assert_eq!(run.stderr.trim(), "pagerctl: not found: no incident 99");
    let run = pagerctl(
        addr,
        &["trigger", "--service", "checkout-api", "--summary", " "],
    )
    .await;
    assert_eq!(run.code, Some(1));
    assert_eq!(
        run.stderr.trim(),
        "pagerctl: invalid argument: summary: required"
    );
    let run = pagerctl(addr, &["escalate", "1"]).await;
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.starts_with("pagerctl: failed precondition: "),
        "{}",
        run.stderr
    );

    pagerd.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_responder_sees_who_is_on_call_and_the_shifts_ahead() {
    let pagerd = Daemon::start().await;
    let addr = pagerd.addr.as_str();

    // The shipped VP rotation at a fixed time: victor's month (from 1 March 09:00 New York).
    let run = pagerctl(
        addr,
        &["--json", "oncall", "vp", "--at", "2026-03-15T12:00:00Z"],
    )
    .await
    .success();
    let shift = &run.json()["on_call"][0]["shift"];
    assert_eq!(shift["person"], "victor", "{}", run.stdout);
    assert_eq!(shift["start"], "2026-03-01T14:00:00Z");
    assert_eq!(shift["source"], "layer monthly");

    // Every schedule, as a table.
    let run = pagerctl(addr, &["oncall"]).await.success();
    for name in [
        "engineering",
        "sre-follow-the-sun",
        "support-evenings",
        "vp",
    ] {
        assert!(run.stdout.contains(name), "{name} missing:\n{}", run.stdout);
    }

    let run = pagerctl(
        addr,
        &[
            "--json",
            "shifts",
            "engineering",
            "--from",
            "2026-03-02T00:00:00Z",
            "--to",
            "2026-03-23T00:00:00Z",
        ],
    )
    .await
    .success();
    let people: Vec<String> = run.json()["shifts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["person"].as_str().unwrap().to_string())
        .collect();
    assert!(people.len() >= 3, "{people:?}");

    let run = pagerctl(addr, &["oncall", "nope"]).await;
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("no schedule `nope`"), "{}", run.stderr);
    pagerd.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_adds_lists_and_removes_maintenance_windows_and_pings_heartbeats() {
    let pagerd = Daemon::start().await;
    let addr = pagerd.addr.as_str();

    let run = pagerctl(
        addr,
        &[
            "--json",
            "maintenance",
            "add",
            "search",
            "--until",
            "2h",
            "--reason",
            "reindex",
            "--by",
            "alice",
        ],
    )
    .await
    .success();
    let added = run.json();
    assert_eq!(added["service"], "search");
    assert_eq!(added["page_after"], true);
    let id = added["id"].as_i64().unwrap().to_string();

    // The table lists the shipped file window and the new one.
    let run = pagerctl(addr, &["maintenance", "list"]).await.success();
    assert!(run.stdout.contains("reindex"), "{}", run.stdout);
    assert!(run.stdout.contains("file"), "{}", run.stdout);

    let run = pagerctl(addr, &["maintenance", "remove", &id, "--by", "bob"])
        .await
        .success();
    assert!(run.stdout.contains("ended by bob"), "{}", run.stdout);
    let again = pagerctl(addr, &["maintenance", "remove", &id]).await;
    assert_eq!(again.code, Some(1), "{}", again.stderr);
    assert!(again.stderr.contains("already removed"), "{}", again.stderr);
    let bad = pagerctl(addr, &["maintenance", "add", "nope", "--until", "1h"]).await;
    assert_eq!(bad.code, Some(1));
    assert!(bad.stderr.contains("not found"), "{}", bad.stderr);

    // The shipped nightly-backup heartbeat.
    let run = pagerctl(addr, &["heartbeat", "ping", "nightly-backup"])
        .await
        .success();
    assert!(run.stdout.contains("next ping due by"), "{}", run.stdout);
    let run = pagerctl(addr, &["--json", "heartbeat", "list"])
        .await
        .success();
    let hb = &run.json()["heartbeats"][0];
    assert_eq!(hb["name"], "nightly-backup");
    assert_eq!(hb["interval_seconds"], 25 * 3600);
    assert!(hb["last_ping_at"].is_string());
    let unknown = pagerctl(addr, &["heartbeat", "ping", "nope"]).await;
    assert_eq!(unknown.code, Some(1));
    pagerd.stop().await;
}
