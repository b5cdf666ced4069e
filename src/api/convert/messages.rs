//! Domain values to answers: the `From` impls for every message the daemon sends, and the
//! few conversions that need context (a shift needs its schedule; a test page, its wait).

use chrono::{DateTime, Utc};

use super::timestamp;
use crate::domain::schedule::{FinalShift, Source};
use crate::domain::{self, Link, ScheduleDef, ScheduleOverride};
use crate::engine::{
    ActionOutcome, AttemptOutcome, HeartbeatView, MaintenanceView, NoticeOutcome, ReloadAttempt,
    TriggerOutcome,
};
use crate::proto as pb;

impl From<Link> for pb::Link {
    fn from(l: Link) -> Self {
        Self {
            href: l.href,
            text: l.text,
        }
    }
}

impl From<pb::Link> for Link {
    fn from(l: pb::Link) -> Self {
        Self {
            href: l.href,
            text: l.text,
        }
    }
}

impl From<domain::Incident> for pb::Incident {
    fn from(i: domain::Incident) -> Self {
        Self {
            id: i.id,
            service: i.service,
            dedup_key: i.dedup_key,
            severity: pb::Severity::from(i.severity) as i32,
            summary: i.summary,
            source: i.source,
            details: i.details.into_iter().collect(),
            links: i.links.into_iter().map(pb::Link::from).collect(),
            state: pb::IncidentState::from(i.state) as i32,
            escalation_policy: i.escalation_policy,
            level: i.pos.level,
            r#loop: i.pos.loop_no,
            alert_count: i.alert_count,
            created_at: Some(timestamp(i.created_at)),
            last_seen_at: Some(timestamp(i.last_seen_at)),
            acknowledged_at: i.acknowledged_at.map(timestamp),
            acknowledged_by: i.acknowledged_by.unwrap_or_default(),
            resolved_at: i.resolved_at.map(timestamp),
            resolved_by: i.resolved_by.unwrap_or_default(),
            resolve_note: i.resolve_note.unwrap_or_default(),
            next_action_at: i.next_action_at.map(timestamp),
            last_summary: i.last_summary.unwrap_or_default(),
            last_details: i.last_details.unwrap_or_default().into_iter().collect(),
            postmortem_pending: i.postmortem_required && i.postmortem_url.is_none(),
            postmortem_url: i.postmortem_url.unwrap_or_default(),
        }
    }
}

impl From<domain::Event> for pb::IncidentEvent {
    fn from(e: domain::Event) -> Self {
        Self {
            id: e.id,
            sequence: e.id,
            incident_id: e.incident_id,
            kind: pb::EventKind::from(e.kind) as i32,
            at: Some(timestamp(e.at)),
            service: e.service,
            level: e.level.unwrap_or_default(),
            person: e.person.unwrap_or_default(),
            channel: e.channel.unwrap_or_default(),
            actor: e.actor.unwrap_or_default(),
            message: e.message,
        }
    }
}

impl From<TriggerOutcome> for pb::TriggerResponse {
    fn from(o: TriggerOutcome) -> Self {
        Self {
            incident_id: o.incident_id,
            dedup_key: o.dedup_key,
            deduplicated: o.deduplicated,
            alert_count: o.alert_count,
        }
    }
}

/// An action by (service, dedup key); `None` when no open incident has the key.
impl From<Option<ActionOutcome>> for pb::AlertActionResponse {
    fn from(outcome: Option<ActionOutcome>) -> Self {
        match outcome {
            Some(o) => Self {
                matched: true,
                changed: o.changed,
                incident_id: o.incident.id,
                state: pb::IncidentState::from(o.incident.state) as i32,
            },
            None => Self::default(),
        }
    }
}

impl From<ActionOutcome> for pb::IncidentActionResponse {
    fn from(o: ActionOutcome) -> Self {
        Self {
            incident: Some(o.incident.into()),
            changed: o.changed,
        }
    }
}

impl From<ScheduleOverride> for pb::Override {
    fn from(o: ScheduleOverride) -> Self {
        Self {
            id: o.id,
            schedule: o.schedule,
            person: o.person,
            start: Some(timestamp(o.start)),
            end: Some(timestamp(o.end)),
            reason: o.reason,
            created_by: o.created_by,
            created_at: Some(timestamp(o.created_at)),
            removed_by: o.removed_by.unwrap_or_default(),
            removed_at: o.removed_at.map(timestamp),
        }
    }
}

impl From<ReloadAttempt> for pb::ReloadResult {
    fn from(a: ReloadAttempt) -> Self {
        Self {
            at: Some(timestamp(a.at)),
            trigger: a.trigger,
            applied: a.applied,
            errors: a.errors,
            notes: a.notes,
        }
    }
}

impl From<MaintenanceView> for pb::MaintenanceWindow {
    fn from(v: MaintenanceView) -> Self {
        let w = v.window;
        Self {
            id: w.id.unwrap_or_default(),
            service: w.service,
            start: Some(timestamp(w.start)),
            end: Some(timestamp(w.end)),
            reason: w.reason,
            page_after: w.page_after,
            created_by: w.created_by,
            removed_by: v.removed_by.unwrap_or_default(),
        }
    }
}

impl From<HeartbeatView> for pb::HeartbeatInfo {
    fn from(h: HeartbeatView) -> Self {
        Self {
            name: h.def.name,
            service: h.def.service,
            interval_seconds: h.def.interval.as_secs(),
            severity: pb::Severity::from(h.def.severity) as i32,
            last_ping_at: h.last_ping_at.map(timestamp),
            expires_at: h.expires_at.map(timestamp),
            ping_url: h.ping_url,
            token: h.token,
        }
    }
}

