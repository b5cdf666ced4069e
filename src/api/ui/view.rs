//! Pure helpers for the dashboard's pages: how long ago, in which order incidents show,
//! what a row says. Plain functions over values, tested with tables.

use chrono::{DateTime, Utc};

use crate::domain::{Event, EventKind, Incident, IncidentState};

/// "45s", "12m", "3h 5m", "2d 4h": an age a half-awake reader takes in at a glance.
pub fn age(from: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let s = (now - from).num_seconds().max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => match (s % 3600) / 60 {
            0 => format!("{}h", s / 3600),
            m => format!("{}h {m}m", s / 3600),
        },
        _ => match (s % 86400) / 3600 {
            0 => format!("{}d", s / 86400),
            h => format!("{}d {h}h", s / 86400),
        },
    }
}

/// Where an incident goes in the list: triggered first, then acknowledged, then resolved;
/// within each, the most severe first, then the newest.
pub fn list_order(a: &Incident, b: &Incident) -> std::cmp::Ordering {
    let rank = |s: IncidentState| match s {
        IncidentState::Triggered => 0,
        IncidentState::Acknowledged => 1,
        IncidentState::Resolved => 2,
    };
    rank(a.state)
        .cmp(&rank(b.state))
        .then(a.severity.cmp(&b.severity))
        .then(b.created_at.cmp(&a.created_at))
        .then(b.id.cmp(&a.id))
}

/// The people a page of the incident's current level went (or tried to go) to, in the order
/// first tried: the delivery events name them.
pub fn paged_now(inc: &Incident, timeline: &[Event]) -> Vec<String> {
    let level = inc.pos.level + 1;
    let mut out: Vec<String> = Vec::new();
    for e in timeline {
        if matches!(
            e.kind,
            EventKind::Delivered | EventKind::DeliveryFailed | EventKind::DeliveryHeld
        ) && e.level == Some(level)
            && let Some(p) = &e.person
            && !out.contains(p)
        {
            out.push(p.clone());
        }
    }
    out
}

/// Number of incidents not resolved.
pub fn open_count(incidents: &[Incident]) -> usize {
    incidents
        .iter()
        .filter(|i| i.state != IncidentState::Resolved)
        .count()
}

/// "(3) Incidents": the open count first, so it shows in a browser tab.
pub fn title_with_count(open: usize, title: &str) -> String {
    if open == 0 {
        title.to_string()
    } else {
        format!("({open}) {title}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Position, Severity};
    use std::collections::BTreeMap;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn inc(id: i64, state: IncidentState, severity: Severity, created: i64) -> Incident {
        Incident {
            id,
            service: "web".into(),
            dedup_key: format!("k{id}"),
            severity,
            summary: "s".into(),
            source: String::new(),
            details: BTreeMap::new(),
            links: vec![],
            state,
            escalation_policy: "p".into(),
            pos: Position {
                level: 1,
                loop_no: 0,
            },
            alert_count: 1,
            created_at: t(created),
            last_seen_at: t(created),
            acknowledged_at: None,
            acknowledged_by: None,
            resolved_at: None,
            resolved_by: None,
            resolve_note: None,
            next_action_at: None,
            last_summary: None,
            last_details: None,
            postmortem_required: false,
            postmortem_url: None,
        }
    }

    #[test]
    fn ages() {
        for (secs, want) in [
            (-5, "0s"),
            (0, "0s"),
            (59, "59s"),
            (60, "1m"),
            (3599, "59m"),
            (3600, "1h"),
            (3600 + 5 * 60, "1h 5m"),
            (86400, "1d"),
            (2 * 86400 + 4 * 3600 + 59, "2d 4h"),
        ] {
            assert_eq!(age(t(0), t(secs)), want, "{secs}");
        }
    }

    #[test]
    fn triggered_then_acknowledged_then_resolved_most_severe_and_newest_first() {
        use IncidentState::*;
        use Severity::*;
        let mut v = vec![
            inc(1, Resolved, Critical, 0),
            inc(2, Acknowledged, Low, 0),
            inc(3, Triggered, Low, 50),
            inc(4, Triggered, Critical, 10),
            inc(5, Triggered, Low, 60),
            inc(6, Acknowledged, Critical, 0),
        ];
        v.sort_by(list_order);
        let ids: Vec<i64> = v.iter().map(|i| i.id).collect();
        assert_eq!(ids, [4, 5, 3, 6, 2, 1]);
        assert_eq!(open_count(&v), 5);
        assert_eq!(title_with_count(5, "Incidents"), "(5) Incidents");
        assert_eq!(title_with_count(0, "Incidents"), "Incidents");
    }

    #[test]
    fn paged_now_lists_the_current_levels_people_once() {
        let ev = |kind, level, person: &str| Event {
            id: 0,
            incident_id: 1,
            service: "web".into(),
            kind,
            at: t(0),
            level: Some(level),
            person: Some(person.into()),
            channel: None,
            actor: None,
            message: String::new(),
        };
        let timeline = vec![
            ev(EventKind::Delivered, 1, "ann"),
            ev(EventKind::DeliveryFailed, 2, "bob"),
            ev(EventKind::Paged, 2, "cid"),
            ev(EventKind::DeliveryHeld, 2, "dan"),
            ev(EventKind::Delivered, 2, "bob"),
        ];
        // Position level 1 (zero-based) is the second level as people count.
        assert_eq!(
            paged_now(
                &inc(1, IncidentState::Triggered, Severity::High, 0),
                &timeline
            ),
            ["bob", "dan"]
        );
    }
}
