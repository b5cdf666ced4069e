//! `pagerd check DIR --simulate`: a daemon on the paused clock records incidents into a
//! temp database and stops; the command replays them against a changed rotation, read-only.

use std::process::{Command, Output};

use chrono::{DateTime, Duration as Days, Utc};
use pagerd::engine::Clock;

use crate::helpers::*;

const PEOPLE_AND_SERVICE: &str = r#"
[[person]]
name = "ann"
time_zone = "UTC"
[[person]]
name = "bob"
time_zone = "UTC"
[[person]]
name = "cat"
time_zone = "UTC"
[[person]]
name = "victor"
time_zone = "UTC"

[[service]]
name = "api"
escalation_policy = "rota"
[[escalation_policy]]
name = "rota"
levels = [{ schedules = ["rota"], delay = "8h" }]

[[schedule]]
name = "rota"
time_zone = "UTC"
owner = "victor"
handoff_notifications = "off"
[schedule.burnout]
"#;

/// What ran: weekly turns ann, bob, cat from Monday 2026-01-05 09:00.
const WEEKLY: &str = r#"
[[schedule.layer]]
name = "weekly"
members = ["ann", "bob", "cat"]
shift = "1w"
start = "2026-01-05T09:00"
"#;

/// The change under review: daily turns, bob first.
const DAILY: &str = r#"
[[schedule.layer]]
name = "daily"
members = ["bob", "ann", "cat"]
shift = "1d"
start = "2026-01-05T09:00"
"#;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn pagerd() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pagerd"));
    cmd.env_remove("PAGERD_CONFIG").env_remove("RUST_LOG");
    cmd
}

fn stdout(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

async fn settle(app: &TestApp, clock: Clock) {
    settle_schedule(app, clock, "rota").await
}

async fn advance_to(app: &TestApp, clock: Clock, t: DateTime<Utc>) {
    advance_settled(app, clock, "rota", t, Days::days(1)).await
}

async fn incident(app: &mut TestApp, sink: &mut WebhookSink, key: &str) -> String {
    paged_and_resolved(app, sink, "api", key).await
}

/// The table row of `person` as its 12 figures (simulated, was, … in header order).
fn row(text: &str, person: &str) -> Vec<String> {
    let line = (text.lines())
        .find(|l| l.split_whitespace().next() == Some(person))
        .unwrap_or_else(|| panic!("no row for {person} in:\n{text}"));
    line.split_whitespace().skip(1).map(String::from).collect()
}

#[tokio::test(start_paused = true)]
async fn simulate_replays_recorded_incidents_against_a_changed_rotation_read_only() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(&format!("{PEOPLE_AND_SERVICE}{WEEKLY}"));
    let mut sink = WebhookSink::start().await;
    // Monday 2026-01-05 10:00 UTC: ann's week began an hour ago.
    let clock = Clock::anchored(at("2026-01-05T10:00:00Z"));
    let mut app = spawn_app(&dirs, &sink, clock).await;
    settle(&app, clock).await;
    for k in 0..4 {
        assert_eq!(
            incident(&mut app, &mut sink, &format!("day{k}")).await,
            "ann"
        );
    }
    // Tuesday 02:00: off hours.
    advance_to(&app, clock, at("2026-01-06T02:00:00Z")).await;
    assert_eq!(incident(&mut app, &mut sink, "night").await, "ann");
    // Tuesday of bob's week.
    advance_to(&app, clock, at("2026-01-13T10:00:00Z")).await;
    assert_eq!(incident(&mut app, &mut sink, "bob").await, "bob");
    app.stop().await;

    let db = dirs.data().join("pagerd.db");
    // Each file's length and hash (absent: None).
    let files = || {
        ["", "-wal"].map(|suffix| {
            use std::hash::{Hash, Hasher};
            let bytes = std::fs::read(format!("{}{suffix}", db.display())).ok()?;
            let mut h = std::collections::hash_map::DefaultHasher::new();
            bytes.hash(&mut h);
            Some((bytes.len(), h.finish()))
        })
    };
    let before = files();
    let change = AppDirs::new(&format!("{PEOPLE_AND_SERVICE}{DAILY}"));
    let simulate = |extra: &[&str]| {
        let mut cmd = pagerd();
        cmd.arg("check")
            .arg(change.schedules())
            .args(["--simulate", "--from", "2026-01-05", "--to", "2026-01-14"])
            .args(extra);
        cmd
    };

    let text = stdout(&simulate(&["--db", path_str(&db)]).output().unwrap());
    // Figures: weeks, was, evening weeks, was, incidents, was, off-hours pages, was,
    // call-in hours, was, limit skips, was.
    // Bob's first day takes ann's five incidents (one off hours); cat's third day (13 Jan)
    // takes bob's one. What happened: ann had them all in her week, bob his one.
    let (ann, bob, cat) = (row(&text, "ann"), row(&text, "bob"), row(&text, "cat"));
    assert_eq!(&bob[4..10], ["5", "1", "1", "0", "5", "1"], "{text}");
    assert_eq!(&ann[4..10], ["0", "5", "0", "1", "0", "5"], "{text}");
    assert_eq!(&ann[1], "1.0", "ann's recorded week:\n{text}");
    assert_eq!(&bob[1], "1.0", "bob's recorded week:\n{text}");
    // Cat: days 7, 10 and 13 January, 3/7 of a week; no recorded week in the range.
    assert_eq!(&cat[0..2], ["0.4", "0.0"], "{text}");
    assert_eq!(&cat[4..10], ["1", "0", "0", "0", "1", "0"], "{text}");
    // Bob's busy day moves his next turn (8 January), which ann actually had.
    let decision = (text.lines())
        .position(|l| l.contains("rota layer daily Thu 2026-01-08 09:00 UTC"))
        .unwrap_or_else(|| panic!("no decision for 8 January in:\n{text}"));
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[decision].contains(": ann (rotation: bob; actually: ann)"),
        "{text}"
    );
    assert!(lines[decision + 1].contains("rest"), "{text}");

    // JSON, from the data directory the daemon used (no --db).
    let out = simulate(&["--format", "json"])
        .env("PAGERD_DATA_DIR", dirs.data())
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    let person = |name: &str| {
        (json["people"].as_array().unwrap().iter())
            .find(|p| p["person"] == name)
            .unwrap_or_else(|| panic!("no {name} in {json}"))
            .clone()
    };
    let bob = person("bob");
    assert_eq!(
        (
            &bob["simulated"]["incidents"],
            &bob["actual"]["incidents"],
            &bob["simulated"]["off_hours_pages"],
            &bob["simulated"]["call_in_hours"],
        ),
        (&5.into(), &1.into(), &1.into(), &5.into()),
        "{json}"
    );
    assert_eq!(person("ann")["actual"]["weeks"], 1.0, "{json}");
    let d = (json["decisions"].as_array().unwrap().iter())
        .find(|d| d["start"] == "2026-01-08T09:00:00Z")
        .unwrap_or_else(|| panic!("no decision for 8 January in {json}"));
    assert_eq!(
        (&d["candidate"], &d["person"], &d["actual"]),
        (&"bob".into(), &"ann".into(), &"ann".into()),
        "{json}"
    );
    assert_eq!(json["schedules"], serde_json::json!(["rota"]));

    // The file is unchanged and nothing was logged to write into it (a WAL reader may
    // leave an empty log behind).
    let after = files();
    assert_eq!(after[0], before[0], "the database is only read");
    let logged = |f: Option<(usize, u64)>| f.map_or(0, |(len, _)| len);
    assert_eq!(
        logged(after[1]),
        logged(before[1]),
        "nothing was written to the log"
    );
}

