//! The post-mortem draft of an incident: what it was, what happened when (in UTC and in the
//! service's zone), who was paged and who responded how fast, and the empty sections the
//! team fills in. Pure: [`draft`] builds it from the incident and its timeline,
//! [`markdown`] renders it, [`draft_for`] gathers what it needs from the policy set (the
//! zone, the response target); [`zone_for`] and [`notice_recipient`] are the two rules the
//! engine asks about.

pub mod notice;
mod render;
mod sla;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::{Event, EventKind, Incident, PolicySet, Severity, Target};

pub use render::markdown;
pub use sla::{SlaVerdict, sla_verdict};

/// Timeline events a draft lists at most: the first and the last half of this many, so the
/// trigger and the resolution are always in it; the events between are counted.
pub const MAX_TIMELINE_ENTRIES: usize = 400;

/// A draft, as `pagerctl postmortem --format json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Draft {
    pub incident_id: i64,
    pub summary: String,
    pub severity: &'static str,
    pub service: String,
    pub escalation_policy: String,
    pub state: &'static str,
    /// The second zone of the timeline (IANA name) and why it is that one.
    pub zone: String,
    pub zone_source: String,
    #[serde(skip)]
    pub tz: Tz,
    pub created_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub resolve_note: Option<String>,
    /// From the trigger to the first acknowledgement.
    pub time_to_acknowledge_seconds: Option<i64>,
    /// From the trigger to the resolution.
    pub time_to_resolve_seconds: Option<i64>,
    /// The response against its target (the SLA of the response report).
    pub sla: SlaVerdict,
    pub alert_count: u32,
    /// The alert's details: the impact fields as the monitoring system sent them.
    pub impact: BTreeMap<String, String>,
    pub links: Vec<DraftLink>,
    /// Manual and timed escalations; the highest level paged (1-based, 0 when none).
    pub escalations: u32,
    pub highest_level: u32,
    pub responders: Vec<Responder>,
    pub timeline: Vec<Entry>,
    /// Events left out of `timeline` (between its first and last half).
    pub omitted_events: usize,
    pub postmortem_pending: bool,
    pub postmortem_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DraftLink {
    pub href: String,
    pub text: String,
}

/// Someone paged about the incident, or who acted on it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Responder {
    pub person: String,
    pub first_paged_at: Option<DateTime<Utc>>,
    /// 1-based level of the first page.
    pub first_paged_level: Option<u32>,
    pub delivered: u32,
    pub failed: u32,
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// From their first page to their acknowledgement.
    pub seconds_to_acknowledge: Option<i64>,
    /// Their first action on the incident: "acknowledged", "note" or "resolved", when, and
    /// how long after their first page (`None` when they were not paged).
    pub first_response: Option<&'static str>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub seconds_to_first_response: Option<i64>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub notes: u32,
}

/// One timeline line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub at: DateTime<Utc>,
    pub kind: &'static str,
    pub level: Option<u32>,
    pub person: Option<String>,
    pub channel: Option<String>,
    pub actor: Option<String>,
    pub message: String,
}

/// The zone a draft shows beside UTC, and why: the service's support-hours zone, else the
/// zone of the first schedule the incident's escalation policy pages (its ladder for the
/// incident's severity, level by level), else UTC.
pub fn zone_for(policies: &PolicySet, inc: &Incident) -> (Tz, String) {
    let service = policies.services.get(&inc.service);
    if let Some(hours) = service.and_then(|s| s.support_hours.as_ref()) {
        return (hours.zone, "the service's support hours".into());
    }
    let policy = policies
        .policies
        .get(&inc.escalation_policy)
        .or_else(|| policies.policy_for_service(&inc.service));
    let mut schedules = policy
        .into_iter()
        .flat_map(|p| &p.timeline(inc.severity).levels)
        .flat_map(|l| &l.targets)
        .filter_map(|t| match t {
            Target::Schedule(name) => policies.schedules.get(name).map(|d| (name, d)),
            Target::Person(_) => None,
        });
    if let Some((name, def)) = schedules.next() {
        return (def.schedule.zone, format!("schedule {name}"));
    }
    (Tz::UTC, "no service or schedule zone".into())
}

/// Who is told a post-mortem is pending: the person who acknowledged, else the resolver,
/// else the first person of the policy's first level at `now` (names of known people only).
pub fn notice_recipient(
    policies: &PolicySet,
    inc: &Incident,
    resolver: &str,
    now: DateTime<Utc>,
) -> Option<String> {
    let known = |who: &str| policies.people.contains_key(who).then(|| who.to_string());
    if let Some(p) = inc.acknowledged_by.as_deref().and_then(known) {
        return Some(p);
    }
    if let Some(p) = known(resolver) {
        return Some(p);
    }
    let policy = policies
        .policies
        .get(&inc.escalation_policy)
        .or_else(|| policies.policy_for_service(&inc.service))?;
    let first = policy.timeline(inc.severity).levels.first()?;
    policies
        .resolve_targets(&first.targets, now)
        .people
        .into_iter()
        .next()
}

/// `postmortem.required_for`: severity names, each at most once.
pub fn parse_required_for(values: &[String]) -> Result<Vec<Severity>, String> {
    let mut out = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let s = Severity::parse(v).map_err(|e| format!("[{i}]: {e}"))?;
        if out.contains(&s) {
            return Err(format!("[{i}]: `{v}` is listed twice"));
        }
        out.push(s);
    }
    Ok(out)
}

