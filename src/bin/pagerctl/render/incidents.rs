//! Incidents as text: the one-line answer to an action, the `list` table, `show`'s header and
//! timeline, and `watch` lines.

use std::collections::BTreeMap;

use anyhow::Context;
use chrono::{DateTime, Utc};
use comfy_table::ContentArrangement;
use serde_json::{Value, json};

use pagerd::proto::{self as pb, IncidentState};

use super::json::incident_json;
use super::time::{compact_duration, local_and_utc, local_time_of, relative, to_datetime};
use super::{
    clean, emit, emit_json, event_level, finish_table, labelled, level_label, non_empty,
    plain_table, truncate,
};
use pagerd::api::convert::{event_kind_name as kind_name, severity_name, state_name};

/// Longest summary shown in `list`, in characters.
const LIST_SUMMARY_CHARS: usize = 60;

/// One line about an incident after an id-based action; `phrase` words the state description.
/// "acknowledged by alice" or, when nothing changed, "already acknowledged by alice".
pub(crate) fn already_unless(changed: bool, desc: String) -> String {
    if changed {
        desc
    } else {
        format!("already {desc}")
    }
}

pub(crate) fn emit_action(
    r: &pb::IncidentActionResponse,
    json: bool,
    phrase: impl FnOnce(String) -> String,
) -> anyhow::Result<()> {
    let incident = r
        .incident
        .as_ref()
        .context("pagerd replied without the incident")?;
    if json {
        return emit_json(&json!({ "changed": r.changed, "incident": incident_json(incident) }));
    }
    emit(&format!(
        "incident {}: {} ({}, {})",
        incident.id,
        phrase(state_description(incident, Utc::now())),
        clean(&incident.service),
        severity_name(incident.severity),
    ))
}

pub(crate) fn emit_key_action(
    r: &pb::AlertActionResponse,
    service: &str,
    dedup_key: &str,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        let incident_id = if r.matched {
            json!(r.incident_id)
        } else {
            Value::Null
        };
        let state = if r.matched {
            json!(state_name(r.state))
        } else {
            Value::Null
        };
        return emit_json(&json!({
            "matched": r.matched,
            "changed": r.changed,
            "incident_id": incident_id,
            "state": state,
        }));
    }
    let line = if !r.matched {
        format!(
            "no open incident for {}/{} (nothing to do)",
            clean(service),
            clean(dedup_key)
        )
    } else if r.changed {
        format!("incident {}: {}", r.incident_id, state_name(r.state))
    } else {
        format!(
            "incident {}: already {}",
            r.incident_id,
            state_name(r.state)
        )
    };
    emit(&line)
}

/// The state, with "(post-mortem pending)" while one is.
fn state_with_postmortem(i: &pb::Incident) -> String {
    if i.postmortem_pending {
        format!("{} (post-mortem pending)", state_name(i.state))
    } else {
        state_name(i.state).to_owned()
    }
}

/// "triggered at level 2, next escalation in 14m", "acknowledged by alice".
fn state_description(i: &pb::Incident, now: DateTime<Utc>) -> String {
    let next = to_datetime(i.next_action_at.as_ref()).map(|t| relative(t, now));
    match (IncidentState::try_from(i.state), next) {
        (Ok(IncidentState::Triggered), Some(next)) => {
            format!(
                "triggered at level {}, next escalation {next}",
                level_label(i)
            )
        }
        (Ok(IncidentState::Triggered), None) => format!("triggered at level {}", level_label(i)),
        (Ok(IncidentState::Acknowledged), Some(next)) => format!(
            "acknowledged by {}, re-triggers {next} unless resolved",
            clean(&i.acknowledged_by)
        ),
        (Ok(IncidentState::Acknowledged), None) => {
            format!("acknowledged by {}", clean(&i.acknowledged_by))
        }
        (Ok(IncidentState::Resolved), _) => format!("resolved by {}", clean(&i.resolved_by)),
        _ => state_name(i.state).to_owned(),
    }
}

