//! The small languages inside policy values, each parsed in exactly one place: names, contact
//! addresses, shift lengths, daily and weekly windows, local date-times and durations.
//! Errors are the "why" half of a message; the checker adds the key and the value.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;

use crate::domain::rotation::{ShiftLength, resolve_local};
use crate::domain::schedule::Restriction;

/// `[a-z0-9][a-z0-9._-]*`, at most 64 characters.
pub(super) fn check_name(name: &str) -> Result<(), &'static str> {
    let mut chars = name.chars();
    match chars.next() {
        None => Err("is empty"),
        Some(_) if name.len() > 64 => Err("is longer than 64 characters"),
        Some(c) if !(c.is_ascii_lowercase() || c.is_ascii_digit()) => {
            Err("must start with a-z or 0-9")
        }
        _ if !chars.all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
        }) =>
        {
            Err("may contain only a-z, 0-9, '.', '_' and '-'")
        }
        _ => Ok(()),
    }
}

/// 32 ASCII letters and digits, like PagerDuty's routing keys.
pub(super) fn valid_integration_key(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

pub(super) fn valid_email(s: &str) -> bool {
    s.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && !domain.is_empty()
            && !domain.contains('@')
            && !s.contains(char::is_whitespace)
    })
}

pub(super) fn valid_e164(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

pub(super) fn valid_slack_id(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// `<n>h`, `<n>d`, `<n>w` or `<n>mo` with `n >= 1`, at most a year (longer turns make no
/// sense for on-call, and bounding them keeps the calendar arithmetic in range).
pub(super) fn parse_shift(text: &str) -> Result<ShiftLength, String> {
    let syntax = || "is not a shift length such as \"1w\" (<n>h, <n>d, <n>w or <n>mo)".to_owned();
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(0));
    let (length, max): (fn(u32) -> ShiftLength, u32) = match unit {
        "h" => (ShiftLength::Hours, 366 * 24),
        "d" => (ShiftLength::Days, 366),
        "w" => (ShiftLength::Weeks, 52),
        "mo" => (ShiftLength::Months, 12),
        _ => return Err(syntax()),
    };
    match number.parse::<u32>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) if n <= max => Ok(length(n)),
        Err(_) if number.is_empty() => Err(syntax()),
        _ => Err(format!("is longer than a year (at most {max}{unit})")),
    }
}

/// A local date-time without an offset: `2026-03-02T09:00` (seconds optional; a space may
/// replace the `T`).
pub(super) fn parse_local(text: &str) -> Result<NaiveDateTime, String> {
    let text = text.trim();
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .ok_or_else(|| {
            "is not a local date-time such as \"2026-03-02T09:00\" (no offset: it is read in the schedule's time zone)".to_owned()
        })
}

/// An override or maintenance bound: RFC 3339 with an offset, or a local date-time read in
/// `zone`.
pub(super) fn parse_instant(text: &str, zone: Tz) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    match DateTime::parse_from_rfc3339(text) {
        Ok(t) => Ok(t.with_timezone(&Utc)),
        Err(_) => parse_local(text)
            .map(|local| resolve_local(zone, local))
            .map_err(|_| {
                "is not a local date-time such as \"2026-03-10T17:00\" or an RFC 3339 time with an offset".to_owned()
            }),
    }
}

/// An IANA time zone name such as `Europe/Berlin`.
pub(super) fn parse_zone(text: &str) -> Result<Tz, String> {
    text.parse::<Tz>()
        .map_err(|_| "is not an IANA time zone such as \"Europe/Berlin\"".to_owned())
}

/// A humantime duration (`15m`, `1h 30m`); whether zero is allowed is the caller's rule.
pub(super) fn parse_duration(text: &str) -> Result<Duration, humantime::DurationError> {
    humantime::parse_duration(text.trim())
}

/// `HH:MM`.
fn parse_time(text: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(text.trim(), "%H:%M").ok()
}

