//! pagerctl's schedule commands end to end: on-call, shifts with their reasons, the load
//! report, overrides.

use super::*;

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
