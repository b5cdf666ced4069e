//! The response-time report: per group (service, severity, person first paged, escalation
//! policy) the incidents opened in a range, how fast they were acknowledged (MTTA) and
//! resolved (MTTR), how many escalated, re-triggered or came off hours, and whether each was
//! answered within its severity's response target (the SLA), with the breaches listed.
//!
//! Rules, written once here (the README repeats them):
//! - An incident belongs to the range by when it opened.
//! - Time to acknowledge runs from opening to the first acknowledgement; time to resolve from
//!   opening to resolution. Medians and p90s are nearest-rank: always an observed value.
//! - Escalated: some level 2 or later was paged (or escalated to).
//! - Re-triggered: an incident of the same service and dedup key was resolved at most 24 h
//!   before this one opened (a problem that came back after being closed).
//! - Off hours: opened outside 09:00–18:00 Monday–Friday (the load report's rule) in the zone
//!   of the person first paged (UTC when nobody was paged).
//! - SLA: answered (first acknowledgement, or resolution without one) within the target is
//!   met; answered later, or unanswered at `now` past the target, is a breach, late by the
//!   difference; unanswered and not yet past the target is pending (neither).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};

use super::load_report::off_hours;
use super::{Event, EventKind, Incident, PolicySet, Severity};

/// How long a resolved problem may stay away before its return counts as a re-trigger.
pub const RETRIGGER_WINDOW: Duration = Duration::hours(24);

/// Response targets as written on a service or an escalation policy (`response_targets`);
/// a severity left out falls back (service → policy → [`default_target`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResponseTargets {
    pub critical: Option<std::time::Duration>,
    pub high: Option<std::time::Duration>,
    pub medium: Option<std::time::Duration>,
    pub low: Option<std::time::Duration>,
}

impl ResponseTargets {
    pub fn get(&self, severity: Severity) -> Option<std::time::Duration> {
        match severity {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
        }
    }

    pub fn set(&mut self, severity: Severity, d: std::time::Duration) {
        let slot = match severity {
            Severity::Critical => &mut self.critical,
            Severity::High => &mut self.high,
            Severity::Medium => &mut self.medium,
            Severity::Low => &mut self.low,
        };
        *slot = Some(d);
    }
}

/// The support manuals' targets: critical 15 min, high 1 h, medium 4 h, low 24 h.
pub fn default_target(severity: Severity) -> Duration {
    match severity {
        Severity::Critical => Duration::minutes(15),
        Severity::High => Duration::hours(1),
        Severity::Medium => Duration::hours(4),
        Severity::Low => Duration::hours(24),
    }
}

/// Where a response target came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetSource {
    /// The service's `response_targets`.
    Service,
    /// The escalation policy's `response_targets`.
    Policy,
    /// Neither sets one for the severity: [`default_target`].
    Default,
}

impl TargetSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Service => "service",
            Self::Policy => "escalation policy",
            Self::Default => "default",
        }
    }
}

/// The target for `severity`: the service's, else the policy's, else the default.
pub fn target_for(
    service: Option<&ResponseTargets>,
    policy: Option<&ResponseTargets>,
    severity: Severity,
) -> Duration {
    target_with_source(service, policy, severity).0
}

/// [`target_for`] and where the target came from.
pub fn target_with_source(
    service: Option<&ResponseTargets>,
    policy: Option<&ResponseTargets>,
    severity: Severity,
) -> (Duration, TargetSource) {
    [
        (service, TargetSource::Service),
        (policy, TargetSource::Policy),
    ]
    .into_iter()
    .filter_map(|(t, source)| Some((t?.get(severity)?, source)))
    .find_map(|(d, source)| Some((Duration::from_std(d).ok()?, source)))
    .unwrap_or_else(|| (default_target(severity), TargetSource::Default))
}

/// THE target of an incident, for the report and the post-mortem alike: its service's
/// targets, else those of the escalation policy it was opened on, for its severity.
pub fn incident_target(set: &PolicySet, inc: &Incident) -> (Duration, TargetSource) {
    target_with_source(
        set.services.get(&inc.service).map(|s| &s.response_targets),
        (set.policies.get(&inc.escalation_policy)).map(|p| &p.response_targets),
        inc.severity,
    )
}

/// When an incident was answered: its first acknowledgement, else its resolution.
pub fn answered_at(inc: &Incident, events: &[Event]) -> Option<DateTime<Utc>> {
    let acked_at = (events.iter())
        .find(|e| e.kind == EventKind::Acknowledged)
        .map(|e| e.at)
        .or(inc.acknowledged_at);
    [acked_at, inc.resolved_at].into_iter().flatten().min()
}

/// An incident's standing against its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sla {
    /// Answered within the target.
    Met,
    /// Answered later than the target, or unanswered at `now` past it, late by this much.
    Breached { late_by: Duration },
    /// Unanswered and not yet past the target.
    Pending,
}

