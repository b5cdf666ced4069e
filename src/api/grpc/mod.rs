//! gRPC services, one file per service: parse and validate requests into domain values (with
//! [`crate::api::convert`]), call the engine, map errors to `tonic::Status` (here and only
//! here).

mod alerts;
pub mod auth;
mod daemon;
mod incidents;
mod intake;
mod reports;
mod revocable;
pub(crate) mod schedules;
pub(crate) mod watch;
pub mod watch_cap;

use chrono::{DateTime, Utc};
use tonic::Status;

pub use alerts::{AlertApi, parse_trigger};
pub use daemon::DaemonApi;
pub use incidents::IncidentApi;
pub use intake::IntakeApi;
pub use reports::ReportApi;
pub use schedules::{MAX_SHIFTS_RANGE_DAYS, ScheduleApi};

use super::convert::{InvalidField, from_timestamp};
use super::limits::{MAX_ACTOR_BYTES, MAX_NOTE_BYTES};
use crate::domain::audit::Actor;
use crate::engine::EngineError;
use auth::Identity;

impl From<EngineError> for Status {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::NotFound(m) => Status::not_found(m),
            EngineError::FailedPrecondition(m) => Status::failed_precondition(m),
            EngineError::InvalidArgument(m) => Status::invalid_argument(m),
            // The store refuses writes for now (disk full, I/O, locked): the caller retries.
            EngineError::Internal(e) if crate::store::unavailable(&e).is_some() => {
                tracing::error!(
                    error = format!("{e:#}"),
                    "refused: the store is unavailable"
                );
                Status::unavailable("the store refuses writes for now (see /readyz); retry")
            }
            EngineError::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "internal error");
                Status::internal("internal error; see the pagerd log")
            }
        }
    }
}

impl From<InvalidField> for Status {
    fn from(e: InvalidField) -> Self {
        Status::invalid_argument(e.to_string())
    }
}

fn invalid(field: &str, msg: impl std::fmt::Display) -> Status {
    InvalidField::new(field, msg).into()
}

/// A request's time field.
fn from_ts(field: &str, t: &prost_types::Timestamp) -> Result<DateTime<Utc>, Status> {
    Ok(from_timestamp(field, t)?)
}

/// Who acts: trimmed, at most [`MAX_ACTOR_BYTES`], `api` when empty.
/// The recorded actor of a mutating call: the authenticated token, never the request's
/// `by` (which is kept as a note when it says something else).
fn caller(identity: Option<&Identity>, by: String) -> Result<Actor, Status> {
    let by = parse_actor(by)?;
    let id = identity.ok_or_else(|| Status::unauthenticated("no authenticated caller"))?;
    let actor = Actor::new(
        id.person.as_deref().unwrap_or(&id.token),
        format!("token {} via gRPC", id.token),
    );
    Ok(if by == "api" {
        actor
    } else {
        actor.with_claim(&by)
    })
}

fn parse_actor(by: String) -> Result<String, Status> {
    let by = by.trim().to_string();
    if by.len() > MAX_ACTOR_BYTES {
        return Err(invalid("by", format!("at most {MAX_ACTOR_BYTES} bytes")));
    }
    Ok(if by.is_empty() { "api".to_string() } else { by })
}

fn parse_id(id: i64) -> Result<i64, Status> {
    if id <= 0 {
        return Err(invalid("id", "must be a positive incident id"));
    }
    Ok(id)
}

fn parse_note(note: String) -> Result<String, Status> {
    if note.len() > MAX_NOTE_BYTES {
        return Err(invalid("note", format!("at most {MAX_NOTE_BYTES} bytes")));
    }
    Ok(note)
}

fn required(field: &str, v: &str) -> Result<String, Status> {
    let v = v.trim();
    if v.is_empty() {
        return Err(invalid(field, "required"));
    }
    Ok(v.to_string())
}

