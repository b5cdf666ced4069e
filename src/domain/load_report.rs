//! The on-call load report: per person, the weeks and shifts taken (from the shift ledger),
//! the pages and incidents they got, how many pages came off hours, and the call-in hours
//! paid for them.
//!
//! Kept apart from `burnout`, which decides who takes a turn: the report only reads the
//! ledger that those decisions wrote (counting weeks the same way) and the pages sent.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, NaiveDateTime, Utc};

use super::burnout::{LedgerEntry, WEEK_MINUTES, overlap_minutes, quarter};

/// A page that went out to a person, with its incident's acknowledgement and resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveredPage {
    pub person: String,
    pub incident_id: i64,
    pub sent_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// One person's on-call load over a report's range.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PersonLoad {
    pub person: String,
    /// Weeks in the calendar quarter of the range's start (schedule zone).
    pub quarter_weeks: f64,
    pub weeks: f64,
    pub shifts: u32,
    pub incidents: u32,
    pub pages: u32,
    pub off_hours_pages: u32,
    pub hours_called_in: u32,
    pub toil_hours: u32,
    pub limit_skips: u32,
    pub flagged_overrides: u32,
    /// Why the rebalance signal flags the person (`domain::rebalance`); empty: not flagged.
    pub rebalance: String,
}

/// Whether a local time is outside working hours: 09:00–18:00, Monday to Friday.
pub fn off_hours(t: NaiveDateTime) -> bool {
    use chrono::{Timelike, Weekday};
    let weekend = matches!(t.weekday(), Weekday::Sat | Weekday::Sun);
    weekend || !(9..18).contains(&t.hour())
}

/// Hours paid for one call-in lasting `d`: at least one, rounded up to the hour.
pub fn call_in_hours(d: chrono::Duration) -> u32 {
    let minutes = d.num_minutes().max(0) + i64::from(d.num_seconds() % 60 > 0);
    u32::try_from(((minutes + 59) / 60).max(1)).unwrap_or(u32::MAX)
}