/// `"17:00-09:00"`: an end at or before the start crosses midnight; equal bounds are empty.
pub(super) fn parse_daily(text: &str) -> Result<Restriction, String> {
    let (start, end) = text
        .split_once('-')
        .and_then(|(s, e)| Some((parse_time(s)?, parse_time(e)?)))
        .ok_or_else(|| "is not a daily window such as \"17:00-09:00\" (HH:MM-HH:MM)".to_owned())?;
    if start == end {
        return Err(
            "starts and ends at the same time (to be on call all day, leave out restrictions)"
                .to_owned(),
        );
    }
    Ok(Restriction::Daily { start, end })
}

/// `"Mon 09:00 - Fri 17:00"`: may cross the week's end; equal bounds are empty.
pub(super) fn parse_weekly(text: &str) -> Result<Restriction, String> {
    let point = |s: &str| -> Option<(Weekday, NaiveTime)> {
        let mut words = s.split_whitespace();
        let day = words.next()?.parse::<Weekday>().ok()?;
        let time = parse_time(words.next()?)?;
        words.next().is_none().then_some((day, time))
    };
    let (start, end) = text
        .split_once('-')
        .and_then(|(s, e)| Some((point(s)?, point(e)?)))
        .ok_or_else(|| {
            "is not a weekly window such as \"Mon 09:00 - Fri 17:00\" (day HH:MM - day HH:MM)"
                .to_owned()
        })?;
    if start == end {
        return Err(
            "starts and ends at the same time (to be on call all week, leave out restrictions)"
                .to_owned(),
        );
    }
    Ok(Restriction::Weekly { start, end })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::policy::tests::hm;

    #[test]
    fn shift_lengths_and_windows_parse() {
        let shifts = [
            ("1w", Ok(ShiftLength::Weeks(1))),
            (" 12h ", Ok(ShiftLength::Hours(12))),
            ("3d", Ok(ShiftLength::Days(3))),
            ("1mo", Ok(ShiftLength::Months(1))),
            ("52w", Ok(ShiftLength::Weeks(52))),
            ("53w", Err("longer than a year")),
            ("99999999999h", Err("longer than a year")),
            ("0d", Err("at least 1")),
            ("1", Err("not a shift length")),
            ("1 w", Err("not a shift length")),
            ("-1w", Err("not a shift length")),
            ("1m", Err("not a shift length")),
        ];
        for (text, want) in shifts {
            match (parse_shift(text), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{text}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{text}: {got}"),
                (got, _) => panic!("{text}: {got:?}"),
            }
        }
        assert_eq!(
            parse_daily(" 17:00 - 09:00 "),
            Ok(Restriction::Daily {
                start: hm(17, 0),
                end: hm(9, 0)
            })
        );
        assert_eq!(
            parse_weekly("friday 17:00 - Mon 09:30"),
            Ok(Restriction::Weekly {
                start: (Weekday::Fri, hm(17, 0)),
                end: (Weekday::Mon, hm(9, 30))
            })
        );
        for bad in ["17:00", "25:00-09:00", "17:00-09:00-10:00"] {
            assert!(parse_daily(bad).is_err(), "{bad}");
        }
        for bad in [
            "Mon 09:00",
            "Mon - Fri",
            "Mon 09:00 - Fri 17:00 UTC",
            "Mon 09:00 Fri 17:00",
        ] {
            assert!(parse_weekly(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_follow_the_naming_rule() {
        for good in ["a", "0", "checkout-api", "sev.1_x", &"a".repeat(64)] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        for bad in ["", "-a", "Alice", "a b", "ünï", &"a".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert!(
            valid_e164("+15551230001") && !valid_e164("+1234567") && !valid_e164("15551230001")
        );
        assert!(
            valid_email("a@b") && !valid_email("@b") && !valid_email("a@") && !valid_email("a b@c")
        );
    }
}
