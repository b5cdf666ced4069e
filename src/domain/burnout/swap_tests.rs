//! Table tests for the rest after a busy shift and for swaps, and the property that limits
//! never put anyone on call more turns in a row than the rotation does, unless flagged.

use chrono::{Duration, NaiveDate, NaiveDateTime};
use proptest::prelude::*;

use super::*;

fn members(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Turn `k` of `len` from Monday 2026-11-23 09:00 (UTC zone: local = UTC).
fn turn(k: i64, len: Duration) -> (NaiveDateTime, NaiveDateTime) {
    let first = NaiveDate::from_ymd_opt(2026, 11, 23)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap();
    (first + len * k as i32, first + len * (k as i32 + 1))
}

fn slot<'a>(k: i64, len: Duration, m: &'a [String]) -> Slot<'a> {
    let (a, b) = turn(k, len);
    Slot {
        start: a.and_utc(),
        end: b.and_utc(),
        local_start: a,
        local_end: b,
        evening: false,
        candidate: &m[k as usize % m.len()],
        members: m,
        layer: "primary",
    }
}

/// Decides turns `0..turns` in order; `busy` gives turn k's incidents to whoever took it.
/// Returns (person, reason, back_to_back) per turn.
fn run(
    policy: BurnoutPolicy,
    m: &[String],
    len: Duration,
    turns: i64,
    busy: &[(i64, u32)],
) -> Vec<(String, String, bool)> {
    let mut load = Load::new(policy, []);
    (0..turns)
        .map(|k| {
            let s = slot(k, len, m);
            let d = load.decide(&s);
            if let Some(&(_, n)) = busy.iter().find(|(b, _)| *b == k) {
                load.set_incidents(&d.person, s.start, n);
            }
            (d.person, d.reason, d.back_to_back)
        })
        .collect()
}

fn people(decided: &[(String, String, bool)]) -> Vec<&str> {
    decided.iter().map(|(p, _, _)| p.as_str()).collect()
}

fn rest(days: u32) -> BurnoutPolicy {
    BurnoutPolicy {
        max_weeks_per_quarter: None,
        max_consecutive_evening_weeks: None,
        rest_after_busy_week: Some(3),
        rest_days: days,
        min_rest_hours: None,
    }
}

#[test]
fn a_busy_week_rests_the_week_after_it_not_the_next_turn_whenever_it_is() {
    // The case: ann busy 23–30 Nov (4 incidents); bob 30 Nov, carol 7 Dec; her turn
    // on 14 Dec starts after her week of rest (30 Nov–7 Dec) and stays hers, so bob never
    // has two weeks in a row.
    let m = members(&["ann", "bob", "carol"]);
    let decided = run(rest(7), &m, Duration::weeks(1), 6, &[(0, 4)]);
    assert_eq!(
        people(&decided),
        ["ann", "bob", "carol", "ann", "bob", "carol"]
    );
    assert_eq!(decided[3].1, "ann's turn");
    assert!(decided.iter().all(|(_, _, b2b)| !b2b));
}

#[test]
fn the_rest_follows_more_than_the_threshold_and_lasts_rest_days_from_the_shift_end() {
    let m = members(&["ann", "bob"]);
    let week = Duration::weeks(1);
    // (incidents in ann's week 0, rest_days) → who has week 2 (ann's turn by rotation).
    for (incidents, days, want) in [
        (3, 7, "ann"),  // 3 is not more than 3
        (4, 7, "ann"),  // her rest is 1–8 Dec; week 2 starts 7 Dec 09:00, when it ends
        (4, 8, "bob"),  // rest until 8 Dec 09:00: week 2 starts inside it
        (4, 14, "bob"), // until 14 Dec 09:00
    ] {
        let decided = run(rest(days), &m, week, 3, &[(0, incidents)]);
        assert_eq!(decided[2].0, want, "{incidents} incidents, {days} days");
    }
    let decided = run(rest(8), &m, week, 3, &[(0, 4)]);
    assert_eq!(
        decided[2].1,
        "ann skipped: rest after a busy shift (4 incidents from 2026-11-23, more than 3, \
         rest until 2026-12-08 09:00) → bob; ann is owed bob's next turn \
         (back to back: nobody else eligible)"
    );
}

