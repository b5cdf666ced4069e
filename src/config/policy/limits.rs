//! Burnout limits that are hard to keep: `pagerd check` warns (it does not refuse) when a
//! schedule's members cannot cover a quarter within `max_weeks_per_quarter`. pagerd still
//! covers every turn then (the least-loaded member, owner told); the warning says so before
//! the quarter starts. Limits no rotation can keep are errors (`check::limits`).

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::PolicySet;
use crate::domain::burnout::{WEEK_MINUTES, quarter, weeks_text};
use crate::domain::policy::ScheduleDef;
use crate::domain::rotation::resolve_local;

/// How many calendar quarters, from the one `now` is in, `pagerd check` looks at.
pub const QUARTERS_AHEAD: u32 = 4;

/// One warning per schedule and quarter (of the [`QUARTERS_AHEAD`] from `now`'s, in the
/// schedule's zone) whose turns need more on-call weeks than its members may take.
pub fn limit_warnings(set: &PolicySet, now: DateTime<Utc>) -> Vec<String> {
    set.schedules
        .values()
        .flat_map(|def| quarter_shortfalls(def, now))
        .collect()
}

fn quarter_shortfalls(def: &ScheduleDef, now: DateTime<Utc>) -> Vec<String> {
    let s = &def.schedule;
    let Some(max) = def.burnout.and_then(|b| b.max_weeks_per_quarter) else {
        return Vec::new();
    };
    let members: BTreeSet<&str> = (s.layers.iter())
        .flat_map(|l| l.rotation.members.iter().map(String::as_str))
        .collect();
    let capacity = members.len() as i64 * i64::from(max) * WEEK_MINUTES;
    let local = |t: DateTime<Utc>| t.with_timezone(&s.zone).naive_local();
    let (mut year, mut q) = quarter(local(now));
    let mut out = Vec::new();
    for _ in 0..QUARTERS_AHEAD {
        let first = |y: i32, q: u32| {
            let date = NaiveDate::from_ymd_opt(y, (q - 1) * 3 + 1, 1).unwrap_or_default();
            resolve_local(s.zone, date.and_time(chrono::NaiveTime::MIN))
        };
        let (next_year, next_q) = if q == 4 { (year + 1, 1) } else { (year, q + 1) };
        let (from, to) = (first(year, q), first(next_year, next_q));
        // A turn counts toward the quarter it starts in, with its whole local length.
        let need: i64 = (s.layers.iter())
            .flat_map(|l| l.rotation.turns_between(from, to))
            .filter(|t| t.start >= from)
            .map(|t| (local(t.end) - local(t.start)).num_minutes().max(0))
            .sum();
        if need > capacity {
            out.push(format!(
                "warning: schedule {:?}: {year}-Q{q} needs {} on-call weeks but its {} \
                 member(s) may take at most {} (max_weeks_per_quarter = {max}): {} week(s) \
                 short; those turns go to the least-loaded member and the owner is told",
                s.name,
                weeks_text(need),
                members.len(),
                weeks_text(capacity),
                weeks_text(need - capacity),
            ));
        }
        (year, q) = (next_year, next_q);
    }
    out
}
