//! Times and durations: proto timestamps ↔ chrono, times shown with their zone, relative
//! times, compact ages.

use std::sync::OnceLock;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::zone::{UTC, Zone};

pub(crate) fn format_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// Wire ↔ time conversions are the crate's shared ones.
pub(crate) use pagerd::api::convert::{datetime as to_datetime, timestamp as to_timestamp};

/// Where times are shown: set once by `main` from `--tz` / `--utc`, before any output.
struct Shown {
    zone: Zone,
    /// `--utc`: schedules' times in UTC too.
    forced: bool,
}

static SHOWN: OnceLock<Shown> = OnceLock::new();

/// Sets the zone times are shown in (`--tz`, else the local zone; `forced` for `--utc`,
/// which also overrides schedules' zones). Later calls change nothing.
pub(crate) fn show_times_in(zone: Zone, forced: bool) {
    let _ = SHOWN.set(Shown { zone, forced });
}

fn shown() -> &'static Shown {
    SHOWN.get_or_init(|| Shown {
        zone: Zone::local(),
        forced: false,
    })
}

/// `2026-11-23 17:00:00 PST`: in `--tz` (default the local zone), or UTC with `--utc`.
pub(crate) fn local_time(t: DateTime<Utc>) -> String {
    shown().zone.show(t)
}

/// [`local_time`] of a proto timestamp; empty when there is none.
pub(crate) fn local_time_of(t: Option<&prost_types::Timestamp>) -> String {
    to_datetime(t).map(local_time).unwrap_or_default()
}

/// A schedule's time in the schedule's zone (an IANA name), or in UTC with `--utc`. A zone
/// pagerctl does not know (a newer tz database on the daemon) falls back to [`local_time`].
pub(crate) fn schedule_time_of(t: Option<&prost_types::Timestamp>, time_zone: &str) -> String {
    let zone = match Zone::parse(time_zone) {
        Ok(zone) if !shown().forced => zone,
        _ => shown().zone,
    };
    to_datetime(t).map(|t| zone.show(t)).unwrap_or_default()
}

/// `2024-05-01 16:03:04 CEST (2024-05-01 14:03:04 UTC)`, or once when shown in UTC.
pub(crate) fn local_and_utc(t: DateTime<Utc>) -> String {
    local_and_utc_in(&shown().zone, t)
}

fn local_and_utc_in(zone: &Zone, t: DateTime<Utc>) -> String {
    let utc = UTC.show(t);
    if zone.offset_at(t) == 0 {
        utc
    } else {
        format!("{} ({utc})", zone.show(t))
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

    #[test]
    fn a_time_and_utc_once_when_the_zone_is_utc_now() {
        let t = |s: &str| crate::parse::parse_instant(s).unwrap();
        let berlin = Zone::parse("Europe/Berlin").unwrap();
        assert_eq!(
            local_and_utc_in(&berlin, t("2024-05-01T14:03:04Z")),
            "2024-05-01 16:03:04 CEST (2024-05-01 14:03:04 UTC)"
        );
        assert_eq!(
            local_and_utc_in(&UTC, t("2024-05-01T14:03:04Z")),
            "2024-05-01 14:03:04 UTC"
        );
        let london = Zone::parse("Europe/London").unwrap();
        assert_eq!(
            local_and_utc_in(&london, t("2024-01-01T14:03:04Z")),
            "2024-01-01 14:03:04 UTC",
            "GMT is UTC: said once"
        );
    }
}
