//! How fast an incident was answered against its response target (the SLA), for the draft:
//! the target and where it came from, the time to answer and the verdict. The target and the
//! rule are the response report's (`response_report::incident_target` and `judge`), so a
//! draft and the report never disagree about an incident.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::domain::response_report::{Sla, TargetSource, answered_at, judge};
use crate::domain::{Event, EventKind, Incident};

/// The draft's SLA line, as `pagerctl postmortem --format json` prints it (`sla`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlaVerdict {
    /// The response target for the incident's severity.
    pub target_seconds: i64,
    /// Where it is set: "service", "escalation policy", or "default" when neither sets one
    /// for the severity (the support manuals' 15m / 1h / 4h / 24h).
    pub target_source: &'static str,
    /// From the start to the first acknowledgement, else to the resolution; `None` while
    /// unanswered.
    pub answered_after_seconds: Option<i64>,
    /// "acknowledged" or "resolved" (resolved without an acknowledgement).
    pub answered_by: Option<&'static str>,
    /// "met", "breached" or "pending" (unanswered, target not yet past).
    pub outcome: &'static str,
    /// Time to answer minus the target; for an unanswered incident, as of the draft.
    pub breached_by_seconds: Option<i64>,
    /// When the verdict of an unanswered incident was taken.
    pub as_of: DateTime<Utc>,
}

/// The verdict for `inc` with its timeline (oldest first) against `target`, at `now`.
pub fn sla_verdict(
    inc: &Incident,
    events: &[Event],
    target: (Duration, TargetSource),
    now: DateTime<Utc>,
) -> SlaVerdict {
    let answered = answered_at(inc, events);
    let acked =
        inc.acknowledged_at.is_some() || events.iter().any(|e| e.kind == EventKind::Acknowledged);
    let (outcome, late) = match judge(inc.created_at, answered, target.0, now) {
        Sla::Met => ("met", None),
        Sla::Breached { late_by } => ("breached", Some(late_by.num_seconds())),
        Sla::Pending => ("pending", None),
    };
    SlaVerdict {
        target_seconds: target.0.num_seconds(),
        target_source: target.1.as_str(),
        answered_after_seconds: answered.map(|a| (a - inc.created_at).num_seconds()),
        answered_by: answered.map(|_| if acked { "acknowledged" } else { "resolved" }),
        outcome,
        breached_by_seconds: late,
        as_of: now,
    }
}
