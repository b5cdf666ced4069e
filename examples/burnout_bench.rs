//! Burnout projection speed: deciding one year of turns of a 50-member schedule with every
//! limit on (4 weeks a quarter, 2 consecutive evening weeks, a week's rest after more than 3
//! incidents, 12 h minimum rest; moved turns swapped back), from a ledger holding the last
//! quarter (some busy weeks).
//! Times `plan` (the decisions alone) and `apply` (decisions plus the per-turn maps the
//! serving set carries, which is what the daemon runs after each recording), for weekly
//! turns and, as a harder case, daily ones; then `final_shifts` over the year and `on_call`
//! with and without the decided turns, to show the flattening stays as fast.
//!
//! `cargo build --release --example burnout_bench && target/release/examples/burnout_bench [RUNS]`

use std::hint::black_box;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use pagerd::domain::burnout::{BurnoutPolicy, LedgerEntry, apply, plan};
use pagerd::domain::policy::{HandoffNotify, ScheduleDef};
use pagerd::domain::rotation::{Rotation, ShiftLength};
use pagerd::domain::schedule::{Layer, Restriction, Schedule};

const ZONE: Tz = chrono_tz::America::Los_Angeles;

const POLICY: BurnoutPolicy = BurnoutPolicy {
    max_weeks_per_quarter: Some(4),
    max_consecutive_evening_weeks: Some(2),
    rest_after_busy_week: Some(3),
    rest_days: 7,
    min_rest_hours: Some(12),
};

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .map_or(15, |s| s.parse().expect("RUNS: a number"));
    let now = Utc.with_ymd_and_hms(2026, 4, 1, 12, 0, 0).unwrap();
    let until = now + Duration::days(365);
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average: {}", load.trim());
    }
    // The third case makes the rest (50 days) outlast by a day the next turn (49 days after a
    // turn ends) of everyone busy in the ledger, so turns are moved and swapped back (with 50
    // members and a week's rest, none are).
    let long_rest = BurnoutPolicy {
        rest_days: 50,
        ..POLICY
    };
    for (label, length, policy) in [
        ("weekly", ShiftLength::Weeks(1), POLICY),
        ("daily", ShiftLength::Days(1), POLICY),
        ("daily, 50-day rest", ShiftLength::Days(1), long_rest),
    ] {
        let def = schedule(length, policy);
        let ledger = history(&def.schedule, now);
        let planned = plan(&def.schedule, policy, &ledger, now, until);
        let moved = planned
            .iter()
            .filter(|p| p.decision.person != p.decision.candidate && !p.decision.swap)
            .count();
        let swapped = planned.iter().filter(|p| p.decision.swap).count();
        println!(
            "{label}: 50 members, evening layer, all limits; ledger {} rows; one year: {} turns \
             decided, {moved} moved by a limit, {swapped} swapped back",
            ledger.len(),
            planned.len()
        );
        let t_plan = median_of(runs, || {
            time_per_call(20, || {
                black_box(plan(&def.schedule, policy, black_box(&ledger), now, until));
            })
        });
        let t_apply = median_of(runs, || {
            time_per_call(20, || {
                let mut d = def.clone();
                black_box(apply(&mut d, black_box(&ledger), now));
            })
        });
        println!("  plan (one year):        median {}", fmt(t_plan));
        println!("  apply (400-day horizon): median {}", fmt(t_apply));

        let mut decided = def.clone();
        apply(&mut decided, &ledger, now);
        let fs_plain = median_of(runs, || {
            time_per_call(20, || {
                black_box(def.schedule.final_shifts(black_box(now), until));
            })
        });
        let fs_decided = median_of(runs, || {
            time_per_call(20, || {
                black_box(decided.schedule.final_shifts(black_box(now), until));
            })
        });
        let instants: Vec<DateTime<Utc>> = (0..10_000)
            .map(|k| now + Duration::minutes(k * 52 * 7 * 24 * 60 / 10_000))
            .collect();
        let oc = |s: &Schedule| {
            median_of(runs, || {
                time_per_call(1, || {
                    for &at in &instants {
                        black_box(s.on_call(black_box(at)));
                    }
                }) / instants.len() as u32
            })
        };
        println!(
            "  final_shifts (one year): plain {}, with decided turns {}",
            fmt(fs_plain),
            fmt(fs_decided)
        );
        println!(
            "  on_call: plain {}, with decided turns {}",
            fmt(oc(&def.schedule)),
            fmt(oc(&decided.schedule))
        );
    }
}

fn schedule(length: ShiftLength, policy: BurnoutPolicy) -> ScheduleDef {
    let members: Vec<String> = (0..50).map(|i| format!("m{i:02}")).collect();
    let t = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap();
    ScheduleDef {
        schedule: Schedule {
            name: "bench".into(),
            zone: ZONE,
            layers: vec![Layer {
                name: "evenings".into(),
                rotation: Rotation {
                    zone: ZONE,
                    start: NaiveDate::from_ymd_opt(2026, 1, 5)
                        .unwrap()
                        .and_hms_opt(9, 0, 0)
                        .unwrap(),
                    length,
                    members,
                },
                restrictions: vec![Restriction::Daily {
                    start: t(17),
                    end: t(9),
                }],
                evening: true,
                assigned: Default::default(),
            }],
            overrides: Vec::new(),
        },
        owner: "owner".into(),
        fallback: None,
        handoff: HandoffNotify::OFF,
        burnout: Some(policy),
        override_notes: Default::default(),
    }
}

/// The last quarter as the ledger would have it: the rotation's turns, every seventh busy.
fn history(s: &Schedule, now: DateTime<Utc>) -> Vec<LedgerEntry> {
    let r = &s.layers[0].rotation;
    r.shifts_between(now - Duration::days(91), now)
        .into_iter()
        .filter(|t| t.start < now - Duration::days(8))
        .map(|t| LedgerEntry {
            schedule: s.name.clone(),
            layer: s.layers[0].name.clone(),
            turn: Some(t.index),
            start: t.start,
            end: t.end,
            person: t.member.clone(),
            candidate: t.member,
            reason: String::new(),
            skipped: Vec::new(),
            flagged: false,
            nobody_eligible: false,
            rested: false,
            evening: true,
            incidents: if t.index % 7 == 0 { 5 } else { 1 },
        })
        .collect()
}

fn time_per_call(n: u32, mut f: impl FnMut()) -> StdDuration {
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed() / n
}

fn median_of(runs: usize, mut f: impl FnMut() -> StdDuration) -> StdDuration {
    let mut v: Vec<StdDuration> = (0..runs.max(1)).map(|_| f()).collect();
    v.sort();
    v[v.len() / 2]
}

fn fmt(d: StdDuration) -> String {
    if d >= StdDuration::from_millis(1) {
        format!("{:.2} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.1} µs", d.as_secs_f64() * 1e6)
    }
}
