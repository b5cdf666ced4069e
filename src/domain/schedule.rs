//! Schedules: layers of rotations with restrictions, plus overrides, flattened into the final
//! shifts (who is on call when, and why).
//!
//! - A layer's rotation gives turns; its **restrictions** (daily or weekly windows in the
//!   schedule's zone) cut each turn down to the covered windows. No restriction = always.
//! - **Higher layers win** wherever they have someone; lower layers show through elsewhere.
//! - **Overrides** win over every layer for their interval.
//! - A time nobody covers is a **gap** (no final shift there).
//!
//! Windows are local times resolved with [`resolve_local`], so "17:00–09:00" stays 17:00–09:00
//! local across daylight-saving changes.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{
    DateTime, Datelike, Days, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc, Weekday,
};
use chrono_tz::Tz;

use super::rotation::{Rotation, Turn, resolve_local};

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

#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    pub name: String,
    pub rotation: Rotation,
    pub restrictions: Vec<Restriction>,
    /// An evening/off-hours rotation, for the consecutive-evening-weeks limit.
    pub evening: bool,
    /// Who takes each turn (by index) where the burnout limits decided it: from the shift
    /// ledger for past turns, projected for future ones. Turns not listed go to the
    /// rotation's member. Shared, so cloning a serving set stays cheap.
    pub assigned: Arc<BTreeMap<i64, Assignment>>,
}

/// A turn as the burnout limits decided it (see `domain::burnout`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub person: String,
    /// e.g. "bob skipped: 4 on-call weeks in 2026-Q1 already (limit 4) → carol".
    pub reason: String,
    /// Not recorded in the ledger yet: a projection (no new incidents assumed).
    pub projected: bool,
    /// An override that breaks a limit.
    pub flagged: bool,
}

