//! Validated policy set: people, services, escalation policies and on-call schedules, as
//! loaded from `schedules/`.
//!
//! These are plain values; parsing and validation (with file:line messages) live in
//! `crate::config::policy`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use super::Severity;
use super::ingest::{HeartbeatDef, MaintenanceWindow, Route, SupportHours, Threshold};
use super::schedule::Schedule;

/// A responder.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub name: String,
    pub time_zone: chrono_tz::Tz,
    pub email: Option<String>,
    pub sms: Option<String>,
    pub slack: Option<String>,
    /// Which method when for critical/high/medium pages, by `after` (filled with the defaults
    /// of `domain::contact` when the file gives none).
    pub contact_rules: Vec<super::contact::ContactRule>,
    /// The same for low-severity pages.
    pub low_contact_rules: Vec<super::contact::ContactRule>,
}

/// A thing that raises alerts; points at one escalation policy (plus routing rules).
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    pub description: String,
    /// The default policy, where no routing rule matches.
    pub escalation_policy: String,
    /// Keys alert senders use instead of the name (Events v2 routing keys, Alertmanager URLs).
    pub integration_keys: Vec<String>,
    /// First match wins.
    pub routes: Vec<Route>,
    pub support_hours: Option<SupportHours>,
    /// `None`: repeating alerts never raise the severity.
    pub threshold: Option<Threshold>,
    /// Detail names that make distinct open alerts related for the threshold rule (see
    /// `domain::threshold`); empty: only flapping counts.
    pub related_by: Vec<String>,
    /// Per-severity response targets (`response_targets`); win over the policy's.
    pub response_targets: super::response_report::ResponseTargets,
}

impl Service {
    /// A service with no integration keys, rules or support hours, and the default threshold.
    pub fn new(name: &str, escalation_policy: &str) -> Self {
        Self {
            name: name.to_string(),
            description: String::new(),
            escalation_policy: escalation_policy.to_string(),
            integration_keys: Vec::new(),
            routes: Vec::new(),
            support_hours: None,
            threshold: Some(Threshold::default()),
            related_by: Vec::new(),
            response_targets: Default::default(),
        }
    }
}

/// Who a level pages.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    Person(String),
    /// Whoever is on call for the schedule when the level is paged (its owner in a gap).
    Schedule(String),
}

/// One rung of the ladder: page `targets`, then wait `delay` before the next level.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    pub targets: Vec<Target>,
    pub delay: Duration,
}

/// An ordered, non-empty list of levels.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    pub levels: Vec<Level>,
}

/// What to do when the last level's delay passes without an acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// Run the whole chain this many more times (0 = once through), then give up.
    Times(u32),
    /// Keep looping until someone acknowledges or resolves.
    UntilAcknowledged,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EscalationPolicy {
    pub name: String,
    /// Ladder for severities that have no timeline of their own.
    pub default: Timeline,
    pub per_severity: HashMap<Severity, Timeline>,
    pub repeat: Repeat,
    /// Acknowledged but unresolved for this long → re-triggered and escalated.
    pub ack_timeout: Option<Duration>,
    /// Per-severity response targets (`response_targets`) of the services it serves.
    pub response_targets: super::response_report::ResponseTargets,
}

impl EscalationPolicy {
    pub fn timeline(&self, severity: Severity) -> &Timeline {
        self.per_severity.get(&severity).unwrap_or(&self.default)
    }
}

/// An on-call schedule as defined in the policy files, with the person responsible for it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleDef {
    pub schedule: Schedule,
    /// A person's name: responsible for the schedule; paged in a gap unless `fallback` is set.
    pub owner: String,
    /// Paged instead of the owner when nobody is on call.
    pub fallback: Option<String>,
    /// Who is told at each shift change.
    pub handoff: HandoffNotify,
    /// Limits the rotation enforces (`[schedule.burnout]`); `None`: the plain rotation.
    pub burnout: Option<super::burnout::BurnoutPolicy>,
    /// Overrides as the ledger or a projection judged them, by (person, start, end).
    pub override_notes: std::sync::Arc<OverrideNotes>,
}

pub type OverrideNotes = BTreeMap<
    (
        String,
        chrono::DateTime<chrono::Utc>,
        chrono::DateTime<chrono::Utc>,
    ),
    super::schedule::Assignment,
>;

