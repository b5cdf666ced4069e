//! Every conversion between the wire (`proto`, package `pagerd.v1`) and the domain, and the one
//! place for the wire enums' names.
//!
//! The daemon's gRPC services use it to answer; clients (pagerctl) use it to render answers
//! (`severity_name`, `state_name`, `event_kind_name`, `datetime`) and to turn command-line
//! words into wire values (`parse_severity`, `parse_state`). The names themselves are the
//! domain's (`Severity::as_str`, …), so the wire, the store and the CLI spell them alike.
//!
//! Nothing here knows `tonic::Status`: a bad value is an [`InvalidField`], which the gRPC layer
//! maps onto `INVALID_ARGUMENT`.

use chrono::{DateTime, Utc};

mod messages;

pub use messages::{
    PAGE_FAILED, PAGE_PENDING, PAGE_RETRYING, PAGE_SENT, attempt_status, shift, test_page_result,
};

use crate::domain::{EventKind, IncidentState, Severity};
use crate::proto as pb;

/// A request field that does not hold an acceptable value; shown as `field: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidField {
    pub field: String,
    pub message: String,
}

impl InvalidField {
    pub fn new(field: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Self {
            field: field.into(),
            message: message.to_string(),
        }
    }
}

// ---- enums -----------------------------------------------------------------------------------

impl From<Severity> for pb::Severity {
    fn from(s: Severity) -> Self {
        match s {
            Severity::Critical => Self::Critical,
            Severity::High => Self::High,
            Severity::Medium => Self::Medium,
            Severity::Low => Self::Low,
        }
    }
}

impl TryFrom<pb::Severity> for Severity {
    type Error = InvalidField;

    fn try_from(s: pb::Severity) -> Result<Self, InvalidField> {
        Ok(match s {
            pb::Severity::Critical => Self::Critical,
            pb::Severity::High => Self::High,
            pb::Severity::Medium => Self::Medium,
            pb::Severity::Low => Self::Low,
            pb::Severity::Unspecified => {
                return Err(InvalidField::new(
                    "severity",
                    "required (critical, high, medium or low)",
                ));
            }
        })
    }
}

/// A request's `severity` field: required, and one of the four.
pub fn severity_from_wire(v: i32) -> Result<Severity, InvalidField> {
    pb::Severity::try_from(v)
        .map_err(|_| InvalidField::new("severity", format!("unknown value {v}")))?
        .try_into()
}

impl From<IncidentState> for pb::IncidentState {
    fn from(s: IncidentState) -> Self {
        match s {
            IncidentState::Triggered => Self::Triggered,
            IncidentState::Acknowledged => Self::Acknowledged,
            IncidentState::Resolved => Self::Resolved,
        }
    }
}

impl TryFrom<pb::IncidentState> for IncidentState {
    type Error = InvalidField;

    fn try_from(s: pb::IncidentState) -> Result<Self, InvalidField> {
        Ok(match s {
            pb::IncidentState::Triggered => Self::Triggered,
            pb::IncidentState::Acknowledged => Self::Acknowledged,
            pb::IncidentState::Resolved => Self::Resolved,
            pb::IncidentState::Unspecified => {
                return Err(InvalidField::new("state", "unspecified"));
            }
        })
    }
}

/// The `i`th entry of a `states` filter.
pub fn state_from_wire(i: usize, v: i32) -> Result<IncidentState, InvalidField> {
    pb::IncidentState::try_from(v)
        .ok()
        .and_then(|s| IncidentState::try_from(s).ok())
        .ok_or_else(|| InvalidField::new(format!("states[{i}]"), format!("unknown state {v}")))
}

impl From<EventKind> for pb::EventKind {
    fn from(k: EventKind) -> Self {
        match k {
            EventKind::Triggered => Self::Triggered,
            EventKind::Deduplicated => Self::Deduplicated,
            EventKind::Paged => Self::Paged,
            EventKind::Escalated => Self::Escalated,
            EventKind::Acknowledged => Self::Acknowledged,
            EventKind::Resolved => Self::Resolved,
            EventKind::Retriggered => Self::Retriggered,
            EventKind::Unanswered => Self::Unanswered,
            EventKind::Delivered => Self::Delivered,
            EventKind::DeliveryFailed => Self::DeliveryFailed,
            EventKind::Held => Self::Held,
            EventKind::SeverityRaised => Self::SeverityRaised,
            EventKind::DeliveryHeld => Self::DeliveryHeld,
            EventKind::Note => Self::Note,
        }
    }
}

