//! The first hour with pagerctl: dates and wall-clock times read in `--tz` (or TZ), tables
//! that say whose time they show, and the README's set-up commands.

use super::*;

/// A pagerctl run with TZ set to `tz` instead of UTC.
async fn pagerctl_in(tz: &str, addr: &str, args: &[&str]) -> Run {
    let mut cmd = tokio::process::Command::from(command(&["--addr", addr]));
    cmd.env("TZ", tz).args(args);
    tokio::time::timeout(PATIENCE, cmd.output())
        .await
        .expect("pagerctl finishes")
        .expect("pagerctl runs")
        .into()
}

/// Text with every run of whitespace as one space (table columns are padded).
fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The period a `report --json` ran over, as pagerctl resolved it.
fn period(run: Run) -> (String, String) {
    let json = run.success().json();
    let text = |k: &str| json[k].as_str().unwrap_or_default().to_owned();
    (text("from"), text("to"))
}

#[tokio::test(flavor = "multi_thread")]
async fn report_takes_a_bare_date_and_wall_clock_times_in_tz_or_utc() {
    let pagerd = Daemon::start().await;
    let addr = pagerd.addr.as_str();
    let report = ["--json", "report", "--from", "2026-01-01", "--to"];

    // TZ=UTC: midnight UTC; the table form works too.
    let run = pagerctl(addr, &["report", "--from", "2026-01-01"]).await;
    assert!(run.success().stdout.starts_with("PERSON"));
    let run = pagerctl(addr, &[&report[..], &["2026-02-01 12:00"]].concat()).await;
    assert_eq!(
        period(run),
        ("2026-01-01T00:00:00Z".into(), "2026-02-01T12:00:00Z".into())
    );

    // --tz: midnight and noon in Los Angeles (PST, UTC-8).
    let run = pagerctl(
        addr,
        &[
            &["--tz", "America/Los_Angeles"],
            &report[..],
            &["2026-02-01T12:00"],
        ]
        .concat(),
    )
    .await;
    assert_eq!(
        period(run),
        ("2026-01-01T08:00:00Z".into(), "2026-02-01T20:00:00Z".into())
    );

    // No --tz: the local zone from TZ (Berlin, CET = UTC+1); --utc overrides it; an RFC 3339
    // time means what it says whatever the zone.
    let run = pagerctl_in(
        "Europe/Berlin",
        addr,
        &[&report[..], &["2026-02-01"]].concat(),
    )
    .await;
    assert_eq!(
        period(run),
        ("2025-12-31T23:00:00Z".into(), "2026-01-31T23:00:00Z".into())
    );
    let run = pagerctl_in(
        "Europe/Berlin",
        addr,
        &[&["--utc"], &report[..], &["2026-02-01T00:00-05:00"]].concat(),
    )
    .await;
    assert_eq!(
        period(run),
        ("2026-01-01T00:00:00Z".into(), "2026-02-01T05:00:00Z".into())
    );
    pagerd.stop().await;
}

