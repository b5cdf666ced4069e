//! The threshold rule: when a new incident opens one severity step more urgent because the
//! problem keeps happening. Pure: the engine gathers the facts and writes the answer.
//!
//! What counts as the alert "firing again" within the service's `threshold.within`:
//! - **Flapping**: the same dedup key opening a new incident again after an earlier one
//!   resolved. The openings of that key within the window, this one included, reach
//!   `threshold.count`.
//! - **Related issues** (only with `related_by = ["alertname", …]` on the service): other
//!   open incidents of the service, opened within the window, whose details have the same
//!   values as this alert for every `related_by` field. They and this one reach the count.
//!
//! What never counts: a re-send of an open incident (a trigger with the dedup key of an open
//! incident, from any source — Alertmanager re-sends a group's trigger whenever the group
//! changes). Those only add to the incident's alert count; this rule is not even asked.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::ingest::Threshold;

/// An open incident as the related-issues count sees it: when it opened, and its details.
pub type OpenAlert = (DateTime<Utc>, BTreeMap<String, String>);

/// Why a new incident opens one step more urgent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Raise {
    /// The key opened `openings` times within the window (this one included).
    Flapping { openings: usize },
    /// `open` open incidents (this one included) share these `related_by` values.
    Related {
        open: usize,
        shared: Vec<(String, String)>,
    },
}

impl Raise {
    /// How the raise reads on the timeline.
    pub fn describe(&self, threshold: &Threshold) -> String {
        let within = humantime::format_duration(threshold.within);
        match self {
            Self::Flapping { openings } => format!(
                "the alert opened {openings} times within {within} (resolved and fired again)"
            ),
            Self::Related { open, shared } => {
                let fields: Vec<String> = shared.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!(
                    "{open} open alerts of this service within {within} share {}",
                    fields.join(", ")
                )
            }
        }
    }
}

/// What the rule looks at for an alert that opens a new incident.
#[derive(Debug, Clone, Copy)]
pub struct Opening<'a> {
    pub now: DateTime<Utc>,
    /// The new alert's details (Alertmanager labels, Events v2 fields, gRPC details).
    pub details: &'a BTreeMap<String, String>,
    /// When earlier incidents with the same service and dedup key opened.
    pub earlier_openings: &'a [DateTime<Utc>],
    /// Other open incidents of the service: when each opened, and its details.
    pub open_others: &'a [OpenAlert],
}

/// The alert's values of the `related_by` fields; `None` when it lacks one (then it relates
/// to nothing) or there are none.
pub fn related_values(
    related_by: &[String],
    details: &BTreeMap<String, String>,
) -> Option<Vec<(String, String)>> {
    if related_by.is_empty() {
        return None;
    }
    related_by
        .iter()
        .map(|k| details.get(k).map(|v| (k.clone(), v.clone())))
        .collect()
}

