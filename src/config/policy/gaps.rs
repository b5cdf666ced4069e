//! The gap report: when nobody is on call for a schedule some escalation policy pages.

use chrono::{DateTime, Utc};

use crate::domain::PolicySet;

/// How far ahead `pagerd check` looks for schedule gaps.
pub const GAP_HORIZON_DAYS: i64 = 28;

/// One line per schedule some escalation policy pages, describing its gaps (nobody on call)
/// in the [`GAP_HORIZON_DAYS`] from `now`; times are shown in the schedule's zone. Gaps are
/// warnings, not errors; a schedule no policy uses cannot leave a page unanswered.
pub fn gap_report(set: &PolicySet, now: DateTime<Utc>) -> Vec<String> {
    let until = now + chrono::Duration::days(GAP_HORIZON_DAYS);
    let used = set.schedules_in_use();
    set.schedules
        .values()
        .filter(|def| used.contains(def.schedule.name.as_str()))
        .map(|def| {
            let schedule = &def.schedule;
            let gaps = schedule.gaps(now, until);
            let name = &schedule.name;
            match gaps.first() {
                None => {
                    format!("schedule {name:?}: no gaps in the next {GAP_HORIZON_DAYS} days")
                }
                Some((start, end)) => {
                    let local = |t: &DateTime<Utc>| {
                        t.with_timezone(&schedule.zone)
                            .format("%a %Y-%m-%d %H:%M %Z")
                            .to_string()
                    };
                    format!(
                        "schedule {name:?}: {} gap(s) in the next {GAP_HORIZON_DAYS} days, first {}–{}",
                        gaps.len(),
                        local(start),
                        local(end)
                    )
                }
            }
        })
        .collect()
}
