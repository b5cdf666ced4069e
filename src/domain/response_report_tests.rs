//! Table tests of the response-time report's rules.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::domain::{IncidentState, Position};

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// An incident opened at `at` (all on Tuesday 2026-03-03, UTC), acknowledged and resolved
/// that many minutes later.
fn inc(
    id: i64,
    service: &str,
    sev: Severity,
    at: &str,
    ack: Option<i64>,
    res: Option<i64>,
) -> Incident {
    let created = utc(at);
    let after = |m: i64| created + Duration::minutes(m);
    Incident {
        id,
        service: service.into(),
        dedup_key: "k".into(),
        severity: sev,
        summary: String::new(),
        source: String::new(),
        details: BTreeMap::new(),
        links: Vec::new(),
        state: if res.is_some() {
            IncidentState::Resolved
        } else if ack.is_some() {
            IncidentState::Acknowledged
        } else {
            IncidentState::Triggered
        },
        escalation_policy: "eng".into(),
        pos: Position::default(),
        alert_count: 1,
        created_at: created,
        last_seen_at: created,
        acknowledged_at: ack.map(after),
        acknowledged_by: ack.map(|_| "x".into()),
        resolved_at: res.map(after),
        resolved_by: res.map(|_| "x".into()),
        resolve_note: None,
        next_action_at: None,
        last_summary: None,
        last_details: None,
        postmortem_required: false,
        postmortem_url: None,
    }
}

fn ev(
    i: &Incident,
    kind: EventKind,
    minutes: i64,
    level: Option<u32>,
    person: Option<&str>,
) -> Event {
    Event {
        id: 0,
        incident_id: i.id,
        service: i.service.clone(),
        kind,
        at: i.created_at + Duration::minutes(minutes),
        level,
        person: person.map(String::from),
        channel: None,
        actor: None,
        message: String::new(),
    }
}

#[test]
fn targets_come_from_the_service_then_the_policy_then_the_defaults() {
    let m = std::time::Duration::from_secs(60);
    let service = ResponseTargets {
        critical: Some(5 * m),
        ..Default::default()
    };
    let policy = ResponseTargets {
        critical: Some(10 * m),
        high: Some(30 * m),
        ..Default::default()
    };
    let table = [
        (
            Some(&service),
            Some(&policy),
            Severity::Critical,
            5,
            TargetSource::Service,
        ),
        (
            Some(&service),
            Some(&policy),
            Severity::High,
            30,
            TargetSource::Policy,
        ),
        (
            Some(&service),
            Some(&policy),
            Severity::Medium,
            240,
            TargetSource::Default,
        ),
        (
            None,
            Some(&policy),
            Severity::Critical,
            10,
            TargetSource::Policy,
        ),
        (None, None, Severity::Critical, 15, TargetSource::Default),
        (None, None, Severity::High, 60, TargetSource::Default),
        (None, None, Severity::Low, 24 * 60, TargetSource::Default),
    ];
    for (s, p, sev, minutes, source) in table {
        assert_eq!(target_for(s, p, sev), Duration::minutes(minutes), "{sev}");
        assert_eq!(
            target_with_source(s, p, sev),
            (Duration::minutes(minutes), source),
            "{sev}"
        );
    }
}

#[test]
fn percentiles_are_nearest_rank() {
    let d = |v: &[i64]| v.iter().map(|&s| Duration::seconds(s)).collect::<Vec<_>>();
    let table: [(&[i64], usize, Option<i64>); 6] = [
        (&[], 50, None),
        (&[7], 90, Some(7)),
        (&[1, 2], 50, Some(1)),
        (&[1, 2, 3], 50, Some(2)),
        (&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90, Some(9)),
        (&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 90, Some(10)),
    ];
    for (values, pct, want) in table {
        assert_eq!(
            nearest_rank(&d(values), pct),
            want.map(Duration::seconds),
            "{values:?} p{pct}"
        );
    }
}

