//! Schedule flattening speed: `final_shifts` over a year and `on_call` at random instants, for
//! a 50-member, 3-layer schedule with restrictions and 100 overrides. Runs the algorithm from
//! before the sweep rewrite (commit 393b53c, kept below as `before`) on the same schedule in the
//! same process, checks both give the same answers, and prints medians and the ratio.
//!
//! `cargo build --release --example schedule_bench && target/release/examples/schedule_bench [RUNS]`

use std::hint::black_box;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use pagerd::domain::rotation::{Rotation, ShiftLength};
use pagerd::domain::schedule::{Layer, Override, Restriction, Schedule};

const ZONE: Tz = chrono_tz::America::Los_Angeles;

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .map_or(7, |s| s.parse().expect("RUNS: a number"));
    let schedule = bench_schedule();
    let from = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let to = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let year_secs = (to - from).num_seconds() as u64;
    let instants: Vec<DateTime<Utc>> = (0..100_000)
        .map(|_| from + Duration::seconds((rng.next() % year_secs) as i64))
        .collect();

    // Same answers before timing anything.
    let shifts = schedule.final_shifts(from, to);
    assert_eq!(shifts, before::final_shifts(&schedule, from, to));
    for &at in instants.iter().step_by(50) {
        assert_eq!(schedule.on_call(at), before::on_call(&schedule, at), "{at}");
    }
    // Other processes share the two cores: say how busy the machine was.
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average: {}", load.trim());
    }
    println!(
        "schedule: 50 members, 3 layers (24/7, Mon 09:00-Fri 17:00, daily 17:00-09:00), {} overrides, {}",
        schedule.overrides.len(),
        ZONE
    );
    println!(
        "final_shifts(2026): {} shifts; on_call: new and before agree at {} instants",
        shifts.len(),
        instants.len() / 50
    );

    let fs_new = median_of(runs, || {
        time_per_call(200, || {
            black_box(schedule.final_shifts(black_box(from), to));
        })
    });
    let fs_old = median_of(runs, || {
        time_per_call(20, || {
            black_box(before::final_shifts(&schedule, black_box(from), to));
        })
    });
    println!(
        "final_shifts, one year: new {:.3} ms, before {:.3} ms, {:.0}x faster (medians of {runs} runs)",
        ms(fs_new),
        ms(fs_old),
        fs_old.as_secs_f64() / fs_new.as_secs_f64()
    );

    // How each grows: ten times the overrides (the old scan tried every override first at
    // each elementary interval).
    let mut dense = schedule.clone();
    dense.overrides = overrides(1_000, &members(), 7);
    assert_eq!(
        dense.final_shifts(from, to),
        before::final_shifts(&dense, from, to)
    );
    let dense_new = median_of(runs, || {
        time_per_call(100, || {
            black_box(dense.final_shifts(black_box(from), to));
        })
    });
    let dense_old = median_of(runs, || {
        time_per_call(10, || {
            black_box(before::final_shifts(&dense, black_box(from), to));
        })
    });
    println!(
        "final_shifts, one year, 1,000 overrides: new {:.3} ms, before {:.3} ms, {:.0}x faster",
        ms(dense_new),
        ms(dense_old),
        dense_old.as_secs_f64() / dense_new.as_secs_f64()
    );

    let oc_new = median_of(runs, || {
        let start = Instant::now();
        for &at in &instants {
            black_box(schedule.on_call(black_box(at)));
        }
        start.elapsed() / instants.len() as u32
    });
    let old_sample = &instants[..10_000];
    let oc_old = median_of(runs, || {
        let start = Instant::now();
        for &at in old_sample {
            black_box(before::on_call(&schedule, black_box(at)));
        }
        start.elapsed() / old_sample.len() as u32
    });
    println!(
        "on_call, random instants in 2026: new {:.0}/s ({:.2} us each, {} instants), before {:.0}/s ({:.1} us each, {} instants), {:.0}x faster (medians of {runs} runs)",
        1.0 / oc_new.as_secs_f64(),
        oc_new.as_secs_f64() * 1e6,
        instants.len(),
        1.0 / oc_old.as_secs_f64(),
        oc_old.as_secs_f64() * 1e6,
        old_sample.len(),
        oc_old.as_secs_f64() / oc_new.as_secs_f64()
    );
}