/// The load report over `[from, to)`. `ledger` holds each row with its schedule's zone and
/// covers at least the quarter of `from`; `pages` are those sent in the range (already
/// narrowed to a schedule's shifts if asked); `zones` are the people's zones. A call-in
/// still open counts until `now`.
pub fn load_report(
    ledger: &[(LedgerEntry, chrono_tz::Tz)],
    pages: &[DeliveredPage],
    zones: &HashMap<String, chrono_tz::Tz>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<PersonLoad> {
    let mut out: BTreeMap<String, PersonLoad> = BTreeMap::new();
    let entry = |out: &mut BTreeMap<String, PersonLoad>, p: &str| {
        if !out.contains_key(p) {
            out.insert(
                p.to_string(),
                PersonLoad {
                    person: p.to_string(),
                    ..Default::default()
                },
            );
        }
    };
    for (e, zone) in ledger {
        let local = |t: DateTime<Utc>| t.with_timezone(zone).naive_local();
        // As for the limits: others' overrides come off a turn.
        let covered: i64 = if e.turn.is_none() {
            0
        } else {
            (ledger.iter())
                .filter(|(o, _)| {
                    o.turn.is_none() && o.person != e.person && o.schedule == e.schedule
                })
                .map(|(o, _)| overlap_minutes(e.start, e.end, o.start, o.end))
                .sum()
        };
        let minutes = ((local(e.end) - local(e.start)).num_minutes() - covered).max(0);
        let weeks = minutes as f64 / WEEK_MINUTES as f64;
        entry(&mut out, &e.person);
        let load = out.get_mut(&e.person).expect("just added");
        if quarter(local(e.start)) == quarter(local(from)) {
            load.quarter_weeks += weeks;
        }
        if e.start < from || e.start >= to {
            continue;
        }
        load.weeks += weeks;
        load.shifts += 1;
        load.flagged_overrides += u32::from(e.turn.is_none() && e.flagged);
        for p in &e.skipped {
            entry(&mut out, p);
            out.get_mut(p).expect("just added").limit_skips += 1;
        }
    }
    // Call-ins: per person and incident, from the first page to ack or resolve.
    let mut calls: BTreeMap<(&str, i64), &DeliveredPage> = BTreeMap::new();
    for p in pages.iter().filter(|p| from <= p.sent_at && p.sent_at < to) {
        entry(&mut out, &p.person);
        let load = out.get_mut(&p.person).expect("just added");
        load.pages += 1;
        let zone = zones.get(&p.person).copied().unwrap_or(chrono_tz::UTC);
        load.off_hours_pages += u32::from(off_hours(p.sent_at.with_timezone(&zone).naive_local()));
        calls.entry((&p.person, p.incident_id)).or_insert(p);
    }
    for ((person, _), first) in calls {
        let answered = [first.acknowledged_at, first.resolved_at]
            .into_iter()
            .flatten()
            .filter(|&t| t >= first.sent_at)
            .min()
            .unwrap_or(now);
        let hours = call_in_hours(answered - first.sent_at);
        let load = out.get_mut(person).expect("added with its pages");
        load.incidents += 1;
        load.hours_called_in += hours;
        load.toil_hours += hours;
    }
    out.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, NaiveDate};

    /// Week `k` from Monday 2026-01-05 (UTC zone: local = UTC), as in `burnout`'s tests.
    fn week(k: i64) -> (NaiveDateTime, NaiveDateTime) {
        let monday = NaiveDate::from_ymd_opt(2026, 1, 5)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap();
        (monday + Duration::weeks(k), monday + Duration::weeks(k + 1))
    }

    #[test]
    fn a_call_in_is_paid_at_least_an_hour_rounded_up() {
        let table = [(0, 1), (15, 1), (60, 1), (61, 2), (130, 3), (180, 3)];
        for (minutes, hours) in table {
            assert_eq!(
                call_in_hours(Duration::minutes(minutes)),
                hours,
                "{minutes}"
            );
        }
        assert_eq!(call_in_hours(Duration::seconds(3601)), 2);
    }

    #[test]
    fn off_hours_are_outside_nine_to_six_on_weekdays() {
        let t = |d: u32, h: u32, m: u32| {
            NaiveDate::from_ymd_opt(2026, 3, d)
                .unwrap()
                .and_hms_opt(h, m, 0)
                .unwrap()
        };
        // 2026-03-02 is a Monday, 03-07 a Saturday.
        for (at, off) in [
            (t(2, 8, 59), true),
            (t(2, 9, 0), false),
            (t(2, 17, 59), false),
            (t(2, 18, 0), true),
            (t(7, 12, 0), true),
        ] {
            assert_eq!(off_hours(at), off, "{at}");
        }
    }

    #[test]
    fn the_report_counts_shifts_incidents_pages_and_call_ins() {
        let utc = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let from = utc("2026-03-02T00:00:00Z");
        let to = utc("2026-03-09T00:00:00Z");
        let row = |person: &str, skipped: &[&str], turn: Option<i64>, flagged: bool| {
            let (a, b) = week(8); // 2026-03-02 09:00 … 03-09 09:00
            LedgerEntry {
                schedule: "s".into(),
                layer: "l".into(),
                turn,
                start: a.and_utc(),
                end: b.and_utc(),
                person: person.into(),
                candidate: person.into(),
                reason: String::new(),
                skipped: skipped.iter().map(|s| s.to_string()).collect(),
                flagged,
                nobody_eligible: false,
                rested: false,
                evening: false,
                incidents: 0,
            }
        };
        let ledger = vec![
            (row("ann", &["ben"], Some(8), false), chrono_tz::UTC),
            (row("cat", &[], None, true), chrono_tz::UTC),
        ];
        let page = |person: &str, id: i64, sent: &str, ack: Option<&str>| DeliveredPage {
            person: person.into(),
            incident_id: id,
            sent_at: utc(sent),
            acknowledged_at: ack.map(utc),
            resolved_at: None,
        };
        let pages = [
            // 15 minutes → 1 h; two pages of one incident are one call-in.
            page(
                "ann",
                1,
                "2026-03-03T02:00:00Z",
                Some("2026-03-03T02:15:00Z"),
            ),
            page(
                "ann",
                1,
                "2026-03-03T02:05:00Z",
                Some("2026-03-03T02:15:00Z"),
            ),
            // 2 h 10 min → 3 h, in working hours (Berlin 11:00).
            page(
                "ann",
                2,
                "2026-03-04T10:00:00Z",
                Some("2026-03-04T12:10:00Z"),
            ),
        ];
        let zones = HashMap::from([("ann".to_string(), chrono_tz::Europe::Berlin)]);
        let report = load_report(&ledger, &pages, &zones, from, to, to);
        let ann = &report[0];
        assert_eq!(
            (
                ann.person.as_str(),
                ann.shifts,
                ann.incidents,
                ann.pages,
                ann.off_hours_pages
            ),
            ("ann", 1, 2, 3, 2)
        );
        assert_eq!((ann.hours_called_in, ann.toil_hours), (4, 4));
        // Cat's override covers ann's whole turn: the week is cat's.
        assert_eq!((ann.weeks, ann.quarter_weeks), (0.0, 0.0));
        assert_eq!((report[2].weeks, report[2].quarter_weeks), (1.0, 1.0));
        assert_eq!(report[1].person, "ben");
        assert_eq!(report[1].limit_skips, 1);
        assert_eq!(
            (report[2].person.as_str(), report[2].flagged_overrides),
            ("cat", 1)
        );
    }
}
