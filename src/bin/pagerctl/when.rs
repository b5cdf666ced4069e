//! Times on the command line (`--from`, `--to`, `--at`, `--since`, `--until`, `--expires`):
//! clap parses each into a [`When`] that does not know its zone yet (`--tz` may come later on
//! the line), and the command resolves it with the chosen zone and one `now`.
//!
//! Forms: a date (`2026-01-01`, the start of that day), a date and time without a zone
//! (`2026-01-01T09:00`, `2026-01-01 09:00:30`), both in `--tz`; RFC 3339 with seconds
//! optional (`2026-01-01T09:00Z`, `2026-01-01 09:00-08:00`); `now`; a duration (`2h`, `30d`),
//! counted back from now or ahead of it as the option means.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc};

use crate::zone::{InGap, Skipped, Zone};

/// A time as typed, before the zone it is read in is known.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct When {
    text: String,
    form: Form,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Form {
    Instant(DateTime<Utc>),
    /// A date and time on the wall clock of the zone.
    Wall(NaiveDateTime),
    /// The start of a day in the zone.
    Day(NaiveDate),
    Now,
    /// From now: negative for a duration ago.
    FromNow(TimeDelta),
}

/// Which way a duration counts from now.
#[derive(Clone, Copy)]
enum Direction {
    Ago,
    Ahead,
}

impl When {
    /// The instant, reading dates and wall-clock times in `zone`. A wall-clock time the clocks
    /// skip is an error; one they pass twice is its earlier (first) occurrence; a date whose
    /// midnight is skipped starts when the clocks jump.
    pub(crate) fn resolve(&self, zone: &Zone, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
        let text = &self.text;
        match self.form {
            Form::Instant(t) => Ok(t),
            Form::Now => Ok(now),
            Form::FromNow(d) => now
                .checked_add_signed(d)
                .ok_or_else(|| format!("`{text}`: too far from now")),
            Form::Wall(wall) => zone.instant(wall, InGap::Refuse).map_err(|Skipped| {
                format!(
                    "`{text}`: {} does not exist in {} (the clocks skip it when daylight \
                     saving time starts); give a time after the change or an offset",
                    wall.format("%Y-%m-%d %H:%M"),
                    zone.name()
                )
            }),
            Form::Day(day) => zone
                .instant(day.and_time(NaiveTime::MIN), InGap::After)
                .map_err(|Skipped| format!("`{text}`: no such day in {}", zone.name())),
        }
    }
}

/// A time, `now`, or a duration ago (`2h`, `30d`).
pub(crate) fn parse_time(s: &str) -> Result<When, String> {
    parse_when(s, Direction::Ago).ok_or_else(|| {
        format!(
            "`{s}`: expected a date (2026-01-01), a date and time (2026-01-01T09:00, in --tz), \
             an RFC 3339 time (2026-01-01T09:00:00Z), `now` or a duration ago (2h, 30d)"
        )
    })
}

/// A time, `now`, or a duration from now (`2h`, `90d`).
pub(crate) fn parse_future_time(s: &str) -> Result<When, String> {
    parse_when(s, Direction::Ahead).ok_or_else(|| {
        format!(
            "`{s}`: expected a date (2026-01-01), a date and time (2026-01-01T09:00, in --tz), \
             an RFC 3339 time (2026-01-01T09:00:00Z), `now` or a duration from now (2h, 90d)"
        )
    })
}

/// The end of an override: a time, or a length counted from its start.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum End {
    At(When),
    After(TimeDelta),
}

impl End {
    pub(crate) fn resolve(
        &self,
        start: DateTime<Utc>,
        zone: &Zone,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, String> {
        match self {
            End::At(when) => when.resolve(zone, now),
            End::After(d) => start
                .checked_add_signed(*d)
                .ok_or_else(|| "is too far after --from".to_owned()),
        }
    }
}

/// An override's end: a time (not `now`: that is never after --from) or a duration after its
/// start.
pub(crate) fn parse_end(s: &str) -> Result<End, String> {
    if let Some(form) = absolute(s) {
        return Ok(End::At(When {
            text: s.trim().to_owned(),
            form,
        }));
    }
    let after = humantime::parse_duration(s.trim()).map_err(|_| {
        format!(
            "`{s}`: expected a date (2026-03-04), a date and time (2026-03-04T08:00, in --tz), \
             an RFC 3339 time (2026-03-04T08:00:00Z) or a duration after --from (4h, 2d)"
        )
    })?;
    if after.is_zero() {
        return Err("a duration after --from must be more than zero".into());
    }
    TimeDelta::from_std(after)
        .map(End::After)
        .map_err(|_| format!("`{s}`: too long"))
}

fn parse_when(s: &str, direction: Direction) -> Option<When> {
    let text = s.trim();
    let form = if text.eq_ignore_ascii_case("now") {
        Form::Now
    } else if let Some(form) = absolute(text) {
        form
    } else {
        let d = TimeDelta::from_std(humantime::parse_duration(text).ok()?).ok()?;
        Form::FromNow(match direction {
            Direction::Ago => -d,
            Direction::Ahead => d,
        })
    };
    Some(When {
        text: text.to_owned(),
        form,
    })
}

/// A time that does not depend on now: RFC 3339, a wall-clock date and time, or a date.
fn absolute(s: &str) -> Option<Form> {
    let s = s.trim();
    if let Some(t) = parse_instant(s) {
        return Some(Form::Instant(t));
    }
    // `2026-01-01 09:00` as well as `2026-01-01T09:00`.
    let s = match (s.get(..10), s.get(10..11), s.get(11..)) {
        (Some(date), Some(" " | "t"), Some(time)) => format!("{date}T{time}"),
        _ => s.to_owned(),
    };
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(wall) = NaiveDateTime::parse_from_str(&s, format) {
            return Some(Form::Wall(wall));
        }
    }
    NaiveDate::parse_from_str(&s, "%Y-%m-%d")
        .ok()
        .map(Form::Day)
}

/// RFC 3339, also without seconds as people type it (`2026-03-03T18:00-08:00`).
pub(crate) fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    let parsed = DateTime::parse_from_rfc3339(s).or_else(|e| match (s.get(..16), s.get(16..)) {
        (Some(minutes), Some(offset)) if offset.starts_with(['Z', 'z', '+', '-']) => {
            DateTime::parse_from_rfc3339(&format!("{minutes}:00{offset}"))
        }
        _ => Err(e),
    });
    parsed.ok().map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
#[path = "when_tests.rs"]
mod tests;
