//! `pagerd check` and start-up validation of policy files.

use std::process::Command;

use crate::helpers::*;

fn pagerd() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pagerd"));
    // Keep the developer's environment from changing the outcome.
    cmd.env_remove("PAGERD_CONFIG").env_remove("RUST_LOG");
    cmd
}

#[test]
fn check_accepts_the_shipped_schedules() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/schedules");
    let out = pagerd().args(["check", dir]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("OK"), "{stdout}");
}

#[test]
fn check_reports_every_error_with_file_and_line_and_exits_non_zero() {
    let broken = TEST_POLICIES
        .replace(
            r#"{ targets = ["bob"], delay = "1h" }"#,
            r#"{ targets = ["zoe"], delay = "0s" }"#,
        )
        .replace(
            "name = \"erin\"\ntime_zone = \"UTC\"",
            "name = \"erin\"\ntime_zone = \"Mars/Olympus\"",
        );
    let dirs = AppDirs::new(&broken);
    let out = pagerd()
        .arg("check")
        .arg(dirs.schedules())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line_of = |needle: &str| broken.lines().position(|l| l.contains(needle)).unwrap() + 1;
    for (what, line) in [
        ("zoe", line_of("\"zoe\"")),
        ("delay", line_of("\"zoe\"")),
        ("Mars/Olympus", line_of("Mars/Olympus")),
    ] {
        let expected = format!("policies.toml:{line}:");
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(&expected) && l.contains(what)),
            "no `{expected} … {what}` in:\n{stderr}"
        );
    }
}

#[test]
fn the_daemon_refuses_to_start_on_a_broken_policy_set() {
    let dirs = AppDirs::new("[[person]]\nname = \"alice\"\ntime_zone = \"UTC\"\nshoe_size = 44\n");
    let out = pagerd()
        .env("PAGERD_SCHEDULES_DIR", dirs.schedules())
        .env("PAGERD_DATA_DIR", dirs.data())
        .env("PAGERD_GRPC__LISTEN", "127.0.0.1:0")
        .env("PAGERD_HTTP__LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("policies.toml:4") && stderr.contains("shoe_size"),
        "{stderr}"
    );
    assert!(
        !dirs.data().join("pagerd.db").exists(),
        "nothing is written on a refused start"
    );
}

#[test]
fn the_daemon_refuses_unknown_settings_keys_naming_them() {
    let dirs = AppDirs::new(TEST_POLICIES);
    let file = dirs.root.path().join("pagerd.toml");
    std::fs::write(
        &file,
        "[grpc]\nlisten = \"127.0.0.1:0\"\nlisten_backlog = 5\n",
    )
    .unwrap();
    let out = pagerd()
        .arg("--config")
        .arg(&file)
        .arg("check")
        .arg(dirs.schedules())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("listen_backlog"), "{stderr}");

    let out = pagerd()
        .env("PAGERD_GRPC__LISTEN", "not-an-address")
        .arg("check")
        .arg(dirs.schedules())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("listen"), "{stderr}");
}

/// The real binary: starts on the given settings, serves, and exits 0 on SIGTERM.
#[tokio::test]
async fn the_daemon_process_serves_and_stops_cleanly_on_sigterm() {
    let dirs = AppDirs::new(TEST_POLICIES);
    let spec = ProcessSpec::new(env!("CARGO_BIN_EXE_pagerd"), &dirs);
    let mut child = DaemonProcess::start(&spec).await.unwrap();
    let http = child.http;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let healthy = loop {
        if let Ok(mut s) = std::net::TcpStream::connect(http) {
            use std::io::{Read, Write};
            s.write_all(b"GET /healthz HTTP/1.0\r\n\r\n").unwrap();
            let mut body = String::new();
            let _ = s.read_to_string(&mut body);
            break body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "pagerd never answered /healthz"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(
        healthy.contains("200 OK") && healthy.contains("ok: 0 open incidents"),
        "{healthy}"
    );
    assert!(dirs.data().join("pagerd.db").exists());

    // SIGTERM; the kit fails the test if `kill` does not succeed.
    let (_, status) = child.terminate().await.unwrap();
    assert_eq!(status.code(), Some(0), "{}", child.log_tail());
}

/// Two people, weekly, at most 4 weeks a quarter each: 8 of the 12–13 weeks of any quarter.
const SHORT_QUARTERS: &str = r#"
[[person]]
name = "ann"
time_zone = "UTC"
[[person]]
name = "bob"
time_zone = "UTC"
[[schedule]]
name = "tiny"
time_zone = "UTC"
owner = "ann"
[schedule.burnout]
max_weeks_per_quarter = 4
max_consecutive_evening_weeks = 2
[[schedule.layer]]
name = "weekly"
members = ["ann", "bob"]
shift = "1w"
start = "2026-01-05T09:00"
evening = true
"#;

#[test]
fn check_warns_about_a_quarter_the_members_cannot_cover_and_refuses_an_impossible_turn() {
    // Infeasible: a warning per coming quarter, and the check passes.
    let dirs = AppDirs::new(SHORT_QUARTERS);
    let out = pagerd()
        .arg("check")
        .arg(dirs.schedules())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let warnings: Vec<&str> = (stdout.lines())
        .filter(|l| l.starts_with("warning: schedule \"tiny\": 20"))
        .collect();
    assert_eq!(warnings.len(), 4, "{stdout}");
    assert!(
        warnings
            .iter()
            .all(|w| w.contains("its 2 member(s) may take at most 8 (max_weeks_per_quarter = 4)")),
        "{stdout}"
    );

    // Impossible: a 3-week evening turn over a 2-week cap is refused at its line.
    let broken = SHORT_QUARTERS.replace("shift = \"1w\"", "shift = \"3w\"");
    let line = broken.lines().position(|l| l.contains("\"3w\"")).unwrap() + 1;
    let dirs = AppDirs::new(&broken);
    let out = pagerd()
        .arg("check")
        .arg(dirs.schedules())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!(
        "policies.toml:{line}: layer \"weekly\" of schedule \"tiny\": shift: \"3w\" breaks \
         max_consecutive_evening_weeks = 2 by itself: each evening turn is 3 weeks in a row"
    );
    assert!(stderr.lines().any(|l| l.ends_with(&expected)), "{stderr}");
}
