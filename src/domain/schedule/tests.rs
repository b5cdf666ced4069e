//! Examples for the schedule rules: evening windows, layer precedence, overrides, weekly
//! windows, and handoffs and windows across daylight-saving weeks in four zones. The
//! property tests (against a brute-force reading of the rules) are in `proptests`.

use super::*;
use crate::domain::rotation::{ShiftLength, resolve_local};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Timelike, Weekday};

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
            let shifts = s.final_shifts(monday - Duration::weeks(1), monday + Duration::weeks(2));
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

mod proptests;