/// The SLA rule (module doc), in one place.
pub fn judge(
    created_at: DateTime<Utc>,
    answered: Option<DateTime<Utc>>,
    target: Duration,
    now: DateTime<Utc>,
) -> Sla {
    let waited = answered.unwrap_or(now) - created_at;
    if waited > target {
        Sla::Breached {
            late_by: waited - target,
        }
    } else if answered.is_some() {
        Sla::Met
    } else {
        Sla::Pending
    }
}

/// What the report's rows are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Service,
    Severity,
    /// The person first paged (`-` when nobody was).
    Person,
    Policy,
}

impl GroupBy {
    pub const ALL: [GroupBy; 4] = [Self::Service, Self::Severity, Self::Person, Self::Policy];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Service => "service",
            Self::Severity => "severity",
            Self::Person => "person",
            Self::Policy => "policy",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

/// One incident with its timeline (oldest first) and its resolved response target.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub incident: &'a Incident,
    pub events: &'a [Event],
    pub target: Duration,
}

/// The figures of one row (or of the whole range).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupFigures {
    pub key: String,
    pub incidents: u32,
    pub acknowledged: u32,
    pub resolved: u32,
    pub mtta_median: Option<Duration>,
    pub mtta_p90: Option<Duration>,
    pub mttr_median: Option<Duration>,
    pub mttr_p90: Option<Duration>,
    pub escalated: u32,
    pub retriggered: u32,
    pub off_hours: u32,
    pub sla_met: u32,
    pub sla_breached: u32,
}

impl GroupFigures {
    fn share(&self, n: u32) -> f64 {
        if self.incidents == 0 {
            0.0
        } else {
            f64::from(n) / f64::from(self.incidents)
        }
    }

    pub fn escalation_rate(&self) -> f64 {
        self.share(self.escalated)
    }

    pub fn retrigger_rate(&self) -> f64 {
        self.share(self.retriggered)
    }

    pub fn off_hours_share(&self) -> f64 {
        self.share(self.off_hours)
    }

    /// Met over judged (met + breached); `None` while nothing is judged yet.
    pub fn sla_compliance(&self) -> Option<f64> {
        let judged = self.sla_met + self.sla_breached;
        (judged > 0).then(|| f64::from(self.sla_met) / f64::from(judged))
    }
}