/// `from` and `to`, both required, `to` after `from`, at most [`MAX_SHIFTS_RANGE_DAYS`] apart.
fn parse_range(
    from: Option<&prost_types::Timestamp>,
    to: Option<&prost_types::Timestamp>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), Status> {
    let from = from_ts("from", from.ok_or_else(|| invalid("from", "required"))?)?;
    let to = from_ts("to", to.ok_or_else(|| invalid("to", "required"))?)?;
    if to <= from {
        return Err(invalid("to", "must be after from"));
    }
    if to - from > chrono::Duration::days(MAX_SHIFTS_RANGE_DAYS) {
        return Err(invalid(
            "to",
            format!("at most {MAX_SHIFTS_RANGE_DAYS} days after from"),
        ));
    }
    Ok((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    fn ts(seconds: i64) -> prost_types::Timestamp {
        prost_types::Timestamp { seconds, nanos: 0 }
    }

    #[test]
    fn engine_errors_map_to_their_codes_and_internal_errors_say_nothing_of_their_cause() {
        let table = [
            (
                EngineError::NotFound("no incident 4".into()),
                Code::NotFound,
                "no incident 4",
            ),
            (
                EngineError::FailedPrecondition("already resolved".into()),
                Code::FailedPrecondition,
                "already resolved",
            ),
            (
                EngineError::InvalidArgument("end: before start".into()),
                Code::InvalidArgument,
                "end: before start",
            ),
            (
                EngineError::Internal(anyhow::anyhow!("disk I/O error")),
                Code::Internal,
                "internal error; see the pagerd log",
            ),
            (
                EngineError::Internal(
                    anyhow::Error::from(crate::store::Error::Unavailable(
                        "database or disk is full".into(),
                    ))
                    .context("opening incident"),
                ),
                Code::Unavailable,
                "the store refuses writes for now (see /readyz); retry",
            ),
        ];
        for (e, code, message) in table {
            let s = Status::from(e);
            assert_eq!((s.code(), s.message()), (code, message));
        }
        let s = Status::from(InvalidField::new("links[0].href", "`x` is not a URL"));
        assert_eq!(
            (s.code(), s.message()),
            (Code::InvalidArgument, "links[0].href: `x` is not a URL")
        );
    }

    #[test]
    fn shared_request_fields_are_checked_with_their_messages() {
        assert_eq!(parse_actor("  ".into()).unwrap(), "api");
        assert_eq!(parse_actor(" ana ".into()).unwrap(), "ana");
        assert_eq!(
            parse_actor("x".repeat(MAX_ACTOR_BYTES + 1))
                .unwrap_err()
                .message(),
            "by: at most 128 bytes"
        );
        assert_eq!(parse_id(7).unwrap(), 7);
        assert_eq!(
            parse_id(0).unwrap_err().message(),
            "id: must be a positive incident id"
        );
        assert_eq!(
            parse_note("x".repeat(MAX_NOTE_BYTES + 1))
                .unwrap_err()
                .message(),
            "note: at most 4096 bytes"
        );
        assert_eq!(required("person", " ana ").unwrap(), "ana");
        assert_eq!(
            required("person", " ").unwrap_err().message(),
            "person: required"
        );
    }

    #[test]
    fn ranges_need_both_ends_in_order_and_at_most_a_year_apart() {
        let day = 86_400;
        assert!(parse_range(Some(&ts(0)), Some(&ts(day))).is_ok());
        let table = [
            (None, Some(ts(day)), "from: required"),
            (Some(ts(0)), None, "to: required"),
            (Some(ts(day)), Some(ts(day)), "to: must be after from"),
            (
                Some(ts(0)),
                Some(ts(367 * day)),
                "to: at most 366 days after from",
            ),
            (
                Some(ts(i64::MAX)),
                Some(ts(0)),
                "from: timestamp out of range (1970-01-01 to 2200-01-01)",
            ),
        ];
        for (from, to, message) in table {
            let e = parse_range(from.as_ref(), to.as_ref()).unwrap_err();
            assert_eq!((e.code(), e.message()), (Code::InvalidArgument, message));
        }
    }
}