impl ScheduleDef {
    /// Who a level targeting this schedule pages when nobody is on call.
    pub fn gap_fallback(&self) -> &str {
        self.fallback.as_deref().unwrap_or(&self.owner)
    }
}

/// Handoff notifications of a schedule (`handoff_notifications` in the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandoffNotify {
    /// The person coming on call gets a summary.
    pub incoming: bool,
    /// The person going off call gets one too.
    pub outgoing: bool,
}

impl Default for HandoffNotify {
    fn default() -> Self {
        Self {
            incoming: true,
            outgoing: false,
        }
    }
}

impl HandoffNotify {
    pub const OFF: Self = Self {
        incoming: false,
        outgoing: false,
    };

    pub fn enabled(self) -> bool {
        self.incoming || self.outgoing
    }
}

/// A schedule override made through the API (stored, with who made it and when). File
/// overrides are part of the schedule itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleOverride {
    pub id: i64,
    pub schedule: String,
    pub person: String,
    pub start: chrono::DateTime<chrono::Utc>,
    pub end: chrono::DateTime<chrono::Utc>,
    pub reason: String,
    pub created_by: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub removed_by: Option<String>,
    pub removed_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl ScheduleOverride {
    /// How the override reads where a shift names its source.
    pub fn label(&self) -> String {
        let by = format!("#{} by {}", self.id, self.created_by);
        if self.reason.is_empty() {
            by
        } else {
            format!("{by}: {}", self.reason)
        }
    }
}

/// Everything the daemon needs from the policy files, validated as a whole.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicySet {
    pub people: BTreeMap<String, Person>,
    pub services: BTreeMap<String, Service>,
    pub policies: BTreeMap<String, EscalationPolicy>,
    pub schedules: BTreeMap<String, ScheduleDef>,
    pub heartbeats: BTreeMap<String, HeartbeatDef>,
    /// The files' windows, plus those made through the API in the serving set.
    pub maintenance: Vec<MaintenanceWindow>,
    /// Integration key → service name.
    pub integration_keys: BTreeMap<String, String>,
    /// SHA-256 (hex) of the files the set was read from, names and contents in name order;
    /// empty for a set not read from files. Nodes compare it (`pagerctl status`).
    pub digest: String,
}

/// The people a level's targets come to at one instant, with what is worth telling about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    /// In target order, each once.
    pub people: Vec<String>,
    /// E.g. a schedule gap that paged its owner, or a target that no longer exists.
    pub warnings: Vec<String>,
}

impl PolicySet {
    /// Resolves targets at `at`: people as they are; a schedule to whoever is on call, or
    /// to its owner (with a warning) when nobody is, so a level never waits silently.
    pub fn resolve_targets(
        &self,
        targets: &[Target],
        at: chrono::DateTime<chrono::Utc>,
    ) -> Resolved {
        let mut out = Resolved::default();
        let add = |out: &mut Resolved, person: &str| {
            if !self.people.contains_key(person) {
                out.warnings
                    .push(format!("unknown person {person} skipped"));
            } else if !out.people.iter().any(|p| p == person) {
                out.people.push(person.to_string());
            }
        };
        for target in targets {
            match target {
                Target::Person(name) => add(&mut out, name),
                Target::Schedule(name) => match self.schedules.get(name) {
                    Some(def) => match def.schedule.on_call(at) {
                        Some(shift) => add(&mut out, &shift.person),
                        None => {
                            let who = if def.fallback.is_some() {
                                "fallback"
                            } else {
                                "owner"
                            };
                            out.warnings.push(format!(
                                "schedule {name} has nobody on call: paging its {who} {}",
                                def.gap_fallback()
                            ));
                            add(&mut out, def.gap_fallback());
                        }
                    },
                    None => out
                        .warnings
                        .push(format!("unknown schedule {name} skipped")),
                },
            }
        }
        out
    }

    /// This set with API overrides added to their schedules. They come after the file's
    /// overrides, so where both cover a time the API one wins; overrides of schedules or
    /// people no longer in the set are left out (they stay stored).
    pub fn with_overrides(&self, overrides: &[ScheduleOverride]) -> PolicySet {
        let mut set = self.clone();
        for o in overrides {
            if !set.people.contains_key(&o.person) {
                continue;
            }
            if let Some(def) = set.schedules.get_mut(&o.schedule) {
                def.schedule.overrides.push(super::schedule::Override {
                    person: o.person.clone(),
                    start: o.start,
                    end: o.end,
                    reason: o.label(),
                });
            }
        }
        set
    }

