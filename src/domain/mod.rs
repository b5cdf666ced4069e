//! Pure domain types and decisions: no I/O, no async, no clock.
//!
//! Everything here is a value or a function from values to a decision, so the rules can be
//! tested with tables and proptest.

pub mod access;
pub mod audit;
pub mod burnout;
pub mod contact;
pub mod dispatch;
pub mod due;
pub mod escalation;
pub mod handoff;
pub mod health;
pub mod incident;
pub mod ingest;
pub mod load_report;
pub mod members;
pub mod policy;
pub mod postmortem;
pub mod rebalance;
pub mod reload;
pub mod response_report;
pub mod rotation;
pub mod schedule;
pub mod simulate;
pub mod threshold;

pub use escalation::{
    Position, Step, on_ack_timeout, on_escalation_due, on_manual_escalate, on_trigger,
};
pub use incident::{Event, Incident, Link, NewAlert, NewEvent, Notice, Page};
pub use policy::{
    EscalationPolicy, HandoffNotify, Level, Person, PolicySet, Repeat, ScheduleDef,
    ScheduleOverride, Service, Target, Timeline,
};

use std::fmt;

/// Severity of an alert. P0..P3 and SEV-1..SEV-4 map onto these in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
}

impl Severity {
    pub const ALL: [Severity; 4] = [Self::Critical, Self::High, Self::Medium, Self::Low];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::High => "high",
            Self::Medium => "medium",
            Self::Low => "low",
        }
    }

    /// Accepts the canonical names plus the common aliases: `p0`..`p3`, `sev1`..`sev4`
    /// (also `sev-1`), case-insensitively.
    pub fn parse(s: &str) -> Result<Self, String> {
        let lower = s.trim().to_ascii_lowercase();
        Ok(match lower.as_str() {
            "critical" | "p0" | "sev1" | "sev-1" => Self::Critical,
            "high" | "p1" | "sev2" | "sev-2" => Self::High,
            "medium" | "p2" | "sev3" | "sev-3" => Self::Medium,
            "low" | "p3" | "sev4" | "sev-4" => Self::Low,
            _ => {
                return Err(format!(
                    "unknown severity `{s}` (expected critical, high, medium or low; P0-P3 and SEV-1..4 are accepted)"
                ));
            }
        })
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lifecycle of an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IncidentState {
    Triggered,
    Acknowledged,
    Resolved,
}

impl IncidentState {
    pub const ALL: [IncidentState; 3] = [Self::Triggered, Self::Acknowledged, Self::Resolved];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Triggered => "triggered",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
        }
    }

    /// The inverse of [`Self::as_str`], so each name is written once.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl fmt::Display for IncidentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happens to an incident over time; also what `Watch` streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Triggered,
    Deduplicated,
    Paged,
    Escalated,
    Acknowledged,
    Resolved,
    Retriggered,
    Unanswered,
    Delivered,
    DeliveryFailed,
    /// Paging waits: a maintenance window or outside support hours.
    Held,
    /// The same alert repeated past the service's threshold.
    SeverityRaised,
    /// A rate limit holds pages back; they go out together later.
    DeliveryHeld,
    /// A responder's note on the timeline (`AddNote`); the text is the message.
    Note,
}

impl EventKind {
    pub const ALL: [EventKind; 14] = [
        Self::Triggered,
        Self::Deduplicated,
        Self::Paged,
        Self::Escalated,
        Self::Acknowledged,
        Self::Resolved,
        Self::Retriggered,
        Self::Unanswered,
        Self::Delivered,
        Self::DeliveryFailed,
        Self::Held,
        Self::SeverityRaised,
        Self::DeliveryHeld,
        Self::Note,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Triggered => "triggered",
            Self::Deduplicated => "deduplicated",
            Self::Paged => "paged",
            Self::Escalated => "escalated",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
            Self::Retriggered => "retriggered",
            Self::Unanswered => "unanswered",
            Self::Delivered => "delivered",
            Self::DeliveryFailed => "delivery_failed",
            Self::Held => "held",
            Self::SeverityRaised => "severity_raised",
            Self::DeliveryHeld => "delivery_held",
            Self::Note => "note",
        }
    }

    /// The inverse of [`Self::as_str`], so each name is written once.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// Why a page is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageKind {
    /// "Please respond": the person is a target of the level being paged.
    Page,
    /// The chain ran out without an acknowledgement; the last level is told so.
    Unanswered,
    /// A shift change summary; needs no acknowledgement.
    Handoff,
    /// `pagerctl test-page`: checks a contact method end to end.
    Test,
}

impl PageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Page => "page",
            Self::Unanswered => "unanswered",
            Self::Handoff => "handoff",
            Self::Test => "test",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "page" => Some(Self::Page),
            "unanswered" => Some(Self::Unanswered),
            "handoff" => Some(Self::Handoff),
            "test" => Some(Self::Test),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_aliases_map_in_order() {
        let table = [
            ("critical", Severity::Critical),
            ("P0", Severity::Critical),
            ("SEV-1", Severity::Critical),
            ("sev1", Severity::Critical),
            ("high", Severity::High),
            ("p1", Severity::High),
            ("SEV2", Severity::High),
            ("Medium", Severity::Medium),
            ("p2", Severity::Medium),
            ("sev-3", Severity::Medium),
            ("low", Severity::Low),
            ("P3", Severity::Low),
            ("sev4", Severity::Low),
        ];
        for (input, want) in table {
            assert_eq!(Severity::parse(input), Ok(want), "{input}");
        }
        assert!(Severity::parse("urgent").unwrap_err().contains("urgent"));
        assert!(Severity::parse("p4").is_err());
    }

    #[test]
    fn names_round_trip() {
        for s in Severity::ALL {
            assert_eq!(Severity::parse(s.as_str()), Ok(s));
        }
        for s in [
            IncidentState::Triggered,
            IncidentState::Acknowledged,
            IncidentState::Resolved,
        ] {
            assert_eq!(IncidentState::parse(s.as_str()), Some(s));
        }
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(EventKind::parse("Paged"), None);
    }
}