/// The person part of an event actor ("bob (token bob-laptop via gRPC)" → "bob").
fn actor_who(label: &str) -> &str {
    label.split_once(" (").map_or(label, |(who, _)| who)
}

/// The draft of `inc` under `policies` at `now`: its zone ([`zone_for`]) and its response
/// target (`response_report::incident_target`, the report's own).
pub fn draft_for(
    policies: &PolicySet,
    inc: &Incident,
    events: &[Event],
    now: DateTime<Utc>,
) -> Draft {
    let target = super::response_report::incident_target(policies, inc);
    let sla = sla_verdict(inc, events, target, now);
    draft(inc, events, zone_for(policies, inc), sla)
}

/// Builds the draft of `inc` from its timeline (oldest first), with times also in `zone`.
pub fn draft(inc: &Incident, events: &[Event], zone: (Tz, String), sla: SlaVerdict) -> Draft {
    let first_ack = events
        .iter()
        .find(|e| e.kind == EventKind::Acknowledged)
        .map(|e| e.at)
        .or(inc.acknowledged_at);
    let mut responders: Vec<Responder> = Vec::new();
    let mut escalations = 0;
    let mut highest_level = 0;
    for e in events {
        if e.kind == EventKind::Escalated {
            escalations += 1;
        }
        if matches!(e.kind, EventKind::Paged | EventKind::Escalated) {
            highest_level = highest_level.max(e.level.unwrap_or(0));
        }
        let who = match e.kind {
            EventKind::Delivered | EventKind::DeliveryFailed => e.person.as_deref(),
            EventKind::Acknowledged | EventKind::Resolved | EventKind::Note => {
                e.actor.as_deref().map(actor_who)
            }
            _ => None,
        };
        let Some(who) = who else { continue };
        let r = match responders.iter().position(|r| r.person == who) {
            Some(i) => &mut responders[i],
            None => {
                responders.push(Responder {
                    person: who.to_string(),
                    first_paged_at: None,
                    first_paged_level: None,
                    delivered: 0,
                    failed: 0,
                    acknowledged_at: None,
                    seconds_to_acknowledge: None,
                    first_response: None,
                    first_response_at: None,
                    seconds_to_first_response: None,
                    resolved_at: None,
                    notes: 0,
                });
                responders.last_mut().expect("just pushed")
            }
        };
        if matches!(
            e.kind,
            EventKind::Acknowledged | EventKind::Resolved | EventKind::Note
        ) && r.first_response.is_none()
        {
            r.first_response = Some(e.kind.as_str());
            r.first_response_at = Some(e.at);
            r.seconds_to_first_response = r.first_paged_at.map(|p| (e.at - p).num_seconds());
        }
        match e.kind {
            EventKind::Delivered | EventKind::DeliveryFailed => {
                if e.kind == EventKind::Delivered {
                    r.delivered += 1;
                } else {
                    r.failed += 1;
                }
                if r.first_paged_at.is_none() {
                    r.first_paged_at = Some(e.at);
                    r.first_paged_level = e.level;
                }
            }
            EventKind::Acknowledged if r.acknowledged_at.is_none() => {
                r.acknowledged_at = Some(e.at);
                r.seconds_to_acknowledge = r.first_paged_at.map(|p| (e.at - p).num_seconds());
            }
            EventKind::Resolved => r.resolved_at = Some(e.at),
            EventKind::Note => r.notes += 1,
            _ => {}
        }
    }
    let half = MAX_TIMELINE_ENTRIES / 2;
    let (shown, omitted): (Vec<&Event>, usize) = if events.len() > MAX_TIMELINE_ENTRIES {
        let head = events[..half].iter();
        let tail = events[events.len() - half..].iter();
        (head.chain(tail).collect(), events.len() - 2 * half)
    } else {
        (events.iter().collect(), 0)
    };
    let timeline = shown
        .into_iter()
        .map(|e| Entry {
            at: e.at,
            kind: e.kind.as_str(),
            level: e.level.filter(|l| *l > 0),
            person: e.person.clone(),
            channel: e.channel.clone(),
            actor: e.actor.clone(),
            message: e.message.clone(),
        })
        .collect();
    Draft {
        incident_id: inc.id,
        summary: inc.summary.clone(),
        severity: inc.severity.as_str(),
        service: inc.service.clone(),
        escalation_policy: inc.escalation_policy.clone(),
        state: inc.state.as_str(),
        zone: zone.0.name().to_string(),
        tz: zone.0,
        zone_source: zone.1,
        created_at: inc.created_at,
        acknowledged_at: first_ack,
        acknowledged_by: inc.acknowledged_by.clone(),
        resolved_at: inc.resolved_at,
        resolved_by: inc.resolved_by.clone(),
        resolve_note: inc.resolve_note.clone().filter(|n| !n.is_empty()),
        time_to_acknowledge_seconds: first_ack.map(|t| (t - inc.created_at).num_seconds()),
        time_to_resolve_seconds: inc.resolved_at.map(|t| (t - inc.created_at).num_seconds()),
        sla,
        alert_count: inc.alert_count,
        impact: inc.details.clone(),
        links: inc
            .links
            .iter()
            .map(|l| DraftLink {
                href: l.href.clone(),
                text: l.text.clone(),
            })
            .collect(),
        escalations,
        highest_level,
        responders,
        timeline,
        omitted_events: omitted,
        postmortem_pending: inc.postmortem_pending(),
        postmortem_url: inc.postmortem_url.clone(),
    }
}