#[test]
fn a_wall_clock_time_the_clocks_skip_is_a_usage_error_naming_it() {
    let addr = format!("127.0.0.1:{}", closed_port());
    // Los Angeles springs forward on 2026-03-08 from 02:00 to 03:00.
    let run = pagerctl_sync(&[
        "--addr",
        &addr,
        "--tz",
        "America/Los_Angeles",
        "report",
        "--from",
        "2026-03-08T02:30",
    ]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr.starts_with(
            "pagerctl: --from `2026-03-08T02:30`: 2026-03-08 02:30 does not exist in \
             America/Los_Angeles"
        ),
        "{}",
        run.stderr
    );
    // The same wall-clock time in UTC exists: only then does pagerctl try to connect.
    let run = pagerctl_sync(&["--addr", &addr, "report", "--from", "2026-03-08T02:30"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("cannot reach"), "{}", run.stderr);

    // An unknown zone, or --tz with --utc: clap's usage errors.
    for args in [
        &["--tz", "Mars/Olympus_Mons", "list"][..],
        &["--utc", "--tz", "UTC", "list"],
        &["report", "--from", "2026-13-01"],
    ] {
        let run = pagerctl_sync(&[&["--addr", &addr][..], args].concat());
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.starts_with("error: "),
            "{args:?}: {}",
            run.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn schedule_tables_show_the_schedules_zone_and_other_tables_the_local_one() {
    let pagerd = Daemon::start().await;
    let addr = pagerd.addr.as_str();

    // The VP rotation hands off on the 1st at 09:00 New York time: EST in March, EDT in April,
    // whatever the local zone; --utc shows UTC.
    let oncall = ["oncall", "vp", "--at", "2026-03-15T12:00:00Z"];
    for tz in ["UTC", "Asia/Tokyo"] {
        let run = pagerctl_in(tz, addr, &oncall).await.success();
        assert!(
            words(&run.stdout).contains("victor 2026-03-01 09:00:00 EST 2026-04-01 09:00:00 EDT"),
            "{tz}:\n{}",
            run.stdout
        );
    }
    let run = pagerctl(addr, &[&["--utc"], &oncall[..]].concat())
        .await
        .success();
    assert!(
        words(&run.stdout).contains("victor 2026-03-01 14:00:00 UTC 2026-04-01 13:00:00 UTC"),
        "{}",
        run.stdout
    );
    // shifts: a bare date in --tz, times in the schedule's zone (Los Angeles).
    let run = pagerctl(
        addr,
        &[
            "--tz",
            "Europe/Berlin",
            "shifts",
            "engineering",
            "--from",
            "2026-07-06",
            "--to",
            "2026-07-20",
        ],
    )
    .await
    .success();
    let rows: Vec<&str> = run.stdout.lines().skip(1).collect();
    assert!(!rows.is_empty(), "{}", run.stdout);
    for row in rows {
        assert_eq!(row.matches(" PDT").count(), 2, "{}", run.stdout);
    }

    // Not a schedule: the incident's timeline in the local zone, with UTC beside it in the
    // header; TZ=UTC says UTC once.
    pagerctl(
        addr,
        &["trigger", "--service", "checkout-api", "--summary", "zones"],
    )
    .await
    .success();
    let run = pagerctl(addr, &["--tz", "Asia/Tokyo", "show", "1"])
        .await
        .success();
    let created = run
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("created:"))
        .unwrap_or_default();
    assert!(
        created.contains(" JST (") && created.contains(" UTC)"),
        "{}",
        run.stdout
    );
    let triggered = run
        .stdout
        .lines()
        .find(|l| l.contains("triggered") && l.starts_with("20"))
        .unwrap_or_default();
    assert!(triggered.contains(" JST "), "{}", run.stdout);
    let run = pagerctl(addr, &["show", "1"]).await.success();
    assert!(!run.stdout.contains("JST"), "{}", run.stdout);
    assert!(run.stdout.contains(" UTC "), "{}", run.stdout);
    // JSON stays RFC 3339 UTC whatever the zone.
    let shown = pagerctl(addr, &["--tz", "Asia/Tokyo", "--json", "show", "1"])
        .await
        .success()
        .json();
    let created_at = shown["created_at"].as_str().unwrap_or_default();
    assert!(created_at.ends_with('Z'), "{shown}");
    pagerd.stop().await;
}

#[test]
fn the_readme_set_up_builds_both_binaries_and_ci_runs_its_test_command() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let setup = readme
        .split("\n## Set-up\n")
        .nth(1)
        .and_then(|s| s.split("```sh\n").nth(1))
        .and_then(|s| s.split("```").next())
        .expect("a sh block in Set-up");
    let commands: Vec<&str> = setup
        .lines()
        .map(|l| l.split(" # ").next().unwrap_or_default().trim())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(
        commands,
        [
            "cargo build --release && target/release/pagerd",
            "cargo test --locked"
        ],
        "{setup}"
    );
    // .ci/run ends with exactly the README's test command.
    let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    let last = ci
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    assert_eq!(last.trim(), commands[1]);
    // The walkthrough uses the binaries the set-up built instead of building again.
    assert!(!readme.contains("cargo build --bin pagerctl"));
    assert!(readme.contains("target/release/pagerctl") || readme.contains("target/release:"));
}
