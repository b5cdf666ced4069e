use super::*;
use chrono::{Duration, NaiveDate};
use proptest::prelude::*;

fn members(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Week `k` from Monday 2026-01-05 (UTC zone: local = UTC).
fn week(k: i64) -> (NaiveDateTime, NaiveDateTime) {
    let monday = NaiveDate::from_ymd_opt(2026, 1, 5)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap();
    (monday + Duration::weeks(k), monday + Duration::weeks(k + 1))
}

fn slot<'a>(k: i64, candidate: &'a str, members: &'a [String], evening: bool) -> Slot<'a> {
    let (a, b) = week(k);
    Slot {
        start: a.and_utc(),
        end: b.and_utc(),
        local_start: a,
        local_end: b,
        evening,
        candidate,
        members,
        layer: if members.is_empty() { "" } else { "l" },
    }
}

fn taken(k: i64, person: &str, incidents: u32, evening: bool) -> Taken {
    let (a, b) = week(k);
    Taken {
        person: person.into(),
        start: a.and_utc(),
        end: b.and_utc(),
        local_start: a,
        local_end: b,
        evening,
        incidents,
        is_override: false,
        layer: "l".into(),
        candidate: person.into(),
        kind: TurnKind::Own,
        flagged: false,
    }
}

fn only(p: BurnoutPolicy) -> BurnoutPolicy {
    p
}

const OFF: BurnoutPolicy = BurnoutPolicy {
    max_weeks_per_quarter: None,
    max_consecutive_evening_weeks: None,
    rest_after_busy_week: None,
    rest_days: 7,
    min_rest_hours: None,
};

#[test]
fn the_quarter_cap_moves_the_turn_to_an_eligible_member_who_is_not_on_call_next() {
    let m = members(&["alice", "bob", "carol"]);
    let history = (0..4).map(|k| taken(k, "bob", 0, false));
    let mut load = Load::new(BurnoutPolicy::default(), history);
    let d = load.decide(&slot(4, "bob", &m, false));
    // Carol is next in order, but bob could not take her next turn back (still capped):
    // she would have two weeks in a row, so alice takes it.
    assert_eq!(d.person, "alice");
    assert_eq!(
        d.reason,
        "bob skipped: 4 on-call weeks in 2026-Q1 already (limit 4) → alice \
         (carol on call the turn before or after); bob is owed alice's next turn"
    );
    assert_eq!(d.skipped, ["bob"]);
    // A new quarter (week 13 starts 2026-04-06) resets the count.
    let d = load.decide(&slot(13, "bob", &m, false));
    assert_eq!(
        (d.person.as_str(), d.reason.as_str()),
        ("bob", "bob's turn")
    );
}

#[test]
fn two_consecutive_evening_weeks_at_most() {
    let m = members(&["ann", "ben"]);
    let p = only(BurnoutPolicy {
        max_consecutive_evening_weeks: Some(2),
        ..OFF
    });
    let history = [taken(0, "ann", 0, true), taken(1, "ann", 0, true)];
    let mut load = Load::new(p, history.clone());
    let d = load.decide(&slot(2, "ann", &m, true));
    assert_eq!(
        d.reason,
        "ann skipped: 2 consecutive evening weeks already (limit 2) → ben; \
         ann is owed ben's next turn"
    );
    // A day layer is no evening: no limit there.
    let mut load = Load::new(p, history);
    assert_eq!(load.decide(&slot(2, "ann", &m, false)).person, "ann");
}

#[test]
fn minimum_rest_between_shifts() {
    let m = members(&["ann", "ben"]);
    let p = BurnoutPolicy {
        min_rest_hours: Some(12),
        ..OFF
    };
    let mut load = Load::new(p, [taken(0, "ann", 0, false)]);
    let d = load.decide(&slot(1, "ann", &m, false));
    assert_eq!(
        d.reason,
        "ann skipped: only 0 h rest since the last shift (minimum 12 h) → ben; \
         ann is owed ben's next turn"
    );
    assert_eq!(load.decide(&slot(3, "ann", &m, false)).person, "ann");
}

#[test]
fn nobody_eligible_goes_to_the_least_loaded() {
    let m = members(&["ann", "ben"]);
    let mut history: Vec<Taken> = (0..4).map(|k| taken(k, "ann", 0, false)).collect();
    history.extend((4..8).map(|k| taken(k, "ben", 0, false)));
    history.push(taken(8, "ann", 0, false));
    history.sort_by_key(|t| t.start);
    // Ann has 5 (over by an earlier override, say), Ben 4.
    let mut load = Load::new(BurnoutPolicy::default(), history);
    let d = load.decide(&slot(9, "ann", &m, false));
    assert!(d.nobody_eligible);
    assert_eq!(d.person, "ben");
    assert_eq!(
        d.reason,
        "nobody eligible (ann skipped: 5 on-call weeks in 2026-Q1 already (limit 4); \
         ben skipped: 4 on-call weeks in 2026-Q1 already (limit 4)) → least-loaded ben \
         (4 weeks in 2026-Q1)"
    );
    assert_eq!(d.skipped, ["ann"]);
}

#[test]
fn an_override_beyond_the_cap_is_taken_and_flagged() {
    let history = (0..4).map(|k| taken(k, "dana", 0, false));
    let mut load = Load::new(BurnoutPolicy::default(), history);
    let d = load.decide(&slot(5, "dana", &[], false));
    assert_eq!(d.person, "dana");
    assert!(d.flagged);
    assert_eq!(
        d.reason,
        "override: dana takes it over a limit: 4 on-call weeks in 2026-Q1 already (limit 4)"
    );
    // And it counts: 5 weeks now.
    assert_eq!(load.quarter_minutes("dana", (2026, 1)), 5 * WEEK_MINUTES);
    let mut load = Load::new(BurnoutPolicy::default(), []);
    let d = load.decide(&slot(5, "dana", &[], false));
    assert!(!d.flagged);
    assert_eq!(d.reason, "override: dana");
    // Covering someone's turn moves its hours: bob's week 5 is dana's.
    let m = members(&["bob", "dana"]);
    let mut load = Load::new(BurnoutPolicy::default(), []);
    load.decide(&slot(5, "bob", &m, false));
    assert_eq!(load.quarter_minutes("bob", (2026, 1)), WEEK_MINUTES);
    load.decide(&slot(5, "dana", &[], false));
    assert_eq!(load.quarter_minutes("bob", (2026, 1)), 0);
    assert_eq!(load.quarter_minutes("dana", (2026, 1)), WEEK_MINUTES);
}

#[test]
fn shifts_count_as_their_local_length_in_weeks() {
    // A 169-hour DST week is one week in local time; 12 h is 1/14.
    assert_eq!(weeks_text(WEEK_MINUTES), "1");
    assert_eq!(weeks_text(12 * 60), "0.1");
    assert_eq!(weeks_text(WEEK_MINUTES * 3 / 2), "1.5");
    let local = |d: u32, h: u32| {
        NaiveDate::from_ymd_opt(2026, 3, d)
            .unwrap()
            .and_hms_opt(h, 0, 0)
            .unwrap()
    };
    let (a, b) = (local(2, 9), local(9, 9));
    let t = Taken {
        person: "x".into(),
        start: a.and_utc(),
        end: b.and_utc() - Duration::hours(1), // 167 h of real time
        local_start: a,
        local_end: b,
        evening: false,
        incidents: 0,
        is_override: false,
        layer: "l".into(),
        candidate: "x".into(),
        kind: TurnKind::Own,
        flagged: false,
    };
    let load = Load::new(BurnoutPolicy::default(), [t]);
    assert_eq!(load.quarter_minutes("x", (2026, 1)), WEEK_MINUTES);
}

fn arb_policy() -> impl Strategy<Value = BurnoutPolicy> {
    (
        prop::option::of(1u32..6),
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
    /// Over a year of weekly turns with random incidents and overrides: every turn goes to
    /// somebody on the rotation (or the override's person); a member is only skipped for
    /// a stated limit; when some member was eligible, whoever took it breaks no limit;
    /// a flagged override is exactly one that breaks a limit.
    #[test]
    fn projections_cover_every_turn_and_keep_the_limits(
        policy in arb_policy(),
        n in 1usize..6,
        evening in any::<bool>(),
        incidents in prop::collection::vec(0u32..6, 52),
        overrides in prop::collection::vec(prop::option::weighted(0.1, 0usize..6), 52),
    ) {
        let m: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
        let mut load = Load::new(policy, []);
        for k in 0..52i64 {
            let candidate = &m[k as usize % n];
            let s = match overrides[k as usize] {
                Some(o) => slot(k, &m[o % n], &[], evening),
                None => slot(k, candidate, &m, evening),
            };
            let before = load.clone();
            let d = load.decide(&s);
            prop_assert!(m.contains(&d.person), "{:?}", d);
            prop_assert!(!d.reason.is_empty());
            if s.is_override() {
                prop_assert_eq!(&d.person, s.candidate);
                prop_assert_eq!(d.flagged, before.refusal(s.candidate, &s).is_some());
            } else if !d.nobody_eligible {
                prop_assert_eq!(before.refusal(&d.person, &s), None);
                for p in &d.skipped {
                    prop_assert!(before.refusal(p, &s).is_some());
                }
            } else {
                for p in &m {
                    prop_assert!(before.refusal(p, &s).is_some());
                }
            }
            // The shift's incidents become known when it ends.
            load.set_incidents(&d.person, s.start, incidents[k as usize]);
        }
    }

    /// Deciding from a history replayed from the ledger gives the same decisions as
    /// deciding in one go (restart safety of projections).
    #[test]
    fn a_replayed_history_decides_the_same(policy in arb_policy(), n in 1usize..6, cut in 1i64..51) {
        let m: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
        let mut whole = Load::new(policy, []);
        let all: Vec<Decision> = (0..52i64).map(|k| whole.decide(&slot(k, &m[k as usize % n], &m, true))).collect();
        let mut replay = Load::new(policy, []);
        for k in 0..cut {
            replay.decide(&slot(k, &m[k as usize % n], &m, true));
        }
        let history: Vec<Taken> = replay.people.values().flatten().cloned().collect::<Vec<_>>();
        let mut history = history;
        history.sort_by_key(|t| t.start);
        let mut restarted = Load::new(policy, history);
        for k in cut..52 {
            let d = restarted.decide(&slot(k, &m[k as usize % n], &m, true));
            prop_assert_eq!(&d, &all[k as usize]);
        }
    }
}