    /// Services whose escalation policy pages this schedule at some level.
    pub fn services_covered_by(&self, schedule: &str) -> Vec<&str> {
        let target = Target::Schedule(schedule.to_string());
        self.services
            .values()
            .filter(|svc| {
                self.policies.get(&svc.escalation_policy).is_some_and(|p| {
                    std::iter::once(&p.default)
                        .chain(p.per_severity.values())
                        .flat_map(|t| &t.levels)
                        .any(|l| l.targets.contains(&target))
                })
            })
            .map(|svc| svc.name.as_str())
            .collect()
    }

    /// Schedules some escalation policy pages (the ones whose gaps matter).
    pub fn schedules_in_use(&self) -> std::collections::BTreeSet<&str> {
        self.policies
            .values()
            .flat_map(|p| std::iter::once(&p.default).chain(p.per_severity.values()))
            .flat_map(|t| &t.levels)
            .flat_map(|l| &l.targets)
            .filter_map(|t| match t {
                Target::Schedule(s) => Some(s.as_str()),
                Target::Person(_) => None,
            })
            .collect()
    }

    /// The service an integration key belongs to.
    pub fn service_for_key(&self, key: &str) -> Option<&Service> {
        self.services.get(self.integration_keys.get(key)?)
    }

    /// This set with maintenance windows made through the API added to the files' ones.
    pub fn with_maintenance(mut self, windows: &[MaintenanceWindow]) -> PolicySet {
        self.maintenance.retain(|w| w.id.is_none());
        self.maintenance.extend(
            windows
                .iter()
                .filter(|w| self.services.contains_key(&w.service))
                .cloned(),
        );
        self
    }

    /// The escalation policy of a service, if both exist.
    pub fn policy_for_service(&self, service: &str) -> Option<&EscalationPolicy> {
        let svc = self.services.get(service)?;
        self.policies.get(&svc.escalation_policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::rotation::{Rotation, ShiftLength};
    use crate::domain::schedule::{Layer, Restriction, Schedule};
    use chrono::{NaiveDate, NaiveTime};

    fn set() -> PolicySet {
        let mut set = PolicySet::default();
        for name in ["alice", "sam", "victor"] {
            set.people.insert(
                name.into(),
                Person {
                    name: name.into(),
                    time_zone: chrono_tz::UTC,
                    email: None,
                    sms: None,
                    slack: None,
                    contact_rules: Vec::new(),
                    low_contact_rules: Vec::new(),
                },
            );
        }
        let t = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap();
        let schedule = Schedule {
            name: "nights".into(),
            zone: chrono_tz::UTC,
            layers: vec![Layer {
                evening: false,
                assigned: Default::default(),
                name: "nights".into(),
                rotation: Rotation {
                    zone: chrono_tz::UTC,
                    start: NaiveDate::from_ymd_opt(2026, 3, 2).unwrap().and_time(t(9)),
                    length: ShiftLength::Weeks(1),
                    members: vec!["sam".into()],
                },
                restrictions: vec![Restriction::Daily {
                    start: t(20),
                    end: t(8),
                }],
            }],
            overrides: vec![],
        };
        set.schedules.insert(
            "nights".into(),
            ScheduleDef {
                burnout: None,
                override_notes: Default::default(),
                schedule,
                owner: "victor".into(),
                fallback: None,
                handoff: HandoffNotify::default(),
            },
        );
        set
    }

    #[test]
    fn targets_resolve_to_people_on_call_or_the_owner_with_a_warning() {
        let set = set();
        let at = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
        let targets = [
            Target::Person("alice".into()),
            Target::Schedule("nights".into()),
            Target::Person("alice".into()),
            Target::Person("zoe".into()),
            Target::Schedule("days".into()),
        ];
        let night = set.resolve_targets(&targets, at("2026-03-03T22:00:00Z"));
        assert_eq!(night.people, ["alice", "sam"]);
        assert_eq!(
            night.warnings,
            [
                "unknown person zoe skipped",
                "unknown schedule days skipped"
            ]
        );

        let noon = set.resolve_targets(&targets[..2], at("2026-03-03T12:00:00Z"));
        assert_eq!(noon.people, ["alice", "victor"]);
        assert_eq!(
            noon.warnings,
            ["schedule nights has nobody on call: paging its owner victor"]
        );
    }
}
