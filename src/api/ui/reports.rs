//! The reports page: the on-call load (hours called in, off-hours pages, TOIL, weeks on call
//! this quarter against the burnout limit, the rebalance flag) and response times (time to
//! acknowledge against each severity's target, answered in time or not) over a range of
//! days in the viewer's zone, each with a chart drawn by the server and its numbers in a
//! table. The same engine calls as the gRPC `ReportService` (`on_call_load`,
//! `responsiveness`), with its bound: at most 366 days.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

use super::Ui;
use super::charts::BarChart;
use super::local_time::{self, day_start, parse_date};
use super::page::{Layout, engine_error, error, render};
use super::reports_view::{self as rv, BreachRow, LoadRow, ResponseRow};
use super::session::Viewer;
use crate::api::grpc::MAX_SHIFTS_RANGE_DAYS;
use crate::domain::response_report::GroupBy;

/// Days a range covers when the query names none.
pub const DEFAULT_DAYS: i64 = 28;
/// Most late answers the page lists (the gRPC report and `pagerctl report` give them all).
const MOST_BREACHES: usize = 50;

#[derive(Deserialize, Default, Debug)]
pub struct RangeQuery {
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
}

/// A range of whole days in the viewer's zone, `to` included.
#[derive(Debug, PartialEq)]
pub struct Range {
    pub from_date: NaiveDate,
    pub to_date: NaiveDate,
    pub from: DateTime<Utc>,
    /// The start of the day after `to_date`.
    pub to: DateTime<Utc>,
}

/// The range a query asks for, or the message naming the field that is wrong. Without
/// `to`, today; without `from`, the [`DEFAULT_DAYS`] days up to `to`.
pub fn range(q: &RangeQuery, today: NaiveDate, zone: Tz) -> Result<Range, String> {
    let to_date = match q.to.trim() {
        "" => today,
        t => parse_date("to", t)?,
    };
    let from_date = match q.from.trim() {
        "" => to_date
            .checked_sub_signed(Duration::days(DEFAULT_DAYS - 1))
            .ok_or("to: out of range (1970 to 2200)")?,
        f => parse_date("from", f)?,
    };
    if to_date < from_date {
        return Err("to: must not be before from".into());
    }
    let days = (to_date - from_date).num_days() + 1;
    if days > MAX_SHIFTS_RANGE_DAYS {
        return Err(format!(
            "to: at most {MAX_SHIFTS_RANGE_DAYS} days from from ({days} asked)"
        ));
    }
    // The last day itself must be in bounds; the range ends as the next day starts.
    day_start("to", to_date, zone)?;
    let after = to_date
        .succ_opt()
        .ok_or("to: out of range (1970 to 2200)")?;
    let to = day_start("to", after, zone)?;
    let from = day_start("from", from_date, zone)?;
    Ok(Range {
        from_date,
        to_date,
        from,
        to,
    })
}

#[derive(Template)]
#[template(path = "ui/reports.html")]
struct ReportsPage {
    layout: Layout,
    zone: String,
    from: String,
    to: String,
    load: Vec<LoadRow>,
    load_charts: [BarChart; 3],
    response: Vec<ResponseRow>,
    total: ResponseRow,
    response_chart: BarChart,
    breaches: Vec<BreachRow>,
    more_breaches: usize,
}

pub async fn page(
    viewer: Viewer,
    State(ui): State<Ui>,
    headers: HeaderMap,
    Query(q): Query<RangeQuery>,
) -> Response {
    let zone = local_time::viewer_zone(&headers);
    let now = super::session::now(&ui);
    let today = now.with_timezone(&zone).date_naive();
    let r = match range(&q, today, zone) {
        Ok(r) => r,
        Err(m) => return error(StatusCode::BAD_REQUEST, "Check the range", &m),
    };
    let people = match ui.engine.on_call_load(r.from, r.to, None).await {
        Ok(p) => p,
        Err(e) => return engine_error(e),
    };
    let report = match ui
        .engine
        .responsiveness(r.from, r.to, None, GroupBy::Severity)
        .await
    {
        Ok(r) => r,
        Err(e) => return engine_error(e),
    };
    let set = ui.engine.policies();
    let load = rv::load_rows(people, &rv::limits_of(&set));
    let load_charts = rv::load_charts(&load);
    let response = rv::response_rows(report.groups, &set);
    let response_chart = rv::response_chart(&response, &set);
    let total = rv::response_rows(vec![report.total], &set)
        .pop()
        .expect("one row for one group");
    let more_breaches = report.breaches.len().saturating_sub(MOST_BREACHES);
    render(
        StatusCode::OK,
        &ReportsPage {
            layout: Layout::new(&viewer, "Reports", "reports"),
            zone: zone.name().to_string(),
            from: r.from_date.to_string(),
            to: r.to_date.to_string(),
            load,
            load_charts,
            response,
            total,
            response_chart,
            breaches: rv::breach_rows(report.breaches, zone, MOST_BREACHES),
            more_breaches,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(from: &str, to: &str) -> RangeQuery {
        RangeQuery {
            from: from.into(),
            to: to.into(),
        }
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_range_is_whole_days_in_the_viewers_zone() {
        let today = date("2026-03-28");
        let la: Tz = "America/Los_Angeles".parse().unwrap();
        let table = [
            // The last 28 days, today included.
            (
                q("", ""),
                chrono_tz::UTC,
                ("2026-03-01", "2026-03-28"),
                ("2026-03-01T00:00:00Z", "2026-03-29T00:00:00Z"),
            ),
            (
                q("2026-03-02", "2026-03-02"),
                la,
                ("2026-03-02", "2026-03-02"),
                ("2026-03-02T08:00:00Z", "2026-03-03T08:00:00Z"),
            ),
            (
                q("", "2026-02-28"),
                chrono_tz::UTC,
                ("2026-02-01", "2026-02-28"),
                ("2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"),
            ),
            (
                q("2026-03-20", ""),
                chrono_tz::UTC,
                ("2026-03-20", "2026-03-28"),
                ("2026-03-20T00:00:00Z", "2026-03-29T00:00:00Z"),
            ),
            // 366 days: the longest.
            (
                q("2025-03-28", "2026-03-28"),
                chrono_tz::UTC,
                ("2025-03-28", "2026-03-28"),
                ("2025-03-28T00:00:00Z", "2026-03-29T00:00:00Z"),
            ),
        ];
        for (query, zone, (fd, td), (f, t)) in table {
            let r = range(&query, today, zone).unwrap();
            assert_eq!(
                r,
                Range {
                    from_date: date(fd),
                    to_date: date(td),
                    from: utc(f),
                    to: utc(t)
                },
                "{query:?}"
            );
        }
    }

    #[test]
    fn a_bad_range_names_its_field() {
        let today = date("2026-03-28");
        let table = [
            (q("yesterday", ""), "from: `yesterday` is not a date"),
            (q("", "2026-02-30"), "to: `2026-02-30` is not a date"),
            (q("2026-03-10", "2026-03-09"), "to: must not be before from"),
            (q("2025-03-27", "2026-03-28"), "to: at most 366 days"),
            (q("1960-01-01", "1960-01-02"), "to: "),
            (q("1969-12-31", "1970-01-05"), "from: "),
            (
                q("2300-01-01", "2300-01-02"),
                "to: 2300-01-02 is out of range",
            ),
            (q("", "9999-12-31"), "to: "),
        ];
        for (query, want) in table {
            let e = range(&query, today, chrono_tz::UTC).unwrap_err();
            assert!(e.starts_with(want), "{query:?}: {e}");
        }
    }
}