pub(crate) fn incident_table(incidents: &[pb::Incident], now: DateTime<Utc>) -> String {
    let mut table = plain_table();
    table.set_header([
        "ID", "STATE", "SEV", "SERVICE", "LEVEL", "ALERTS", "AGE", "SUMMARY",
    ]);
    for i in incidents {
        let age = to_datetime(i.created_at.as_ref())
            .map(|t| compact_duration(now - t))
            .unwrap_or_default();
        table.add_row([
            i.id.to_string(),
            state_with_postmortem(i),
            severity_name(i.severity).to_owned(),
            clean(&i.service),
            level_label(i),
            i.alert_count.to_string(),
            age,
            truncate(&clean(&i.summary), LIST_SUMMARY_CHARS),
        ]);
    }
    finish_table(table)
}

pub(crate) fn incident_header(i: &pb::Incident, now: DateTime<Utc>) -> String {
    let at = |t: Option<&prost_types::Timestamp>| match to_datetime(t) {
        Some(t) => format!("{}, {}", local_and_utc(t), relative(t, now)),
        None => "-".to_owned(),
    };
    let mut fields: Vec<(&str, String)> = vec![
        ("summary", clean(&i.summary)),
        ("service", clean(&i.service)),
        ("policy", clean(&i.escalation_policy)),
        ("level", level_label(i)),
        ("dedup key", clean(&i.dedup_key)),
        ("source", non_empty(clean(&i.source))),
        ("alerts", i.alert_count.to_string()),
        ("created", at(i.created_at.as_ref())),
        ("last seen", at(i.last_seen_at.as_ref())),
        ("next action", at(i.next_action_at.as_ref())),
    ];
    if !i.last_summary.is_empty() {
        fields.push(("last alert", clean(&i.last_summary)));
    }
    if i.acknowledged_at.is_some() || !i.acknowledged_by.is_empty() {
        let by = clean(&i.acknowledged_by);
        fields.push((
            "acknowledged",
            format!("by {by}, {}", at(i.acknowledged_at.as_ref())),
        ));
    }
    if i.resolved_at.is_some() || !i.resolved_by.is_empty() {
        let by = clean(&i.resolved_by);
        fields.push((
            "resolved",
            format!("by {by}, {}", at(i.resolved_at.as_ref())),
        ));
        fields.push(("note", non_empty(clean(&i.resolve_note))));
    }
    if i.postmortem_pending {
        fields.push((
            "post-mortem",
            format!(
                "pending (draft: pagerctl postmortem {0}; then pagerctl postmortem {0} --done URL)",
                i.id
            ),
        ));
    } else if !i.postmortem_url.is_empty() {
        fields.push(("post-mortem", clean(&i.postmortem_url)));
    }
    let details: BTreeMap<&String, &String> = i.details.iter().collect();
    for (n, (k, v)) in details.into_iter().enumerate() {
        fields.push((
            if n == 0 { "details" } else { "" },
            format!("{} = {}", clean(k), clean(v)),
        ));
    }
    for (n, l) in i.links.iter().enumerate() {
        let link = if l.text.is_empty() {
            clean(&l.href)
        } else {
            format!("{} <{}>", clean(&l.text), clean(&l.href))
        };
        fields.push((if n == 0 { "links" } else { "" }, link));
    }

    let mut text = format!(
        "incident {}: {}, {}\n",
        i.id,
        state_with_postmortem(i),
        severity_name(i.severity)
    );
    text.push_str(&labelled(fields, "  "));
    text
}

