//! Times and durations: proto timestamps ↔ chrono, local and relative times, compact ages.

use std::time::Duration;

use chrono::{DateTime, Local, Offset, Utc};

pub(crate) fn format_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// Wire ↔ time conversions are the crate's shared ones.
pub(crate) use pagerd::api::convert::{datetime as to_datetime, timestamp as to_timestamp};

pub(crate) fn local_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// [`local_time`] of a proto timestamp; empty when there is none.
pub(crate) fn local_time_of(t: Option<&prost_types::Timestamp>) -> String {
    to_datetime(t).map(local_time).unwrap_or_default()
}

/// `2024-05-01 16:03:04 +02:00 (2024-05-01 14:03:04 UTC)`, or once when local time is UTC.
pub(crate) fn local_and_utc(t: DateTime<Utc>) -> String {
    let local = t.with_timezone(&Local);
    let utc = t.format("%Y-%m-%d %H:%M:%S UTC");
    if local.offset().fix().local_minus_utc() == 0 {
        utc.to_string()
    } else {
        format!("{} ({utc})", local.format("%Y-%m-%d %H:%M:%S %:z"))
    }
}

/// "5m ago", "in 14m", "now".
pub(crate) fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let d = t - now;
    if d.num_seconds() == 0 {
        "now".to_owned()
    } else if d > chrono::TimeDelta::zero() {
        format!("in {}", compact_duration(d))
    } else {
        format!("{} ago", compact_duration(-d))
    }
}

/// "45s", "12m", "3h05m", "2d04h"; negative durations (clock skew) count as zero.
pub(crate) fn compact_duration(d: chrono::TimeDelta) -> String {
    let s = d.num_seconds().max(0);
    let (days, hours, minutes) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    if days > 0 {
        format!("{days}d{hours:02}h")
    } else if hours > 0 {
        format!("{hours}h{minutes:02}m")
    } else if minutes > 0 {
        format!("{minutes}m")
    } else {
        format!("{s}s")
    }
}

/// A proto timestamp from an RFC 3339 text, for tests.
#[cfg(test)]
pub(crate) fn at(s: &str) -> Option<prost_types::Timestamp> {
    crate::parse::parse_instant(s).map(to_timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_compact() {
        let d = chrono::TimeDelta::seconds;
        assert_eq!(compact_duration(d(45)), "45s");
        assert_eq!(compact_duration(d(12 * 60 + 5)), "12m");
        assert_eq!(compact_duration(d(3 * 3600 + 5 * 60)), "3h05m");
        assert_eq!(compact_duration(d(2 * 86_400 + 4 * 3600)), "2d04h");
        assert_eq!(compact_duration(d(-5)), "0s");
    }
}