#[test]
fn simulate_refuses_bad_dates_ranges_directories_and_databases() {
    let dirs = AppDirs::new(&format!("{PEOPLE_AND_SERVICE}{WEEKLY}"));
    let missing = dirs.data().join("nothing.db");
    let not_db = dirs.schedules().join("policies.toml");
    let schedules = dirs.schedules();
    let dir = path_str(&schedules);
    let table: [(&[&str], &str); 7] = [
        (
            &[
                dir,
                "--simulate",
                "--from",
                "2026-13-01",
                "--to",
                "2026-02-01",
            ],
            "2026-13-01",
        ),
        (
            &[
                dir,
                "--simulate",
                "--from",
                "2026-02-01",
                "--to",
                "2026-01-01",
            ],
            "must be before",
        ),
        (
            &[
                dir,
                "--simulate",
                "--from",
                "2026-01-01",
                "--to",
                "2027-06-01",
            ],
            "more than 400 days",
        ),
        (&[dir, "--simulate", "--to", "2026-02-01"], "--from"),
        (&[dir, "--from", "2026-01-01"], "--simulate"),
        (
            &[
                dir,
                "--simulate",
                "--from",
                "2026-01-01",
                "--to",
                "2026-02-01",
                "--db",
                path_str(&missing),
            ],
            "no database at",
        ),
        (
            &[
                dir,
                "--simulate",
                "--from",
                "2026-01-01",
                "--to",
                "2026-02-01",
                "--db",
                path_str(&not_db),
            ],
            "policies.toml",
        ),
    ];
    for (args, expected) in table {
        let out = pagerd().arg("check").args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            stderr.contains(expected),
            "{args:?}: no `{expected}` in {stderr}"
        );
    }
    assert!(!missing.exists(), "a missing database is not created");
    let out = pagerd()
        .args([
            "check",
            "/nonexistent-dir",
            "--simulate",
            "--from",
            "2026-01-01",
        ])
        .args(["--to", "2026-02-01", "--db", path_str(&not_db)])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/nonexistent-dir") && stderr.contains("cannot read"),
        "{stderr}"
    );
}