/// Whether the new incident opens raised, and why. Flapping is looked at first.
pub fn decide(threshold: &Threshold, related_by: &[String], o: Opening<'_>) -> Option<Raise> {
    let since = o.now - chrono::Duration::from_std(threshold.within).unwrap_or_default();
    let recent = |t: &DateTime<Utc>| *t > since && *t <= o.now;
    let count = threshold.count as usize;
    let openings = 1 + o.earlier_openings.iter().filter(|t| recent(t)).count();
    if openings >= count {
        return Some(Raise::Flapping { openings });
    }
    if related_by.is_empty() {
        return None;
    }
    let shared = related_values(related_by, o.details)?;
    let open = 1 + o
        .open_others
        .iter()
        .filter(|(at, d)| recent(at) && shared.iter().all(|(k, v)| d.get(k) == Some(v)))
        .count();
    (open >= count).then_some(Raise::Related { open, shared })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    fn at(m: i64) -> DateTime<Utc> {
        "2026-03-02T00:00:00Z".parse::<DateTime<Utc>>().unwrap() + chrono::Duration::minutes(m)
    }

    fn d(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_key_that_keeps_opening_again_within_the_window_raises() {
        let t = Threshold {
            count: 3,
            within: Duration::from_secs(3600),
        };
        // (earlier openings of the key, now, raised with)
        let table: [(&[i64], i64, Option<usize>); 6] = [
            // First opening: nothing earlier.
            (&[], 0, None),
            (&[0], 10, None),
            // Third opening within the hour.
            (&[0, 10], 20, Some(3)),
            // The first fell out of the hour (the window's start is exclusive).
            (&[0, 10], 60, None),
            (&[0, 10], 59, Some(3)),
            (&[0, 1, 2, 3], 4, Some(5)),
        ];
        for (earlier, now, want) in table {
            let earlier: Vec<_> = earlier.iter().map(|m| at(*m)).collect();
            let got = decide(
                &t,
                &[],
                Opening {
                    now: at(now),
                    details: &d(&[]),
                    earlier_openings: &earlier,
                    open_others: &[],
                },
            );
            assert_eq!(
                got,
                want.map(|openings| Raise::Flapping { openings }),
                "{earlier:?} then {now}"
            );
        }
    }

    #[test]
    fn related_open_alerts_raise_only_when_every_related_field_matches() {
        let t = Threshold {
            count: 3,
            within: Duration::from_secs(3600),
        };
        let by = vec!["alertname".to_string(), "cluster".to_string()];
        let latency = |cluster: &str| d(&[("alertname", "HighLatency"), ("cluster", cluster)]);
        let others = vec![
            (at(0), latency("eu")),
            (at(5), latency("eu")),
            (at(6), latency("us")),
            (at(7), d(&[("alertname", "HighLatency")])),
        ];
        // (new alert's details, now, related_by, raised)
        type Case<'a> = (BTreeMap<String, String>, i64, &'a [String], bool);
        let table: [Case; 6] = [
            // Two others share alertname and cluster: three with this one.
            (latency("eu"), 10, &by, true),
            // Only one other in us.
            (latency("us"), 10, &by, false),
            // One of the two eu alerts opened more than an hour ago.
            (latency("eu"), 61, &by, false),
            // An alert without every field relates to nothing.
            (d(&[("alertname", "HighLatency")]), 10, &by, false),
            // Without related_by the rule never looks at other alerts.
            (latency("eu"), 10, &[], false),
            // By alertname alone: all four others share it.
            (latency("xx"), 10, &by[..1], true),
        ];
        for (details, now, related_by, raised) in table {
            let got = decide(
                &t,
                related_by,
                Opening {
                    now: at(now),
                    details: &details,
                    earlier_openings: &[],
                    open_others: &others,
                },
            );
            assert_eq!(
                got.is_some(),
                raised,
                "{details:?} at {now} by {related_by:?}"
            );
            if let Some(Raise::Related { open, shared }) = got {
                assert!(open >= 3);
                assert_eq!(shared.len(), related_by.len());
            }
        }
    }

    #[test]
    fn flapping_is_named_before_related_alerts() {
        let t = Threshold {
            count: 2,
            within: Duration::from_secs(600),
        };
        let details = d(&[("alertname", "Down")]);
        let got = decide(
            &t,
            &["alertname".to_string()],
            Opening {
                now: at(5),
                details: &details,
                earlier_openings: &[at(1)],
                open_others: &[(at(2), details.clone())],
            },
        )
        .unwrap();
        assert_eq!(got, Raise::Flapping { openings: 2 });
        assert!(got.describe(&t).contains("opened 2 times within 10m"));
        let related = Raise::Related {
            open: 2,
            shared: vec![("alertname".into(), "Down".into())],
        };
        assert!(related.describe(&t).contains("share alertname=Down"));
    }

    proptest! {
        /// More history never takes a raise away, and openings outside the window never
        /// give one.
        #[test]
        fn more_openings_never_lower_and_old_ones_never_count(
            count in 2u32..6,
            earlier in proptest::collection::vec(-120i64..=0, 0..8),
            extra in -120i64..=0,
        ) {
            let t = Threshold { count, within: Duration::from_secs(3600) };
            let opening = |e: &[DateTime<Utc>]| decide(&t, &[], Opening {
                now: at(0),
                details: &BTreeMap::new(),
                earlier_openings: e,
                open_others: &[],
            });
            let mut times: Vec<_> = earlier.iter().map(|m| at(*m)).collect();
            let before = opening(&times);
            times.push(at(extra));
            let after = opening(&times);
            prop_assert!(before.is_none() || after.is_some());
            let recent = times.iter().filter(|t| **t > at(-60)).count();
            prop_assert_eq!(after.is_some(), recent + 1 >= count as usize);
        }
    }
}
