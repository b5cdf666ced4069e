//! Validated policy set: people, services, escalation policies and on-call schedules, as
//! loaded from `schedules/`.
//!
//! These are plain values; parsing and validation (with file:line messages) live in
//! `crate::config::policy`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use super::Severity;
use super::schedule::Schedule;

/// A responder.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub name: String,
    pub time_zone: chrono_tz::Tz,
    pub email: Option<String>,
    pub sms: Option<String>,
    pub slack: Option<String>,
}

/// A thing that raises alerts; points at one escalation policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    pub description: String,
    pub escalation_policy: String,
}

/// Who a level pages. Schedules join people with the schedules work.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    Person(String),
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
    /// A person's name: paged when nobody is on call (not wired into escalation yet).
    pub owner: String,
}

/// Everything the daemon needs from the policy files, validated as a whole.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicySet {
    pub people: BTreeMap<String, Person>,
    pub services: BTreeMap<String, Service>,
    pub policies: BTreeMap<String, EscalationPolicy>,
    pub schedules: BTreeMap<String, ScheduleDef>,
}

impl PolicySet {
    /// The escalation policy of a service, if both exist.
    pub fn policy_for_service(&self, service: &str) -> Option<&EscalationPolicy> {
        let svc = self.services.get(service)?;
        self.policies.get(&svc.escalation_policy)
    }
}
