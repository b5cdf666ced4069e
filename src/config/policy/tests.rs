//! Loading whole sets: the shipped schedules, valid sets and the domain values they build,
//! and the problems that span files. Single-file error cases are fixtures in
//! `tests/policy_cases/` (see `cases.rs`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, NaiveTime, Utc, Weekday};

use super::syntax::parse_local;
use super::*;
use crate::domain::burnout::BurnoutPolicy;
use crate::domain::policy::{HandoffNotify, ScheduleDef};
use crate::domain::rotation::{Rotation, ShiftLength};
use crate::domain::schedule::{Layer, Override, Restriction, Schedule};
use crate::domain::{Repeat, Severity, Target};

pub(super) fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).expect("valid time")
}

fn shipped_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schedules")
}

pub(super) const PEOPLE: &str = r#"
[[person]]
name = "alice"
time_zone = "America/Los_Angeles"
email = "alice@example.com"

[[person]]
name = "bob"
time_zone = "Europe/Berlin"
"#;

pub(super) const POLICY: &str = r#"
[[service]]
name = "checkout-api"
escalation_policy = "engineering"

[[escalation_policy]]
name = "engineering"
levels = [
  { targets = ["alice"], delay = "15m" },
  { targets = ["bob"], delay = "30m" },
]
"#;

/// A temp dir holding `files`, as `(name, contents)`.
pub(super) fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write policy file");
    }
    dir
}

fn errors_for(files: &[(&str, &str)]) -> Vec<PolicyError> {
    let dir = dir_with(files);
    load_dir(dir.path())
        .expect_err("policy set should be rejected")
        .0
}

#[test]
fn levels_may_target_schedules_which_must_exist() {
    let schedule = r#"
[[schedule]]
name = "primary"
time_zone = "UTC"
owner = "alice"
[[schedule.layer]]
name = "all"
members = ["alice", "bob"]
shift = "1w"
start = "2026-03-02T09:00"
"#;
    let policy = POLICY.replace(
        r#"{ targets = ["bob"], delay = "30m" }"#,
        r#"{ schedules = ["primary"], delay = "30m" }"#,
    );
    let dir = dir_with(&[
        ("people.toml", PEOPLE),
        ("p.toml", &policy),
        ("s.toml", schedule),
    ]);
    let set = load_dir(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        set.policies["engineering"].default.levels[1].targets,
        [Target::Schedule("primary".into())]
    );

    let broken = POLICY.replace(
        r#"{ targets = ["bob"], delay = "30m" }"#,
        r#"{ schedules = ["secondary"], delay = "30m" }"#,
    );
    let errors = errors_for(&[
        ("people.toml", PEOPLE),
        ("p.toml", &broken),
        ("s.toml", schedule),
    ]);
    let line = broken
        .lines()
        .position(|l| l.contains("secondary"))
        .unwrap()
        + 1;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].line, Some(line));
    assert!(
        errors[0]
            .message
            .contains(r#"unknown schedule "secondary""#),
        "{}",
        errors[0]
    );

    let empty = POLICY.replace(
        r#"{ targets = ["bob"], delay = "30m" }"#,
        r#"{ delay = "30m" }"#,
    );
    let errors = errors_for(&[("people.toml", PEOPLE), ("p.toml", &empty)]);
    assert!(
        errors[0].message.contains("targets must not be empty"),
        "{}",
        errors[0]
    );
}