/// A 50-member schedule: a weekly 24/7 layer, a weekly business-hours layer above it and a
/// daily evening layer on top, each handing off Mondays 09:00 local; 100 overrides of 1-48 h
/// at pseudo-random times in 2026.
fn bench_schedule() -> Schedule {
    let members = members();
    let start = NaiveDate::from_ymd_opt(2025, 12, 29)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap();
    let t = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap();
    let layer = |name: &str, shift: usize, restrictions| {
        let mut members = members.clone();
        members.rotate_left(shift);
        Layer {
            evening: false,
            assigned: Default::default(),
            name: name.into(),
            rotation: Rotation {
                zone: ZONE,
                start,
                length: ShiftLength::Weeks(1),
                members,
            },
            restrictions,
        }
    };
    Schedule {
        name: "bench".into(),
        zone: ZONE,
        layers: vec![
            layer("primary", 0, vec![]),
            layer(
                "business",
                17,
                vec![Restriction::Weekly {
                    start: (Weekday::Mon, t(9)),
                    end: (Weekday::Fri, t(17)),
                }],
            ),
            layer(
                "evenings",
                33,
                vec![Restriction::Daily {
                    start: t(17),
                    end: t(9),
                }],
            ),
        ],
        overrides: overrides(100, &members, 42),
    }
}

fn members() -> Vec<String> {
    (0..50).map(|i| format!("person-{i:02}")).collect()
}

/// `n` overrides of 1-48 h starting at pseudo-random minutes of 2026.
fn overrides(n: usize, members: &[String], seed: u64) -> Vec<Override> {
    let mut rng = XorShift(seed);
    let year0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    (0..n)
        .map(|i| {
            let start = year0 + Duration::minutes((rng.next() % (365 * 24 * 60)) as i64);
            Override {
                person: members[(rng.next() % members.len() as u64) as usize].clone(),
                start,
                end: start + Duration::hours(1 + (rng.next() % 48) as i64),
                reason: format!("swap {i}"),
            }
        })
        .collect()
}

/// Average time of one call over `n` calls.
fn time_per_call(n: usize, mut f: impl FnMut()) -> StdDuration {
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed() / n as u32
}

fn median_of(runs: usize, mut f: impl FnMut() -> StdDuration) -> StdDuration {
    let mut v: Vec<StdDuration> = (0..runs.max(1)).map(|_| f()).collect();
    v.sort();
    v[v.len() / 2]
}

fn ms(d: StdDuration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A fixed pseudo-random sequence (xorshift64), so every run benches the same schedule.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// `Schedule::final_shifts` and `Schedule::on_call` as they were at commit 393b53c (elementary
/// intervals × candidate scan; restriction windows by walking days), through the public API.
mod before {
    use chrono::{DateTime, Datelike, Duration, Utc};
    use chrono_tz::Tz;
    use pagerd::domain::rotation::resolve_local;
    use pagerd::domain::schedule::{FinalShift, Layer, Restriction, Schedule, Source};

    type Span = (DateTime<Utc>, DateTime<Utc>);

    fn windows(r: &Restriction, zone: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Span> {
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

    pub fn final_shifts(s: &Schedule, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<FinalShift> {
        if to <= from {
            return Vec::new();
        }
        let mut candidates: Vec<(Span, String, Source)> = Vec::new();
        for (i, o) in s.overrides.iter().enumerate().rev() {
            let (st, e) = (o.start.max(from), o.end.min(to));
            if st < e {
                candidates.push(((st, e), o.person.clone(), Source::Override(i)));
            }
        }
        for (i, layer) in s.layers.iter().enumerate().rev() {
            for (span, person) in layer_spans(layer, s.zone, from, to) {
                candidates.push((span, person, Source::Layer(i)));
            }
        }
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
                continue;
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

    pub fn on_call(s: &Schedule, at: DateTime<Utc>) -> Option<FinalShift> {
        const REACH: Duration = Duration::days(62);
        let mut reach = Duration::days(1);
        loop {
            let (from, to) = (at - reach, at + reach);
            let shift = final_shifts(s, from, to)
                .into_iter()
                .find(|f| f.start <= at && at < f.end)?;
            let cut = shift.start == from || shift.end == to;
            if !cut || reach >= REACH {
                return Some(shift);
            }
            reach = (reach * 4).min(REACH);
        }
    }
}