#[test]
fn the_replacement_gives_its_next_turn_to_the_rested_person() {
    // Rest of 15 days: ann's 14 Dec turn starts inside it (until 15 Dec 09:00). Bob takes it
    // and ann takes bob's 21 Dec turn; nobody has two weeks in a row.
    let m = members(&["ann", "bob", "carol"]);
    let decided = run(rest(15), &m, Duration::weeks(1), 7, &[(0, 4)]);
    assert_eq!(
        people(&decided),
        ["ann", "bob", "carol", "bob", "ann", "carol", "ann"]
    );
    assert_eq!(
        decided[3].1,
        "ann skipped: rest after a busy shift (4 incidents from 2026-11-23, more than 3, \
         rest until 2026-12-15 09:00) → bob; ann is owed bob's next turn"
    );
    assert_eq!(
        decided[4].1,
        "bob takes ann's 14 Dec turn (rest after busy shift); ann takes bob's 21 Dec turn"
    );
    assert_eq!(decided[5].1, "carol's turn");
    assert!(decided.iter().all(|(_, _, b2b)| !b2b));
}

#[test]
fn a_swap_lapses_when_the_rested_person_cannot_take_it_back() {
    // Daily, three people, a week's rest: ann is resting through her turns on days 3 and 6.
    // Bob or carol would be on call two days in a row either way: flagged. Bob's own turns
    // stay his (the swap lapses, said so). Day 9 is ann's again.
    let m = members(&["ann", "bob", "carol"]);
    let decided = run(rest(7), &m, Duration::days(1), 10, &[(0, 4)]);
    assert_eq!(
        people(&decided),
        [
            "ann", "bob", "carol", "bob", "bob", "carol", "bob", "bob", "carol", "ann"
        ]
    );
    assert_eq!(
        decided[3].1,
        "ann skipped: rest after a busy shift (4 incidents from 2026-11-23, more than 3, \
         rest until 2026-12-01 09:00) → bob; ann is owed bob's next turn \
         (back to back: nobody else eligible)"
    );
    assert!(decided[3].2);
    assert_eq!(
        decided[4].1,
        "bob's turn (no swap back to ann: rest after a busy shift (4 incidents from \
         2026-11-23, more than 3, rest until 2026-12-01 09:00))"
    );
    // Day 4 follows a flagged day 3: the pair is flagged once.
    assert!(!decided[4].2);
    assert_eq!(decided[9].1, "ann's turn");
}

#[test]
fn two_people_swap_back_and_the_double_turns_are_flagged() {
    // Rest of 14 days after ann's busy week 0: her week 2 goes to bob (his second in a row:
    // nobody else), bob's week 3 back to ann (hers before her own week 4: flagged too).
    let m = members(&["ann", "bob"]);
    let decided = run(rest(14), &m, Duration::weeks(1), 6, &[(0, 4)]);
    assert_eq!(people(&decided), ["ann", "bob", "bob", "ann", "ann", "bob"]);
    assert_eq!(
        decided[3].1,
        "bob takes ann's 7 Dec turn (rest after busy shift); ann takes bob's 14 Dec turn \
         (back to back: nobody else eligible)"
    );
    let flags: Vec<bool> = decided.iter().map(|d| d.2).collect();
    assert_eq!(flags, [false, false, true, true, false, false]);
}

fn arb_policy() -> impl Strategy<Value = BurnoutPolicy> {
    (
        prop::option::of(1u32..8),
        prop::option::of(1u32..4),
        prop::option::of(0u32..4),
        prop::option::of(1u32..200),
        1u32..22,
    )
        .prop_map(|(a, b, c, d, e)| BurnoutPolicy {
            max_weeks_per_quarter: a,
            max_consecutive_evening_weeks: b,
            rest_after_busy_week: c,
            rest_days: e,
            min_rest_hours: d,
        })
}

proptest! {
    /// Over a year of weekly or daily turns with random incidents: whenever someone has two
    /// turns of the layer in a row (which a rotation of two or more never gives), one of the
    /// two decisions is flagged back to back; and a turn moved by a limit is flagged only
    /// when every other eligible member would have been on call two turns in a row too.
    #[test]
    fn limits_never_give_more_turns_in_a_row_than_the_rotation_unless_flagged(
        policy in arb_policy(),
        n in 2usize..6,
        daily in any::<bool>(),
        evening in any::<bool>(),
        incidents in prop::collection::vec(0u32..7, 120),
    ) {
        let m: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
        let len = if daily { Duration::days(1) } else { Duration::weeks(1) };
        let mut load = Load::new(policy, []);
        let mut taken: Vec<Decision> = Vec::new();
        for k in 0..incidents.len() as i64 {
            let s = Slot { evening, ..slot(k, len, &m) };
            let before = load.clone();
            let d = load.decide(&s);
            prop_assert!(m.contains(&d.person));
            if let Some(prev) = taken.last()
                && prev.person == d.person
            {
                prop_assert!(prev.back_to_back || d.back_to_back, "{:?} then {:?}", prev, d);
            }
            let moved = d.person != d.candidate && !d.swap && !d.nobody_eligible;
            if moved && d.back_to_back {
                let at = m.iter().position(|x| x == s.candidate).unwrap();
                let next = &m[(at + 1) % n];
                let after_own = |x: &str| taken.last().is_some_and(|p| p.person == x);
                let no_swap = before.refusal(s.candidate, &s.following()).is_some();
                for x in m.iter().filter(|x| before.refusal(x, &s).is_none()) {
                    prop_assert!(after_own(x) || (x == next && no_swap), "{x} was free: {:?}", d);
                }
            }
            if !d.nobody_eligible {
                prop_assert_eq!(before.refusal(&d.person, &s), None, "{:?}", d);
            }
            load.set_incidents(&d.person, s.start, incidents[k as usize]);
            taken.push(d);
        }
    }
}

