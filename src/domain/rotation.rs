//! Rotations in wall-clock time: who is on shift at an instant, and shift boundaries.
//!
//! A rotation hands off at the same *local* time in its zone, so a weekly Monday 09:00
//! America/Los_Angeles handoff stays at 09:00 across daylight-saving changes: that week is 167
//! or 169 hours long. Shift lengths are calendar arithmetic on local date-times; months add
//! calendar months and clamp to the month's last day (a rotation starting on the 31st hands
//! off on the 30th in April, then the 31st again in May).
//!
//! Local times that do not exist or exist twice follow RFC 5545 (iCalendar) §3.3.5, so the
//! calendar feeds agree with the daemon:
//! - **nonexistent** (inside a spring-forward gap): interpreted with the UTC offset in force
//!   before the gap, i.e. moved later by the gap's length (02:30 → 03:30 when clocks jump
//!   from 02:00 to 03:00);
//! - **ambiguous** (the repeated hour in autumn): the first occurrence (the earlier instant).
//!
//! So an hourly rotation can have a turn of zero length inside a spring-forward gap; such a
//! turn is skipped.

use chrono::{DateTime, Duration, LocalResult, Months, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

/// How long one member's turn lasts, in local calendar units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShiftLength {
    Hours(u32),
    Days(u32),
    Weeks(u32),
    Months(u32),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rotation {
    pub zone: Tz,
    /// Local date-time of the first handoff (its weekday is the handoff weekday).
    pub start: NaiveDateTime,
    pub length: ShiftLength,
    /// In rotation order; non-empty.
    pub members: Vec<String>,
}

/// One turn of one member, as UTC instants `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shift {
    /// 0 for the shift that begins at `Rotation::start`.
    pub index: i64,
    pub member: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The instant a local date-time denotes in `zone`, by the RFC 5545 rule above.
pub fn resolve_local(zone: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(earlier, _) => earlier.with_timezone(&Utc),
        LocalResult::None => {
            // The offset in force just before the gap: read it an ample day earlier, which
            // no zone's rules ever change twice within.
            let before = local - Duration::days(1);
            let offset = match zone.from_local_datetime(&before) {
                LocalResult::Single(t) | LocalResult::Ambiguous(_, t) => t.offset().fix(),
                LocalResult::None => zone.offset_from_utc_datetime(&before).fix(),
            };
            (local - Duration::seconds(i64::from(offset.local_minus_utc()))).and_utc()
        }
    }
}

impl Rotation {
    /// Local date-time of the `n`th handoff (negative: before the start).
    fn local_handoff(&self, n: i64) -> NaiveDateTime {
        let step = |k: i64| match self.length {
            ShiftLength::Hours(h) => Some(self.start + Duration::hours(k * i64::from(h))),
            ShiftLength::Days(d) => Some(self.start + Duration::days(k * i64::from(d))),
            ShiftLength::Weeks(w) => Some(self.start + Duration::weeks(k * i64::from(w))),
            ShiftLength::Months(m) => {
                let months = u32::try_from(k.unsigned_abs() * u64::from(m)).ok()?;
                if k >= 0 {
                    self.start.checked_add_months(Months::new(months))
                } else {
                    self.start.checked_sub_months(Months::new(months))
                }
            }
        };
        step(n).unwrap_or(NaiveDateTime::MAX)
    }

    /// The instant of the `n`th handoff.
    pub fn handoff(&self, n: i64) -> DateTime<Utc> {
        resolve_local(self.zone, self.local_handoff(n))
    }

    fn nominal(&self) -> Duration {
        match self.length {
            ShiftLength::Hours(h) => Duration::hours(i64::from(h)),
            ShiftLength::Days(d) => Duration::days(i64::from(d)),
            ShiftLength::Weeks(w) => Duration::weeks(i64::from(w)),
            ShiftLength::Months(m) => Duration::days(30 * i64::from(m)),
        }
    }

    /// The shift containing `t` as (index, start, end), given `first = self.handoff(0)`; the
    /// index may be negative before the start. Callers reuse the bounds it resolved.
    fn turn_at(
        &self,
        t: DateTime<Utc>,
        first: DateTime<Utc>,
    ) -> (i64, DateTime<Utc>, DateTime<Utc>) {
        // Estimate from the nominal length, then walk: DST and month lengths move a
        // boundary by hours or days, never by more than a shift or two.
        let elapsed = t - first;
        let mut n = elapsed
            .num_seconds()
            .div_euclid(self.nominal().num_seconds().max(1));
        let mut start = if n == 0 { first } else { self.handoff(n) };
        while start > t {
            n -= 1;
            start = self.handoff(n);
        }
        let mut end = self.handoff(n + 1);
        while end <= t {
            n += 1;
            start = end;
            end = self.handoff(n + 1);
        }
        (n, start, end)
    }

