//! The rebalance signal on the load report: "if one engineer is getting paged constantly,
//! rebalance the team". A person is flagged when their incidents or off-hours pages in the
//! range exceed `multiple` × the median of the people on call in it.
//!
//! The median is over the report's people who had a shift in the range (with a schedule
//! named, that schedule's people), so those never on call do not pull it down. A median
//! below 1 counts as 1: with nobody else paged, one incident is no pattern yet, but
//! `multiple` + 1 are.

use super::load_report::PersonLoad;

/// The default multiple of the median.
pub const DEFAULT_MULTIPLE: f64 = 2.0;

/// Why one person is flagged, e.g. "incidents 9 > 2× median 3".
#[derive(Debug, Clone, PartialEq)]
pub struct Flag {
    pub person: String,
    pub reason: String,
}

/// The median of `values` (the mean of the middle two for an even count); 0 when empty.
pub fn median(values: &mut [u32]) -> f64 {
    values.sort_unstable();
    let n = values.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => f64::from(values[n / 2]),
        _ => (f64::from(values[n / 2 - 1]) + f64::from(values[n / 2])) / 2.0,
    }
}

/// One figure of a person's load.
type Figure = fn(&PersonLoad) -> u32;

/// Flags the people of `report` whose incidents or off-hours pages exceed `multiple` × the
/// median (see the module doc), in report order.
pub fn flags(report: &[PersonLoad], multiple: f64) -> Vec<Flag> {
    let on_call: Vec<&PersonLoad> = report.iter().filter(|p| p.shifts > 0).collect();
    let base = |f: Figure| {
        let mut v: Vec<u32> = on_call.iter().map(|p| f(p)).collect();
        median(&mut v)
    };
    let figures: [(&str, Figure); 2] = [
        ("incidents", |p| p.incidents),
        ("off-hours pages", |p| p.off_hours_pages),
    ];
    let medians: Vec<f64> = figures.iter().map(|(_, f)| base(*f)).collect();
    let mut out = Vec::new();
    for p in report {
        let why: Vec<String> = (figures.iter().zip(&medians))
            .filter(|((_, f), m)| f64::from(f(p)) > multiple * m.max(1.0))
            .map(|((name, f), m)| format!("{name} {} > {multiple}× median {m}", f(p)))
            .collect();
        if !why.is_empty() {
            out.push(Flag {
                person: p.person.clone(),
                reason: why.join("; "),
            });
        }
    }
    out
}

/// Sets each flagged person's `rebalance` reason in `report`.
pub fn mark(report: &mut [PersonLoad], multiple: f64) {
    for f in flags(report, multiple) {
        if let Some(p) = report.iter_mut().find(|p| p.person == f.person) {
            p.rebalance = f.reason;
        }
    }
}

/// Checks a requested multiple: finite, at least 1, at most 100.
pub fn parse_multiple(m: f64) -> Result<f64, String> {
    if m.is_finite() && (1.0..=100.0).contains(&m) {
        Ok(m)
    } else {
        Err(format!("rebalance multiple {m}: must be between 1 and 100"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(person: &str, shifts: u32, incidents: u32, off_hours: u32) -> PersonLoad {
        PersonLoad {
            person: person.into(),
            shifts,
            incidents,
            off_hours_pages: off_hours,
            ..Default::default()
        }
    }

    #[test]
    fn the_median_of_odd_even_and_empty_lists() {
        for (values, m) in [
            (vec![], 0.0),
            (vec![5], 5.0),
            (vec![3, 1, 2], 2.0),
            (vec![4, 1, 3, 2], 2.5),
        ] {
            assert_eq!(median(&mut values.clone()), m, "{values:?}");
        }
    }

    #[test]
    fn people_over_the_multiple_of_the_median_are_flagged_with_the_figure() {
        // (people as (name, shifts, incidents, off-hours), multiple, flagged with reasons)
        type Case = (
            Vec<(&'static str, u32, u32, u32)>,
            f64,
            Vec<(&'static str, &'static str)>,
        );
        let table: Vec<Case> = vec![
            // Even count: median 4.5, so 10 > 9 is flagged and 6 is not.
            (
                vec![
                    ("ann", 1, 10, 0),
                    ("bob", 1, 3, 0),
                    ("cat", 1, 6, 0),
                    ("dan", 1, 2, 0),
                ],
                2.0,
                vec![("ann", "incidents 10 > 2× median 4.5")],
            ),
            // Exactly the multiple is not over it.
            (
                vec![("ann", 1, 6, 0), ("bob", 1, 3, 0), ("cat", 1, 3, 0)],
                2.0,
                vec![],
            ),
            (
                vec![("ann", 1, 7, 0), ("bob", 1, 3, 0), ("cat", 1, 3, 0)],
                2.0,
                vec![("ann", "incidents 7 > 2× median 3")],
            ),
            // Off-hours pages alone, and both at once.
            (
                vec![("ann", 1, 3, 5), ("bob", 1, 3, 1), ("cat", 1, 3, 2)],
                2.0,
                vec![("ann", "off-hours pages 5 > 2× median 2")],
            ),
            (
                vec![("ann", 1, 9, 5), ("bob", 1, 3, 1), ("cat", 1, 3, 2)],
                2.0,
                vec![(
                    "ann",
                    "incidents 9 > 2× median 3; off-hours pages 5 > 2× median 2",
                )],
            ),
            // A larger multiple flags nobody.
            (
                vec![("ann", 1, 7, 0), ("bob", 1, 3, 0), ("cat", 1, 3, 0)],
                3.0,
                vec![],
            ),
            // A median of 0 counts as 1: two incidents are no pattern, three are.
            (
                vec![("ann", 1, 2, 0), ("bob", 1, 0, 0), ("cat", 1, 0, 0)],
                2.0,
                vec![],
            ),
            (
                vec![("ann", 1, 3, 0), ("bob", 1, 0, 0), ("cat", 1, 0, 0)],
                2.0,
                vec![("ann", "incidents 3 > 2× median 0")],
            ),
            // Someone with no shift (paged directly) does not lower the median, and is
            // still flagged if over it.
            (
                vec![
                    ("ann", 1, 4, 0),
                    ("bob", 1, 4, 0),
                    ("vic", 0, 0, 0),
                    ("zed", 0, 9, 0),
                ],
                2.0,
                vec![("zed", "incidents 9 > 2× median 4")],
            ),
            (vec![], 2.0, vec![]),
        ];
        for (people, multiple, expected) in table {
            let report: Vec<PersonLoad> = people
                .iter()
                .map(|&(n, s, i, o)| load(n, s, i, o))
                .collect();
            let got: Vec<(String, String)> = flags(&report, multiple)
                .into_iter()
                .map(|f| (f.person, f.reason))
                .collect();
            let expected: Vec<(String, String)> = expected
                .into_iter()
                .map(|(p, r)| (p.to_string(), r.to_string()))
                .collect();
            assert_eq!(got, expected, "{people:?} × {multiple}");
        }
    }

    #[test]
    fn a_multiple_outside_one_to_a_hundred_is_refused() {
        for m in [0.0, 0.99, -2.0, 101.0, f64::NAN, f64::INFINITY] {
            assert!(parse_multiple(m).is_err(), "{m}");
        }
        for m in [1.0, 2.0, 2.5, 100.0] {
            assert_eq!(parse_multiple(m), Ok(m));
        }
    }
}
