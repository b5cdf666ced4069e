//! The replay on small sets built in code: figures on both sides, incidents following the
//! simulated on-call person, and a busy simulated shift moving a later turn.

use std::time::Duration as StdDuration;

use chrono::{Duration, NaiveDate};

use super::*;
use crate::domain::burnout::BurnoutPolicy;
use crate::domain::policy::{HandoffNotify, ScheduleDef};
use crate::domain::rotation::{Rotation, ShiftLength};
use crate::domain::schedule::{Layer, Schedule};
use crate::domain::{EscalationPolicy, Level, Person, Repeat, Timeline};

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn person(name: &str) -> (String, Person) {
    let p = Person {
        name: name.into(),
        time_zone: chrono_tz::UTC,
        email: None,
        sms: None,
        slack: None,
        contact_rules: Vec::new(),
        low_contact_rules: Vec::new(),
    };
    (name.into(), p)
}

fn policy(name: &str, target: Target) -> (String, EscalationPolicy) {
    let p = EscalationPolicy {
        name: name.into(),
        default: Timeline {
            levels: vec![Level {
                targets: vec![target],
                delay: StdDuration::from_secs(1800),
            }],
        },
        per_severity: HashMap::new(),
        repeat: Repeat::Times(0),
        ack_timeout: None,
        response_targets: Default::default(),
    };
    (name.into(), p)
}

/// Schedule `eng` (UTC): one layer of `members` taking `length` turns from Monday
/// 2026-07-06 09:00, paged by policy `eng`; policy `direct` pages dana only.
fn set(members: &[&str], length: ShiftLength, evening: bool) -> PolicySet {
    let start = NaiveDate::from_ymd_opt(2026, 7, 6)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap();
    let layer = Layer {
        name: "main".into(),
        rotation: Rotation {
            zone: chrono_tz::UTC,
            start,
            length,
            members: members.iter().map(|m| m.to_string()).collect(),
        },
        restrictions: Vec::new(),
        evening,
        assigned: Default::default(),
    };
    let def = ScheduleDef {
        schedule: Schedule {
            name: "eng".into(),
            zone: chrono_tz::UTC,
            layers: vec![layer],
            overrides: Vec::new(),
        },
        owner: "dana".into(),
        fallback: None,
        handoff: HandoffNotify {
            incoming: false,
            outgoing: false,
        },
        burnout: Some(BurnoutPolicy::default()),
        override_notes: Default::default(),
    };
    PolicySet {
        people: ["ann", "bob", "cat", "dana"].map(person).into(),
        policies: [
            policy("eng", Target::Schedule("eng".into())),
            policy("direct", Target::Person("dana".into())),
        ]
        .into(),
        schedules: [("eng".to_string(), def)].into(),
        ..Default::default()
    }
}

fn incident(id: i64, policy: &str, at: &str, minutes: i64) -> RecordedIncident {
    let at = utc(at);
    RecordedIncident {
        id,
        service: "web".into(),
        escalation_policy: policy.into(),
        severity: Severity::High,
        created_at: at,
        acknowledged_at: Some(at + Duration::minutes(minutes)),
        resolved_at: None,
    }
}

fn row(person: &str, week: i64, evening: bool) -> LedgerEntry {
    let start = utc("2026-07-06T09:00:00Z") + Duration::weeks(week);
    LedgerEntry {
        schedule: "eng".into(),
        layer: "main".into(),
        turn: Some(week),
        start,
        end: start + Duration::weeks(1),
        person: person.into(),
        candidate: person.into(),
        reason: format!("{person}'s turn"),
        skipped: Vec::new(),
        flagged: false,
        nobody_eligible: false,
        rested: false,
        evening,
        incidents: 0,
    }
}

fn sent(person: &str, i: &RecordedIncident) -> DeliveredPage {
    DeliveredPage {
        person: person.into(),
        incident_id: i.id,
        sent_at: i.created_at,
        acknowledged_at: i.acknowledged_at,
        resolved_at: i.resolved_at,
    }
}

/// (weeks, evening weeks, incidents, off-hours pages, call-in hours)
fn figures(f: &Figures) -> (f64, f64, u32, u32, u32) {
    (
        f.weeks,
        f.evening_weeks,
        f.incidents,
        f.off_hours_pages,
        f.call_in_hours,
    )
}

