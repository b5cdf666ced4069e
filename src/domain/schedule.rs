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

use chrono::{DateTime, Datelike, Duration, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;

use super::rotation::{Rotation, resolve_local};

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

/// The restriction's windows overlapping `[from, to)`, as UTC spans.
pub(crate) fn windows(
    r: &Restriction,
    zone: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Span> {
    // Walk local days from a week before `from` (a weekly window can start up to six days
    // earlier; offsets shift by hours) to one past `to`.
    let first = from.with_timezone(&zone).date_naive() - Duration::days(8);
    let last = to.with_timezone(&zone).date_naive() + Duration::days(1);
    let mut out = Vec::new();
    let mut day = first;
    while day <= last {
        let span = match *r {
            Restriction::Daily { start, end } => {
                let end_day = if end <= start {
                    day + Duration::days(1)
                } else {
                    day
                };
                Some((day.and_time(start), end_day.and_time(end)))
            }
            Restriction::Weekly { start, end } => (day.weekday() == start.0).then(|| {
                let mut len =
                    end.0.num_days_from_monday() as i64 - start.0.num_days_from_monday() as i64;
                if len < 0 || (len == 0 && end.1 <= start.1) {
                    len += 7;
                }
                (
                    day.and_time(start.1),
                    (day + Duration::days(len)).and_time(end.1),
                )
            }),
        };
        if let Some((s, e)) = span {
            let (s, e) = (resolve_local(zone, s), resolve_local(zone, e));
            if s < to && e > from && s < e {
                out.push((s.max(from), e.min(to)));
            }
        }
        day += Duration::days(1);
    }
    out
}

/// The layer's turns cut to its restrictions, within `[from, to)`.
fn layer_spans(
    layer: &Layer,
    zone: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(Span, String)> {
    let turns = layer.rotation.shifts_between(from, to);
    let mut out = Vec::new();
    for t in turns {
        let (s, e) = (t.start.max(from), t.end.min(to));
        if layer.restrictions.is_empty() {
            out.push(((s, e), t.member));
            continue;
        }
        let mut cuts: Vec<Span> = layer
            .restrictions
            .iter()
            .flat_map(|r| windows(r, zone, s, e))
            .collect();
        cuts.sort();
        for (cs, ce) in merge(cuts) {
            out.push(((cs, ce), t.member.clone()));
        }
    }
    out
}

/// Merges overlapping or touching spans (sorted by start).
fn merge(spans: Vec<Span>) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::new();
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
        // Candidates, highest priority first: overrides (latest first), then layers top down.
        let mut candidates: Vec<(Span, String, Source)> = Vec::new();
        for (i, o) in self.overrides.iter().enumerate().rev() {
            let (s, e) = (o.start.max(from), o.end.min(to));
            if s < e {
                candidates.push(((s, e), o.person.clone(), Source::Override(i)));
            }
        }
        for (i, layer) in self.layers.iter().enumerate().rev() {
            for (span, person) in layer_spans(layer, self.zone, from, to) {
                candidates.push((span, person, Source::Layer(i)));
            }
        }
        // Elementary intervals between every boundary; each takes its best candidate. This is
        // quadratic in the shifts of the range: fine for on-call views of weeks or months.
        let mut points: Vec<DateTime<Utc>> = candidates
            .iter()
            .flat_map(|((s, e), _, _)| [*s, *e])
            .collect();
        points.sort();
        points.dedup();
        let mut out: Vec<FinalShift> = Vec::new();
        for w in points.windows(2) {
            let (s, e) = (w[0], w[1]);
            let Some((_, person, source)) = candidates
                .iter()
                .find(|((cs, ce), _, _)| *cs <= s && e <= *ce)
            else {
                continue; // a gap
            };
            match out.last_mut() {
                Some(last) if last.end == s && last.person == *person && last.source == *source => {
                    last.end = e;
                }
                _ => out.push(FinalShift {
                    person: person.clone(),
                    start: s,
                    end: e,
                    source: source.clone(),
                }),
            }
        }
        out
    }

    /// Who is on call at `at`, with the whole final shift around it; `None` in a gap.
    pub fn on_call(&self, at: DateTime<Utc>) -> Option<FinalShift> {
        // This runs for every page to a schedule, so start with a small window around `at`
        // and widen it only while the shift found is cut by the window (its real bounds lie
        // further out), up to two months either side.
        let mut reach = Duration::days(1);
        loop {
            let (from, to) = (at - reach, at + reach);
            let shift = self
                .final_shifts(from, to)
                .into_iter()
                .find(|s| s.start <= at && at < s.end)?;
            let cut = shift.start == from || shift.end == to;
            if !cut || reach >= Self::ON_CALL_REACH {
                return Some(shift);
            }
            reach = (reach * 4).min(Self::ON_CALL_REACH);
        }
    }

    /// How far `on_call` looks for the bounds of the shift in progress.
    const ON_CALL_REACH: Duration = Duration::days(62);

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
}
