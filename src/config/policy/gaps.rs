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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::policy::load_dir;
    use crate::config::policy::tests::{PEOPLE, POLICY, SCHEDULE, SUPPORT, dir_with, utc};

    #[test]
    fn the_gap_report_names_each_schedule_in_use_and_its_first_gap() {
        // Not paged by any policy: its gaps cannot leave a page unanswered.
        let dir = dir_with(&[
            ("a.toml", PEOPLE),
            ("b.toml", POLICY),
            ("c.toml", SUPPORT),
            ("d.toml", SCHEDULE),
        ]);
        let set = load_dir(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert!(gap_report(&set, utc("2026-01-01T00:00:00Z")).is_empty());

        let policy = POLICY.replace(
            r#"{ targets = ["bob"], delay = "30m" }"#,
            r#"{ schedules = ["support-evenings"], delay = "30m" }"#,
        );
        let dir = dir_with(&[
            ("a.toml", PEOPLE),
            ("b.toml", &policy),
            ("c.toml", SUPPORT),
            ("d.toml", SCHEDULE),
        ]);
        let mut set = load_dir(dir.path()).unwrap_or_else(|e| {
            panic!(
                "valid set:
{e}"
            )
        });
        // Before any rotation starts, the whole horizon is one gap.
        let report = gap_report(&set, utc("2026-01-01T00:00:00Z"));
        assert_eq!(
            report,
            [
                "schedule \"support-evenings\": 1 gap(s) in the next 28 days, first Wed 2025-12-31 16:00 PST–Wed 2026-01-28 16:00 PST"
            ]
        );
        let report = gap_report(&set, utc("2026-04-01T00:00:00Z"));
        assert_eq!(
            report,
            ["schedule \"support-evenings\": no gaps in the next 28 days"]
        );
        if let Some(def) = set.schedules.get_mut("support-evenings") {
            def.schedule.layers.remove(0);
        }
        let report = gap_report(&set, utc("2026-04-01T16:00:00Z"));
        assert!(
            report[0].contains(
                "gap(s) in the next 28 days, first Wed 2026-04-01 09:00 PDT–Wed 2026-04-01 17:00 PDT"
            ),
            "{report:?}"
        );
    }
}