#[test]
fn incidents_are_replayed_onto_whoever_the_new_rotation_puts_on_call() {
    // The files now rotate ann → bob → cat; the ledger recorded bob, ann, cat, bob.
    let set = set(&["ann", "bob", "cat"], ShiftLength::Weeks(1), true);
    let quiet = incident(1, "eng", "2026-07-07T10:00:00Z", 30); // Tue, working hours, 1 h
    let night = incident(2, "eng", "2026-07-18T03:00:00Z", 90); // Sat night, 2 h
    let direct = incident(3, "direct", "2026-07-21T12:00:00Z", 10); // not a schedule page
    let recorded = Recorded {
        incidents: vec![quiet.clone(), night.clone(), direct.clone()],
        ledger: vec![
            row("bob", 0, true),
            row("ann", 1, true),
            row("cat", 2, true),
            row("bob", 3, true),
        ],
        pages: vec![
            sent("bob", &quiet),
            sent("ann", &night),
            sent("dana", &direct),
        ],
        ..Default::default()
    };
    let (from, to) = (utc("2026-07-06T09:00:00Z"), utc("2026-08-03T09:00:00Z"));
    let report = simulate(&set, &recorded, from, to, to);
    assert_eq!(report.schedules, ["eng"]);
    assert!(report.decisions.is_empty(), "{:?}", report.decisions);
    let table = [
        // person, simulated, actual
        ("ann", (2.0, 2.0, 1, 0, 1), (1.0, 1.0, 1, 1, 2)),
        ("bob", (1.0, 1.0, 1, 1, 2), (2.0, 2.0, 1, 0, 1)),
        ("cat", (1.0, 1.0, 0, 0, 0), (1.0, 1.0, 0, 0, 0)),
    ];
    let got: Vec<_> = (report.people.iter())
        .map(|p| (p.person.as_str(), figures(&p.simulated), figures(&p.actual)))
        .collect();
    assert_eq!(got, table);
}

#[test]
fn a_busy_simulated_shift_moves_a_later_turn_and_the_decision_says_who_actually_took_it() {
    // Daily turns ann, bob; five incidents on ann's first day (more than 3) → her next turn
    // (two days later, well within any rest) goes to bob.
    let set = set(&["ann", "bob"], ShiftLength::Days(1), false);
    let incidents: Vec<_> = (1..=5)
        .map(|k| incident(k, "eng", &format!("2026-07-06T1{k}:00:00Z"), 5))
        .collect();
    let day = |person: &str, k: i64| {
        let mut r = row(person, 0, false);
        r.turn = Some(k);
        r.start = utc("2026-07-06T09:00:00Z") + Duration::days(k);
        r.end = r.start + Duration::days(1);
        r
    };
    let recorded = Recorded {
        incidents,
        ledger: (0..4)
            .map(|k| day(if k % 2 == 0 { "ann" } else { "bob" }, k))
            .collect(),
        ..Default::default()
    };
    let (from, to) = (utc("2026-07-06T09:00:00Z"), utc("2026-07-10T09:00:00Z"));
    let report = simulate(&set, &recorded, from, to, to);
    let moved = (report.decisions.iter())
        .find(|d| d.start == utc("2026-07-08T09:00:00Z"))
        .expect("ann's turn on 8 July is a limit decision");
    assert_eq!(
        (moved.candidate.as_str(), moved.person.as_str()),
        ("ann", "bob")
    );
    assert!(moved.reason.contains("rest"), "{}", moved.reason);
    assert_eq!(moved.actual.as_deref(), Some("ann"));
    let ann = &report.people[0];
    assert_eq!((ann.person.as_str(), ann.simulated.incidents), ("ann", 5));
    assert_eq!(ann.simulated.limit_skips, 1);
    assert_eq!((ann.actual.incidents, ann.actual.limit_skips), (0, 0));
}

#[test]
fn history_before_the_range_counts_toward_the_quarter() {
    // ann already took 4 weeks of Q3 before the range (the default limit is 4), so her turn
    // in it goes to the next member.
    let set = set(&["ann", "bob", "cat"], ShiftLength::Weeks(1), false);
    let mut ledger: Vec<_> = (0..4).map(|k| row("ann", k, false)).collect();
    for r in &mut ledger {
        r.turn = None; // overrides: they do not move the rotation's turns
        r.layer = String::new();
    }
    let recorded = Recorded {
        ledger,
        ..Default::default()
    };
    // Week 6 (17 Aug) is ann's turn; the range starts at week 5.
    let (from, to) = (utc("2026-08-10T09:00:00Z"), utc("2026-08-24T09:00:00Z"));
    let report = simulate(&set, &recorded, from, to, to);
    let d = &report.decisions;
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(
        (d[0].candidate.as_str(), d[0].start),
        ("ann", utc("2026-08-17T09:00:00Z"))
    );
    assert_ne!(d[0].person, "ann");
    assert!(d[0].reason.contains("2026-Q3"), "{}", d[0].reason);
}

