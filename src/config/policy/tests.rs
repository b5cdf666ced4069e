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

const PEOPLE: &str = r#"
[[person]]
name = "alice"
time_zone = "America/Los_Angeles"
email = "alice@example.com"

[[person]]
name = "bob"
time_zone = "Europe/Berlin"
"#;

const POLICY: &str = r#"
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
fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
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

#[test]
fn intake_keys_are_checked_with_file_and_line() {
    let files = [
        ("people.toml", PEOPLE),
        (
            "services.toml",
            r#"
[[service]]
name = "web"
escalation_policy = "engineering"
integration_keys = ["short", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]
threshold = { count = 1, within = "1h" }
support_hours = { time_zone = "Mars/Base", hours = [{ weekly = "Mon 09:00" }], defer = ["urgent"] }
[[service.route]]
when = { team = "billing" }
escalation_policy = "billing"
[[service.maintenance]]
from = "2026-03-02T10:00"
to = "2026-03-02T09:00"

[[service]]
name = "api"
escalation_policy = "engineering"
integration_keys = ["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]

[[heartbeat]]
name = "backup"
service = "nope"
interval = "0s"
severity = "p9"

[[escalation_policy]]
name = "engineering"
levels = [{ targets = ["alice"], delay = "15m" }]
"#,
        ),
    ];
    let errors: Vec<String> = errors_for(&files).iter().map(|e| e.to_string()).collect();
    let wanted = [
        "services.toml:5: service \"web\": integration key \"short\" is not 32 letters and digits",
        "services.toml:6: service \"web\": threshold = ",
        "services.toml:7: service \"web\": support_hours: time_zone: \"Mars/Base\"",
        "services.toml:7: service \"web\": support_hours: weekly window: \"Mon 09:00\"",
        "services.toml:7: service \"web\": support_hours: defer: \"urgent\"",
        "services.toml:10: routing rule 1 of service \"web\": unknown escalation policy \"billing\"",
        "services.toml:13: maintenance window 1 of service \"web\": to \"2026-03-02T09:00\" is not after from",
        "services.toml:18: service \"api\": integration key \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\" is already used by service \"web\"",
        "services.toml:22: heartbeat \"backup\": unknown service \"nope\"",
        "services.toml:23: heartbeat \"backup\": interval must be greater than zero",
        "services.toml:24: heartbeat \"backup\": severity: \"p9\"",
    ];
    for w in wanted {
        assert!(
            errors.iter().any(|e| e.contains(w)),
            "missing {w:?} in {errors:#?}"
        );
    }
}

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().expect("RFC 3339 instant")
}

fn local(s: &str) -> NaiveDateTime {
    parse_local(s).expect("local date-time")
}

/// People alice and bob (from `PEOPLE`) plus sam and sofia.
const SUPPORT: &str = r#"
[[person]]
name = "sam"
time_zone = "Europe/Berlin"

[[person]]
name = "sofia"
time_zone = "America/New_York"
"#;

