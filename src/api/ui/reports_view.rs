//! What the reports page shows, from the reports' values: the rows of the on-call load and
//! response-time tables, the charts drawn from them (`charts`), the weeks-per-quarter limit
//! each person is held to, and the response target of each severity. Pure, tested with
//! tables; the handler (`reports`) reads and renders.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use super::charts::{BarChart, BarInput, bar_chart};
use crate::domain::load_report::PersonLoad;
use crate::domain::response_report::{Breach, GroupFigures, target_for};
use crate::domain::{PolicySet, Severity};

/// Most people (or groups) a chart draws; the table beside it has them all.
pub const CHART_ROWS: usize = 30;

/// A length as a half-awake reader takes it in: "45s", "12m", "3h 5m", "2d 4h".
pub fn short(d: Duration) -> String {
    let epoch = DateTime::<Utc>::UNIX_EPOCH;
    super::view::age(epoch, epoch + d.max(Duration::zero()))
}

/// "2.5": weeks to one decimal.
fn weeks(w: f64) -> String {
    format!("{:.1}", if w.is_finite() { w } else { 0.0 })
}

/// The tightest `max_weeks_per_quarter` each person is held to: the lowest among the
/// schedules whose rotations they are in. `schedules` pairs members with a limit.
pub fn tightest_limits<'a>(
    schedules: impl IntoIterator<Item = (Vec<&'a str>, u32)>,
) -> BTreeMap<String, u32> {
    let mut out: BTreeMap<String, u32> = BTreeMap::new();
    for (members, limit) in schedules {
        for m in members {
            out.entry(m.to_string())
                .and_modify(|l| *l = (*l).min(limit))
                .or_insert(limit);
        }
    }
    out
}

/// [`tightest_limits`] of a policy set's schedules that set a limit.
pub fn limits_of(set: &PolicySet) -> BTreeMap<String, u32> {
    tightest_limits(set.schedules.values().filter_map(|def| {
        let limit = def.burnout.as_ref().and_then(|b| b.max_weeks_per_quarter)?;
        let members = (def.schedule.layers.iter())
            .flat_map(|l| l.rotation.members.iter().map(String::as_str))
            .collect();
        Some((members, limit))
    }))
}

/// The lowest and highest response target of `severity` over the services (each with its
/// escalation policy's targets as fallback); the default target when there are no services.
pub fn severity_target(set: &PolicySet, severity: Severity) -> (Duration, Duration) {
    let targets: Vec<Duration> = (set.services.values())
        .map(|s| {
            let policy = set.policies.get(&s.escalation_policy);
            target_for(
                Some(&s.response_targets),
                policy.map(|p| &p.response_targets),
                severity,
            )
        })
        .collect();
    let default = target_for(None, None, severity);
    (
        targets.iter().min().copied().unwrap_or(default),
        targets.iter().max().copied().unwrap_or(default),
    )
}

/// "15m", or "10m–20m" when services differ.
pub fn target_text((lo, hi): (Duration, Duration)) -> String {
    if lo == hi {
        short(lo)
    } else {
        format!("{}–{}", short(lo), short(hi))
    }
}

/// One person's row of the load table.
pub struct LoadRow {
    pub p: PersonLoad,
    pub weeks: String,
    pub quarter_weeks: String,
    pub limit: Option<u32>,
    pub over_limit: bool,
}

pub fn load_rows(people: Vec<PersonLoad>, limits: &BTreeMap<String, u32>) -> Vec<LoadRow> {
    people
        .into_iter()
        .map(|p| {
            let limit = limits.get(&p.person).copied();
            LoadRow {
                weeks: weeks(p.weeks),
                quarter_weeks: weeks(p.quarter_weeks),
                over_limit: limit.is_some_and(|l| p.quarter_weeks > f64::from(l)),
                limit,
                p,
            }
        })
        .collect()
}

/// The first [`CHART_ROWS`] of `rows` by `value`, largest first (ties by name).
fn top(rows: &[LoadRow], value: fn(&LoadRow) -> f64) -> Vec<&LoadRow> {
    let mut v: Vec<&LoadRow> = rows.iter().collect();
    v.sort_by(|a, b| {
        value(b)
            .total_cmp(&value(a))
            .then(a.p.person.cmp(&b.p.person))
    });
    v.truncate(CHART_ROWS);
    v
}

