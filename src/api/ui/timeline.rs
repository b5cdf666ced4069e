//! Pure view logic of the on-call and schedule pages: where a segment goes on a timeline (x and
//! width as percentages of the window), the day ticks under it, times shown short in a zone
//! (the viewer's zone and typed times are `local_time`'s). Plain functions over values, tested
//! with tables; the handlers in `oncall` and `overrides` do the I/O.

use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;

/// A segment placed on a timeline: percentages of the window, as SVG attribute values.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Left edge, "0".."100" (three decimals at most).
    pub x: String,
    /// Width, "0".."100".
    pub w: String,
    /// Wide enough (≥ 6 %) to carry a text label inside.
    pub labelled: bool,
}

/// `[start, end)` placed within the window `[from, to)`, clipped to it; `None` when it does
/// not overlap the window (or the window is empty).
pub fn place(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Option<Bar> {
    let total = (to - from).num_seconds();
    let (s, e) = (start.max(from), end.min(to));
    if total <= 0 || s >= e {
        return None;
    }
    let pct = |t: DateTime<Utc>| (t - from).num_seconds() as f64 * 100.0 / total as f64;
    let (x, w) = (pct(s), pct(e) - pct(s));
    Some(Bar {
        x: num(x),
        w: num(w),
        labelled: w >= 6.0,
    })
}

/// A percentage with at most three decimals and no trailing zeros ("12.5", "0", "100").
fn num(v: f64) -> String {
    let s = format!("{:.3}", v.clamp(0.0, 100.0));
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// A day boundary on the axis: where (percent) and what it says.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    pub x: String,
    /// "Mon 2" on every day; the month is added on the first tick and each first of a month.
    pub label: String,
    /// A Monday (a week starts): drawn stronger.
    pub week: bool,
}

/// The local midnights of `zone` within `[from, to)`.
pub fn day_ticks(from: DateTime<Utc>, to: DateTime<Utc>, zone: Tz) -> Vec<Tick> {
    let mut out = Vec::new();
    let mut day = from.with_timezone(&zone).date_naive();
    let mut first = true;
    while let Ok(start) = super::local_time::day_start("", day, zone) {
        if start >= to {
            break;
        }
        if start >= from
            && let Some(bar) = place(from, to, start, to)
        {
            let mut label = format!("{} {}", day.format("%a"), day.day());
            if first || day.day() == 1 {
                label = format!("{label} {}", day.format("%b"));
            }
            first = false;
            out.push(Tick {
                x: bar.x,
                label,
                week: day.weekday() == chrono::Weekday::Mon,
            });
        }
        match day.succ_opt() {
            Some(d) => day = d,
            None => break,
        }
    }
    out
}

/// "Tue 3 Mar 09:00": short enough for a phone.
pub fn show(t: DateTime<Utc>, zone: Tz) -> String {
    t.with_timezone(&zone).format("%a %-d %b %H:%M").to_string()
}

/// The value a `datetime-local` input shows for `t` in `zone` ("2026-03-03T09:00").
pub fn input_value(t: DateTime<Utc>, zone: Tz) -> String {
    t.with_timezone(&zone).format("%Y-%m-%dT%H:%M").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn segments_are_placed_as_percentages_of_the_window_and_clipped() {
        let (from, to) = (t("2026-03-02T00:00:00Z"), t("2026-03-06T00:00:00Z"));
        let table = [
            // start, end, x, w, labelled
            (
                "2026-03-02T00:00:00Z",
                "2026-03-03T00:00:00Z",
                Some(("0", "25", true)),
            ),
            (
                "2026-03-03T12:00:00Z",
                "2026-03-04T00:00:00Z",
                Some(("37.5", "12.5", true)),
            ),
            // Starts before the window: clipped at its left edge.
            (
                "2026-02-28T00:00:00Z",
                "2026-03-02T12:00:00Z",
                Some(("0", "12.5", true)),
            ),
            // Ends after it: clipped at the right edge.
            (
                "2026-03-05T00:00:00Z",
                "2026-03-09T00:00:00Z",
                Some(("75", "25", true)),
            ),
            // One hour of four days: too narrow for a label; a third of a percent rounds.
            (
                "2026-03-02T01:00:00Z",
                "2026-03-02T02:00:00Z",
                Some(("1.042", "1.042", false)),
            ),
            ("2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z", None),
            ("2026-03-06T00:00:00Z", "2026-03-07T00:00:00Z", None),
            ("2026-03-03T00:00:00Z", "2026-03-03T00:00:00Z", None),
            ("2026-03-04T00:00:00Z", "2026-03-03T00:00:00Z", None),
        ];
        for (s, e, want) in table {
            let got = place(from, to, t(s), t(e));
            let got = got
                .as_ref()
                .map(|b| (b.x.as_str(), b.w.as_str(), b.labelled));
            assert_eq!(got, want, "{s}..{e}");
        }
        assert_eq!(place(to, from, from, to), None, "an empty window");
    }

    #[test]
    fn day_ticks_fall_on_local_midnights_across_daylight_saving() {
        let la: Tz = "America/Los_Angeles".parse().unwrap();
        // 2026-03-08 02:00 PST → PDT: that day has 23 hours.
        let (from, to) = (t("2026-03-07T08:00:00Z"), t("2026-03-10T07:00:00Z"));
        let ticks = day_ticks(from, to, la);
        let got: Vec<(&str, &str, bool)> = ticks
            .iter()
            .map(|k| (k.x.as_str(), k.label.as_str(), k.week))
            .collect();
        // Midnights: 03-07 08:00Z (PST), 03-08 08:00Z (PST), 03-09 07:00Z (PDT); the window
        // is 71 h long.
        assert_eq!(
            got,
            [
                ("0", "Sat 7 Mar", false),
                ("33.803", "Sun 8", false),
                ("66.197", "Mon 9", true),
            ]
        );
        // A window starting mid-day gets no tick at its start; the first of a month names it.
        let ticks = day_ticks(
            t("2026-03-31T12:00:00Z"),
            t("2026-04-02T00:00:00Z"),
            Tz::UTC,
        );
        let labels: Vec<&str> = ticks.iter().map(|k| k.label.as_str()).collect();
        assert_eq!(labels, ["Wed 1 Apr"]);
    }

    #[test]
    fn times_show_in_the_zone_asked_for() {
        let at = t("2026-03-03T17:00:00Z");
        for (zone, want) in [
            ("UTC", "Tue 3 Mar 17:00"),
            ("America/Los_Angeles", "Tue 3 Mar 09:00"),
            ("Europe/Berlin", "Tue 3 Mar 18:00"),
            ("Pacific/Auckland", "Wed 4 Mar 06:00"),
        ] {
            let zone: Tz = zone.parse().unwrap();
            assert_eq!(show(at, zone), want, "{zone}");
        }
        assert_eq!(input_value(at, Tz::UTC), "2026-03-03T17:00");
    }
}
