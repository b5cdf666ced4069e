//! Runs the compiled `pagerctl` binary: against an address where nothing listens, with bad
//! arguments, and end to end against a daemon started in-process on port 0.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, TimeDelta, Timelike, Utc};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use pagerd::app::Options;
use pagerd::domain::PolicySet;

mod admin;
// Operating pagerd (issue 14): dates, zones and the README's set-up.
mod firsthour;
#[path = "../kit/mod.rs"]
mod kit;
mod postmortem;
mod schedules;
// Hardening (issue 12): pagerctl watch resumes.
mod watch;
use kit::{AppDirs, InProcess, free_port};

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

/// The admin token file of each running test daemon, by gRPC address.
static TOKEN_FILES: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());

/// A pagerctl command with a clean environment: no `PAGERD_ADDR` or token from the caller,
/// UTC times. Aimed (`--addr`) at a test daemon, it finds the daemon's admin token through
/// `PAGERD_TOKEN_FILE`, as an operator's environment would.
fn command(args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(PAGERCTL);
    cmd.args(args)
        .env_remove("PAGERD_ADDR")
        .env_remove("PAGERD_TOKEN")
        .env_remove("PAGERD_TOKEN_FILE")
        .env("TZ", "UTC");
    let addr = args
        .windows(2)
        .find(|w| w[0] == "--addr")
        .map(|w| w[1].trim_start_matches("http://"));
    if let Some(addr) = addr {
        let files = TOKEN_FILES.lock().unwrap();
        if let Some((_, file)) = files.iter().find(|(a, _)| a == addr) {
            cmd.env("PAGERD_TOKEN_FILE", file);
        }
    }
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
    free_port().port()
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
        &["override", "add", "vp", "dana", "--to", "4h"],
        &[
            "override", "add", "vp", "dana", "--from", "now", "--to", "soon",
        ],
        &[
            "override", "add", "vp", "dana", "--from", "now", "--to", "0s",
        ],
        &["override", "remove", "0"],
        &["override", "list", "--since", "next week"],
        &["status", "extra"],
        &["--timeout", "0", "list"],
        &["--addr", "ftp://pagerd:50051", "list"],
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

#[test]
fn an_override_ending_before_it_starts_is_a_usage_error_before_connecting() {
    let addr = format!("127.0.0.1:{}", closed_port());
    let run = pagerctl_sync(&[
        "--addr",
        &addr,
        "override",
        "add",
        "vp",
        "dana",
        "--from",
        "2026-03-03T18:00Z",
        "--to",
        "2026-03-03T17:00Z",
    ]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert_eq!(
        run.stderr.trim(),
        "pagerctl: --to (2026-03-03 17:00:00 UTC) must be after --from (2026-03-03 18:00:00 UTC)"
    );
}

/// The daemon, in-process on port 0, with its database and a copy of the shipped schedules in
/// temporary directories (so a test can break its schedules and reload them).
struct Daemon {
    /// The gRPC address without a scheme, as a responder would type it.
    addr: String,
    /// The policy set the daemon started with.
    policies: PolicySet,
    dirs: AppDirs,
    daemon: InProcess,
}

impl Daemon {
    async fn start() -> Self {
        let shipped = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/schedules"));
        let dirs = AppDirs::copy_of(shipped);
        let mut settings = dirs.settings();
        // Reloads come from the Reload RPC only, when a test asks.
        settings.reload.watch = false;
        let daemon = InProcess::start(settings, Options::default()).await;
        daemon.admin_token().await;
        TOKEN_FILES.lock().unwrap().push((
            daemon.grpc_addr.to_string(),
            dirs.data().join("admin.token"),
        ));
        Self {
            addr: daemon.grpc_addr.to_string(),
            policies: daemon.policies.clone(),
            dirs,
            daemon,
        }
    }

    /// A policy file in the daemon's schedules directory.
    fn schedule_file(&self, name: &str) -> PathBuf {
        self.dirs.schedules().join(name)
    }

    async fn stop(self) {
        self.daemon.stop().await;
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
        run.stdout
            .starts_with("incident 1: acknowledged by local-admin"),
        "{}",
        run.stdout
    );
    let run = pagerctl(addr, &["ack", "1", "--by", "bob"]).await.success();
    assert!(
        run.stdout
            .starts_with("incident 1: already acknowledged by local-admin"),
        "{}",
        run.stdout
    );

    let shown = pagerctl(addr, &["--json", "show", "1"])
        .await
        .success()
        .json();
    assert_eq!(shown["state"], "acknowledged");
    // The admin token acted; `--by alice` is only a note.
    assert_eq!(shown["acknowledged_by"], "local-admin");
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
            .starts_with("incident 1: already resolved by local-admin"),
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

/// An RFC 3339 time without seconds, as a responder types it, in a UTC-8 zone.
fn typed_time(t: DateTime<Utc>) -> String {
    let pacific = FixedOffset::west_opt(8 * 3600).expect("offset");
    t.with_timezone(&pacific)
        .format("%Y-%m-%dT%H:%M%:z")
        .to_string()
}

/// How pagerctl shows a time with `TZ=UTC`.
fn shown(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}