/// The load charts: hours called in, off-hours pages, weeks on call this quarter against
/// each person's limit.
pub fn load_charts(rows: &[LoadRow]) -> [BarChart; 3] {
    let more = if rows.len() > CHART_ROWS {
        format!(" The {CHART_ROWS} highest are drawn; the table lists everyone.")
    } else {
        String::new()
    };
    let hours: Vec<BarInput> = top(rows, |r| f64::from(r.p.hours_called_in))
        .into_iter()
        .map(|r| BarInput {
            label: r.p.person.clone(),
            value: f64::from(r.p.hours_called_in),
            marker: None,
            text: format!("{} h", r.p.hours_called_in),
        })
        .collect();
    let off: Vec<BarInput> = top(rows, |r| f64::from(r.p.off_hours_pages))
        .into_iter()
        .map(|r| BarInput {
            label: r.p.person.clone(),
            value: f64::from(r.p.off_hours_pages),
            marker: None,
            text: format!("{} off-hours", r.p.off_hours_pages),
        })
        .collect();
    let quarter: Vec<BarInput> = top(rows, |r| r.p.quarter_weeks)
        .into_iter()
        .map(|r| BarInput {
            label: r.p.person.clone(),
            value: r.p.quarter_weeks,
            marker: r.limit.map(f64::from),
            text: match r.limit {
                Some(l) if r.over_limit => format!("{} wk, over {l}", r.quarter_weeks),
                Some(l) => format!("{} of {l} wk", r.quarter_weeks),
                None => format!("{} wk", r.quarter_weeks),
            },
        })
        .collect();
    [
        bar_chart(
            "chart-hours",
            "Hours called in, per person",
            format!("One bar per person: hours called in (TOIL) in the range.{more}"),
            &hours,
        ),
        bar_chart(
            "chart-off-hours",
            "Off-hours pages, per person",
            format!("One bar per person: pages outside 09:00–18:00 Monday to Friday.{more}"),
            &off,
        ),
        bar_chart(
            "chart-weeks",
            "Weeks on call this quarter, against the limit",
            format!(
                "One bar per person: weeks on call in the range's first quarter; a dashed \
                 line marks the person's weeks-per-quarter limit.{more}"
            ),
            &quarter,
        ),
    ]
}

/// One severity's row of the response table.
pub struct ResponseRow {
    pub g: GroupFigures,
    pub mtta: String,
    pub mtta_p90: String,
    pub mttr: String,
    pub target: String,
    pub compliance: String,
    /// The median time to acknowledge is above the tightest target.
    pub late: bool,
}

pub fn response_rows(groups: Vec<GroupFigures>, set: &PolicySet) -> Vec<ResponseRow> {
    let dash = || "–".to_string();
    groups
        .into_iter()
        .map(|g| {
            let target = Severity::parse(&g.key)
                .ok()
                .map(|s| severity_target(set, s));
            ResponseRow {
                mtta: g.mtta_median.map_or_else(dash, short),
                mtta_p90: g.mtta_p90.map_or_else(dash, short),
                mttr: g.mttr_median.map_or_else(dash, short),
                target: target.map_or_else(dash, target_text),
                compliance: g
                    .sla_compliance()
                    .map_or_else(dash, |c| format!("{:.0}%", c * 100.0)),
                late: matches!((g.mtta_median, target), (Some(m), Some((lo, _))) if m > lo),
                g,
            }
        })
        .collect()
}

/// Minutes, for a chart's scale.
fn minutes(d: Duration) -> f64 {
    d.num_seconds() as f64 / 60.0
}

/// The response chart: per severity, the median time to acknowledge as a share of the
/// severity's (tightest) target, so every row's target sits on one line and a bar past it
/// is late, whatever the targets' sizes.
pub fn response_chart(rows: &[ResponseRow], set: &PolicySet) -> BarChart {
    let bars: Vec<BarInput> = rows
        .iter()
        .map(|r| {
            let target = Severity::parse(&r.g.key)
                .ok()
                .map(|s| minutes(severity_target(set, s).0))
                .filter(|t| *t > 0.0);
            let share = match (r.g.mtta_median, target) {
                (Some(m), Some(t)) => minutes(m) / t,
                _ => 0.0,
            };
            BarInput {
                label: r.g.key.clone(),
                value: share,
                marker: target.map(|_| 1.0),
                text: match r.g.mtta_median {
                    None => "none acknowledged".into(),
                    Some(_) if r.late => format!("{}, over {}", r.mtta, r.target),
                    Some(_) => format!("{} of {}", r.mtta, r.target),
                },
            }
        })
        .collect();
    bar_chart(
        "chart-response",
        "Median time to acknowledge, per severity, against the target",
        "One bar per severity: the median time to acknowledge as a share of the severity's \
         response target; the dashed line marks the target.",
        &bars,
    )
}

/// A late answer as the page lists it.
pub struct BreachRow {
    pub b: Breach,
    pub opened: String,
    pub target: String,
    pub late_by: String,
}