impl Layer {
    /// Who takes turn `n`: the decided person, else the rotation's member.
    pub fn member(&self, n: i64) -> &str {
        match self.assigned.get(&n) {
            Some(a) => &a.person,
            None => self.rotation.member(n),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub person: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub name: String,
    pub zone: Tz,
    /// Lowest first: a later layer wins over an earlier one.
    pub layers: Vec<Layer>,
    pub overrides: Vec<Override>,
}

/// What put a person on call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Index into `Schedule::layers`.
    Layer(usize),
    /// Index into `Schedule::overrides`.
    Override(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalShift {
    pub person: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub source: Source,
}

type Span = (DateTime<Utc>, DateTime<Utc>);

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
fn push_windows(
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

/// The layer's turns cut to its restrictions, within `[from, to)`: disjoint, in order, each
/// with its turn index.
fn layer_spans(
    layer: &Layer,
    zone: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(Span, i64)> {
    let turns = layer.rotation.turns_between(from, to);
    let clip = |t: &Turn| (t.start.max(from), t.end.min(to));
    if layer.restrictions.is_empty() {
        return turns.iter().map(|t| (clip(t), t.index)).collect();
    }
    let (Some(first), Some(last)) = (turns.first(), turns.last()) else {
        return Vec::new();
    };
    // Windows over the whole range at once (not per turn), merged, then intersected with the
    // turns in one pass: both lists are sorted and disjoint.
    let (wfrom, wto) = (first.start.max(from), last.end.min(to));
    let mut windows = Vec::new();
    for r in &layer.restrictions {
        push_windows(r, zone, wfrom, wto, &mut windows);
    }
    windows.sort_unstable();
    let windows = merge(windows);
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < turns.len() && j < windows.len() {
        let ((ts, te), (ws, we)) = (clip(&turns[i]), windows[j]);
        let (s, e) = (ts.max(ws), te.min(we));
        if s < e {
            out.push(((s, e), turns[i].index));
        }
        if te <= we {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// Merges overlapping or touching spans (sorted by start).
fn merge(spans: Vec<Span>) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for (s, e) in spans {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

impl Schedule {
    /// How a source reads to people: "layer evenings" or "override (swap with sam)".
    pub fn describe(&self, source: &Source) -> String {
        match source {
            Source::Layer(i) => format!("layer {}", self.layers[*i].name),
            Source::Override(i) => format!("override ({})", self.overrides[*i].reason),
        }
    }

    /// The final shifts overlapping `[from, to)`, in time order; adjacent pieces with the same
    /// person and source are joined. Times with no shift are gaps.
    pub fn final_shifts(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<FinalShift> {
        if to <= from {
            return Vec::new();
        }
        // A sweep over the start and end of every candidate span. Each candidate has a rank:
        // layer `i` ranks `i`, override `i` ranks `layers.len() + i`, so the highest active
        // rank wins (overrides over layers, the latest override first, higher layers over
        // lower). At most one span per rank is active at a time: a layer's spans are disjoint
        // and each override is one span.
        let n_layers = self.layers.len();
        let mut events: Vec<(DateTime<Utc>, bool, usize, &str)> = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            for ((s, e), turn) in layer_spans(layer, self.zone, from, to) {
                let person = layer.member(turn);
                events.push((s, true, i, person));
                events.push((e, false, i, person));
            }
        }
        for (i, o) in self.overrides.iter().enumerate() {
            let (s, e) = (o.start.max(from), o.end.min(to));
            if s < e {
                events.push((s, true, n_layers + i, &o.person));
                events.push((e, false, n_layers + i, &o.person));
            }
        }
        // Ends sort before starts at the same instant, so a span ending where the next one
        // of the same rank begins frees the rank first.
        events.sort_unstable_by_key(|&(t, is_start, _, _)| (t, is_start));
        let source = |rank: usize| match rank.checked_sub(n_layers) {
            Some(i) => Source::Override(i),
            None => Source::Layer(rank),
        };

        let mut active: BTreeMap<usize, &str> = BTreeMap::new();
        // The piece being built: rank, person, start.
        let mut current: Option<(usize, &str, DateTime<Utc>)> = None;
        let mut out = Vec::new();
        let mut k = 0;
        while k < events.len() {
            let t = events[k].0;
            while let Some(&(et, is_start, rank, person)) = events.get(k) {
                if et != t {
                    break;
                }
                if is_start {
                    active.insert(rank, person);
                } else {
                    active.remove(&rank);
                }
                k += 1;
            }
            let winner = active.last_key_value().map(|(&r, &p)| (r, p));
            if let (Some((r, p, _)), Some((wr, wp))) = (current, winner)
                && r == wr
                && p == wp
            {
                continue; // same person and source: the piece goes on
            }
            if let Some((r, p, s)) = current {
                out.push(FinalShift {
                    person: p.to_string(),
                    start: s,
                    end: t,
                    source: source(r),
                });
            }
            current = winner.map(|(r, p)| (r, p, t));
        }
        out
    }

    /// Who is on call at `at`, with the whole final shift around it; `None` in a gap. The
    /// same shift as `final_shifts` gives around `at` for a window reaching
    /// `ON_CALL_REACH` (two months) either side, so a longer shift is cut there.
    pub fn on_call(&self, at: DateTime<Utc>) -> Option<FinalShift> {
        // This runs for every page to a schedule, so it looks only at what can matter:
        // overrides first (they need no local-time work), then layers top down, stopping at
        // the first that has someone at `at`.
        let (lo, hi) = (at - Self::ON_CALL_REACH, at + Self::ON_CALL_REACH);
        // One pass, latest override first, tracking where the overrides seen so far last end
        // before `at` (floor) and next start after it (ceil).
        let (mut floor, mut ceil) = (lo, hi);
        for (i, o) in self.overrides.iter().enumerate().rev() {
            if o.start >= o.end {
                continue; // covers nothing
            }
            if o.end <= at {
                floor = floor.max(o.end);
            } else if o.start > at {
                ceil = ceil.min(o.start);
            } else {
                // The latest override containing `at` wins; only later ones (already seen)
                // can cut it.
                return Some(FinalShift {
                    person: o.person.clone(),
                    start: o.start.max(floor),
                    end: o.end.min(ceil),
                    source: Source::Override(i),
                });
            }
        }
        // A layer, then, between the overrides nearest before and after `at`. Start with a
        // small window and widen it only while the shift found is cut by the window (its
        // real bounds lie further out).
        let mut reach = Duration::days(1);
        loop {
            let (from, to) = ((at - reach).max(floor), (at + reach).min(ceil));
            let shift = self.layer_shift_at(at, from, to)?;
            let cut = (shift.start == from && from > floor) || (shift.end == to && to < ceil);
            if !cut || reach >= Self::ON_CALL_REACH {
                return Some(shift);
            }
            reach = (reach * 4).min(Self::ON_CALL_REACH);
        }
    }

    /// How far `on_call` looks for the bounds of the shift in progress.
    const ON_CALL_REACH: Duration = Duration::days(62);

    /// The layer shift around `at` within `[from, to)`, a range no override touches: the
    /// highest layer with someone at `at`, joined across that person's touching spans and cut
    /// where a higher layer takes over.
    fn layer_shift_at(
        &self,
        at: DateTime<Utc>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Option<FinalShift> {
        // Where the higher layers (which have nobody at `at`) last stop and next start.
        let (mut floor, mut ceil) = (from, to);
        for (i, layer) in self.layers.iter().enumerate().rev() {
            let spans = layer_spans(layer, self.zone, from, to);
            let k = spans.partition_point(|((s, _), _)| *s <= at);
            let Some(k) = k.checked_sub(1).filter(|&k| at < spans[k].0.1) else {
                for &((s, e), _) in &spans {
                    if e <= at {
                        floor = floor.max(e);
                    } else {
                        ceil = ceil.min(s);
                    }
                }
                continue;
            };
            let joins = |a: &(Span, i64), b: &(Span, i64)| {
                a.0.1 == b.0.0 && layer.member(a.1) == layer.member(b.1)
            };
            let (mut a, mut b) = (k, k);
            while a > 0 && joins(&spans[a - 1], &spans[a]) {
                a -= 1;
            }
            while b + 1 < spans.len() && joins(&spans[b], &spans[b + 1]) {
                b += 1;
            }
            return Some(FinalShift {
                person: layer.member(spans[k].1).to_string(),
                start: spans[a].0.0.max(floor),
                end: spans[b].0.1.min(ceil),
                source: Source::Layer(i),
            });
        }
        None
    }

    /// The gaps (nobody on call) within `[from, to)`.
    pub fn gaps(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let mut gaps = Vec::new();
        let mut cursor = from;
        for s in self.final_shifts(from, to) {
            if s.start > cursor {
                gaps.push((cursor, s.start));
            }
            cursor = cursor.max(s.end);
        }
        if cursor < to {
            gaps.push((cursor, to));
        }
        gaps
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::rotation::ShiftLength;
    use chrono::{NaiveDate, NaiveDateTime, Timelike};
    use proptest::prelude::*;

    fn local(y: i32, m: u32, d: u32, h: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, 0, 0)
            .unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn t(h: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, 0, 0).unwrap()
    }

    const LA: Tz = chrono_tz::America::Los_Angeles;

    /// Support evenings: weekly Monday 09:00 handoff, on call 17:00–09:00 PT only.
    fn support_evenings() -> Schedule {
        Schedule {
            name: "support".into(),
            zone: LA,
            layers: vec![Layer {
                evening: false,
                assigned: Default::default(),
                name: "evenings".into(),
                rotation: Rotation {
                    zone: LA,
                    start: local(2026, 3, 2, 9),
                    length: ShiftLength::Weeks(1),
                    members: vec!["sam".into(), "sofia".into()],
                },
                restrictions: vec![Restriction::Daily {
                    start: t(17),
                    end: t(9),
                }],
            }],
            overrides: vec![],
        }
    }

    #[test]
    fn an_evening_layer_covers_17_to_09_local_and_leaves_daytime_gaps() {
        let s = support_evenings();
        let day = s.final_shifts(utc("2026-03-03T00:00:00Z"), utc("2026-03-05T00:00:00Z"));
        for f in &day {
            let (a, b) = (f.start.with_timezone(&LA), f.end.with_timezone(&LA));
            assert!(
                (a.hour() == 17 || f.start == utc("2026-03-03T00:00:00Z"))
                    && (b.hour() == 9 || f.end == utc("2026-03-05T00:00:00Z")),
                "{f:?}"
            );
            assert_eq!(f.person, "sam");
        }
        let gaps = s.gaps(utc("2026-03-03T00:00:00Z"), utc("2026-03-05T00:00:00Z"));
        // 2026-03-03T00:00Z is Monday 16:00 PST: a gap until 17:00, then 09:00–17:00 Tuesday.
        assert_eq!(
            gaps[0],
            (utc("2026-03-03T00:00:00Z"), utc("2026-03-03T01:00:00Z"))
        );
        assert_eq!(
            gaps[1],
            (utc("2026-03-03T17:00:00Z"), utc("2026-03-04T01:00:00Z"))
        );
        // Across spring-forward (2026-03-08) the window is still 17:00–09:00 local.
        let f = s.on_call(utc("2026-03-09T03:00:00Z")).unwrap();
        assert_eq!(f.start.with_timezone(&LA).hour(), 17);
        assert_eq!(f.end, utc("2026-03-09T16:00:00Z"), "09:00 PDT");
        assert_eq!(f.end.with_timezone(&LA).hour(), 9);
        // The weekly handoff at Monday 09:00 falls in a gap; sofia takes Monday evening.
        let f = s.on_call(utc("2026-03-10T02:00:00Z")).unwrap();
        assert_eq!(f.person, "sofia");
        assert!(
            s.on_call(utc("2026-03-09T20:00:00Z")).is_none(),
            "Monday daytime is a gap"
        );
    }

    #[test]
    fn higher_layers_win_where_they_have_someone_and_overrides_win_over_all() {
        let mut s = support_evenings();
        // A 24/7 weekly layer below the evening layer.
        s.layers.insert(
            0,
            Layer {
                evening: false,
                assigned: Default::default(),
                name: "engineering".into(),
                rotation: Rotation {
                    zone: LA,
                    start: local(2026, 3, 2, 9),
                    length: ShiftLength::Weeks(1),
                    members: vec!["alice".into(), "bob".into()],
                },
                restrictions: vec![],
            },
        );
        let at_noon = utc("2026-03-04T20:00:00Z"); // Wednesday 12:00 PST
        let at_night = utc("2026-03-05T06:00:00Z"); // Wednesday 22:00 PST
        assert_eq!(s.on_call(at_noon).unwrap().person, "alice");
        assert_eq!(s.on_call(at_noon).unwrap().source, Source::Layer(0));
        assert_eq!(s.on_call(at_night).unwrap().person, "sam");
        assert_eq!(s.on_call(at_night).unwrap().source, Source::Layer(1));
        assert!(
            s.gaps(utc("2026-03-03T00:00:00Z"), utc("2026-03-10T00:00:00Z"))
                .is_empty()
        );

        s.overrides.push(Override {
            person: "dana".into(),
            start: utc("2026-03-05T04:00:00Z"),
            end: utc("2026-03-05T08:00:00Z"),
            reason: "swap".into(),
        });
        let f = s.on_call(at_night).unwrap();
        assert_eq!(
            (f.person.as_str(), f.source.clone()),
            ("dana", Source::Override(0))
        );
        assert_eq!(
            (f.start, f.end),
            (utc("2026-03-05T04:00:00Z"), utc("2026-03-05T08:00:00Z"))
        );
        // Sam resumes after the override, until 09:00.
        let after = s.on_call(utc("2026-03-05T08:00:00Z")).unwrap();
        assert_eq!(
            (after.person.as_str(), after.end),
            ("sam", utc("2026-03-05T17:00:00Z"))
        );
    }

    #[test]
    fn weekly_windows_cover_monday_morning_to_friday_evening() {
        let mut s = support_evenings();
        s.layers[0].restrictions = vec![Restriction::Weekly {
            start: (Weekday::Mon, t(9)),
            end: (Weekday::Fri, t(17)),
        }];
        let shifts = s.final_shifts(utc("2026-03-02T00:00:00Z"), utc("2026-03-16T00:00:00Z"));
        let spans: Vec<(String, String)> = shifts
            .iter()
            .map(|f| {
                (
                    f.start.with_timezone(&LA).format("%a %H:%M").to_string(),
                    f.end.with_timezone(&LA).format("%a %H:%M").to_string(),
                )
            })
            .collect();
        assert_eq!(
            spans,
            [
                ("Mon 09:00".to_string(), "Fri 17:00".to_string()),
                ("Mon 09:00".to_string(), "Fri 17:00".to_string()),
            ]
        );
        assert_eq!(shifts[1].person, "sofia");
    }

    #[test]
    fn the_latest_override_wins_and_overrides_are_never_joined_with_each_other() {
        let mut s = support_evenings();
        s.layers[0].restrictions.clear();
        let o = |person: &str, start: &str, end: &str| Override {
            person: person.into(),
            start: utc(start),
            end: utc(end),
            reason: person.into(),
        };
        s.overrides = vec![
            o("dana", "2026-03-04T00:00:00Z", "2026-03-04T10:00:00Z"),
            o("eli", "2026-03-04T04:00:00Z", "2026-03-04T06:00:00Z"),
            o("eli", "2026-03-04T06:00:00Z", "2026-03-04T08:00:00Z"),
            // Empty and inverted overrides cover nothing.
            o("nobody", "2026-03-04T02:00:00Z", "2026-03-04T02:00:00Z"),
            o("nobody", "2026-03-04T03:00:00Z", "2026-03-04T01:00:00Z"),
        ];
        let got: Vec<(String, String, String, Source)> = s
            .final_shifts(utc("2026-03-03T22:00:00Z"), utc("2026-03-04T12:00:00Z"))
            .into_iter()
            .map(|f| {
                let hm = |t: DateTime<Utc>| t.format("%d %H:%M").to_string();
                (f.person, hm(f.start), hm(f.end), f.source)
            })
            .collect();
        let want = [
            ("sam", "03 22:00", "04 00:00", Source::Layer(0)),
            ("dana", "04 00:00", "04 04:00", Source::Override(0)),
            ("eli", "04 04:00", "04 06:00", Source::Override(1)),
            ("eli", "04 06:00", "04 08:00", Source::Override(2)),
            ("dana", "04 08:00", "04 10:00", Source::Override(0)),
            ("sam", "04 10:00", "04 12:00", Source::Layer(0)),
        ]
        .map(|(p, a, b, src)| (p.to_string(), a.to_string(), b.to_string(), src));
        assert_eq!(got, want);
        // The whole shift around an instant, not just the piece of a window.
        let f = s.on_call(utc("2026-03-04T09:00:00Z")).unwrap();
        assert_eq!(
            (f.start, f.end),
            (utc("2026-03-04T08:00:00Z"), utc("2026-03-04T10:00:00Z"))
        );
    }

    const BERLIN: Tz = chrono_tz::Europe::Berlin;
    const SYDNEY: Tz = chrono_tz::Australia::Sydney;
    const KOLKATA: Tz = chrono_tz::Asia::Kolkata;

    /// The Monday (year, month, day) starting a week, and the week's length in hours.
    type DstWeek = ((i32, u32, u32), i64);

    /// Per zone: the Monday starting the week of each 2026 clock change (spring-forward week
    /// first) and that week's length in hours. Sydney's clocks go back on the first Sunday of
    /// April and forward on the first Sunday of October; Kolkata (+05:30) has no DST.
    const DST_WEEKS: [(Tz, [DstWeek; 2]); 4] = [
        (LA, [((2026, 3, 2), 167), ((2026, 10, 26), 169)]),
        (BERLIN, [((2026, 3, 23), 167), ((2026, 10, 19), 169)]),
        (SYDNEY, [((2026, 9, 28), 167), ((2026, 3, 30), 169)]),
        (KOLKATA, [((2026, 3, 2), 168), ((2026, 10, 26), 168)]),
    ];

    /// A 24/7 weekly layer with a daily 17:00–09:00 evening layer above it, both handing off
    /// Mondays 09:00 local in `zone`.
    fn days_and_evenings(zone: Tz) -> Schedule {
        let layer = |name: &str, members: [&str; 2], restrictions| Layer {
            evening: false,
            assigned: Default::default(),
            name: name.into(),
            rotation: Rotation {
                zone,
                start: local(2026, 1, 5, 9),
                length: ShiftLength::Weeks(1),
                members: members.map(String::from).to_vec(),
            },
            restrictions,
        };
        Schedule {
            name: "dst".into(),
            zone,
            layers: vec![
                layer("days", ["alice", "bob"], vec![]),
                layer(
                    "evenings",
                    ["sam", "sofia"],
                    vec![Restriction::Daily {
                        start: t(17),
                        end: t(9),
                    }],
                ),
            ],
            overrides: vec![],
        }
    }

    #[test]
    fn weekly_handoffs_stay_at_local_time_across_dst_weeks_in_four_zones() {
        for (zone, weeks) in DST_WEEKS {
            let mut s = days_and_evenings(zone);
            s.layers.truncate(1);
            for ((y, m, d), hours) in weeks {
                let monday = resolve_local(zone, local(y, m, d, 9));
                let shifts =
                    s.final_shifts(monday - Duration::weeks(1), monday + Duration::weeks(2));
                let k = shifts.iter().position(|f| f.start == monday).unwrap();
                let (week, next) = (&shifts[k], &shifts[k + 1]);
                assert_eq!(
                    (week.end - week.start).num_hours(),
                    hours,
                    "{zone} {monday}"
                );
                assert_eq!(next.start, week.end);
                assert_ne!(next.person, week.person);
                let handoff = week.end.with_timezone(&zone).format("%a %H:%M").to_string();
                assert_eq!(handoff, "Mon 09:00", "{zone} {monday}");
            }
        }
    }

    #[test]
    fn an_evening_window_stays_17_to_09_local_across_dst_weeks_in_four_zones() {
        for (zone, weeks) in DST_WEEKS {
            let s = days_and_evenings(zone);
            for ((y, m, d), week_hours) in weeks {
                let monday = resolve_local(zone, local(y, m, d, 9));
                let next_monday = resolve_local(zone, local(y, m, d, 9) + Duration::weeks(1));
                let shifts = s.final_shifts(monday, next_monday);
                assert!(s.gaps(monday, next_monday).is_empty(), "{zone} {monday}");
                // Days and evenings alternate: 7 days (09–17) and 7 evenings (17–09).
                assert_eq!(shifts.len(), 14, "{zone} {monday}");
                let mut evening_hours = Vec::new();
                for f in &shifts {
                    let (a, b) = (f.start.with_timezone(&zone), f.end.with_timezone(&zone));
                    let (a, b) = (a.format("%H:%M").to_string(), b.format("%H:%M").to_string());
                    match f.source {
                        Source::Layer(0) => {
                            assert_eq!((a.as_str(), b.as_str()), ("09:00", "17:00"))
                        }
                        Source::Layer(1) => {
                            assert_eq!((a.as_str(), b.as_str()), ("17:00", "09:00"), "{zone}");
                            evening_hours.push((f.end - f.start).num_hours());
                        }
                        ref other => panic!("{other:?}"),
                    }
                }
                // Every change falls early on a Sunday, so Saturday night is the short or
                // long one.
                let mut want = vec![16; 7];
                want[5] += week_hours - 168;
                assert_eq!(evening_hours, want, "{zone} {monday}");
            }
        }
        // +05:30: 17:00 IST is 11:30 UTC.
        let s = days_and_evenings(KOLKATA);
        let f = s.on_call(utc("2026-03-02T12:00:00Z")).unwrap();
        assert_eq!(
            (f.person.as_str(), f.start, f.end),
            (
                "sam",
                utc("2026-03-02T11:30:00Z"),
                utc("2026-03-03T03:30:00Z")
            )
        );
    }

    /// Brute force, from the rules alone: the latest override containing `t`, else the highest
    /// layer whose turn at `t` lies in one of its restriction windows (any, if it has none).
    fn reference(s: &Schedule, t: DateTime<Utc>) -> Option<(String, Source)> {
        if let Some((i, o)) =
            (s.overrides.iter().enumerate().rev()).find(|(_, o)| o.start <= t && t < o.end)
        {
            return Some((o.person.clone(), Source::Override(i)));
        }
        s.layers.iter().enumerate().rev().find_map(|(i, layer)| {
            let turn = layer.rotation.shift_at(t)?;
            let open = layer.restrictions.is_empty()
                || (layer.restrictions.iter()).any(|r| in_window(r, s.zone, t));
            open.then_some((turn.member, Source::Layer(i)))
        })
    }

    /// Whether `t` lies in a window of `r`: tries the window opening on every local day from
    /// ten days before `t` to one after, each resolved by the RFC 5545 rule.
    fn in_window(r: &Restriction, zone: Tz, t: DateTime<Utc>) -> bool {
        let today = t.with_timezone(&zone).date_naive();
        (-10..=1).any(|d| {
            let day = today + Duration::days(d);
            let (start, end) = match *r {
                Restriction::Daily { start, end } => {
                    let end_day = day + Duration::days(i64::from(end <= start));
                    (day.and_time(start), end_day.and_time(end))
                }
                Restriction::Weekly { start, end } => {
                    if day.weekday() != start.0 {
                        return false;
                    }
                    let mut days =
                        (end.0.num_days_from_monday() + 7 - start.0.num_days_from_monday()) % 7;
                    if days == 0 && end.1 <= start.1 {
                        days = 7;
                    }
                    let end_day = day + Duration::days(i64::from(days));
                    (day.and_time(start.1), end_day.and_time(end.1))
                }
            };
            resolve_local(zone, start) <= t && t < resolve_local(zone, end)
        })
    }

    fn covering(shifts: &[FinalShift], t: DateTime<Utc>) -> Option<&FinalShift> {
        shifts.iter().find(|f| f.start <= t && t < f.end)
    }

    const POOL: [&str; 4] = ["ann", "ben", "cat", "dan"];

    fn arb_time() -> impl Strategy<Value = NaiveTime> {
        // Half hours, so windows and handoffs land inside DST gaps and repeated hours too.
        (0u32..48).prop_map(|h| NaiveTime::from_hms_opt(h / 2, (h % 2) * 30, 0).unwrap())
    }

    fn arb_restriction() -> impl Strategy<Value = Restriction> {
        let day = (0u8..7).prop_map(|d| Weekday::try_from(d).unwrap());
        prop_oneof![
            (arb_time(), arb_time()).prop_map(|(start, end)| Restriction::Daily { start, end }),
            (day.clone(), arb_time(), day, arb_time()).prop_map(|(sd, st, ed, et)| {
                Restriction::Weekly {
                    start: (sd, st),
                    end: (ed, et),
                }
            }),
        ]
    }

    fn arb_layer(zone: Tz) -> impl Strategy<Value = Layer> {
        let length = prop_oneof![
            (1u32..=12).prop_map(ShiftLength::Hours),
            (1u32..=3).prop_map(ShiftLength::Days),
            (1u32..=2).prop_map(ShiftLength::Weeks),
            Just(ShiftLength::Months(1)),
        ];
        (
            0i64..2 * 365 * 48,
            length,
            prop::collection::vec(prop::sample::select(POOL.to_vec()), 1..=3),
            prop::collection::vec(arb_restriction(), 0..=2),
        )
            .prop_map(move |(half_hours, length, members, restrictions)| Layer {
                evening: false,
                assigned: Default::default(),
                name: "l".into(),
                rotation: Rotation {
                    zone,
                    start: local(2025, 1, 1, 0) + Duration::minutes(30 * half_hours),
                    length,
                    members: members.into_iter().map(String::from).collect(),
                },
                restrictions,
            })
    }

    /// Schedules in zones with one-hour, half-hour and no DST changes, in both hemispheres,
    /// with a window `[from, to)` of up to 30 days somewhere in 2025–2026.
    fn arb_case() -> impl Strategy<Value = (Schedule, DateTime<Utc>, DateTime<Utc>)> {
        let zones = prop::sample::select(vec![
            LA,
            BERLIN,
            SYDNEY,
            KOLKATA,
            chrono_tz::UTC,
            chrono_tz::Australia::Lord_Howe,
        ]);
        zones.prop_flat_map(|zone| {
            let o = (
                prop::sample::select(POOL.to_vec()),
                0i64..40 * 24,
                -2i64..72,
            );
            (
                prop::collection::vec(arb_layer(zone), 1..=3),
                0i64..2 * 365 * 24,
                1i64..30 * 24,
                prop::collection::vec(o, 0..=4),
            )
                .prop_map(move |(layers, from_h, span_h, overrides)| {
                    let from = utc("2025-01-01T00:00:00Z") + Duration::hours(from_h);
                    let to = from + Duration::hours(span_h);
                    let overrides = (overrides.into_iter().enumerate())
                        .map(|(i, (person, at_h, len_h))| {
                            let start = from - Duration::days(5) + Duration::hours(at_h);
                            Override {
                                person: person.into(),
                                start,
                                end: start + Duration::hours(len_h),
                                reason: format!("o{i}"),
                            }
                        })
                        .collect();
                    let s = Schedule {
                        name: "p".into(),
                        zone,
                        layers,
                        overrides,
                    };
                    (s, from, to)
                })
        })
    }

    /// Instants to check in `[from, to)`: the edges and middle of every shift and gap, every
    /// override edge, and evenly spread ones.
    fn probes(
        shifts: &[FinalShift],
        s: &Schedule,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<DateTime<Utc>> {
        let second = Duration::seconds(1);
        let mut edges = vec![from, to];
        edges.extend(shifts.iter().flat_map(|f| [f.start, f.end]));
        edges.extend(s.overrides.iter().flat_map(|o| [o.start, o.end]));
        let mut out: Vec<_> = edges.iter().flat_map(|&e| [e - second, e]).collect();
        edges.sort();
        out.extend(edges.windows(2).map(|w| w[0] + (w[1] - w[0]) / 2));
        out.extend((0..64).map(|k| from + (to - from) * k / 64));
        out.retain(|&t| from <= t && t < to);
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// (a) Final shifts are non-empty, in order, never overlap, stay inside `[from, to)`,
        /// and touching ones differ in person or source (they would have been joined).
        #[test]
        fn final_shifts_are_ordered_disjoint_and_maximal((s, from, to) in arb_case()) {
            let shifts = s.final_shifts(from, to);
            for f in &shifts {
                prop_assert!(from <= f.start && f.start < f.end && f.end <= to, "{:?}", f);
            }
            for w in shifts.windows(2) {
                prop_assert!(w[0].end <= w[1].start, "{:?}", w);
                if w[0].end == w[1].start {
                    prop_assert!(w[0].person != w[1].person || w[0].source != w[1].source, "{:?}", w);
                }
            }
        }

        /// (b) Every probed instant is covered by exactly whom the brute-force rules name, or
        /// lies in a gap where they name nobody.
        #[test]
        fn every_instant_goes_to_whom_the_rules_say((s, from, to) in arb_case()) {
            let shifts = s.final_shifts(from, to);
            for t in probes(&shifts, &s, from, to) {
                let got = covering(&shifts, t).map(|f| (f.person.clone(), f.source.clone()));
                prop_assert_eq!(got, reference(&s, t), "at {}", t);
            }
        }

        /// (c) Where a restricted layer has someone on call, it is inside one of the layer's
        /// windows and that person's turn.
        #[test]
        fn layer_shifts_stay_inside_their_restriction_windows((s, from, to) in arb_case()) {
            let shifts = s.final_shifts(from, to);
            for f in &shifts {
                let Source::Layer(i) = f.source else { continue };
                let layer = &s.layers[i];
                for t in [f.start, f.start + (f.end - f.start) / 2, f.end - Duration::seconds(1)] {
                    prop_assert!(
                        layer.restrictions.is_empty()
                            || layer.restrictions.iter().any(|r| in_window(r, s.zone, t)),
                        "{:?} at {}", f, t
                    );
                    prop_assert_eq!(layer.rotation.shift_at(t).map(|x| x.member), Some(f.person.clone()));
                }
            }
        }

        /// (d) Inside an override, an override is on call: that one or a later one.
        #[test]
        fn an_override_always_wins((s, from, to) in arb_case()) {
            let shifts = s.final_shifts(from, to);
            for (i, o) in s.overrides.iter().enumerate() {
                let (a, b) = (o.start.max(from), o.end.min(to));
                if a >= b {
                    continue;
                }
                for t in [a, a + (b - a) / 2, b - Duration::seconds(1)] {
                    let f = covering(&shifts, t);
                    let j = match f.map(|f| &f.source) {
                        Some(Source::Override(j)) => *j,
                        other => return Err(TestCaseError::fail(format!("{other:?} at {t}"))),
                    };
                    let winner = &s.overrides[j];
                    prop_assert!(j >= i && winner.start <= t && t < winner.end);
                    prop_assert_eq!(&f.unwrap().person, &winner.person);
                }
            }
        }

        /// (e) `on_call` names the shift `final_shifts` has at that instant; its bounds are
        /// the same where the window does not cut the shift, and it is exactly the shift of a
        /// window reaching two months either side.
        #[test]
        fn on_call_agrees_with_final_shifts((s, from, to) in arb_case(), k in 0u32..64) {
            let shifts = s.final_shifts(from, to);
            for t in probes(&shifts, &s, from, to).into_iter().step_by(7) {
                let want = covering(&shifts, t);
                let got = s.on_call(t);
                prop_assert_eq!(got.is_some(), want.is_some(), "at {}", t);
                let (Some(got), Some(want)) = (got, want) else { continue };
                prop_assert_eq!((&got.person, &got.source), (&want.person, &want.source));
                prop_assert!(got.start <= want.start && want.end <= got.end);
                if want.start > from {
                    prop_assert_eq!(got.start, want.start);
                }
                if want.end < to {
                    prop_assert_eq!(got.end, want.end);
                }
            }
            let t = from + (to - from) * k as i32 / 64;
            let reach = Duration::days(62);
            let wide = s.final_shifts(t - reach, t + reach);
            let got = s.on_call(t);
            prop_assert_eq!(got.as_ref(), covering(&wide, t));
        }
    }
}
