//! `--json` output: one object per reply; times RFC 3339 UTC, enums lowercase words, levels
//! and passes 1-based.

use serde_json::{Value, json};

use pagerd::proto as pb;

use super::event_level;
use super::time::to_datetime;
use pagerd::api::convert::{event_kind_name as kind_name, severity_name, state_name};

pub(crate) fn window_json(w: &pb::MaintenanceWindow) -> Value {
    json!({
        "id": w.id,
        "service": w.service,
        "start": to_datetime(w.start.as_ref()).map(|t| t.to_rfc3339()),
        "end": to_datetime(w.end.as_ref()).map(|t| t.to_rfc3339()),
        "reason": w.reason,
        "page_after": w.page_after,
        "created_by": w.created_by,
        "removed_by": w.removed_by,
    })
}

pub(crate) fn shift_json(s: &pb::Shift) -> Value {
    json!({
        "person": s.person,
        "start": timestamp_json(s.start.as_ref()),
        "end": timestamp_json(s.end.as_ref()),
        "source": s.source,
        "reason": s.reason,
        "projected": s.projected,
        "flagged": s.flagged,
    })
}

pub(crate) fn incident_json(i: &pb::Incident) -> Value {
    let details: serde_json::Map<String, Value> = i
        .details
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let links: Vec<Value> = i
        .links
        .iter()
        .map(|l| json!({ "href": l.href, "text": l.text }))
        .collect();
    json!({
        "id": i.id,
        "service": i.service,
        "dedup_key": i.dedup_key,
        "severity": severity_name(i.severity),
        "summary": i.summary,
        "source": i.source,
        "details": details,
        "links": links,
        "state": state_name(i.state),
        "escalation_policy": i.escalation_policy,
        "level": i.level + 1,
        "pass": i.r#loop + 1,
        "alert_count": i.alert_count,
        "created_at": timestamp_json(i.created_at.as_ref()),
        "last_seen_at": timestamp_json(i.last_seen_at.as_ref()),
        "acknowledged_at": timestamp_json(i.acknowledged_at.as_ref()),
        "acknowledged_by": i.acknowledged_by,
        "resolved_at": timestamp_json(i.resolved_at.as_ref()),
        "resolved_by": i.resolved_by,
        "resolve_note": i.resolve_note,
        "next_action_at": timestamp_json(i.next_action_at.as_ref()),
        "last_summary": i.last_summary,
        "last_details": i.last_details.iter().collect::<std::collections::BTreeMap<_, _>>(),
        "postmortem_pending": i.postmortem_pending,
        "postmortem_url": i.postmortem_url,
    })
}

pub(crate) fn event_json(e: &pb::IncidentEvent) -> Value {
    json!({
        "id": e.id,
        "sequence": e.sequence,
        "incident_id": e.incident_id,
        "kind": kind_name(e.kind),
        "at": timestamp_json(e.at.as_ref()),
        "service": e.service,
        "level": event_level(e),
        "person": e.person,
        "channel": e.channel,
        "actor": e.actor,
        "message": e.message,
    })
}

pub(crate) fn override_json(o: &pb::Override) -> Value {
    json!({
        "id": o.id,
        "schedule": o.schedule,
        "person": o.person,
        "start": timestamp_json(o.start.as_ref()),
        "end": timestamp_json(o.end.as_ref()),
        "reason": o.reason,
        "created_by": o.created_by,
        "created_at": timestamp_json(o.created_at.as_ref()),
        "removed_by": o.removed_by,
        "removed_at": timestamp_json(o.removed_at.as_ref()),
    })
}

pub(crate) fn reload_json(r: &pb::ReloadResult) -> Value {
    json!({
        "at": timestamp_json(r.at.as_ref()),
        "trigger": r.trigger,
        "applied": r.applied,
        "errors": r.errors,
        "notes": r.notes,
    })
}

pub(crate) fn status_json(s: &pb::StatusResponse) -> Value {
    json!({
        "version": s.version,
        "started_at": timestamp_json(s.started_at.as_ref()),
        "schedules_dir": s.schedules_dir,
        "policies_loaded_at": timestamp_json(s.policies_loaded_at.as_ref()),
        "people": s.people,
        "services": s.services,
        "escalation_policies": s.escalation_policies,
        "schedules": s.schedules,
        "open_incidents": s.open_incidents,
        "channels": s.channels,
        "last_reload": s.last_reload.as_ref().map(reload_json),
        "nodes": s.nodes.iter().map(|n| json!({
            "name": n.name,
            "address": n.address,
            "version": n.version,
            "policy_digest": n.policy_digest,
            "started_at": timestamp_json(n.started_at.as_ref()),
            "seen_at": timestamp_json(n.seen_at.as_ref()),
            "leader": n.leader,
            "this_node": n.this_node,
        })).collect::<Vec<_>>(),
    })
}

pub(crate) fn timestamp_json(t: Option<&prost_types::Timestamp>) -> Value {
    match to_datetime(t) {
        Some(t) => json!(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
        None => Value::Null,
    }
}