/// An incident answered later than its target (or not at all, past it).
#[derive(Debug, Clone, PartialEq)]
pub struct Breach {
    pub incident_id: i64,
    pub service: String,
    pub severity: Severity,
    pub created_at: DateTime<Utc>,
    pub first_paged: Option<String>,
    pub target: Duration,
    /// Time to answer minus the target (for an unanswered incident: until `now`).
    pub late_by: Duration,
    pub answered: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResponseReport {
    /// In key order (severities from critical down).
    pub groups: Vec<GroupFigures>,
    pub total: GroupFigures,
    /// By incident id.
    pub breaches: Vec<Breach>,
}

/// What one incident contributes.
struct Facts {
    first_paged: Option<String>,
    to_ack: Option<Duration>,
    to_resolve: Option<Duration>,
    escalated: bool,
    retriggered: bool,
    off_hours: bool,
    /// `Some(None)`: met; `Some(Some(late))`: breached; `None`: pending.
    sla: Option<Option<Duration>>,
}

fn is_delivery(k: EventKind) -> bool {
    matches!(
        k,
        EventKind::Delivered | EventKind::DeliveryFailed | EventKind::DeliveryHeld
    )
}

fn is_escalation(e: &Event) -> bool {
    matches!(e.kind, EventKind::Paged | EventKind::Escalated) && e.level.unwrap_or(0) >= 2
}

/// The events of a timeline the report looks at (the first delivery attempt to a person, the
/// first acknowledgement, the first step to level 2 or later), so a reader can keep three
/// events per incident instead of whole timelines.
pub fn essentials(events: &[Event]) -> Vec<Event> {
    let first = |pred: &dyn Fn(&Event) -> bool| events.iter().find(|e| pred(e)).cloned();
    let mut out: Vec<Event> = [
        first(&|e: &Event| is_delivery(e.kind) && e.person.is_some()),
        first(&|e: &Event| e.kind == EventKind::Acknowledged),
        first(&is_escalation),
    ]
    .into_iter()
    .flatten()
    .collect();
    out.sort_by_key(|e| (e.at, e.id));
    out
}

fn facts(
    s: &Subject<'_>,
    all: &[Subject<'_>],
    zones: &HashMap<String, chrono_tz::Tz>,
    now: DateTime<Utc>,
) -> Facts {
    let inc = s.incident;
    let first_paged = (s.events.iter())
        .find(|e| is_delivery(e.kind) && e.person.is_some())
        .and_then(|e| e.person.clone());
    let acked_at = (s.events.iter())
        .find(|e| e.kind == EventKind::Acknowledged)
        .map(|e| e.at)
        .or(inc.acknowledged_at);
    let escalated = inc.pos.level >= 1 || s.events.iter().any(is_escalation);
    let retriggered = all.iter().any(|o| {
        let o = o.incident;
        o.id != inc.id
            && o.service == inc.service
            && o.dedup_key == inc.dedup_key
            && o.resolved_at
                .is_some_and(|r| r <= inc.created_at && inc.created_at - r <= RETRIGGER_WINDOW)
    });
    let zone = (first_paged.as_ref())
        .and_then(|p| zones.get(p).copied())
        .unwrap_or(chrono_tz::UTC);
    let sla = match judge(inc.created_at, answered_at(inc, s.events), s.target, now) {
        Sla::Met => Some(None),
        Sla::Breached { late_by } => Some(Some(late_by)),
        Sla::Pending => None,
    };
    Facts {
        first_paged,
        to_ack: acked_at.map(|a| a - inc.created_at),
        to_resolve: inc.resolved_at.map(|r| r - inc.created_at),
        escalated,
        retriggered,
        off_hours: off_hours(inc.created_at.with_timezone(&zone).naive_local()),
        sla,
    }
}

/// The nearest-rank `pct` percentile of `sorted` (ascending).
pub fn nearest_rank(sorted: &[Duration], pct: usize) -> Option<Duration> {
    let n = sorted.len();
    let rank = (pct * n).div_ceil(100).max(1);
    sorted.get(rank.min(n).checked_sub(1)?).copied()
}

#[derive(Default)]
struct Acc {
    figures: GroupFigures,
    to_ack: Vec<Duration>,
    to_resolve: Vec<Duration>,
}

impl Acc {
    fn add(&mut self, f: &Facts) {
        let g = &mut self.figures;
        g.incidents += 1;
        g.acknowledged += u32::from(f.to_ack.is_some());
        g.resolved += u32::from(f.to_resolve.is_some());
        g.escalated += u32::from(f.escalated);
        g.retriggered += u32::from(f.retriggered);
        g.off_hours += u32::from(f.off_hours);
        match f.sla {
            Some(None) => g.sla_met += 1,
            Some(Some(_)) => g.sla_breached += 1,
            None => {}
        }
        self.to_ack.extend(f.to_ack);
        self.to_resolve.extend(f.to_resolve);
    }

    fn finish(mut self, key: String) -> GroupFigures {
        self.to_ack.sort();
        self.to_resolve.sort();
        GroupFigures {
            key,
            mtta_median: nearest_rank(&self.to_ack, 50),
            mtta_p90: nearest_rank(&self.to_ack, 90),
            mttr_median: nearest_rank(&self.to_resolve, 50),
            mttr_p90: nearest_rank(&self.to_resolve, 90),
            ..self.figures
        }
    }
}

/// The report over incidents opened in `[from, to)`, grouped `by`. `subjects` may hold
/// earlier incidents too: they count only for the re-trigger rule. `zones` are the people's
/// zones; unanswered incidents are judged at `now`.
pub fn response_report(
    subjects: &[Subject<'_>],
    by: GroupBy,
    zones: &HashMap<String, chrono_tz::Tz>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> ResponseReport {
    let mut groups: BTreeMap<(Option<Severity>, String), Acc> = BTreeMap::new();
    let mut total = Acc::default();
    let mut breaches = Vec::new();
    for s in subjects {
        let inc = s.incident;
        if inc.created_at < from || inc.created_at >= to {
            continue;
        }
        let f = facts(s, subjects, zones, now);
        let key = match by {
            GroupBy::Service => (None, inc.service.clone()),
            GroupBy::Severity => (Some(inc.severity), inc.severity.as_str().to_string()),
            GroupBy::Person => (None, f.first_paged.clone().unwrap_or_else(|| "-".into())),
            GroupBy::Policy => (None, inc.escalation_policy.clone()),
        };
        groups.entry(key).or_default().add(&f);
        total.add(&f);
        if let Some(Some(late_by)) = f.sla {
            breaches.push(Breach {
                incident_id: inc.id,
                service: inc.service.clone(),
                severity: inc.severity,
                created_at: inc.created_at,
                first_paged: f.first_paged.clone(),
                target: s.target,
                late_by,
                answered: f.to_ack.is_some() || f.to_resolve.is_some(),
            });
        }
    }
    breaches.sort_by_key(|b| b.incident_id);
    ResponseReport {
        groups: (groups.into_iter())
            .map(|((_, key), acc)| acc.finish(key))
            .collect(),
        total: total.finish("all".into()),
        breaches,
    }
}

#[cfg(test)]
#[path = "response_report_tests.rs"]
mod tests;
