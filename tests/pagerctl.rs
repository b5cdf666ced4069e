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

mod kit;
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
        "pagerctl: --to (2026-03-03 17:00:00) must be after --from (2026-03-03 18:00:00)"
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
async fn shifts_show_why_each_went_to_whom_and_report_shows_the_load() {
    let pagerd = Daemon::start().await;
    let addr = pagerd.addr.as_str();

    // The shipped platform schedule has burnout limits: every shift has a reason.
    let run = pagerctl(
        addr,
        &[
            "--json",
            "shifts",
            "platform",
            "--from",
            "now",
            "--to",
            "2027-01-31T00:00:00Z",
        ],
    )
    .await
    .success();
    let shifts = run.json()["shifts"].as_array().unwrap().clone();
    assert!(shifts.len() >= 4, "{}", run.stdout);
    for s in &shifts {
        let reason = s["reason"].as_str().unwrap();
        assert!(
            reason.ends_with("'s turn") || reason.contains(" skipped: "),
            "{s}"
        );
    }
    assert!(shifts.last().unwrap()["projected"].as_bool().unwrap());
    let run = pagerctl(addr, &["shifts", "platform"]).await.success();
    assert!(run.stdout.contains("REASON"), "{}", run.stdout);
    assert!(run.stdout.contains("'s turn"), "{}", run.stdout);

    let run = pagerctl(addr, &["report", "--from", "30d", "--format", "csv"])
        .await
        .success();
    assert!(
        run.stdout.starts_with(
            "person,quarter_weeks,weeks,shifts,incidents,pages,off_hours_pages,\
             hours_called_in,toil_hours,limit_skips,flagged_overrides"
        ),
        "{}",
        run.stdout
    );
    let run = pagerctl(
        addr,
        &[
            "report",
            "--from",
            "30d",
            "--schedule",
            "platform",
            "--format",
            "json",
        ],
    )
    .await
    .success();
    assert!(run.json()["people"].is_array(), "{}", run.stdout);
    let run = pagerctl(addr, &["report", "--from", "30d", "--schedule", "nope"]).await;
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("no schedule `nope`"), "{}", run.stderr);
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
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_responder_adds_lists_and_removes_an_override_and_oncall_shows_it() {
    let pagerd = Daemon::start().await;
    let addr = pagerd.addr.as_str();
    // Whole minutes from the next hour, so the override is still ahead when it is added.
    let next_hour = (Utc::now() + TimeDelta::hours(1))
        .with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .expect("a whole hour");
    let (from, to) = (next_hour, next_hour + TimeDelta::hours(4));
    let during = rfc3339(from + TimeDelta::hours(1));

    // --to as a duration after --from.
    let run = pagerctl(
        addr,
        &[
            "override",
            "add",
            "vp",
            "dana",
            "--from",
            &typed_time(from),
            "--to",
            "4h",
            "--reason",
            "board meeting",
            "--by",
            "victor",
        ],
    )
    .await
    .success();
    assert_eq!(
        run.stdout.trim(),
        format!(
            "override 1 added: dana on call for vp from {} to {} (by local-admin: board meeting)",
            shown(from),
            shown(to)
        )
    );

    // oncall: dana, and where the shift comes from.
    let run = pagerctl(addr, &["--json", "oncall", "vp", "--at", &during])
        .await
        .success();
    let shift = &run.json()["on_call"][0]["shift"];
    assert_eq!(shift["person"], "dana", "{}", run.stdout);
    assert_eq!(
        shift["source"],
        "override (#1 by local-admin: board meeting)"
    );
    assert_eq!(shift["start"], rfc3339(from));
    assert_eq!(shift["end"], rfc3339(to));
    let run = pagerctl(addr, &["oncall", "vp", "--at", &during])
        .await
        .success();
    let row = run.stdout.lines().nth(1).unwrap_or_default().to_owned();
    assert!(
        row.starts_with("vp ")
            && row.contains(" dana ")
            && row.ends_with("override (#1 by local-admin: board meeting)"),
        "{}",
        run.stdout
    );

    // A second one with --json: the override object.
    let added = pagerctl(
        addr,
        &[
            "--json",
            "override",
            "add",
            "engineering",
            "bob",
            "--from",
            &rfc3339(from),
            "--to",
            &rfc3339(to),
            "--by",
            "alice",
        ],
    )
    .await
    .success()
    .json();
    assert_eq!(added["id"], 2);
    assert_eq!(added["schedule"], "engineering");
    assert_eq!(added["person"], "bob");
    assert_eq!(added["start"], rfc3339(from));
    assert_eq!(added["end"], rfc3339(to));
    assert_eq!(added["created_by"], "local-admin");
    assert_eq!(added["removed_at"], Value::Null);

    // list: newest first; one schedule.
    let run = pagerctl(addr, &["override", "list"]).await.success();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        [
            "ID", "SCHEDULE", "PERSON", "FROM", "TO", "REASON", "BY", "CREATED", "REMOVED"
        ]
    );
    let first_columns = |line: &str| {
        line.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(
        first_columns(lines[1]),
        "2 engineering bob",
        "{}",
        run.stdout
    );
    assert_eq!(first_columns(lines[2]), "1 vp dana", "{}", run.stdout);
    for expected in [
        "dana",
        &shown(from),
        &shown(to),
        "board meeting",
        "local-admin",
    ] {
        assert!(
            lines[2].contains(expected),
            "{expected} missing:\n{}",
            run.stdout
        );
    }
    assert!(lines[2].ends_with(" -"), "not removed:\n{}", run.stdout);
    let listed = pagerctl(addr, &["--json", "override", "list", "vp"])
        .await
        .success()
        .json();
    let ids: Vec<&Value> = listed["overrides"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| &o["id"])
        .collect();
    assert_eq!(ids, [1]);

    // remove: dana is no longer on call; the list keeps it only with --all.
    let run = pagerctl(addr, &["override", "remove", "1", "--by", "bob"])
        .await
        .success();
    assert_eq!(
        run.stdout.trim(),
        format!(
            "override 1 removed: dana on call for vp from {} to {} (removed by local-admin)",
            shown(from),
            shown(to)
        )
    );
    let run = pagerctl(addr, &["--json", "oncall", "vp", "--at", &during])
        .await
        .success();
    assert_ne!(
        run.json()["on_call"][0]["shift"]["person"],
        "dana",
        "{}",
        run.stdout
    );
    let run = pagerctl(addr, &["override", "list", "vp"]).await.success();
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert_eq!(run.stderr.trim(), "no overrides match");
    let run = pagerctl(addr, &["override", "list", "vp", "--all"])
        .await
        .success();
    let row = run.stdout.lines().nth(1).unwrap_or_default().to_owned();
    assert_eq!(first_columns(&row), "1 vp dana", "{}", run.stdout);
    assert!(row.contains("local-admin at "), "{}", run.stdout);

    // Errors from pagerd: one line, exit 1.
    let run = pagerctl(addr, &["override", "remove", "1"]).await;
    assert_eq!(run.code, Some(1));
    assert_eq!(
        run.stderr.trim(),
        "pagerctl: failed precondition: id: override 1 was already removed by local-admin"
    );
    let run = pagerctl(
        addr,
        &[
            "override", "add", "vp", "zoe", "--from", "now", "--to", "1h",
        ],
    )
    .await;
    assert_eq!(run.code, Some(1));
    assert_eq!(
        run.stderr.trim(),
        "pagerctl: invalid argument: person: no person `zoe` in the policy files"
    );
    pagerd.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_schedules_dir_is_refused_by_reload_and_shown_as_refused_by_status() {
    let pagerd = Daemon::start().await;
    let addr = pagerd.addr.as_str();
    let set = &pagerd.policies;
    let counts = format!(
        "{} schedules, {} escalation policies, {} services, {} people",
        set.schedules.len(),
        set.policies.len(),
        set.services.len(),
        set.people.len()
    );

    // Status before any reload.
    let run = pagerctl(addr, &["status"]).await.success();
    let dir = pagerd.dirs.schedules().display().to_string();
    assert!(run.stdout.starts_with("pagerd "), "{}", run.stdout);
    for expected in [
        format!("policy set:  {counts}"),
        format!(" from {dir}"),
        "incidents:   0 open".to_owned(),
        "channels:    log".to_owned(),
        "last reload: none since start".to_owned(),
        "(up ".to_owned(),
    ] {
        assert!(
            run.stdout.contains(&expected),
            "{expected} missing:\n{}",
            run.stdout
        );
    }
    let status = pagerctl(addr, &["--json", "status"]).await.success().json();
    assert_eq!(status["schedules"], set.schedules.len());
    assert_eq!(status["people"], set.people.len());
    assert_eq!(status["open_incidents"], 0);
    assert_eq!(status["schedules_dir"], dir);
    assert_eq!(status["last_reload"], Value::Null);
    assert!(status["started_at"].is_string());

    // An incident is counted.
    pagerctl(
        addr,
        &["trigger", "--service", "checkout-api", "--summary", "down"],
    )
    .await
    .success();
    let run = pagerctl(addr, &["status"]).await.success();
    assert!(run.stdout.contains("incidents:   1 open"), "{}", run.stdout);

    // A good reload.
    let run = pagerctl(addr, &["reload"]).await.success();
    assert!(
        run.stdout
            .starts_with(&format!("reloaded: {counts} from {dir}")),
        "{}",
        run.stdout
    );

    // A schedule owned by someone who is not in the people file: refused, exit 1.
    let broken = pagerd.schedule_file("weekend.toml");
    std::fs::write(
        &broken,
        "[[schedule]]\nname = \"weekend\"\ntime_zone = \"UTC\"\nowner = \"nobody\"\n\n\
         [[schedule.layer]]\nname = \"all\"\nmembers = [\"alice\"]\nshift = \"1w\"\n\
         start = \"2026-03-07T00:00\"\n",
    )
    .expect("write a broken policy file");
    let run = pagerctl(addr, &["reload"]).await;
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"refused: 1 error"), "{}", run.stdout);
    let error = lines.get(1).copied().unwrap_or_default();
    let location = format!("  {}:4: ", broken.display());
    assert!(
        error.starts_with(&location) && error.contains("\"nobody\""),
        "expected {location}…\"nobody\"…:\n{}",
        run.stdout
    );
    assert_eq!(
        run.stderr.trim(),
        "pagerctl: reload refused; pagerd keeps serving the policy set it had"
    );
    let refused = pagerctl(addr, &["--json", "reload"]).await;
    assert_eq!(refused.code, Some(1));
    let refused = refused.json();
    assert_eq!(refused["applied"], false);
    assert_eq!(refused["trigger"], "Reload RPC");
    assert_eq!(refused["errors"][0], error.trim());

    // Status says so (exit 0), lists the error, and still counts the last good set.
    let run = pagerctl(addr, &["status"]).await.success();
    let lines: Vec<&str> = run.stdout.lines().collect();
    let last = lines
        .iter()
        .position(|l| l.starts_with("  last reload: REFUSED at "))
        .unwrap_or_else(|| panic!("no REFUSED line:\n{}", run.stdout));
    assert!(
        lines[last].contains("(Reload RPC): 1 error"),
        "{}",
        run.stdout
    );
    assert_eq!(
        lines.get(last + 1).map(|l| l.trim()),
        Some(error.trim()),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!("policy set:  {counts}")),
        "{}",
        run.stdout
    );
    let status = pagerctl(addr, &["--json", "status"]).await.success().json();
    assert_eq!(status["last_reload"]["applied"], false);
    assert_eq!(status["last_reload"]["errors"][0], error.trim());

    // Fixed: applied again.
    std::fs::remove_file(&broken).expect("remove the broken file");
    pagerctl(addr, &["reload"]).await.success();
    let run = pagerctl(addr, &["status"]).await.success();
    assert!(
        run.stdout.contains("last reload: applied at "),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("REFUSED"), "{}", run.stdout);
    pagerd.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_test_page_goes_through_the_real_path_and_reports_each_answer() {
    let pagerd = Daemon::start().await;
    let addr = pagerd.addr.as_str();
    let run = pagerctl(addr, &["test-page", "alice", "--channel", "log"])
        .await
        .success();
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("log"))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(line.contains("sent"), "{line}");
    let json = pagerctl(addr, &["--json", "test-page", "alice", "--channel", "log"])
        .await
        .success()
        .json();
    assert_eq!(json["results"][0]["status"], "sent");
    // No contact-method channel is enabled in this daemon: nothing to test on.
    let run = pagerctl(addr, &["test-page", "alice"]).await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("no contact method"), "{}", run.stderr);
    let run = pagerctl(addr, &["test-page", "zed"]).await;
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("no person `zed`"), "{}", run.stderr);
    let run = pagerctl(addr, &["test-page", "alice", "--channel", "fax"]).await;
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains("`fax` is not enabled"),
        "{}",
        run.stderr
    );
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
    assert!(
        run.stdout.contains("ended by local-admin"),
        "{}",
        run.stdout
    );
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