impl TryFrom<pb::EventKind> for EventKind {
    type Error = InvalidField;

    fn try_from(k: pb::EventKind) -> Result<Self, InvalidField> {
        Ok(match k {
            pb::EventKind::Triggered => Self::Triggered,
            pb::EventKind::Deduplicated => Self::Deduplicated,
            pb::EventKind::Paged => Self::Paged,
            pb::EventKind::Escalated => Self::Escalated,
            pb::EventKind::Acknowledged => Self::Acknowledged,
            pb::EventKind::Resolved => Self::Resolved,
            pb::EventKind::Retriggered => Self::Retriggered,
            pb::EventKind::Unanswered => Self::Unanswered,
            pb::EventKind::Delivered => Self::Delivered,
            pb::EventKind::DeliveryFailed => Self::DeliveryFailed,
            pb::EventKind::Held => Self::Held,
            pb::EventKind::SeverityRaised => Self::SeverityRaised,
            pb::EventKind::DeliveryHeld => Self::DeliveryHeld,
            pb::EventKind::Note => Self::Note,
            pb::EventKind::Unspecified => return Err(InvalidField::new("kind", "unspecified")),
        })
    }
}

/// Shown for a wire value this build does not know (a newer daemon) or one left unspecified.
pub const UNKNOWN: &str = "unknown";

/// The name of a wire severity (`critical`, …), or [`UNKNOWN`].
pub fn severity_name(v: i32) -> &'static str {
    pb::Severity::try_from(v)
        .ok()
        .and_then(|s| Severity::try_from(s).ok())
        .map_or(UNKNOWN, Severity::as_str)
}

/// The name of a wire incident state (`triggered`, …), or [`UNKNOWN`].
pub fn state_name(v: i32) -> &'static str {
    pb::IncidentState::try_from(v)
        .ok()
        .and_then(|s| IncidentState::try_from(s).ok())
        .map_or(UNKNOWN, IncidentState::as_str)
}

/// The name of a wire event kind (`delivery_failed`, …), or [`UNKNOWN`].
pub fn event_kind_name(v: i32) -> &'static str {
    pb::EventKind::try_from(v)
        .ok()
        .and_then(|k| EventKind::try_from(k).ok())
        .map_or(UNKNOWN, EventKind::as_str)
}

/// A severity as a person writes it: the four names, `P0`-`P3` or `SEV-1`..`SEV-4`, in any
/// case (the domain's rule, [`Severity::parse`]).
pub fn parse_severity(word: &str) -> Result<pb::Severity, String> {
    Severity::parse(word).map(pb::Severity::from)
}

/// An incident state as a person writes it: its name, or `acked`, in any case.
pub fn parse_state(word: &str) -> Result<pb::IncidentState, String> {
    let lower = word.trim().to_ascii_lowercase();
    let lower = if lower == "acked" {
        "acknowledged"
    } else {
        &lower
    };
    IncidentState::parse(lower)
        .map(pb::IncidentState::from)
        .ok_or_else(|| {
            format!("unknown state `{word}` (expected triggered, acknowledged or resolved)")
        })
}

// ---- times -----------------------------------------------------------------------------------

pub fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        // Below one billion, so it fits.
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// A request's time field; negative nanos count as zero.
pub fn from_timestamp(
    field: &str,
    t: &prost_types::Timestamp,
) -> Result<DateTime<Utc>, InvalidField> {
    crate::api::limits::request_time(t.seconds, t.nanos).map_err(|m| InvalidField::new(field, m))
}