#[test]
fn the_shipped_schedules_load() {
    let set = load_dir(&shipped_dir()).unwrap_or_else(|e| panic!("shipped schedules:\n{e}"));
    for person in [
        "alice", "bob", "dana", "victor", "cora", "erin", "sam", "sofia", "jonas", "lena", "mateo",
        "priya",
    ] {
        assert!(set.people.contains_key(person), "{person}");
    }
    assert_eq!(set.services.len(), 3);
    let engineering = set
        .policy_for_service("checkout-api")
        .expect("checkout-api policy");
    assert_eq!(engineering.name, "engineering");
    assert_eq!(engineering.repeat, Repeat::Times(1));
    assert_eq!(engineering.ack_timeout, Some(Duration::from_secs(4 * 3600)));
    let critical = engineering.timeline(Severity::Critical);
    let first_targets: Vec<_> = critical
        .levels
        .iter()
        .map(|l| l.targets[0].clone())
        .collect();
    let ladder = ["alice", "dana", "victor", "cora", "erin"].map(|p| Target::Person(p.into()));
    assert_eq!(first_targets, ladder);
    assert_eq!(critical.levels[0].delay, Duration::from_secs(15 * 60));
    assert_eq!(engineering.timeline(Severity::Low).levels.len(), 3);
    let support = set
        .policy_for_service("internal-tools")
        .expect("internal-tools policy");
    assert_eq!(support.repeat, Repeat::UntilAcknowledged);

    let names: Vec<_> = set.schedules.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "engineering",
            "platform",
            "sre-follow-the-sun",
            "support-evenings",
            "vp"
        ]
    );
    let support = &set.schedules["support-evenings"];
    assert_eq!(support.owner, "alice");
    let evenings = &support.schedule.layers[0];
    assert_eq!(evenings.rotation.length, ShiftLength::Weeks(1));
    assert_eq!(
        evenings.restrictions,
        [Restriction::Daily {
            start: hm(17, 0),
            end: hm(9, 0)
        }]
    );
    assert_eq!(support.schedule.overrides.len(), 1);
    assert_eq!(
        set.schedules["vp"].schedule.layers[0].rotation.length,
        ShiftLength::Months(1)
    );
    let sun = &set.schedules["sre-follow-the-sun"].schedule;
    assert_eq!(sun.layers.len(), 2);
    // The two regions' windows tile the day: no gaps once the rotations have started.
    let from = utc("2026-06-01T00:00:00Z");
    assert!(
        sun.gaps(from, from + chrono::Duration::days(28)).is_empty(),
        "{:?}",
        sun.gaps(from, from + chrono::Duration::days(28))
    );

    let summary = check_dir(&shipped_dir()).expect("check").to_string();
    assert!(
        summary.ends_with("12 people, 3 services, 3 escalation policies, 5 schedules — OK"),
        "{summary}"
    );

    // Intake: keys, a routing rule, support hours, a threshold, a window, a heartbeat.
    let checkout = &set.services["checkout-api"];
    assert_eq!(
        set.service_for_key(&checkout.integration_keys[0])
            .map(|s| &s.name),
        Some(&checkout.name)
    );
    assert_eq!(checkout.routes[0].escalation_policy, "billing");
    assert_eq!(set.services["search"].threshold.map(|t| t.count), Some(5));
    let tools = &set.services["internal-tools"];
    assert_eq!(
        tools.support_hours.as_ref().map(|s| s.defer.clone()),
        Some(vec![Severity::Low, Severity::Medium])
    );
    assert_eq!(set.maintenance.len(), 1);
    assert_eq!(
        set.maintenance[0].start,
        utc("2026-12-06T06:00:00Z"),
        "local times in the window's zone"
    );
    assert_eq!(
        set.heartbeats["nightly-backup"].interval,
        Duration::from_secs(25 * 3600)
    );
}

pub(super) fn utc(s: &str) -> DateTime<Utc> {
    s.parse().expect("RFC 3339 instant")
}

fn local(s: &str) -> NaiveDateTime {
    parse_local(s).expect("local date-time")
}

/// People alice and bob (from `PEOPLE`) plus sam and sofia.
pub(super) const SUPPORT: &str = r#"
[[person]]
name = "sam"
time_zone = "Europe/Berlin"

[[person]]
name = "sofia"
time_zone = "America/New_York"
"#;

/// A valid schedule (also `tests/policy_cases/valid/support-evenings.toml`).
pub(super) const SCHEDULE: &str = r#"[[schedule]]
name = "support-evenings"
time_zone = "America/Los_Angeles"
owner = "alice"
[[schedule.layer]]
name = "base"
members = ["alice", "bob"]
shift = "1mo"
start = "2026-03-01T09:00"
[[schedule.layer]]
name = "evenings"
members = ["sam", "sofia"]
shift = "1w"
start = "2026-03-02T09:00"
restrictions = [{ daily = "17:00-09:00" }, { weekly = "Sat 09:00 - Mon 09:00" }]
[[schedule.override]]
person = "sofia"
from = "2026-03-10T17:00"
to = "2026-03-11T09:00"
reason = "swap with sam"
[[schedule.override]]
person = "bob"
from = "2026-03-12T01:00:00Z"
to = "2026-03-12T05:00:00-07:00"
"#;