/// A valid schedule; the error table edits one line of it at a time.
const SCHEDULE: &str = r#"[[schedule]]
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
fn each_schedule_problem_is_reported_with_file_line_and_value() {
    // (line of SCHEDULE to replace, its replacement, words the message must contain);
    // the error is expected on the replaced line.
    let table: &[(&str, &str, &[&str])] = &[
        (
            r#"name = "support-evenings""#,
            r#"name = "Support""#,
            &[r#"schedule name "Support""#],
        ),
        (
            r#"time_zone = "America/Los_Angeles""#,
            r#"time_zone = "Pacific""#,
            &[
                r#"schedule "support-evenings""#,
                r#"unknown time zone "Pacific""#,
            ],
        ),
        (
            r#"owner = "alice""#,
            r#"owner = "zoe""#,
            &[r#"schedule "support-evenings": owner: unknown person "zoe""#],
        ),
        (
            r#"owner = "alice""#,
            "fallback = \"zoe\"\nowner = \"alice\"",
            &[r#"schedule "support-evenings": fallback: unknown person "zoe""#],
        ),
        (
            r#"owner = "alice""#,
            "handoff_notifications = \"always\"\nowner = \"alice\"",
            &[
                r#"schedule "support-evenings": handoff_notifications "always" is not one of "incoming", "both", "off""#,
            ],
        ),
        (
            r#"members = ["sam", "sofia"]"#,
            r#"members = ["sam", "zoe"]"#,
            &[r#"layer "evenings" of schedule "support-evenings": unknown person "zoe""#],
        ),
        (
            r#"members = ["sam", "sofia"]"#,
            r#"members = ["sam", "sofia", "sam"]"#,
            &[r#"person "sam" is listed twice"#],
        ),
        (
            r#"members = ["sam", "sofia"]"#,
            r#"members = []"#,
            &[r#"layer "evenings""#, "members must not be empty"],
        ),
        (
            r#"name = "evenings""#,
            r#"name = "base""#,
            &[r#"schedule "support-evenings": layer "base" is already listed"#],
        ),
        (
            r#"shift = "1w""#,
            r#"shift = "0w""#,
            &[r#"shift: "0w" must be at least 1"#],
        ),
        (
            r#"shift = "1w""#,
            r#"shift = "1 week""#,
            &[r#"shift: "1 week" is not a shift length"#, "<n>mo"],
        ),
        (r#"shift = "1w""#, r#"shift = "w""#, &[r#"shift: "w""#]),
        (
            r#"start = "2026-03-02T09:00""#,
            r#"start = "2026-03-02""#,
            &[r#"start: "2026-03-02" is not a local date-time"#],
        ),
        (
            r#"start = "2026-03-02T09:00""#,
            r#"start = "2026-03-02T09:00:00-08:00""#,
            &[r#"start: "2026-03-02T09:00:00-08:00""#, "no offset"],
        ),
        (
            r#"{ daily = "17:00-09:00" }"#,
            r#"{ daily = "09:00-09:00" }"#,
            &[r#"daily restriction: "09:00-09:00" starts and ends at the same time"#],
        ),
        (
            r#"{ daily = "17:00-09:00" }"#,
            r#"{ daily = "5pm-9am" }"#,
            &[r#"daily restriction: "5pm-9am" is not a daily window"#],
        ),
        (
            r#"{ weekly = "Sat 09:00 - Mon 09:00" }"#,
            r#"{ weekly = "Sat 09:00 - Sat 09:00" }"#,
            &[r#"weekly restriction: "Sat 09:00 - Sat 09:00" starts and ends at the same time"#],
        ),
        (
            r#"{ weekly = "Sat 09:00 - Mon 09:00" }"#,
            r#"{ weekly = "Caturday 09:00 - Mon 09:00" }"#,
            &[r#"weekly restriction: "Caturday 09:00 - Mon 09:00" is not a weekly window"#],
        ),
        (
            r#"{ weekly = "Sat 09:00 - Mon 09:00" }"#,
            r#"{ weekly = "Sat 09:00 - Mon 09:00", daily = "17:00-09:00" }"#,
            &["a restriction is either"],
        ),
        (
            r#"person = "sofia""#,
            r#"person = "zoe""#,
            &[r#"override 1 of schedule "support-evenings": unknown person "zoe""#],
        ),
        (
            r#"to = "2026-03-11T09:00""#,
            r#"to = "2026-03-10T17:00""#,
            &[
                "override 1",
                r#"to "2026-03-10T17:00" is not after from "2026-03-10T17:00""#,
            ],
        ),
        (
            r#"to = "2026-03-11T09:00""#,
            r#"to = "tomorrow""#,
            &["override 1", r#"to: "tomorrow" is not a local date-time"#],
        ),
        (
            r#"to = "2026-03-12T05:00:00-07:00""#,
            r#"to = "2026-03-12T01:00:00+00:00""#,
            &[
                "override 2",
                r#"to "2026-03-12T01:00:00+00:00" is not after from "2026-03-12T01:00:00Z""#,
            ],
        ),
        (
            r#"reason = "swap with sam""#,
            r#"note = "swap with sam""#,
            &["unknown field `note`"],
        ),
    ];
    for (from, to, wanted) in table {
        let (line, _) = SCHEDULE
            .lines()
            .enumerate()
            .find(|(_, l)| l.contains(from))
            .unwrap_or_else(|| panic!("{from:?} is not in SCHEDULE"));
        let line = line + 1;
        assert_eq!(
            SCHEDULE.matches(from).count(),
            1,
            "{from} is not unique in SCHEDULE"
        );
        let text = SCHEDULE.replace(from, to);
        let errors = errors_for(&[
            ("a.toml", PEOPLE),
            ("b.toml", POLICY),
            ("c.toml", &text),
            ("s.toml", SUPPORT),
        ]);
        let shown = PolicyErrors(errors.clone()).to_string();
        assert_eq!(
            errors.len(),
            1,
            "{to}
{shown}"
        );
        assert!(errors[0].file.ends_with("c.toml"), "{shown}");
        assert!(
            shown.contains(&format!("c.toml:{line}: ")),
            "{to}
{shown}"
        );
        for want in *wanted {
            assert!(
                shown.contains(want),
                "{shown}
lacks {want:?}"
            );
        }
    }
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
fn the_gap_report_names_each_schedule_in_use_and_its_first_gap() {
    // Not paged by any policy: its gaps cannot leave a page unanswered.
    let dir = dir_with(&[
        ("a.toml", PEOPLE),
        ("b.toml", POLICY),
        ("c.toml", SUPPORT),
        ("d.toml", SCHEDULE),
    ]);
    let set = load_dir(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert!(gap_report(&set, utc("2026-01-01T00:00:00Z")).is_empty());

    let policy = POLICY.replace(
        r#"{ targets = ["bob"], delay = "30m" }"#,
        r#"{ schedules = ["support-evenings"], delay = "30m" }"#,
    );
    let dir = dir_with(&[
        ("a.toml", PEOPLE),
        ("b.toml", &policy),
        ("c.toml", SUPPORT),
        ("d.toml", SCHEDULE),
    ]);
    let mut set = load_dir(dir.path()).unwrap_or_else(|e| {
        panic!(
            "valid set:
{e}"
        )
    });
    // Before any rotation starts, the whole horizon is one gap.
    let report = gap_report(&set, utc("2026-01-01T00:00:00Z"));
    assert_eq!(
        report,
        [
            "schedule \"support-evenings\": 1 gap(s) in the next 28 days, first Wed 2025-12-31 16:00 PST–Wed 2026-01-28 16:00 PST"
        ]
    );
    let report = gap_report(&set, utc("2026-04-01T00:00:00Z"));
    assert_eq!(
        report,
        ["schedule \"support-evenings\": no gaps in the next 28 days"]
    );
    if let Some(def) = set.schedules.get_mut("support-evenings") {
        def.schedule.layers.remove(0);
    }
    let report = gap_report(&set, utc("2026-04-01T16:00:00Z"));
    assert!(
        report[0].contains(
            "gap(s) in the next 28 days, first Wed 2026-04-01 09:00 PDT–Wed 2026-04-01 17:00 PDT"
        ),
        "{report:?}"
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
fn each_problem_is_reported_with_file_line_and_name() {
    // (extra file contents, file name, line, words the message must contain)
    let table: &[(&str, usize, &[&str])] = &[
        (
            "[[person]]\nname = \"alice\"\ntime_zone = \"UTC\"\n",
            2,
            &["person \"alice\"", "already defined at", "a.toml:3"],
        ),
        (
            "[[person]]\nname = \"zed\"\ntime_zone = \"Mars/Olympus\"\n",
            3,
            &["zed", "unknown time zone \"Mars/Olympus\""],
        ),
        (
            "[[person]]\nname = \"Zed\"\ntime_zone = \"UTC\"\n",
            2,
            &["person name \"Zed\""],
        ),
        (
            "[[person]]\nname = \"zed\"\ntime_zone = \"UTC\"\nemail = \"zed.example.com\"\n",
            4,
            &["email \"zed.example.com\""],
        ),
        (
            "[[person]]\nname = \"zed\"\ntime_zone = \"UTC\"\nsms = \"555-1234\"\n",
            4,
            &["sms \"555-1234\"", "E.164"],
        ),
        (
            "[[person]]\nname = \"zed\"\ntime_zone = \"UTC\"\nemail = \"z@x.io\"\ncontact_rules = [{ method = \"fax\", after = \"0m\" }]\n",
            5,
            &["person \"zed\": contact_rules: unknown method \"fax\""],
        ),
        (
            "[[person]]\nname = \"zed\"\ntime_zone = \"UTC\"\nemail = \"z@x.io\"\ncontact_rules = [{ method = \"sms\", after = \"0m\" }]\n",
            5,
            &["contact_rules: method \"sms\" but the person has no sms address"],
        ),
        (
            "[[person]]\nname = \"zed\"\ntime_zone = \"UTC\"\nemail = \"z@x.io\"\nlow_contact_rules = [{ method = \"email\", after = \"later\" }]\n",
            5,
            &["low_contact_rules: after \"later\" is not a duration"],
        ),
        (
            "[[person]]\nname = \"zed\"\ntime_zone = \"UTC\"\nemail = \"z@x.io\"\ncontact_rules = [\n  { method = \"email\", after = \"0m\" },\n  { method = \"email\", after = \"1m\" },\n]\n",
            7,
            &["method \"email\" is listed twice"],
        ),
        (
            "[[service]]\nname = \"search\"\nescalation_policy = \"nope\"\n",
            3,
            &["service \"search\"", "unknown escalation policy \"nope\""],
        ),
        (
            "[[service]]\nname = \"checkout-api\"\nescalation_policy = \"engineering\"\n",
            2,
            &["service \"checkout-api\" is already defined at", "b.toml:3"],
        ),
        (
            "[[escalation_policy]]\nname = \"p2\"\nlevels = [\n  { targets = [\"alice\"], delay = \"5m\" },\n  { targets = [\"zoe\"], delay = \"5m\" },\n]\n",
            5,
            &[r#"level 2 of escalation policy "p2": unknown person "zoe""#],
        ),
        (
            "[[escalation_policy]]\nname = \"p2\"\nlevels = [{ targets = [\"alice\", \"alice\"], delay = \"5m\" }]\n",
            3,
            &["person \"alice\" is listed twice"],
        ),
        (
            "[[escalation_policy]]\nname = \"p2\"\nlevels = [{ targets = [\"alice\"], delay = \"0s\" }]\n",
            3,
            &["level 1 of escalation policy \"p2\": delay must be greater than zero"],
        ),
        (
            "[[escalation_policy]]\nname = \"p2\"\nlevels = [{ targets = [\"alice\"], delay = \"soon\" }]\n",
            3,
            &["delay", "\"soon\""],
        ),
        (
            "[[escalation_policy]]\nname = \"p2\"\nlevels = [{ targets = [], delay = \"5m\" }]\n",
            3,
            &["targets must not be empty"],
        ),
        (
            "[[escalation_policy]]\nname = \"p2\"\nlevels = []\n",
            3,
            &["escalation policy \"p2\": levels must not be empty"],
        ),
        (
            "[[escalation_policy]]\nname = \"p2\"\nrepeat = -1\nlevels = [{ targets = [\"alice\"], delay = \"5m\" }]\n",
            3,
            &["repeat = -1", "until_acknowledged"],
        ),
        (
            "[[escalation_policy]]\nname = \"p2\"\nrepeat = \"forever\"\nlevels = [{ targets = [\"alice\"], delay = \"5m\" }]\n",
            3,
            &["repeat = \"forever\""],
        ),
        (
            "[[escalation_policy]]\nname = \"p2\"\nack_timeout = \"0m\"\nlevels = [{ targets = [\"alice\"], delay = \"5m\" }]\n",
            3,
            &["ack_timeout must be greater than zero"],
        ),
        (
            "[[escalation_policy]]\nname = \"p2\"\nlevels = [{ targets = [\"alice\"], delay = \"5m\" }]\n[escalation_policy.critical]\nlevels = [{ targets = [\"zoe\"], delay = \"5m\" }]\n",
            5,
            &[
                r#"level 1 of the critical timeline of escalation policy "p2": unknown person "zoe""#,
            ],
        ),
        (
            "[[escalation_policy]]\nname = \"p2\"\nlevels = [{ targets = [\"alice\"], delay = \"5m\" }]\n[escalation_policy.urgent]\nlevels = []\n",
            4,
            &["unknown field `urgent`"],
        ),
        (
            "[[escalation_policy]]\nname = \"p2\"\nlevels = [{ targets = [\"alice\"], delay = \"5m\" }]\n[escalation_policy.p0]\nlevels = []\n",
            4,
            &["unknown field `p0`", "[escalation_policy.critical]"],
        ),
        (
            "[[person]]\nname = \"zed\"\ntime_zone = \"UTC\"\nphone = \"+15550000000\"\n",
            4,
            &["unknown field `phone`"],
        ),
        (
            "[[persons]]\nname = \"zed\"\n",
            1,
            &["unknown field `persons`"],
        ),
        ("\n[[person]]\nname = \"zed\n", 3, &[]),
    ];
    for (text, line, wanted) in table {
        let errors = errors_for(&[("a.toml", PEOPLE), ("b.toml", POLICY), ("c.toml", text)]);
        let shown = errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(errors.len(), 1, "{text}\n{shown}");
        let error = &errors[0];
        assert!(error.file.ends_with("c.toml"), "{shown}");
        assert_eq!(error.line, Some(*line), "{shown}");
        assert!(shown.contains(&format!("c.toml:{line}: ")), "{shown}");
        for want in *wanted {
            assert!(shown.contains(want), "{shown}\nlacks {want:?}");
        }
    }
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
