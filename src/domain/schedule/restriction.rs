//! Restrictions: the daily or weekly windows in a schedule's zone during which a layer is
//! active, and their expansion into UTC spans over a range.
//!
//! Windows are local times resolved with [`resolve_local`], so "17:00–09:00" stays 17:00–09:00
//! local across daylight-saving changes. Support hours use the same windows (see [`windows`]).

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;

use super::Span;
use crate::domain::rotation::resolve_local;

/// A recurring window in local time during which a layer is active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restriction {
    /// Every day from `start` to `end`; `end <= start` crosses midnight (17:00–09:00).
    Daily { start: NaiveTime, end: NaiveTime },
    /// Every week from `start` to `end`, e.g. Mon 09:00 – Fri 17:00; may cross the week end.
    Weekly {
        start: (Weekday, NaiveTime),
        end: (Weekday, NaiveTime),
    },
}

impl Restriction {
    /// The local date-times of the window that opens on `day`, if one does.
    fn opening_on(&self, day: NaiveDate) -> Option<(NaiveDateTime, NaiveDateTime)> {
        match *self {
            Restriction::Daily { start, end } => {
                let end_day = if end <= start { day.succ_opt()? } else { day };
                Some((day.and_time(start), end_day.and_time(end)))
            }
            Restriction::Weekly { start, end } => {
                if day.weekday() != start.0 {
                    return None;
                }
                let mut len =
                    end.0.num_days_from_monday() as i64 - start.0.num_days_from_monday() as i64;
                if len < 0 || (len == 0 && end.1 <= start.1) {
                    len += 7;
                }
                Some((
                    day.and_time(start.1),
                    day.checked_add_days(Days::new(len as u64))?.and_time(end.1),
                ))
            }
        }
    }
}

/// The restriction's windows overlapping `[from, to)`, clipped to it, as UTC spans (for
/// support hours, which use the same window syntax).
pub(crate) fn windows(
    r: &Restriction,
    zone: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Span> {
    let mut out = Vec::new();
    push_windows(r, zone, from, to, &mut out);
    out
}

/// Appends the restriction's windows overlapping `[from, to)`, clipped to it, as UTC spans.
pub(super) fn push_windows(
    r: &Restriction,
    zone: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    out: &mut Vec<Span>,
) {
    // Local days on which a window overlapping the range can open. A window lasts at most a
    // day (daily) or eight (weekly: up to seven days plus the time of day), and the zone's
    // offset moves local dates by less than a day; one more day of slack either side covers
    // repeated or skipped local times near midnight.
    let (lookback, step) = match r {
        Restriction::Daily { .. } => (2, 1),
        Restriction::Weekly { .. } => (9, 7),
    };
    let from_day = from.with_timezone(&zone).date_naive();
    let Some(mut day) = from_day.checked_sub_days(Days::new(lookback)) else {
        return;
    };
    if let Restriction::Weekly { start, .. } = r {
        // Jump straight to the opening weekday instead of walking every day.
        let ahead = (start.0.num_days_from_monday() + 7 - day.weekday().num_days_from_monday()) % 7;
        let Some(opening) = day.checked_add_days(Days::new(u64::from(ahead))) else {
            return;
        };
        day = opening;
    }
    let Some(last) = to.with_timezone(&zone).date_naive().succ_opt() else {
        return;
    };
    while day <= last {
        if let Some((s, e)) = r.opening_on(day) {
            let (s, e) = (resolve_local(zone, s), resolve_local(zone, e));
            if s < to && e > from && s < e {
                out.push((s.max(from), e.min(to)));
            }
        }
        let Some(next) = day.checked_add_days(Days::new(step)) else {
            break;
        };
        day = next;
    }
}