#[test]
fn an_empty_database_gives_the_plain_rotation_and_no_actual_figures() {
    let set = set(&["ann", "bob"], ShiftLength::Weeks(1), false);
    let (from, to) = (utc("2026-07-06T09:00:00Z"), utc("2026-07-20T09:00:00Z"));
    let report = simulate(&set, &Recorded::default(), from, to, to);
    let got: Vec<_> = (report.people.iter())
        .map(|p| (p.person.as_str(), p.simulated.weeks, p.actual.weeks))
        .collect();
    assert_eq!(got, [("ann", 1.0, 0.0), ("bob", 1.0, 0.0)]);
}

#[test]
fn an_override_made_through_the_api_takes_the_incidents_of_its_hours() {
    // Cat covered Tuesday 7 July (ann's week); the incident that day is hers in the replay.
    let set = set(&["ann", "bob", "cat"], ShiftLength::Weeks(1), false);
    let during = incident(1, "eng", "2026-07-07T10:00:00Z", 30);
    let after = incident(2, "eng", "2026-07-08T10:00:00Z", 30);
    let recorded = Recorded {
        incidents: vec![during, after],
        overrides: vec![crate::domain::ScheduleOverride {
            id: 1,
            schedule: "eng".into(),
            person: "cat".into(),
            start: utc("2026-07-07T00:00:00Z"),
            end: utc("2026-07-08T00:00:00Z"),
            reason: "swap".into(),
            created_by: "dana".into(),
            created_at: utc("2026-07-01T00:00:00Z"),
            removed_by: None,
            removed_at: None,
        }],
        ..Default::default()
    };
    let (from, to) = (utc("2026-07-06T09:00:00Z"), utc("2026-07-13T09:00:00Z"));
    let report = simulate(&set, &recorded, from, to, to);
    let incidents: Vec<_> = (report.people.iter())
        .map(|p| (p.person.as_str(), p.simulated.incidents))
        .collect();
    assert_eq!(incidents, [("ann", 1), ("cat", 1)]);
}

#[test]
fn the_text_aligns_each_column_and_the_json_names_both_sides() {
    let set = set(&["ann", "bob"], ShiftLength::Days(1), false);
    let incidents: Vec<_> = (1..=5)
        .map(|k| incident(k, "eng", &format!("2026-07-06T1{k}:00:00Z"), 5))
        .collect();
    let recorded = Recorded {
        incidents,
        ..Default::default()
    };
    let (from, to) = (utc("2026-07-06T09:00:00Z"), utc("2026-07-10T09:00:00Z"));
    let report = simulate(&set, &recorded, from, to, to);
    let text = to_text(&report);
    let lines: Vec<&str> = text.lines().collect();
    // Header and rows: every column ends at the same place (right-aligned figures).
    let ends = |line: &str| -> Vec<usize> {
        let mut out = Vec::new();
        let b = line.as_bytes();
        for i in 0..b.len() {
            // A cell ends before two spaces or the line's end ("EVENING WEEKS" is one cell).
            let gap = i + 2 < b.len() && b[i + 1] == b' ' && b[i + 2] == b' ';
            if b[i] != b' ' && (i + 1 == b.len() || gap) {
                out.push(line[..=i].chars().count());
            }
        }
        out
    };
    let header = ends(lines[1]);
    assert_eq!(
        lines[1]
            .split("  ")
            .filter(|c| !c.trim().is_empty())
            .count(),
        13
    );
    for row in &lines[2..4] {
        assert_eq!(ends(row)[1..], header[1..], "{text}");
    }
    assert!(lines[2].starts_with("ann "), "{text}");
    assert!(text.contains("1 limit decision(s):"), "{text}");
    assert!(
        text.contains("eng layer main Wed 2026-07-08 09:00 UTC"),
        "{text}"
    );
    let json = to_json(&report);
    assert_eq!(json["people"][0]["simulated"]["incidents"], 5, "{json}");
    assert_eq!(json["people"][0]["actual"]["incidents"], 0, "{json}");
    assert_eq!(
        json["decisions"][0]["start"], "2026-07-08T09:00:00Z",
        "{json}"
    );
    assert_eq!(
        json["decisions"][0]["actual"],
        serde_json::Value::Null,
        "{json}"
    );
}