impl From<domain::load_report::PersonLoad> for pb::PersonLoad {
    fn from(p: domain::load_report::PersonLoad) -> Self {
        Self {
            person: p.person,
            quarter_weeks: p.quarter_weeks,
            weeks: p.weeks,
            shifts: p.shifts,
            incidents: p.incidents,
            pages: p.pages,
            off_hours_pages: p.off_hours_pages,
            hours_called_in: p.hours_called_in,
            toil_hours: p.toil_hours,
            limit_skips: p.limit_skips,
            flagged_overrides: p.flagged_overrides,
            rebalance: p.rebalance,
        }
    }
}

// ---- test pages ------------------------------------------------------------------------------

/// `TestPageResult.status` values.
pub const PAGE_SENT: &str = "sent";
pub const PAGE_RETRYING: &str = "retrying";
pub const PAGE_FAILED: &str = "failed";
/// No first attempt within the wait.
pub const PAGE_PENDING: &str = "pending";

/// A page attempt's status word and its error (empty when sent).
pub fn attempt_status(o: AttemptOutcome) -> (&'static str, String) {
    match o {
        AttemptOutcome::Sent => (PAGE_SENT, String::new()),
        AttemptOutcome::Retry { error, .. } => (PAGE_RETRYING, error),
        AttemptOutcome::Failed { error } => (PAGE_FAILED, error),
    }
}

/// One channel's test page: its first attempt, or pending when none came in time.
pub fn test_page_result(channel: String, o: Option<NoticeOutcome>) -> pb::TestPageResult {
    let Some(o) = o else {
        return pb::TestPageResult {
            channel,
            status: PAGE_PENDING.into(),
            ..Default::default()
        };
    };
    let (status, error) = attempt_status(o.outcome);
    pb::TestPageResult {
        channel,
        address: o.address,
        status: status.into(),
        response: o.response,
        error,
    }
}

// ---- shifts ----------------------------------------------------------------------------------

/// A final shift of `def`, with how the burnout limits decided the turn in progress at `at`
/// (or the override behind it), if they did.
pub fn shift(def: &ScheduleDef, s: FinalShift, at: DateTime<Utc>) -> pb::Shift {
    let schedule = &def.schedule;
    let decided = match s.source {
        Source::Layer(i) => {
            let layer = &schedule.layers[i];
            (layer.rotation.shift_at(at)).and_then(|t| layer.assigned.get(&t.index))
        }
        Source::Override(i) => {
            let o = &schedule.overrides[i];
            (def.override_notes).get(&(o.person.clone(), o.start, o.end))
        }
    };
    pb::Shift {
        source: schedule.describe(&s.source),
        person: s.person,
        start: Some(timestamp(s.start)),
        end: Some(timestamp(s.end)),
        reason: decided.map(|a| a.reason.clone()).unwrap_or_default(),
        projected: decided.is_some_and(|a| a.projected),
        flagged: decided.is_some_and(|a| a.flagged),
    }
}

// ---- the response-time report ------------------------------------------------------------

/// Whole seconds; negative (never expected) as zero.
fn seconds(d: chrono::Duration) -> u64 {
    u64::try_from(d.num_seconds()).unwrap_or(0)
}

impl From<&domain::response_report::GroupFigures> for pb::ResponseGroup {
    fn from(g: &domain::response_report::GroupFigures) -> Self {
        Self {
            key: g.key.clone(),
            incidents: g.incidents,
            acknowledged: g.acknowledged,
            resolved: g.resolved,
            mtta_median_seconds: g.mtta_median.map(seconds),
            mtta_p90_seconds: g.mtta_p90.map(seconds),
            mttr_median_seconds: g.mttr_median.map(seconds),
            mttr_p90_seconds: g.mttr_p90.map(seconds),
            escalated: g.escalated,
            escalation_rate: g.escalation_rate(),
            retriggered: g.retriggered,
            retrigger_rate: g.retrigger_rate(),
            off_hours: g.off_hours,
            off_hours_share: g.off_hours_share(),
            sla_met: g.sla_met,
            sla_breached: g.sla_breached,
            sla_compliance: g.sla_compliance(),
        }
    }
}

impl From<domain::response_report::Breach> for pb::ResponseBreach {
    fn from(b: domain::response_report::Breach) -> Self {
        Self {
            incident_id: b.incident_id,
            service: b.service,
            severity: pb::Severity::from(b.severity) as i32,
            created_at: Some(timestamp(b.created_at)),
            first_paged: b.first_paged.unwrap_or_default(),
            target_seconds: seconds(b.target),
            late_seconds: seconds(b.late_by),
            answered: b.answered,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_map_to_their_status_words() {
        let at = DateTime::from_timestamp(0, 0).unwrap();
        let table = [
            (AttemptOutcome::Sent, (PAGE_SENT, "")),
            (
                AttemptOutcome::Retry {
                    at,
                    error: "503".into(),
                },
                (PAGE_RETRYING, "503"),
            ),
            (
                AttemptOutcome::Failed {
                    error: "400".into(),
                },
                (PAGE_FAILED, "400"),
            ),
        ];
        for (outcome, (status, error)) in table {
            assert_eq!(attempt_status(outcome), (status, error.to_string()));
        }
        let pending = test_page_result("sms".into(), None);
        assert_eq!(
            (pending.channel.as_str(), pending.status.as_str()),
            ("sms", PAGE_PENDING)
        );
    }

    #[test]
    fn links_round_trip() {
        let l = Link {
            href: "https://example.com".into(),
            text: "dashboard".into(),
        };
        assert_eq!(Link::from(pb::Link::from(l.clone())), l);
    }
}
