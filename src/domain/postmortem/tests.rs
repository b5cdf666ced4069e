//! The draft's rules as tables: escaping, durations, the zone and recipient rules, the
//! responders, the timeline cut, and a whole rendered draft.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::render::{human, md};
use super::*;
use crate::domain::ingest::SupportHours;
use crate::domain::policy::{HandoffNotify, ScheduleDef};
use crate::domain::response_report::{ResponseTargets, TargetSource};
use crate::domain::rotation::{Rotation, ShiftLength};
use crate::domain::schedule::{Layer, Schedule};
use crate::domain::{
    EscalationPolicy, IncidentState, Level, Link, Person, Position, Repeat, Service, Timeline,
};

fn t(min: i64) -> DateTime<Utc> {
    "2026-03-02T17:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::minutes(min)
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

fn policy(name: &str, targets: Vec<Target>) -> (String, EscalationPolicy) {
    let level = |targets| Level {
        targets,
        delay: StdDuration::from_secs(1800),
    };
    let p = EscalationPolicy {
        name: name.into(),
        default: Timeline {
            levels: vec![level(vec![Target::Person("ann".into())]), level(targets)],
        },
        per_severity: HashMap::new(),
        repeat: Repeat::Times(0),
        ack_timeout: None,
        response_targets: Default::default(),
    };
    (name.into(), p)
}

/// Schedule `nights` (Europe/Berlin, bob always on call); policy `sched` pages ann then the
/// schedule, `direct` pages ann then cat; service `web` on `sched`, `api` on `direct`.
fn set() -> PolicySet {
    let zone: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
    let layer = Layer {
        name: "main".into(),
        rotation: Rotation {
            zone,
            start: NaiveDate::from_ymd_opt(2026, 1, 5)
                .unwrap()
                .and_hms_opt(9, 0, 0)
                .unwrap(),
            length: ShiftLength::Weeks(1),
            members: vec!["bob".into()],
        },
        restrictions: Vec::new(),
        evening: false,
        assigned: Default::default(),
    };
    let def = ScheduleDef {
        schedule: Schedule {
            name: "nights".into(),
            zone,
            layers: vec![layer],
            overrides: Vec::new(),
        },
        owner: "dana".into(),
        fallback: None,
        handoff: HandoffNotify {
            incoming: false,
            outgoing: false,
        },
        burnout: None,
        override_notes: Default::default(),
    };
    PolicySet {
        people: ["ann", "bob", "cat", "dana"].map(person).into(),
        services: [
            ("web".to_string(), Service::new("web", "sched")),
            ("api".to_string(), Service::new("api", "direct")),
        ]
        .into(),
        policies: [
            policy("sched", vec![Target::Schedule("nights".into())]),
            policy("direct", vec![Target::Person("cat".into())]),
        ]
        .into(),
        schedules: [("nights".to_string(), def)].into(),
        ..Default::default()
    }
}

fn incident(service: &str, policy: &str) -> Incident {
    Incident {
        id: 7,
        service: service.into(),
        dedup_key: "k".into(),
        severity: Severity::Critical,
        summary: "checkout is down".into(),
        source: "test".into(),
        details: BTreeMap::from([("customers".to_string(), "1200".to_string())]),
        links: vec![Link {
            href: "https://grafana.example/d/1".into(),
            text: "Dashboard".into(),
        }],
        state: IncidentState::Resolved,
        escalation_policy: policy.into(),
        pos: Position::default(),
        alert_count: 2,
        created_at: t(0),
        last_seen_at: t(3),
        acknowledged_at: Some(t(20)),
        acknowledged_by: Some("bob".into()),
        resolved_at: Some(t(65)),
        resolved_by: Some("ann".into()),
        resolve_note: Some("rolled back".into()),
        next_action_at: None,
        last_summary: None,
        last_details: None,
        postmortem_required: true,
        postmortem_url: None,
    }
}

fn event(id: i64, min: i64, kind: EventKind, message: &str) -> Event {
    Event {
        id,
        incident_id: 7,
        service: "web".into(),
        kind,
        at: t(min),
        level: None,
        person: None,
        channel: None,
        actor: None,
        message: message.into(),
    }
}

fn delivered(id: i64, min: i64, who: &str, level: u32) -> Event {
    Event {
        level: Some(level),
        person: Some(who.into()),
        channel: Some("webhook".into()),
        ..event(
            id,
            min,
            EventKind::Delivered,
            &format!("page delivered to {who}"),
        )
    }
}

fn acted(id: i64, min: i64, kind: EventKind, who: &str, message: &str) -> Event {
    Event {
        actor: Some(format!("{who} (token {who}-laptop via gRPC)")),
        ..event(id, min, kind, message)
    }
}

fn events() -> Vec<Event> {
    vec![
        event(
            1,
            0,
            EventKind::Triggered,
            "critical alert from test: checkout is down",
        ),
        Event {
            level: Some(1),
            ..event(2, 0, EventKind::Paged, "paging level 1: ann")
        },
        delivered(3, 0, "ann", 1),
        Event {
            level: Some(2),
            ..event(4, 15, EventKind::Escalated, "escalated to level 2")
        },
        delivered(5, 15, "bob", 2),
        acted(6, 20, EventKind::Acknowledged, "bob", "acknowledged"),
        acted(
            7,
            30,
            EventKind::Note,
            "ann",
            "rolled back the | deploy <b>now</b>",
        ),
        acted(8, 65, EventKind::Resolved, "ann", "resolved: rolled back"),
    ]
}

#[test]
fn outside_text_is_one_line_and_cannot_make_markup() {
    let table = [
        ("plain text, 2×", "plain text, 2×"),
        ("# heading", "\\# heading"),
        ("a | b", "a \\| b"),
        ("<script>x</script>", "\\<script\\>x\\</script\\>"),
        ("[link](javascript:x)", "\\[link\\](javascript:x)"),
        ("![img](http://x)", "\\!\\[img\\](http://x)"),
        ("line\nbreak\r\u{2028}end", "line break  end"),
        ("`code` *em* _u_ ~s~", "\\`code\\` \\*em\\* \\_u\\_ \\~s\\~"),
        ("a\\b &amp;", "a\\\\b \\&amp;"),
    ];
    for (input, want) in table {
        assert_eq!(md(input), want, "{input:?}");
    }
}

#[test]
fn durations_show_their_two_largest_units() {
    let table = [
        (0, "0s"),
        (45, "45s"),
        (60, "1m"),
        (3_900, "1h 5m"),
        (3_905, "1h 5m"),
        (90_061, "1d 1h"),
        (-60, "-1m"),
    ];
    for (secs, want) in table {
        assert_eq!(human(secs), want, "{secs}");
    }
}

#[test]
fn required_for_takes_severity_names_once_each() {
    let ok = |v: &[&str]| parse_required_for(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert_eq!(ok(&[]), Ok(vec![]));
    assert_eq!(
        ok(&["critical", "P1"]),
        Ok(vec![Severity::Critical, Severity::High])
    );
    assert!(
        ok(&["urgent"])
            .unwrap_err()
            .starts_with("[0]: unknown severity `urgent`")
    );
    assert_eq!(
        ok(&["critical", "sev1"]).unwrap_err(),
        "[1]: `sev1` is listed twice"
    );
}

#[test]
fn the_zone_is_the_services_then_the_first_schedules_then_utc() {
    let mut policies = set();
    let berlin: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
    let tokyo: chrono_tz::Tz = "Asia/Tokyo".parse().unwrap();
    assert_eq!(
        zone_for(&policies, &incident("web", "sched")),
        (berlin, "schedule nights".to_string())
    );
    assert_eq!(
        zone_for(&policies, &incident("api", "direct")),
        (chrono_tz::UTC, "no service or schedule zone".to_string())
    );
    // A policy removed since: the service's current one.
    assert_eq!(zone_for(&policies, &incident("web", "gone")).0, berlin);
    policies.services.get_mut("web").unwrap().support_hours = Some(SupportHours {
        zone: tokyo,
        windows: Vec::new(),
        defer: Vec::new(),
    });
    assert_eq!(
        zone_for(&policies, &incident("web", "sched")),
        (tokyo, "the service's support hours".to_string())
    );
}

#[test]
fn the_notice_goes_to_the_acknowledger_else_the_resolver_else_the_first_level() {
    let policies = set();
    let mut inc = incident("api", "direct");
    let who = |inc: &Incident, resolver: &str| notice_recipient(&policies, inc, resolver, t(70));
    assert_eq!(who(&inc, "cat").as_deref(), Some("bob"));
    // A token without a person acknowledged: the resolver.
    inc.acknowledged_by = Some("ci-token".into());
    assert_eq!(who(&inc, "cat").as_deref(), Some("cat"));
    inc.acknowledged_by = None;
    assert_eq!(who(&inc, "dana").as_deref(), Some("dana"));
    // Neither is a person: the first person of the first level.
    assert_eq!(who(&inc, "heartbeat").as_deref(), Some("ann"));
    let mut empty = policies.clone();
    empty.policies.clear();
    assert_eq!(notice_recipient(&empty, &inc, "heartbeat", t(70)), None);
}

#[test]
fn responders_are_listed_in_order_with_how_fast_they_acted() {
    let d = draft_for(&set(), &incident("web", "sched"), &events(), t(90));
    let got: Vec<_> = d
        .responders
        .iter()
        .map(|r| {
            (
                r.person.as_str(),
                r.first_paged_level,
                r.delivered,
                r.seconds_to_acknowledge,
                r.first_response,
                r.seconds_to_first_response,
                r.resolved_at.is_some(),
                r.notes,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "ann",
                Some(1),
                1,
                None,
                Some("note"),
                Some(30 * 60),
                true,
                1
            ),
            (
                "bob",
                Some(2),
                1,
                Some(5 * 60),
                Some("acknowledged"),
                Some(5 * 60),
                false,
                0
            ),
        ]
    );
    assert_eq!(d.time_to_acknowledge_seconds, Some(20 * 60));
    assert_eq!(d.time_to_resolve_seconds, Some(65 * 60));
    assert_eq!((d.escalations, d.highest_level), (1, 2));
    assert_eq!(d.omitted_events, 0);
    assert!(d.postmortem_pending);
}

#[test]
fn a_long_timeline_keeps_its_first_and_last_events() {
    let mut many = vec![event(1, 0, EventKind::Triggered, "first")];
    for i in 2..1000 {
        many.push(event(i, 1, EventKind::Deduplicated, "repeat"));
    }
    many.push(event(1000, 90, EventKind::Resolved, "last"));
    let inc = incident("web", "sched");
    let sla = sla_verdict(
        &inc,
        &many,
        (Duration::minutes(15), TargetSource::Default),
        t(90),
    );
    let d = draft(&inc, &many, (chrono_tz::UTC, "x".into()), sla);
    assert_eq!(d.timeline.len(), MAX_TIMELINE_ENTRIES);
    assert_eq!(d.omitted_events, 1000 - MAX_TIMELINE_ENTRIES);
    assert_eq!(d.timeline.first().unwrap().message, "first");
    assert_eq!(d.timeline.last().unwrap().message, "last");
    let text = markdown(&d);
    assert!(
        text.contains("| … | … | … | … | 600 more events: see `pagerctl show 7` |"),
        "{text}"
    );
}

#[test]
fn a_whole_draft_renders_every_section_in_both_zones() {
    let policies = set();
    let inc = incident("web", "sched");
    let d = draft_for(&policies, &inc, &events(), t(90));
    let text = markdown(&d);
    let want = [
        "# Post-mortem: incident 7 — checkout is down\n",
        "*A draft from pagerd. Times are UTC and Europe/Berlin (schedule nights).*",
        "- **Started:** 2026-03-02 17:00:00 UTC (2026-03-02 18:00:00 CET)",
        "- **Acknowledged:** 2026-03-02 17:20:00 UTC (2026-03-02 18:20:00 CET) by bob, 20m after it started",
        "- **Resolved:** 2026-03-02 18:05:00 UTC (2026-03-02 19:05:00 CET) by ann, 1h 5m after it started",
        "- **Resolution note:** rolled back",
        "- **Post-mortem:** pending",
        "- **customers:** 1200",
        "- Link: Dashboard — https://grafana.example/d/1",
        "| Time (UTC) | Time (Europe/Berlin) | Event | Level | Who | What |",
        "| 2026-03-02 17:15:00 | 2026-03-02 18:15:00 CET | delivered | 2 | bob via webhook | page delivered to bob |",
        "| 2026-03-02 17:30:00 | 2026-03-02 18:30:00 CET | note |  | ann (token ann-laptop via gRPC) | rolled back the \\| deploy \\<b\\>now\\</b\\> |",
        "- **Escalations:** 1 (highest level paged: 2)",
        "- **Response target:** 15m for critical, no target configured: the default",
        "- **SLA:** **breached by 5m** (acknowledged after 20m)",
        "| ann | 2026-03-02 17:00:00 | 1 | 1 | 0 | note, 30m after the first page | yes | 1 |",
        "| bob | 2026-03-02 17:15:00 | 2 | 1 | 0 | acknowledged, 5m after the first page | - | 0 |",
        "## Root cause\n\n*To be written.*",
        "## What went well",
        "## What went wrong",
        "## Action items\n\n- [ ] ",
    ];
    for w in want {
        assert!(text.contains(w), "missing {w:?} in\n{text}");
    }
    // Every table row has as many cells as its header.
    for line in text.lines().filter(|l| l.starts_with("| 2026")) {
        assert_eq!(line.matches(" | ").count(), 5, "{line}");
    }
}

/// Targets on the service and/or the policy; `(service, policy)` critical minutes.
fn with_targets(service: Option<u64>, policy: Option<u64>) -> PolicySet {
    let mut set = set();
    let t = |m: Option<u64>| ResponseTargets {
        critical: m.map(|m| StdDuration::from_secs(m * 60)),
        ..Default::default()
    };
    set.services.get_mut("web").unwrap().response_targets = t(service);
    set.policies.get_mut("sched").unwrap().response_targets = t(policy);
    set
}

#[test]
fn the_response_is_judged_against_the_reports_target() {
    let acked = incident("web", "sched"); // acknowledged at 20m, resolved at 65m
    let unacked = Incident {
        acknowledged_at: None,
        acknowledged_by: None,
        ..acked.clone()
    };
    let open = Incident {
        state: IncidentState::Triggered,
        resolved_at: None,
        resolved_by: None,
        ..unacked.clone()
    };
    let no_ack: Vec<Event> = (events().into_iter())
        .filter(|e| e.kind != EventKind::Acknowledged)
        .collect();
    let only_paged = events()[..5].to_vec();
    // (incident, events, service / policy critical target in minutes, now,
    //  target, source, outcome, late by, answered by, answered after, SLA line)
    type Row<'a> = (
        &'a Incident,
        &'a [Event],
        (Option<u64>, Option<u64>),
        i64,
        (i64, &'a str),
        (&'a str, Option<i64>),
        (Option<&'a str>, Option<i64>),
        &'a str,
    );
    let table: [Row; 6] = [
        (
            &acked,
            &events(),
            (Some(30), Some(10)),
            90,
            (30, "service"),
            ("met", None),
            (Some("acknowledged"), Some(20)),
            "met (acknowledged after 20m)",
        ),
        (
            &acked,
            &events(),
            (None, Some(10)),
            90,
            (10, "escalation policy"),
            ("breached", Some(10)),
            (Some("acknowledged"), Some(20)),
            "**breached by 10m** (acknowledged after 20m)",
        ),
        // No target configured anywhere: the support manuals' default for critical.
        (
            &acked,
            &events(),
            (None, None),
            90,
            (15, "default"),
            ("breached", Some(5)),
            (Some("acknowledged"), Some(20)),
            "**breached by 5m** (acknowledged after 20m)",
        ),
        // Never acknowledged: the resolution is the answer.
        (
            &unacked,
            &no_ack,
            (Some(120), None),
            90,
            (120, "service"),
            ("met", None),
            (Some("resolved"), Some(65)),
            "met (never acknowledged; resolved after 1h 5m)",
        ),
        // Never answered, past the target at the time of the draft.
        (
            &open,
            &only_paged,
            (None, None),
            40,
            (15, "default"),
            ("breached", Some(25)),
            (None, None),
            "**breached by 25m** (not answered as of 2026-03-02 17:40:00 UTC)",
        ),
        (
            &open,
            &only_paged,
            (None, None),
            10,
            (15, "default"),
            ("pending", None),
            (None, None),
            "pending (not answered as of 2026-03-02 17:10:00 UTC)",
        ),
    ];
    for (inc, evs, (svc, pol), now, target, outcome, answered, line) in table {
        let d = draft_for(&with_targets(svc, pol), inc, evs, t(now));
        let s = &d.sla;
        let m = |v: Option<i64>| v.map(|v| v * 60);
        assert_eq!(
            (s.target_seconds, s.target_source),
            (target.0 * 60, target.1)
        );
        assert_eq!(
            (s.outcome, s.breached_by_seconds),
            (outcome.0, m(outcome.1))
        );
        assert_eq!(
            (s.answered_by, s.answered_after_seconds),
            (answered.0, m(answered.1))
        );
        let text = markdown(&d);
        assert!(
            text.contains(&format!("- **SLA:** {line}\n")),
            "{line}\n{text}"
        );
        let source = match target.1 {
            "service" => "set on service web".to_string(),
            "escalation policy" => "set on escalation policy sched".to_string(),
            _ => "no target configured: the default".to_string(),
        };
        let want = format!(
            "- **Response target:** {} for critical, {source}\n",
            human(target.0 * 60)
        );
        assert!(text.contains(&want), "{want}\n{text}");
    }
}
