//! Property tests: random layers, restrictions and overrides in zones with one-hour,
//! half-hour and no DST changes, checked against a brute-force reading of the rules.

use super::*;
use chrono::Datelike;
use proptest::prelude::*;

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
