//! Handoffs: when the person on call for a schedule changes, and what they are told.
//!
//! A handoff is an instant where a final shift starts with someone other than who was on call
//! just before (a gap counts as nobody). The same person continuing (say from a layer into an
//! override of their own) is no handoff.

use chrono::{DateTime, Duration, Utc};

use super::incident::Incident;
use super::policy::ScheduleDef;
use super::schedule::{FinalShift, Schedule};

/// How far ahead the next handoff is looked for; with none in reach the daemon checks again
/// then (a schedule of one person, or one that is all gap).
pub const HANDOFF_HORIZON: Duration = Duration::days(62);

/// The first handoff strictly after `after`, within [`HANDOFF_HORIZON`].
pub fn next_handoff(schedule: &Schedule, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let shifts = schedule.final_shifts(after, after + HANDOFF_HORIZON);
    let mut before: Option<&FinalShift> = None;
    for s in &shifts {
        let prev = before.filter(|b| b.end == s.start).map(|b| &b.person);
        if s.start > after && prev != Some(&s.person) {
            // The first shift is cut at `after`; whoever had it before `after` is on it.
            return Some(s.start);
        }
        before = Some(s);
    }
    None
}

/// Who comes on and who goes off at `at`, if `at` is a handoff.
pub fn handoff_at(
    schedule: &Schedule,
    at: DateTime<Utc>,
) -> Option<(FinalShift, Option<FinalShift>)> {
    let incoming = schedule.on_call(at).filter(|s| s.start == at)?;
    let outgoing = schedule.on_call(at - Duration::milliseconds(1));
    if outgoing
        .as_ref()
        .is_some_and(|o| o.person == incoming.person)
    {
        return None;
    }
    Some((incoming, outgoing))
}

/// One notification to one person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoffNotice {
    pub person: String,
    pub subject: String,
    pub body: String,
}