    /// The shift in progress at `t`; `None` before the rotation starts.
    pub fn shift_at(&self, t: DateTime<Utc>) -> Option<Shift> {
        let first = self.handoff(0);
        if self.members.is_empty() || t < first {
            return None;
        }
        let (index, start, end) = self.turn_at(t, first);
        Some(Shift {
            index,
            member: self.member(index).to_string(),
            start,
            end,
        })
    }

    /// The member whose turn the `n`th shift is.
    pub(crate) fn member(&self, n: i64) -> &str {
        &self.members[n.rem_euclid(self.members.len().max(1) as i64) as usize]
    }

    /// Every non-empty shift overlapping `[from, to)`, in order (none before the start).
    pub fn shifts_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Shift> {
        self.turns_between(from, to)
            .into_iter()
            .map(|t| Shift {
                index: t.index,
                member: self.member(t.index).to_string(),
                start: t.start,
                end: t.end,
            })
            .collect()
    }

    /// [`Self::shifts_between`] without cloning member names; each handoff is resolved once
    /// (a turn's end is the next one's start), which is most of the cost.
    pub(crate) fn turns_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Turn> {
        if self.members.is_empty() || to <= from {
            return Vec::new();
        }
        let first = self.handoff(0);
        let (mut n, mut start, mut end) = self.turn_at(from.max(first), first);
        let mut out = Vec::new();
        while start < to {
            // A turn that falls entirely inside a spring-forward gap (hourly rotations) covers
            // no time: it is skipped, and the next member's turn follows.
            if start < end {
                out.push(Turn {
                    index: n,
                    start,
                    end,
                });
            }
            n += 1;
            start = end;
            if start >= to {
                break; // don't resolve a handoff past the range
            }
            end = self.handoff(n + 1);
        }
        out
    }
}