#[test]
fn a_valid_schedule_builds_the_domain_value() {
    let dir = dir_with(&[
        ("a.toml", PEOPLE),
        ("b.toml", POLICY),
        ("c.toml", SUPPORT),
        ("d.toml", SCHEDULE),
    ]);
    let set = load_dir(dir.path()).unwrap_or_else(|e| {
        panic!(
            "valid set:
{e}"
        )
    });
    let la = chrono_tz::America::Los_Angeles;
    let rotation = |start: &str, length, members: [&str; 2]| Rotation {
        zone: la,
        start: local(start),
        length,
        members: members.map(String::from).to_vec(),
    };
    let want = ScheduleDef {
        burnout: None,
        override_notes: Default::default(),
        owner: "alice".into(),
        fallback: None,
        handoff: HandoffNotify::default(),
        schedule: Schedule {
            name: "support-evenings".into(),
            zone: la,
            layers: vec![
                Layer {
                    evening: false,
                    assigned: Default::default(),
                    name: "base".into(),
                    rotation: rotation(
                        "2026-03-01T09:00",
                        ShiftLength::Months(1),
                        ["alice", "bob"],
                    ),
                    restrictions: vec![],
                },
                Layer {
                    evening: false,
                    assigned: Default::default(),
                    name: "evenings".into(),
                    rotation: rotation("2026-03-02T09:00", ShiftLength::Weeks(1), ["sam", "sofia"]),
                    restrictions: vec![
                        Restriction::Daily {
                            start: hm(17, 0),
                            end: hm(9, 0),
                        },
                        Restriction::Weekly {
                            start: (Weekday::Sat, hm(9, 0)),
                            end: (Weekday::Mon, hm(9, 0)),
                        },
                    ],
                },
            ],
            overrides: vec![
                Override {
                    person: "sofia".into(),
                    // 17:00 PDT (UTC-7) after the 2026-03-08 spring-forward.
                    start: utc("2026-03-11T00:00:00Z"),
                    end: utc("2026-03-11T16:00:00Z"),
                    reason: "swap with sam".into(),
                },
                Override {
                    person: "bob".into(),
                    start: utc("2026-03-12T01:00:00Z"),
                    end: utc("2026-03-12T12:00:00Z"),
                    reason: String::new(),
                },
            ],
        },
    };
    assert_eq!(set.schedules.len(), 1);
    assert_eq!(set.schedules["support-evenings"], want);
    assert!(
        check_dir(dir.path())
            .expect("check")
            .to_string()
            .ends_with(", 1 schedule — OK")
    );
}

