//! Every enum ↔ name map pagerctl has, in one place: the command line's severity and state
//! words to proto values, and proto values to the lowercase words shown and printed as JSON.
//! Kept as small functions so they can be swapped for the crate's shared conversions.

use pagerd::proto::{EventKind, IncidentState, Severity};

use crate::cli::{SeverityArg, StateArg};

impl From<SeverityArg> for Severity {
    fn from(s: SeverityArg) -> Self {
        match s {
            SeverityArg::Critical => Severity::Critical,
            SeverityArg::High => Severity::High,
            SeverityArg::Medium => Severity::Medium,
            SeverityArg::Low => Severity::Low,
        }
    }
}

impl From<StateArg> for IncidentState {
    fn from(s: StateArg) -> Self {
        match s {
            StateArg::Triggered => IncidentState::Triggered,
            StateArg::Acknowledged => IncidentState::Acknowledged,
            StateArg::Resolved => IncidentState::Resolved,
        }
    }
}

pub(crate) fn severity_name(v: i32) -> &'static str {
    match Severity::try_from(v) {
        Ok(Severity::Critical) => "critical",
        Ok(Severity::High) => "high",
        Ok(Severity::Medium) => "medium",
        Ok(Severity::Low) => "low",
        Ok(Severity::Unspecified) | Err(_) => "unknown",
    }
}

pub(crate) fn state_name(v: i32) -> &'static str {
    match IncidentState::try_from(v) {
        Ok(IncidentState::Triggered) => "triggered",
        Ok(IncidentState::Acknowledged) => "acknowledged",
        Ok(IncidentState::Resolved) => "resolved",
        Ok(IncidentState::Unspecified) | Err(_) => "unknown",
    }
}

pub(crate) fn kind_name(v: i32) -> &'static str {
    match EventKind::try_from(v) {
        Ok(EventKind::Triggered) => "triggered",
        Ok(EventKind::Deduplicated) => "deduplicated",
        Ok(EventKind::Paged) => "paged",
        Ok(EventKind::Escalated) => "escalated",
        Ok(EventKind::Acknowledged) => "acknowledged",
        Ok(EventKind::Resolved) => "resolved",
        Ok(EventKind::Retriggered) => "retriggered",
        Ok(EventKind::Unanswered) => "unanswered",
        Ok(EventKind::Delivered) => "delivered",
        Ok(EventKind::Held) => "held",
        Ok(EventKind::SeverityRaised) => "severity_raised",
        Ok(EventKind::DeliveryFailed) => "delivery_failed",
        Ok(EventKind::DeliveryHeld) => "delivery_held",
        Ok(EventKind::Unspecified) | Err(_) => "unknown",
    }
}