pub(crate) fn timeline_table(events: &[pb::IncidentEvent]) -> String {
    let mut table = plain_table();
    // Wrap long messages to the terminal's width rather than the whole row.
    table.set_content_arrangement(ContentArrangement::Dynamic);
    table.set_header([
        "TIME", "EVENT", "LEVEL", "PERSON", "CHANNEL", "ACTOR", "MESSAGE",
    ]);
    for e in events {
        table.add_row([
            local_time_of(e.at.as_ref()),
            kind_name(e.kind).replace('_', " "),
            event_level(e).map(|l| l.to_string()).unwrap_or_default(),
            clean(&e.person),
            clean(&e.channel),
            clean(&e.actor),
            clean(&e.message),
        ]);
    }
    finish_table(table)
}

/// `2024-05-01 16:03:04 #12 checkout-api paged level 1, alice via log: paging alice`.
pub(crate) fn watch_line(e: &pb::IncidentEvent) -> String {
    let mut line = format!(
        "{} #{} {} {}",
        local_time_of(e.at.as_ref()),
        e.incident_id,
        clean(&e.service),
        kind_name(e.kind).replace('_', " "),
    );
    if let Some(level) = event_level(e) {
        line.push_str(&format!(" level {level}"));
    }
    match (e.person.is_empty(), e.channel.is_empty()) {
        (false, false) => {
            line.push_str(&format!(", {} via {}", clean(&e.person), clean(&e.channel)))
        }
        (false, true) => line.push_str(&format!(", {}", clean(&e.person))),
        _ => {}
    }
    if !e.actor.is_empty() {
        line.push_str(&format!(" by {}", clean(&e.actor)));
    }
    line.push_str(&format!(": {}", clean(&e.message)));
    line
}

#[cfg(test)]
mod tests {
    use pagerd::proto::{EventKind, Severity};

    use super::*;
    use crate::render::json::event_json;
    use crate::render::time::to_timestamp;

    fn incident(id: i64, summary: &str) -> pb::Incident {
        pb::Incident {
            id,
            service: "checkout-api".into(),
            severity: Severity::High as i32,
            summary: summary.into(),
            state: IncidentState::Triggered as i32,
            level: 1,
            alert_count: 3,
            created_at: Some(to_timestamp(
                DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            )),
            ..Default::default()
        }
    }

    #[test]
    fn the_list_table_shows_one_based_levels_and_ages() {
        let now = DateTime::from_timestamp(1_700_000_000 + 3 * 3600 + 60, 0).unwrap();
        let text = incident_table(
            &[
                incident(12, "Checkout 500s\non EU"),
                incident(7, &"x".repeat(100)),
            ],
            now,
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        let cols: Vec<&str> = lines[0].split_whitespace().collect();
        assert_eq!(
            cols,
            [
                "ID", "STATE", "SEV", "SERVICE", "LEVEL", "ALERTS", "AGE", "SUMMARY"
            ]
        );
        let row: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            row,
            [
                "12",
                "triggered",
                "high",
                "checkout-api",
                "2",
                "3",
                "3h01m",
                "Checkout",
                "500s",
                "on",
                "EU"
            ]
        );
        assert!(
            lines[2].ends_with(&format!("{}…", "x".repeat(LIST_SUMMARY_CHARS - 1))),
            "{text}"
        );
        assert!(
            !text.starts_with(' ') && text.lines().all(|l| l == l.trim_end()),
            "{text:?}"
        );
    }

    #[test]
    fn event_levels_of_zero_are_left_blank() {
        let e = pb::IncidentEvent {
            incident_id: 3,
            service: "search".into(),
            kind: EventKind::DeliveryFailed as i32,
            level: 2,
            person: "alice".into(),
            channel: "webhook".into(),
            message: "timed out".into(),
            ..Default::default()
        };
        assert!(
            watch_line(&e)
                .ends_with("#3 search delivery failed level 2, alice via webhook: timed out")
        );
        assert_eq!(event_json(&e)["level"], 2);
        let ack = pb::IncidentEvent {
            level: 0,
            actor: "bob".into(),
            ..e
        };
        assert!(!watch_line(&ack).contains("level"));
        assert_eq!(event_json(&ack)["level"], Value::Null);
    }
}