pub fn breach_rows(breaches: Vec<Breach>, zone: Tz, most: usize) -> Vec<BreachRow> {
    breaches
        .into_iter()
        .take(most)
        .map(|b| BreachRow {
            opened: super::local_time::show(b.created_at, zone),
            target: short(b.target),
            late_by: short(b.late_by),
            b,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(name: &str, hours: u32, off: u32, quarter: f64) -> PersonLoad {
        PersonLoad {
            person: name.into(),
            hours_called_in: hours,
            toil_hours: hours,
            off_hours_pages: off,
            quarter_weeks: quarter,
            ..Default::default()
        }
    }

    #[test]
    fn each_person_is_held_to_the_lowest_limit_of_their_schedules() {
        let limits = tightest_limits([
            (vec!["ann", "bob"], 4),
            (vec!["bob", "cid"], 2),
            (vec!["ann"], 6),
        ]);
        let want: BTreeMap<String, u32> = [("ann", 4), ("bob", 2), ("cid", 2)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert_eq!(limits, want);
        assert!(tightest_limits(std::iter::empty::<(Vec<&str>, u32)>()).is_empty());
    }

    #[test]
    fn load_rows_say_who_is_over_the_limit_and_the_charts_draw_them() {
        let limits: BTreeMap<String, u32> = [("ann".to_string(), 4), ("bob".to_string(), 4)]
            .into_iter()
            .collect();
        let rows = load_rows(
            vec![
                person("ann", 3, 2, 5.0),
                person("bob", 9, 0, 4.0),
                person("cid", 0, 1, 1.5),
            ],
            &limits,
        );
        let over: Vec<(bool, Option<u32>)> = rows.iter().map(|r| (r.over_limit, r.limit)).collect();
        assert_eq!(over, [(true, Some(4)), (false, Some(4)), (false, None)]);
        let [hours, off, quarter] = load_charts(&rows);
        let labels = |c: &BarChart| c.rows.iter().map(|r| r.label.clone()).collect::<Vec<_>>();
        assert_eq!(labels(&hours), ["bob", "ann", "cid"], "largest first");
        assert_eq!(hours.rows[0].text, "9 h");
        assert_eq!(labels(&off), ["ann", "cid", "bob"]);
        let texts: Vec<&str> = quarter.rows.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(texts, ["5.0 wk, over 4", "4.0 of 4 wk", "1.5 wk"]);
        assert!(quarter.rows[0].over && !quarter.rows[1].over);
        assert!(quarter.rows[0].marker_x.is_some() && quarter.rows[2].marker_x.is_none());
    }

    #[test]
    fn charts_draw_at_most_so_many_people_and_say_so() {
        let rows = load_rows(
            (0..100)
                .map(|i| person(&format!("p{i:03}"), i, 0, 0.0))
                .collect(),
            &BTreeMap::new(),
        );
        let [hours, ..] = load_charts(&rows);
        assert_eq!(hours.rows.len(), CHART_ROWS);
        assert_eq!(hours.rows[0].label, "p099");
        assert!(hours.desc.contains("the table lists everyone"));
        let [empty, ..] = load_charts(&[]);
        assert!(empty.rows.is_empty() && !empty.desc.contains("table lists"));
    }

    #[test]
    fn lengths_and_targets_read_short() {
        for (d, want) in [
            (Duration::seconds(45), "45s"),
            (Duration::minutes(25), "25m"),
            (Duration::minutes(65), "1h 5m"),
            (Duration::seconds(-3), "0s"),
        ] {
            assert_eq!(short(d), want);
        }
        let m = Duration::minutes;
        assert_eq!(target_text((m(15), m(15))), "15m");
        assert_eq!(target_text((m(10), m(120))), "10m–2h");
    }

    fn group(key: &str, mtta: Option<i64>, met: u32, breached: u32) -> GroupFigures {
        GroupFigures {
            key: key.into(),
            incidents: met + breached,
            acknowledged: met + breached,
            mtta_median: mtta.map(Duration::minutes),
            sla_met: met,
            sla_breached: breached,
            ..Default::default()
        }
    }

    #[test]
    fn response_rows_compare_the_median_with_the_severitys_target() {
        // No services: the default targets (critical 15m, high 1h, low 24h).
        let set = PolicySet::default();
        let rows = response_rows(
            vec![
                group("critical", Some(20), 1, 1),
                group("high", Some(5), 2, 0),
                group("low", None, 0, 0),
            ],
            &set,
        );
        let got: Vec<(&str, &str, &str, bool)> = rows
            .iter()
            .map(|r| {
                (
                    r.mtta.as_str(),
                    r.target.as_str(),
                    r.compliance.as_str(),
                    r.late,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("20m", "15m", "50%", true),
                ("5m", "1h", "100%", false),
                ("–", "1d", "–", false)
            ]
        );
        let chart = response_chart(&rows, &set);
        let texts: Vec<&str> = chart.rows.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(texts, ["20m, over 15m", "5m of 1h", "none acknowledged"]);
        assert!(chart.rows[0].over && !chart.rows[1].over && !chart.rows[2].over);
        // Shares of the target: critical's 20 of 15 minutes is the longest bar, and every
        // target sits on one line.
        assert_eq!(chart.rows[0].width, crate::api::ui::charts::BAR_MAX);
        let marks: Vec<Option<f64>> = chart.rows.iter().map(|r| r.marker_x).collect();
        assert!(
            marks.iter().all(|m| m.is_some() && *m == marks[0]),
            "{marks:?}"
        );
    }
}