#[tokio::test(flavor = "multi_thread")]
async fn a_trigger_may_name_the_service_by_its_integration_key() {
    let pagerd = Daemon::start().await;
    let addr = pagerd.addr.as_str();
    let json = pagerctl(
        addr,
        &[
            "--json",
            "trigger",
            "--integration-key",
            "YvZeRlPUhgyzAIACKVQMC9gDA7783EyM",
            "--summary",
            "by key",
        ],
    )
    .await
    .success()
    .json();
    let id = json["incident_id"].as_i64().unwrap();
    let shown = pagerctl(addr, &["--json", "show", &id.to_string()])
        .await
        .success()
        .json();
    assert_eq!(shown["service"], "checkout-api");
    let run = pagerctl(
        addr,
        &["trigger", "--integration-key", "nope", "--summary", "x"],
    )
    .await;
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("integration_key"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_no_token_configured_pagerctl_uses_pagerd_data_admin_token_of_its_directory() {
    let pagerd = Daemon::start().await;
    let token = pagerd.daemon.admin_token().await;
    let run_in = |dir: &Path, extra_env: Option<(&str, &str)>| {
        // `command` would add PAGERD_TOKEN_FILE for a known --addr: build it by hand.
        let mut cmd = std::process::Command::new(PAGERCTL);
        cmd.args(["--addr", &pagerd.addr, "list"])
            .current_dir(dir)
            .env_remove("PAGERD_ADDR")
            .env_remove("PAGERD_TOKEN")
            .env_remove("PAGERD_TOKEN_FILE")
            .env("TZ", "UTC");
        if let Some((k, v)) = extra_env {
            cmd.env(k, v);
        }
        Run::from(cmd.output().expect("pagerctl runs"))
    };

    // The walkthrough's layout: pagerd's default data_dir beside where pagerctl runs.
    let cwd = tempfile::tempdir().unwrap();
    let run = run_in(cwd.path(), None);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("unauthenticated"), "{}", run.stderr);
    std::fs::create_dir(cwd.path().join("pagerd-data")).unwrap();
    std::fs::write(
        cwd.path().join("pagerd-data/admin.token"),
        format!("{token}\n"),
    )
    .unwrap();
    run_in(cwd.path(), None).success();

    // The environment wins over the file: a wrong token is refused, not replaced.
    let run = run_in(cwd.path(), Some(("PAGERD_TOKEN", "pgd_wrong")));
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("unauthenticated: unknown token"),
        "{}",
        run.stderr
    );
    let run = run_in(
        cwd.path(),
        Some(("PAGERD_TOKEN_FILE", "/nonexistent/token")),
    );
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("PAGERD_TOKEN_FILE: cannot read /nonexistent/token"),
        "{}",
        run.stderr
    );
    pagerd.stop().await;
}