/// A time in an answer, for rendering; `None` when absent or not a valid instant.
pub fn datetime(t: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_severity_survives_the_wire_and_keeps_its_name() {
        for s in Severity::ALL {
            let wire = pb::Severity::from(s) as i32;
            assert_eq!(severity_from_wire(wire), Ok(s));
            assert_eq!(severity_name(wire), s.as_str());
            assert_eq!(parse_severity(s.as_str()), Ok(pb::Severity::from(s)));
            assert_eq!(parse_severity(&s.as_str().to_uppercase()), Ok(s.into()));
        }
        // Every wire value but unspecified is some severity.
        for v in pb::Severity::Critical as i32..=pb::Severity::Low as i32 {
            let s = severity_from_wire(v).unwrap();
            assert_eq!(pb::Severity::from(s) as i32, v);
        }
    }

    #[test]
    fn every_state_survives_the_wire_and_keeps_its_name() {
        for s in IncidentState::ALL {
            let wire = pb::IncidentState::from(s) as i32;
            assert_eq!(state_from_wire(0, wire), Ok(s));
            assert_eq!(state_name(wire), s.as_str());
            assert_eq!(parse_state(s.as_str()), Ok(s.into()));
        }
        for v in 1..=3 {
            assert_eq!(
                pb::IncidentState::from(state_from_wire(0, v).unwrap()) as i32,
                v
            );
        }
        assert_eq!(parse_state("ACKED"), Ok(pb::IncidentState::Acknowledged));
    }

    #[test]
    fn every_event_kind_survives_the_wire_and_keeps_its_name() {
        for k in EventKind::ALL {
            let wire = pb::EventKind::from(k);
            assert_eq!(EventKind::try_from(wire), Ok(k));
            assert_eq!(event_kind_name(wire as i32), k.as_str());
            assert_eq!(EventKind::parse(event_kind_name(wire as i32)), Some(k));
        }
        // The table above names every wire kind: 1..=13, and nothing past it.
        for v in 1..=EventKind::ALL.len() as i32 {
            let k = EventKind::try_from(pb::EventKind::try_from(v).unwrap()).unwrap();
            assert_eq!(pb::EventKind::from(k) as i32, v);
        }
        assert!(pb::EventKind::try_from(EventKind::ALL.len() as i32 + 1).is_err());
    }

    #[test]
    fn unspecified_and_unknown_wire_values_are_refused_or_shown_as_unknown() {
        assert_eq!(
            severity_from_wire(0).unwrap_err().to_string(),
            "severity: required (critical, high, medium or low)"
        );
        assert_eq!(
            severity_from_wire(9).unwrap_err().to_string(),
            "severity: unknown value 9"
        );
        assert_eq!(
            state_from_wire(2, 0).unwrap_err().to_string(),
            "states[2]: unknown state 0"
        );
        assert_eq!(
            state_from_wire(0, 7).unwrap_err().to_string(),
            "states[0]: unknown state 7"
        );
        for v in [0, 99, -1] {
            assert_eq!(severity_name(v), UNKNOWN);
            assert_eq!(state_name(v), UNKNOWN);
            assert_eq!(event_kind_name(v), UNKNOWN);
        }
        assert!(parse_severity("urgent").unwrap_err().contains("urgent"));
        assert!(parse_state("open").unwrap_err().contains("`open`"));
    }

    #[test]
    fn timestamps_round_trip_and_out_of_range_is_named() {
        let t = DateTime::from_timestamp(1_772_445_600, 123_456_789).unwrap();
        assert_eq!(from_timestamp("at", &timestamp(t)), Ok(t));
        assert_eq!(datetime(Some(&timestamp(t))), Some(t));
        assert_eq!(datetime(None), None);
        let far = prost_types::Timestamp {
            seconds: i64::MAX,
            nanos: 0,
        };
        assert_eq!(
            from_timestamp("since", &far).unwrap_err().to_string(),
            "since: timestamp out of range (1970-01-01 to 2200-01-01)"
        );
        // A request's negative nanos count as zero; an answer's make no time.
        let negative = prost_types::Timestamp {
            seconds: 10,
            nanos: -1,
        };
        assert_eq!(
            from_timestamp("at", &negative),
            Ok(DateTime::from_timestamp(10, 0).unwrap())
        );
        assert_eq!(datetime(Some(&negative)), None);
    }
}