#[test]
fn a_ledger_row_tells_how_its_turn_came_to_its_person() {
    // What a restart reads back: the kind of each recorded turn, so a pending swap survives.
    let m = members(&["ann", "bob", "carol"]);
    let mut load = Load::new(rest(15), []);
    let mut kinds = Vec::new();
    for k in 0..5 {
        let s = slot(k, Duration::weeks(1), &m);
        let d = load.decide(&s);
        if k == 0 {
            load.set_incidents("ann", s.start, 4);
        }
        // The row `Planned::entry` writes, as the store reads it back.
        let e = LedgerEntry {
            schedule: "s".into(),
            layer: "primary".into(),
            turn: Some(k),
            start: s.start,
            end: s.end,
            person: d.person,
            candidate: d.candidate,
            reason: d.reason,
            skipped: d.skipped,
            flagged: d.flagged,
            nobody_eligible: d.nobody_eligible,
            rested: d.rested,
            evening: false,
            incidents: 0,
        };
        kinds.push(e.kind());
    }
    assert_eq!(
        kinds,
        [
            TurnKind::Own,
            TurnKind::Own,
            TurnKind::Own,
            TurnKind::Moved("rest after busy shift"),
            TurnKind::Swap
        ]
    );
}

#[test]
fn a_weeks_rest_ends_at_the_same_wall_clock_time_across_a_dst_change() {
    // Los Angeles springs forward on 8 March 2026, inside ann's rest after her busy week
    // (23 February – 2 March 09:00 PST). Counted in local days, the rest ends Monday 9 March
    // 09:00 PDT, when her next turn starts: hers (168 h later would be 10:00 PDT).
    let zone = chrono_tz::America::Los_Angeles;
    let m = members(&["ann", "bob"]);
    let local = |(m, d): (u32, u32)| {
        NaiveDate::from_ymd_opt(2026, m, d)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap()
    };
    let s = |from: (u32, u32), to: (u32, u32), candidate: &'static str| Slot {
        start: crate::domain::rotation::resolve_local(zone, local(from)),
        end: crate::domain::rotation::resolve_local(zone, local(to)),
        local_start: local(from),
        local_end: local(to),
        evening: false,
        candidate,
        members: &m,
        layer: "primary",
    };
    let mut load = Load::new(rest(7), []);
    let first = s((2, 23), (3, 2), "ann");
    load.decide(&first);
    load.set_incidents("ann", first.start, 4);
    assert_eq!(load.decide(&s((3, 2), (3, 9), "bob")).person, "bob");
    let d = load.decide(&s((3, 9), (3, 16), "ann"));
    assert_eq!(
        (d.person.as_str(), d.reason.as_str()),
        ("ann", "ann's turn")
    );
}

#[test]
fn plan_with_recorded_incidents_decides_as_the_daemon_would() {
    // What a what-if calls: the schedule's turns from the start, ann's first week busy.
    use crate::domain::rotation::{Rotation, ShiftLength};
    use crate::domain::schedule::{Layer, Schedule};
    let m = members(&["ann", "bob", "carol"]);
    let (first, _) = turn(0, Duration::weeks(1));
    let schedule = Schedule {
        name: "primary".into(),
        zone: chrono_tz::UTC,
        layers: vec![Layer {
            name: "primary".into(),
            rotation: Rotation {
                zone: chrono_tz::UTC,
                start: first,
                length: ShiftLength::Weeks(1),
                members: m.clone(),
            },
            restrictions: Vec::new(),
            evening: false,
            assigned: Default::default(),
        }],
        overrides: Vec::new(),
    };
    let now = first.and_utc();
    let planned = plan_with(
        &schedule,
        rest(15),
        &[],
        now,
        now + Duration::weeks(7),
        |p, s, _| u32::from(p == "ann" && s == now) * 4,
    );
    let got: Vec<(String, String)> = (planned.into_iter())
        .map(|p| (p.decision.person, p.decision.reason))
        .collect();
    let want: Vec<(String, String)> = run(rest(15), &m, Duration::weeks(1), 7, &[(0, 4)])
        .into_iter()
        .map(|(p, r, _)| (p, r))
        .collect();
    assert_eq!(got, want);
    assert_eq!(got[4].0, "ann");
}