/// Minutes to acknowledge and to resolve, when it opened, and the verdict: `Some(None)` met,
/// `Some(Some(late))` breached by that many minutes, `None` pending.
type Case = (Option<i64>, Option<i64>, &'static str, Option<Option<i64>>);

#[test]
fn the_sla_judges_the_first_answer_against_the_target() {
    let now = utc("2026-03-03T23:00:00Z");
    let (from, to) = (utc("2026-03-03T00:00:00Z"), utc("2026-03-04T00:00:00Z"));
    // (ack, resolve, minutes since opening at `now`) → Some(late minutes) / met / pending.
    let table: [Case; 6] = [
        (Some(15), Some(30), "2026-03-03T10:00:00Z", Some(None)), // exactly on target: met
        (Some(16), None, "2026-03-03T10:00:00Z", Some(Some(1))),
        (None, Some(10), "2026-03-03T10:00:00Z", Some(None)), // resolved unacknowledged in time
        (None, Some(20), "2026-03-03T10:00:00Z", Some(Some(5))),
        (None, None, "2026-03-03T22:50:00Z", None), // 10 minutes open: pending
        (None, None, "2026-03-03T22:00:00Z", Some(Some(45))), // open past the target
    ];
    for (ack, res, at, want) in table {
        let i = inc(1, "api", Severity::Critical, at, ack, res);
        let s = [Subject {
            incident: &i,
            events: &[],
            target: Duration::minutes(15),
        }];
        let r = response_report(&s, GroupBy::Service, &HashMap::new(), from, to, now);
        let got = match (r.total.sla_met, r.total.sla_breached) {
            (1, 0) => Some(None),
            (0, 1) => Some(Some(r.breaches[0].late_by.num_minutes())),
            (0, 0) => None,
            other => panic!("{other:?}"),
        };
        assert_eq!(got, want, "ack {ack:?} resolve {res:?} at {at}");
        if let Some(b) = r.breaches.first() {
            assert_eq!(b.answered, ack.is_some() || res.is_some());
        }
    }
}

#[test]
fn groups_count_escalations_retriggers_off_hours_and_time_to_answer() {
    let (from, to) = (utc("2026-03-03T00:00:00Z"), utc("2026-03-04T00:00:00Z"));
    // 1: resolved before the range; 2 comes back 23 h later (a re-trigger).
    let mut before = inc(
        1,
        "api",
        Severity::High,
        "2026-03-02T10:00:00Z",
        Some(5),
        Some(60),
    );
    before.dedup_key = "disk".into();
    let mut back = inc(
        2,
        "api",
        Severity::High,
        "2026-03-03T10:00:00Z",
        Some(10),
        Some(40),
    );
    back.dedup_key = "disk".into();
    // 3: escalated to level 2 and acknowledged there after 40 minutes (a breach of 30m);
    // opened 20:00 UTC, which is off hours for bob in Berlin (21:00).
    let slow = inc(
        3,
        "api",
        Severity::High,
        "2026-03-03T20:00:00Z",
        Some(40),
        Some(100),
    );
    // 4: another service, 26 h after 1 would not count; a different key anyway.
    let web = inc(
        4,
        "web",
        Severity::Critical,
        "2026-03-03T12:00:00Z",
        Some(2),
        Some(20),
    );
    // 5: outside the range.
    let late = inc(
        5,
        "web",
        Severity::Critical,
        "2026-03-04T00:00:00Z",
        None,
        None,
    );
    let e_back = [ev(&back, EventKind::Delivered, 0, Some(1), Some("ann"))];
    let e_slow = [
        ev(&slow, EventKind::DeliveryFailed, 0, Some(1), Some("bob")),
        ev(&slow, EventKind::Escalated, 30, Some(2), None),
        ev(&slow, EventKind::Delivered, 30, Some(2), Some("cat")),
        ev(&slow, EventKind::Acknowledged, 40, None, None),
    ];
    let e_web = [ev(&web, EventKind::Delivered, 0, Some(1), Some("ann"))];
    let target = Duration::minutes(30);
    let subjects: Vec<Subject> = [
        (&before, &[][..]),
        (&back, &e_back[..]),
        (&slow, &e_slow[..]),
        (&web, &e_web[..]),
        (&late, &[][..]),
    ]
    .into_iter()
    .map(|(incident, events)| Subject {
        incident,
        events,
        target,
    })
    .collect();
    let zones = HashMap::from([
        ("ann".to_string(), chrono_tz::UTC),
        ("bob".to_string(), chrono_tz::Europe::Berlin),
    ]);
    let now = utc("2026-03-05T00:00:00Z");
    let by = |g| response_report(&subjects, g, &zones, from, to, now);

    let r = by(GroupBy::Service);
    let keys: Vec<_> = r.groups.iter().map(|g| g.key.as_str()).collect();
    assert_eq!(keys, ["api", "web"]);
    let api = &r.groups[0];
    assert_eq!((api.incidents, api.acknowledged, api.resolved), (2, 2, 2));
    assert_eq!((api.escalated, api.retriggered, api.off_hours), (1, 1, 1));
    assert_eq!((api.sla_met, api.sla_breached), (1, 1));
    // Acks after 10 and 40 minutes: nearest-rank median 10, p90 40.
    let m = |v: i64| Some(Duration::minutes(v));
    assert_eq!((api.mtta_median, api.mtta_p90), (m(10), m(40)));
    assert_eq!((api.mttr_median, api.mttr_p90), (m(40), m(100)));
    assert_eq!(api.escalation_rate(), 0.5);
    assert_eq!(api.sla_compliance(), Some(0.5));
    assert_eq!(r.total.incidents, 3);
    assert_eq!(r.total.key, "all");
    assert_eq!(
        r.breaches,
        [Breach {
            incident_id: 3,
            service: "api".into(),
            severity: Severity::High,
            created_at: slow.created_at,
            first_paged: Some("bob".into()),
            target,
            late_by: Duration::minutes(10),
            answered: true,
        }]
    );

    let r = by(GroupBy::Severity);
    let keys: Vec<_> = r
        .groups
        .iter()
        .map(|g| (g.key.as_str(), g.incidents))
        .collect();
    assert_eq!(keys, [("critical", 1), ("high", 2)]);
    let r = by(GroupBy::Person);
    let keys: Vec<_> = r
        .groups
        .iter()
        .map(|g| (g.key.as_str(), g.incidents))
        .collect();
    assert_eq!(keys, [("ann", 2), ("bob", 1)]);
    let r = by(GroupBy::Policy);
    assert_eq!(r.groups.len(), 1);
    assert_eq!(
        (r.groups[0].key.as_str(), r.groups[0].incidents),
        ("eng", 3)
    );
}

#[test]
fn an_empty_range_has_no_groups_and_no_compliance() {
    let now = utc("2026-03-05T00:00:00Z");
    let r = response_report(&[], GroupBy::Person, &HashMap::new(), now, now, now);
    assert!(r.groups.is_empty());
    assert_eq!(r.total.incidents, 0);
    assert_eq!(r.total.sla_compliance(), None);
    assert_eq!(r.total.escalation_rate(), 0.0);
}

#[test]
fn group_names_round_trip() {
    for g in GroupBy::ALL {
        assert_eq!(GroupBy::parse(g.as_str()), Some(g));
    }
    assert_eq!(GroupBy::parse("team"), None);
}

#[test]
fn the_essential_events_give_the_same_figures_as_the_whole_timeline() {
    let (from, to) = (utc("2026-03-03T00:00:00Z"), utc("2026-03-04T00:00:00Z"));
    let i = inc(
        1,
        "api",
        Severity::High,
        "2026-03-03T10:00:00Z",
        Some(40),
        None,
    );
    let timeline = [
        ev(&i, EventKind::Triggered, 0, None, None),
        ev(&i, EventKind::Paged, 0, Some(1), None),
        ev(&i, EventKind::DeliveryFailed, 0, Some(1), Some("bob")),
        ev(&i, EventKind::Delivered, 1, Some(1), Some("ann")),
        ev(&i, EventKind::Escalated, 30, Some(2), None),
        ev(&i, EventKind::Paged, 30, Some(2), None),
        ev(&i, EventKind::Acknowledged, 40, None, None),
        ev(&i, EventKind::Acknowledged, 50, None, None),
    ];
    let kept = essentials(&timeline);
    let kinds: Vec<_> = kept.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::DeliveryFailed,
            EventKind::Escalated,
            EventKind::Acknowledged
        ]
    );
    let zones = HashMap::new();
    let now = utc("2026-03-05T00:00:00Z");
    let report = |events: &[Event]| {
        let s = [Subject {
            incident: &i,
            events,
            target: Duration::minutes(30),
        }];
        response_report(&s, GroupBy::Person, &zones, from, to, now)
    };
    assert_eq!(report(&kept), report(&timeline));
    assert_eq!(report(&kept).groups[0].key, "bob");
    assert_eq!(report(&kept).total.escalated, 1);
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever the incidents, every one in the range lands in exactly one row, is
        /// judged at most once, and a percentile is always an observed time.
        #[test]
        fn rows_partition_the_incidents_and_percentiles_are_observed(
            specs in proptest::collection::vec(
                (0i64..48 * 60, proptest::option::of(0i64..300), proptest::option::of(0i64..600), 0usize..4, 0usize..3),
                0..30,
            ),
            by in 0usize..4,
        ) {
            let from = utc("2026-03-03T00:00:00Z");
            let incidents: Vec<Incident> = specs
                .iter()
                .enumerate()
                .map(|(n, &(at, ack, res, sev, svc))| {
                    let at = (from - Duration::hours(12) + Duration::minutes(at)).to_rfc3339();
                    let mut i = inc(n as i64 + 1, ["a", "b", "c"][svc], Severity::ALL[sev], &at, ack, res);
                    i.dedup_key = format!("k{}", n % 3);
                    i
                })
                .collect();
            let subjects: Vec<Subject> = incidents
                .iter()
                .map(|incident| Subject { incident, events: &[], target: Duration::minutes(30) })
                .collect();
            let to = from + Duration::days(1);
            let r = response_report(&subjects, GroupBy::ALL[by], &HashMap::new(), from, to, to);
            let in_range = incidents.iter().filter(|i| from <= i.created_at && i.created_at < to).count();
            prop_assert_eq!(r.total.incidents as usize, in_range);
            prop_assert_eq!(r.groups.iter().map(|g| g.incidents).sum::<u32>(), r.total.incidents);
            prop_assert!(r.total.sla_met + r.total.sla_breached <= r.total.incidents);
            prop_assert_eq!(r.breaches.len() as u32, r.total.sla_breached);
            let acks: Vec<Duration> = incidents
                .iter()
                .filter(|i| from <= i.created_at && i.created_at < to)
                .filter_map(|i| Some(i.acknowledged_at? - i.created_at))
                .collect();
            for p in [r.total.mtta_median, r.total.mtta_p90].into_iter().flatten() {
                prop_assert!(acks.contains(&p));
            }
            prop_assert_eq!(r.total.mtta_median.is_some(), !acks.is_empty());
        }
    }
}

#[test]
fn the_sla_rule_judges_met_breached_and_pending() {
    let at = |m: i64| utc("2026-03-03T10:00:00Z") + Duration::minutes(m);
    let target = Duration::minutes(15);
    let table = [
        (Some(at(15)), at(60), Sla::Met),
        (Some(at(3)), at(60), Sla::Met),
        (
            Some(at(17)),
            at(60),
            Sla::Breached {
                late_by: Duration::minutes(2),
            },
        ),
        (
            None,
            at(40),
            Sla::Breached {
                late_by: Duration::minutes(25),
            },
        ),
        (None, at(15), Sla::Pending),
    ];
    for (answered, now, want) in table {
        assert_eq!(judge(at(0), answered, target, now), want, "{answered:?}");
    }
}