#[test]
fn burnout_limits_take_the_manual_defaults_and_zero_switches_one_off() {
    let text = r#"
[[schedule]]
name = "limited"
time_zone = "UTC"
owner = "alice"
[schedule.burnout]
max_weeks_per_quarter = 0
min_rest_hours = 12
[[schedule.layer]]
name = "evenings"
members = ["alice", "bob"]
shift = "1w"
start = "2026-01-05T09:00"
evening = true
"#;
    let dir = dir_with(&[("a.toml", PEOPLE), ("b.toml", text)]);
    let set = load_dir(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let def = &set.schedules["limited"];
    assert_eq!(
        def.burnout,
        Some(BurnoutPolicy {
            max_weeks_per_quarter: None,
            max_consecutive_evening_weeks: Some(2),
            rest_after_busy_week: Some(3),
            rest_days: 7,
            min_rest_hours: Some(12),
        })
    );
    assert!(def.schedule.layers[0].evening);

    let typo = text.replace("min_rest_hours", "min_rest_hour");
    let shown = PolicyErrors(errors_for(&[("a.toml", PEOPLE), ("b.toml", &typo)])).to_string();
    assert!(
        shown.contains("b.toml:8:") && shown.contains("min_rest_hour"),
        "{shown}"
    );
}

#[test]
fn schedule_names_are_unique_across_files_and_need_a_layer() {
    let errors = errors_for(&[
        ("a.toml", PEOPLE),
        ("b.toml", POLICY),
        ("c.toml", SCHEDULE),
        ("d.toml", &format!("\n{SCHEDULE}")),
        ("s.toml", SUPPORT),
    ]);
    let shown = PolicyErrors(errors.clone()).to_string();
    assert_eq!(errors.len(), 1, "{shown}");
    assert!(
        shown.contains("d.toml:3: schedule \"support-evenings\" is already defined at ")
            && shown.contains("c.toml:2"),
        "{shown}"
    );

    let lonely = "[[schedule]]\nname = \"empty\"\ntime_zone = \"UTC\"\nowner = \"bob\"\n";
    let errors = errors_for(&[("a.toml", PEOPLE), ("c.toml", lonely)]);
    let shown = PolicyErrors(errors).to_string();
    assert!(
        shown.contains("c.toml:2: schedule \"empty\": needs at least one [[schedule.layer]]"),
        "{shown}"
    );
}

#[test]
fn a_valid_set_builds_domain_values() {
    let dir = dir_with(&[
        ("a.toml", PEOPLE),
        ("b.toml", POLICY),
        ("notes.txt", "ignored"),
    ]);
    let set = load_dir(dir.path()).expect("valid set");
    assert_eq!(
        set.people["alice"].time_zone,
        chrono_tz::America::Los_Angeles
    );
    assert_eq!(
        set.people["alice"].email.as_deref(),
        Some("alice@example.com")
    );
    let policy = &set.policies["engineering"];
    assert_eq!(policy.repeat, Repeat::Times(0));
    assert!(policy.per_severity.is_empty());
    assert_eq!(
        policy.default.levels[1].targets,
        vec![Target::Person("bob".into())]
    );
}

#[test]
fn all_problems_are_reported_together() {
    let bad = r#"
[[person]]
name = "zed"
time_zone = "Nowhere/Land"

[[escalation_policy]]
name = "ops"
levels = [{ targets = ["yuri"], delay = "0s" }]
"#;
    let errors = errors_for(&[
        ("a.toml", PEOPLE),
        ("b.toml", POLICY),
        ("c.toml", bad),
        ("d.toml", "oops ="),
    ]);
    let shown = PolicyErrors(errors.clone()).to_string();
    assert_eq!(errors.len(), 3, "{shown}");
    assert!(
        errors.is_sorted_by_key(|e| (e.file.clone(), e.line)),
        "{shown}"
    );
    assert!(
        shown.contains("c.toml:4: person \"zed\": unknown time zone"),
        "{shown}"
    );
    assert!(
        shown.contains(
            "c.toml:8: level 1 of escalation policy \"ops\": delay must be greater than zero"
        ),
        "{shown}"
    );
    assert!(shown.contains("d.toml:1: "), "{shown}");
    // References are not checked while a file fails to parse, so "yuri" is not reported.
    assert!(!shown.contains("yuri"), "{shown}");
    let fixed = errors_for(&[("a.toml", PEOPLE), ("b.toml", POLICY), ("c.toml", bad)]);
    assert!(
        fixed
            .iter()
            .any(|e| e.message.contains("unknown person \"yuri\"")),
        "{fixed:?}"
    );
}

#[test]
fn a_directory_without_policy_files_is_an_error() {
    let empty = dir_with(&[("README.md", "# nothing")]);
    let errors = load_dir(empty.path())
        .expect_err("no toml files")
        .to_string();
    assert!(errors.contains("no *.toml policy files"), "{errors}");
    let missing = empty.path().join("missing");
    let errors = load_dir(&missing).expect_err("missing dir").to_string();
    assert!(
        errors.contains("missing") && errors.contains("cannot read directory"),
        "{errors}"
    );
}

#[test]
fn response_targets_build_with_the_service_winning_over_the_policy() {
    use crate::domain::response_report::target_for;
    let case = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/policy_cases/valid/response-targets.toml");
    let text = std::fs::read_to_string(case).expect("fixture");
    let set = load_dir(dir_with(&[("a.toml", PEOPLE), ("b.toml", &text)]).path()).expect("valid");
    let service = &set.services["payments"].response_targets;
    let policy = &set.policies["payments-team"].response_targets;
    let minutes = |s| target_for(Some(service), Some(policy), s).num_minutes();
    let got = Severity::ALL.map(minutes);
    assert_eq!(got, [5, 30, 120, 24 * 60]);
    // A service without targets of its own takes the defaults when its policy has none.
    let bare = crate::domain::response_report::ResponseTargets::default();
    assert_eq!(
        target_for(Some(&bare), None, Severity::High).num_minutes(),
        60
    );
}