/// A [`Shift`] by index only (see [`Rotation::member`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Turn {
    pub index: i64,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, Timelike};
    use proptest::prelude::*;

    fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, min, 0)
            .unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn weekly_la() -> Rotation {
        Rotation {
            zone: chrono_tz::America::Los_Angeles,
            // Monday 2026-03-02 09:00 PST.
            start: local(2026, 3, 2, 9, 0),
            length: ShiftLength::Weeks(1),
            members: vec!["alice".into(), "bob".into(), "carol".into()],
        }
    }

    #[test]
    fn nonexistent_and_ambiguous_local_times_follow_rfc_5545() {
        let la = chrono_tz::America::Los_Angeles;
        let table = [
            // Ordinary times.
            (local(2026, 1, 5, 9, 0), "2026-01-05T17:00:00Z"),
            (local(2026, 7, 6, 9, 0), "2026-07-06T16:00:00Z"),
            // 2026-03-08 02:30 does not exist (02:00 PST → 03:00 PDT): read with PST → 03:30 PDT.
            (local(2026, 3, 8, 2, 30), "2026-03-08T10:30:00Z"),
            (local(2026, 3, 8, 2, 0), "2026-03-08T10:00:00Z"),
            (local(2026, 3, 8, 3, 0), "2026-03-08T10:00:00Z"),
            // 2026-11-01 01:30 happens twice: the first (PDT, UTC-7).
            (local(2026, 11, 1, 1, 30), "2026-11-01T08:30:00Z"),
            (local(2026, 11, 1, 2, 0), "2026-11-01T10:00:00Z"),
        ];
        for (l, want) in table {
            assert_eq!(resolve_local(la, l), utc(want), "{l}");
        }
        // A zone with a 30-minute DST shift (Lord Howe, UTC+10:30 → +11, 02:00 → 02:30 in
        // October): 02:15 read at +10:30 is 15:45Z, i.e. 02:45 local.
        let lh = chrono_tz::Australia::Lord_Howe;
        assert_eq!(
            resolve_local(lh, local(2026, 10, 4, 2, 15)),
            utc("2026-10-03T15:45:00Z")
        );
    }

    #[test]
    fn weekly_handoffs_stay_at_local_time_so_dst_weeks_are_167_and_169_hours() {
        let r = weekly_la();
        let shifts = r.shifts_between(utc("2026-03-02T17:00:00Z"), utc("2026-11-10T00:00:00Z"));
        for s in &shifts {
            let local = s.start.with_timezone(&r.zone);
            assert_eq!((local.hour(), local.minute()), (9, 0), "{s:?}");
            assert_eq!(local.format("%a").to_string(), "Mon");
        }
        let hours: Vec<i64> = shifts
            .iter()
            .map(|s| (s.end - s.start).num_hours())
            .collect();
        // The week of 2026-03-02 contains spring-forward; the week of 2026-10-26 fall-back.
        assert_eq!(hours[0], 167);
        assert_eq!(hours[1], 168);
        let autumn = shifts
            .iter()
            .position(|s| s.start == utc("2026-10-26T16:00:00Z"))
            .unwrap();
        assert_eq!(hours[autumn], 169);
        assert_eq!(
            shifts
                .iter()
                .take(4)
                .map(|s| s.member.as_str())
                .collect::<Vec<_>>(),
            ["alice", "bob", "carol", "alice"]
        );
    }

    #[test]
    fn who_is_on_shift_at_an_instant() {
        let r = weekly_la();
        let table = [
            ("2026-03-02T16:59:59Z", None),
            ("2026-03-02T17:00:00Z", Some("alice")),
            // Monday 2026-03-09 09:00 PDT is 16:00Z: bob from then, not from 17:00Z.
            ("2026-03-09T15:59:59Z", Some("alice")),
            ("2026-03-09T16:00:00Z", Some("bob")),
            ("2026-03-23T16:00:00Z", Some("alice")),
        ];
        for (t, want) in table {
            assert_eq!(
                r.shift_at(utc(t)).map(|s| s.member),
                want.map(String::from),
                "{t}"
            );
        }
    }

    #[test]
    fn monthly_rotations_clamp_to_the_end_of_short_months() {
        let r = Rotation {
            zone: chrono_tz::Europe::Berlin,
            start: local(2026, 1, 31, 9, 0),
            length: ShiftLength::Months(1),
            members: vec!["vp1".into(), "vp2".into()],
        };
        let starts: Vec<String> = (0..4)
            .map(|n| {
                r.handoff(n)
                    .with_timezone(&r.zone)
                    .format("%m-%d %H:%M")
                    .to_string()
            })
            .collect();
        assert_eq!(
            starts,
            ["01-31 09:00", "02-28 09:00", "03-31 09:00", "04-30 09:00"]
        );
    }

    #[test]
    fn a_handoff_inside_the_spring_gap_moves_later_by_the_gap() {
        let r = Rotation {
            zone: chrono_tz::America::Los_Angeles,
            start: local(2026, 3, 1, 2, 30),
            length: ShiftLength::Days(1),
            members: vec!["a".into(), "b".into()],
        };
        // 2026-03-08 02:30 does not exist: that handoff is at 03:30 PDT; the next at 02:30 PDT.
        assert_eq!(r.handoff(7), utc("2026-03-08T10:30:00Z"));
        assert_eq!(r.handoff(8), utc("2026-03-09T09:30:00Z"));
        assert_eq!((r.handoff(8) - r.handoff(7)).num_hours(), 23);
    }

    #[test]
    fn an_hourly_turn_inside_the_spring_gap_is_skipped() {
        let r = Rotation {
            zone: chrono_tz::Europe::Berlin,
            start: local(2026, 3, 29, 0, 0),
            length: ShiftLength::Hours(1),
            members: vec!["a".into(), "b".into(), "c".into()],
        };
        // 2026-03-29 02:00 → 03:00 in Berlin: the 02:00 turn (c) has no time at all.
        let shifts = r.shifts_between(utc("2026-03-28T23:00:00Z"), utc("2026-03-29T02:00:00Z"));
        let who: Vec<_> = shifts.iter().map(|s| s.member.as_str()).collect();
        assert_eq!(who, ["a", "b", "a"]);
        assert_eq!(shifts[1].end, shifts[2].start);
    }

    fn arb_rotation() -> impl Strategy<Value = Rotation> {
        let zones = prop::sample::select(vec![
            chrono_tz::America::Los_Angeles,
            chrono_tz::Europe::Berlin,
            chrono_tz::Australia::Lord_Howe,
            chrono_tz::Asia::Kolkata,
            chrono_tz::UTC,
        ]);
        let length = prop_oneof![
            (1u32..=24).prop_map(ShiftLength::Hours),
            (1u32..=7).prop_map(ShiftLength::Days),
            (1u32..=2).prop_map(ShiftLength::Weeks),
            (1u32..=3).prop_map(ShiftLength::Months),
        ];
        (zones, 0i64..3 * 365 * 24, length, 1usize..6).prop_map(|(zone, hours, length, n)| {
            Rotation {
                zone,
                start: local(2025, 1, 1, 0, 0) + Duration::hours(hours),
                length,
                members: (0..n).map(|i| format!("m{i}")).collect(),
            }
        })
    }

    proptest! {
        /// Shifts tile time: contiguous, increasing, members in rotation order, and the one
        /// found for any instant contains it.
        #[test]
        fn shifts_are_contiguous_and_contain_their_instants(
            r in arb_rotation(),
            from_h in 0i64..4 * 365 * 24,
            span_h in 1i64..60 * 24,
        ) {
            let from = resolve_local(r.zone, local(2025, 1, 1, 0, 0)) + Duration::hours(from_h);
            let to = from + Duration::hours(span_h);
            let shifts = r.shifts_between(from, to);
            for pair in shifts.windows(2) {
                prop_assert_eq!(pair[0].end, pair[1].start);
                prop_assert!(pair[0].start < pair[0].end);
                prop_assert!(pair[1].index > pair[0].index);
            }
            for s in &shifts {
                let member = &r.members[s.index.rem_euclid(r.members.len() as i64) as usize];
                prop_assert_eq!(&s.member, member);
            }
            if let Some(at) = r.shift_at(from) {
                prop_assert!(at.start <= from && from < at.end);
                prop_assert_eq!(Some(&at), shifts.first());
            }
        }
    }
}