/// The summaries for a handoff: to the incoming person, and to the outgoing one if the
/// schedule asks for it. `open` are the open incidents of the services `covered`.
pub fn handoff_notices(
    def: &ScheduleDef,
    incoming: &FinalShift,
    outgoing: Option<&FinalShift>,
    covered: &[&str],
    open: &[Incident],
) -> Vec<HandoffNotice> {
    let s = &def.schedule;
    let local = |t: DateTime<Utc>| {
        t.with_timezone(&s.zone)
            .format("%a %Y-%m-%d %H:%M %Z")
            .to_string()
    };
    let mut incidents = String::new();
    if covered.is_empty() {
        incidents.push_str("No service pages this schedule.\n");
    } else if open.is_empty() {
        incidents.push_str(&format!(
            "No open incidents on {} (the services this schedule covers).\n",
            covered.join(", ")
        ));
    } else {
        incidents.push_str(&format!(
            "{} open incident(s) on {}:\n",
            open.len(),
            covered.join(", ")
        ));
        for inc in open {
            let state = match &inc.acknowledged_by {
                Some(by) if inc.state == super::IncidentState::Acknowledged => {
                    format!("acknowledged by {by}")
                }
                _ => inc.state.as_str().to_string(),
            };
            incidents.push_str(&format!(
                "  #{} [{}] {}: {} ({state}, since {})\n",
                inc.id,
                inc.severity,
                inc.service,
                inc.summary,
                local(inc.created_at)
            ));
        }
    }
    // Where the burnout limits moved the turn, the incoming person is told why.
    let why = match incoming.source {
        super::schedule::Source::Layer(i) => s.layers.get(i).and_then(|l| {
            let turn = l.rotation.shift_at(incoming.start)?;
            l.assigned.get(&turn.index)
        }),
        super::schedule::Source::Override(_) => None,
    }
    .filter(|a| a.reason.contains(" skipped: ") || a.reason.starts_with("nobody eligible"))
    .map(|a| format!("Why you: {}.\n", a.reason))
    .unwrap_or_default();
    let mut out = Vec::new();
    if def.handoff.incoming {
        let from = match outgoing {
            Some(o) => format!("You take over from {}.\n", o.person),
            None => "Nobody was on call before you.\n".to_string(),
        };
        out.push(HandoffNotice {
            person: incoming.person.clone(),
            subject: format!(
                "You are on call for {} until {}",
                s.name,
                local(incoming.end)
            ),
            body: format!(
                "You are on call for schedule {} from {} until {} ({}).\n{why}{from}{incidents}",
                s.name,
                local(incoming.start),
                local(incoming.end),
                s.describe(&incoming.source),
            ),
        });
    }
    if def.handoff.outgoing
        && let Some(o) = outgoing
    {
        out.push(HandoffNotice {
            person: o.person.clone(),
            subject: format!("Your shift on {} has ended", s.name),
            body: format!(
                "Your shift on schedule {} ended at {}; {} is on call until {}.\n{incidents}",
                s.name,
                local(incoming.start),
                incoming.person,
                local(incoming.end),
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::policy::HandoffNotify;
    use crate::domain::rotation::{Rotation, ShiftLength};
    use crate::domain::schedule::{Layer, Override, Restriction};
    use chrono::{NaiveDate, NaiveTime};

    const LA: chrono_tz::Tz = chrono_tz::America::Los_Angeles;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn evenings() -> ScheduleDef {
        ScheduleDef {
            burnout: None,
            override_notes: Default::default(),
            schedule: Schedule {
                name: "support".into(),
                zone: LA,
                layers: vec![Layer {
                    evening: false,
                    assigned: Default::default(),
                    name: "evenings".into(),
                    rotation: Rotation {
                        zone: LA,
                        start: NaiveDate::from_ymd_opt(2026, 3, 2)
                            .unwrap()
                            .and_hms_opt(9, 0, 0)
                            .unwrap(),
                        length: ShiftLength::Weeks(1),
                        members: vec!["sam".into(), "sofia".into()],
                    },
                    restrictions: vec![Restriction::Daily {
                        start: NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
                        end: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
                    }],
                }],
                overrides: vec![],
            },
            owner: "victor".into(),
            fallback: None,
            handoff: HandoffNotify {
                incoming: true,
                outgoing: true,
            },
        }
    }

    #[test]
    fn each_evening_start_is_a_handoff_and_the_next_is_found_after_it() {
        let def = evenings();
        let s = &def.schedule;
        // Tuesday 2026-03-03 10:00 PST → the next start is 17:00 PST (01:00Z).
        let next = next_handoff(s, utc("2026-03-03T18:00:00Z")).unwrap();
        assert_eq!(next, utc("2026-03-04T01:00:00Z"));
        // Exactly at a handoff, the next one is the following evening.
        assert_eq!(next_handoff(s, next), Some(utc("2026-03-05T01:00:00Z")));
        // Across spring-forward the evening still starts at 17:00 local (PDT: 00:00Z).
        assert_eq!(
            next_handoff(s, utc("2026-03-09T18:00:00Z")),
            Some(utc("2026-03-10T00:00:00Z"))
        );
        let (incoming, outgoing) = handoff_at(s, next).unwrap();
        assert_eq!(incoming.person, "sam");
        assert!(outgoing.is_none(), "the day before was a gap");
        assert!(handoff_at(s, next + Duration::hours(1)).is_none());
    }

    #[test]
    fn the_same_person_continuing_is_no_handoff() {
        let mut def = evenings();
        def.schedule.layers[0].restrictions.clear();
        // Sam's own override right after his week: no handoff at its start or at the
        // rotation's Monday boundary it covers.
        def.schedule.overrides.push(Override {
            person: "sam".into(),
            start: utc("2026-03-09T16:00:00Z"),
            end: utc("2026-03-10T16:00:00Z"),
            reason: "swap".into(),
        });
        let next = next_handoff(&def.schedule, utc("2026-03-03T00:00:00Z"));
        assert_eq!(next, Some(utc("2026-03-10T16:00:00Z")));
        let (incoming, outgoing) = handoff_at(&def.schedule, next.unwrap()).unwrap();
        assert_eq!(
            (incoming.person.as_str(), outgoing.unwrap().person.as_str()),
            ("sofia", "sam")
        );
    }

    #[test]
    fn notices_name_the_shift_end_and_the_open_incidents() {
        let mut def = evenings();
        def.schedule.layers[0].restrictions.clear();
        let at = utc("2026-03-09T16:00:00Z");
        let (incoming, outgoing) = handoff_at(&def.schedule, at).unwrap();
        let notices = handoff_notices(&def, &incoming, outgoing.as_ref(), &["web"], &[]);
        assert_eq!(notices.len(), 2);
        assert_eq!(notices[0].person, "sofia");
        assert_eq!(
            notices[0].subject,
            "You are on call for support until Mon 2026-03-16 09:00 PDT"
        );
        assert!(
            notices[0].body.contains("You take over from sam"),
            "{}",
            notices[0].body
        );
        assert!(notices[0].body.contains("No open incidents on web"));
        assert_eq!(notices[1].person, "sam");
        def.handoff = HandoffNotify::default();
        let notices = handoff_notices(&def, &incoming, outgoing.as_ref(), &["web"], &[]);
        assert_eq!(notices.len(), 1, "outgoing only when asked for");
    }

    #[test]
    fn a_turn_moved_by_a_limit_says_why_in_the_incoming_notice() {
        let mut def = evenings();
        def.schedule.layers[0].restrictions.clear();
        let at = utc("2026-03-09T16:00:00Z");
        let reason = "sofia skipped: 4 on-call weeks in 2026-Q1 already (limit 4) → dana";
        def.schedule.layers[0].assigned = std::sync::Arc::new(
            [(
                1,
                crate::domain::schedule::Assignment {
                    person: "dana".into(),
                    reason: reason.into(),
                    projected: false,
                    flagged: false,
                },
            )]
            .into(),
        );
        let incoming = def.schedule.on_call(at).unwrap();
        assert_eq!((incoming.person.as_str(), incoming.start), ("dana", at));
        let notices = handoff_notices(&def, &incoming, None, &[], &[]);
        assert!(
            notices[0].body.contains(&format!("Why you: {reason}.")),
            "{}",
            notices[0].body
        );
    }
}
