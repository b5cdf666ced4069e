//! Decisions about incoming alerts: which escalation policy a rule routes them to, whether
//! paging waits (maintenance window, outside support hours), when a repeating alert raises
//! its incident's severity, when a heartbeat expires, and the per-key rate limit of the
//! Events v2 endpoint. Pure: every function takes `now`.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::Severity;
use super::schedule::{Restriction, windows};

/// A routing rule of a service: alerts it matches go to `escalation_policy`.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Empty: any severity.
    pub severities: Vec<Severity>,
    /// Every pair must equal the alert's detail of that name (Alertmanager labels, Events v2
    /// fields such as `component`, `group`, `class`, `source`, gRPC details).
    pub when: BTreeMap<String, String>,
    pub escalation_policy: String,
}

impl Route {
    pub fn matches(&self, severity: Severity, details: &BTreeMap<String, String>) -> bool {
        (self.severities.is_empty() || self.severities.contains(&severity))
            && self
                .when
                .iter()
                .all(|(k, v)| details.get(k).is_some_and(|d| d == v))
    }
}

/// The first matching rule's policy, else the service's default.
pub fn route<'a>(
    routes: &'a [Route],
    default: &'a str,
    severity: Severity,
    details: &BTreeMap<String, String>,
) -> &'a str {
    routes
        .iter()
        .find(|r| r.matches(severity, details))
        .map_or(default, |r| r.escalation_policy.as_str())
}

/// Business hours of a service, in a zone, and the severities that wait for them.
#[derive(Debug, Clone, PartialEq)]
pub struct SupportHours {
    pub zone: Tz,
    /// Daily or weekly windows (the schedule restriction syntax).
    pub windows: Vec<Restriction>,
    /// Incidents of these severities raised outside the hours start paging when they begin.
    pub defer: Vec<Severity>,
}

impl SupportHours {
    /// The start of the next support hours at or after `now` (`now` itself inside them).
    pub fn next_start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        // Every window recurs at least weekly, so eight days always hold a start.
        let until = now + chrono::Duration::days(8);
        self.windows
            .iter()
            .flat_map(|r| windows(r, self.zone, now, until))
            .map(|(s, _)| s)
            .min()
            .unwrap_or(now)
    }

    /// When paging an incident of `severity` raised at `now` may start, if it must wait.
    pub fn deferred_until(&self, severity: Severity, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if !self.defer.contains(&severity) {
            return None;
        }
        let start = self.next_start(now);
        (start > now).then_some(start)
    }
}

/// A planned quiet period of a service: alerts are recorded but page nobody.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceWindow {
    /// Set for windows made through the API (stored); `None` for windows in the files.
    pub id: Option<i64>,
    pub service: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub reason: String,
    /// When the window ends, incidents raised in it that are still open start paging.
    pub page_after: bool,
    pub created_by: String,
}

impl MaintenanceWindow {
    pub fn contains(&self, service: &str, at: DateTime<Utc>) -> bool {
        self.service == service && self.start <= at && at < self.end
    }

    /// How the window reads on a timeline.
    pub fn label(&self) -> String {
        let id = self.id.map_or("in the policy files".to_string(), |id| {
            format!("#{id} by {}", self.created_by)
        });
        if self.reason.is_empty() {
            format!("maintenance window {id}")
        } else {
            format!("maintenance window {id}: {}", self.reason)
        }
    }
}

/// Why a new incident does not page yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// In a maintenance window; `release` is when paging starts (`None`: it never does).
    Maintenance {
        window: String,
        until: DateTime<Utc>,
        release: Option<DateTime<Utc>>,
    },
    /// Low urgency outside support hours; paging starts when they begin.
    SupportHours { until: DateTime<Utc> },
}

impl Hold {
    /// When paging starts, if it ever does on its own.
    pub fn release(&self) -> Option<DateTime<Utc>> {
        match self {
            Self::Maintenance { release, .. } => *release,
            Self::SupportHours { until } => Some(*until),
        }
    }

    pub fn describe(&self) -> String {
        let at = |t: &DateTime<Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
        match self {
            Self::Maintenance {
                window,
                until,
                release: Some(_),
            } => format!(
                "during {window}: pages nobody until it ends at {}",
                at(until)
            ),
            Self::Maintenance { window, until, .. } => format!(
                "during {window} (ends {}, page_after = false): pages nobody",
                at(until)
            ),
            Self::SupportHours { until } => format!(
                "low urgency outside support hours: paging starts when they begin at {}",
                at(until)
            ),
        }
    }
}

/// Whether paging a new incident of `service` at `now` waits, and why. A maintenance window
/// wins over support hours; of overlapping windows the one ending last decides.
pub fn hold(
    service: &str,
    severity: Severity,
    now: DateTime<Utc>,
    maintenance: &[MaintenanceWindow],
    support: Option<&SupportHours>,
) -> Option<Hold> {
    if let Some(w) = maintenance
        .iter()
        .filter(|w| w.contains(service, now))
        .max_by_key(|w| w.end)
    {
        return Some(Hold::Maintenance {
            window: w.label(),
            until: w.end,
            release: w.page_after.then_some(w.end),
        });
    }
    support
        .and_then(|s| s.deferred_until(severity, now))
        .map(|until| Hold::SupportHours { until })
}

/// "The alert fired `count` times within `within`": a new incident opens one severity step
/// more urgent. What counts as firing again is decided in [`super::threshold`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threshold {
    pub count: u32,
    pub within: Duration,
}

impl Default for Threshold {
    fn default() -> Self {
        Self {
            count: 3,
            within: Duration::from_secs(3600),
        }
    }
}

impl Severity {
    /// One step more urgent; critical stays critical.
    pub fn raised(self) -> Severity {
        match self {
            Self::Low => Self::Medium,
            Self::Medium => Self::High,
            Self::High | Self::Critical => Self::Critical,
        }
    }
}

/// A dead-man's switch: a ping is expected at least every `interval`.
#[derive(Debug, Clone, PartialEq)]
pub struct HeartbeatDef {
    pub name: String,
    pub service: String,
    pub interval: Duration,
    pub severity: Severity,
}

impl HeartbeatDef {
    /// When the heartbeat expires if the last ping (or the start of watching) was at `since`.
    pub fn expires_at(&self, since: DateTime<Utc>) -> DateTime<Utc> {
        since + chrono::Duration::from_std(self.interval).unwrap_or_default()
    }

    /// The dedup key of the incident an expiry opens (and a ping resolves).
    pub fn dedup_key(&self) -> String {
        format!("heartbeat/{}", self.name)
    }
}

/// A token bucket: `per_minute` requests a minute, bursting up to the same number.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBucket {
    tokens: f64,
    last: DateTime<Utc>,
}

impl TokenBucket {
    pub fn full(per_minute: u32, now: DateTime<Utc>) -> Self {
        Self {
            tokens: per_minute as f64,
            last: now,
        }
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, per_minute: u32, now: DateTime<Utc>) -> bool {
        let elapsed = (now - self.last).num_milliseconds().max(0) as f64 / 60_000.0;
        self.tokens = (self.tokens + elapsed * per_minute as f64).min(per_minute as f64);
        self.last = self.last.max(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveTime, Weekday};
    use proptest::prelude::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn details(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_first_matching_rule_routes_else_the_default() {
        let rules = vec![
            Route {
                severities: vec![],
                when: details(&[("team", "billing")]),
                escalation_policy: "billing".into(),
            },
            Route {
                severities: vec![Severity::Critical],
                when: details(&[]),
                escalation_policy: "incident-commander".into(),
            },
            Route {
                severities: vec![Severity::Low, Severity::Medium],
                when: details(&[("team", "legal"), ("class", "contract")]),
                escalation_policy: "legal".into(),
            },
        ];
        type Pairs<'a> = &'a [(&'a str, &'a str)];
        let table: [(Severity, Pairs, &str); 7] = [
            (Severity::High, &[("team", "billing")], "billing"),
            // First match wins: billing before the critical rule.
            (Severity::Critical, &[("team", "billing")], "billing"),
            (
                Severity::Critical,
                &[("team", "search")],
                "incident-commander",
            ),
            (
                Severity::Low,
                &[("team", "legal"), ("class", "contract")],
                "legal",
            ),
            // Every pair must match.
            (Severity::Low, &[("team", "legal")], "default"),
            // Severity must be listed.
            (
                Severity::High,
                &[("team", "legal"), ("class", "contract")],
                "default",
            ),
            (Severity::High, &[], "default"),
        ];
        for (severity, d, want) in table {
            assert_eq!(
                route(&rules, "default", severity, &details(d)),
                want,
                "{severity} {d:?}"
            );
        }
    }

    fn office() -> SupportHours {
        let t = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap();
        SupportHours {
            zone: chrono_tz::America::Los_Angeles,
            windows: vec![Restriction::Weekly {
                start: (Weekday::Mon, t(9)),
                end: (Weekday::Fri, t(17)),
            }],
            defer: vec![Severity::Low],
        }
    }

    #[test]
    fn low_urgency_outside_support_hours_waits_for_them() {
        let sh = office();
        // (now, severity, deferred until)
        let table = [
            // Tuesday 10:00 PST: inside.
            ("2026-03-03T18:00:00Z", Severity::Low, None),
            // Friday 18:00 PST waits for Monday 09:00, which is PDT (16:00Z) after the
            // March 8 clock change.
            (
                "2026-03-07T02:00:00Z",
                Severity::Low,
                Some("2026-03-09T16:00:00Z"),
            ),
            // Only the deferred severities wait.
            ("2026-03-07T02:00:00Z", Severity::Medium, None),
            // Monday 08:59 PST waits a minute.
            (
                "2026-03-02T16:59:00Z",
                Severity::Low,
                Some("2026-03-02T17:00:00Z"),
            ),
            // Exactly at the start: inside.
            ("2026-03-02T17:00:00Z", Severity::Low, None),
        ];
        for (now, severity, want) in table {
            assert_eq!(
                sh.deferred_until(severity, utc(now)),
                want.map(utc),
                "{now} {severity}"
            );
        }
    }

    #[test]
    fn maintenance_wins_over_support_hours_and_the_longest_window_decides() {
        let w = |service: &str, from: &str, to: &str, page_after: bool| MaintenanceWindow {
            id: Some(1),
            service: service.into(),
            start: utc(from),
            end: utc(to),
            reason: "db upgrade".into(),
            page_after,
            created_by: "alice".into(),
        };
        let windows = vec![
            w("web", "2026-03-07T00:00:00Z", "2026-03-07T02:00:00Z", true),
            w("web", "2026-03-07T01:00:00Z", "2026-03-07T03:00:00Z", true),
            w("db", "2026-03-07T00:00:00Z", "2026-03-07T05:00:00Z", false),
        ];
        let sh = office();
        let now = utc("2026-03-07T01:30:00Z");
        let got = hold("web", Severity::Critical, now, &windows, Some(&sh)).unwrap();
        assert_eq!(got.release(), Some(utc("2026-03-07T03:00:00Z")));
        let quiet = hold("db", Severity::Critical, now, &windows, None).unwrap();
        assert_eq!(quiet.release(), None);
        assert!(quiet.describe().contains("page_after = false"));
        // The end is exclusive; then support hours apply to low urgency.
        let after = utc("2026-03-07T03:00:00Z");
        assert_eq!(
            hold("web", Severity::Low, after, &windows, Some(&sh)),
            Some(Hold::SupportHours {
                until: utc("2026-03-09T16:00:00Z")
            })
        );
        assert_eq!(
            hold("web", Severity::High, after, &windows, Some(&sh)),
            None
        );
        assert_eq!(hold("search", Severity::Low, now, &windows, None), None);
    }

    #[test]
    fn a_severity_is_raised_one_step_and_critical_stays() {
        assert_eq!(Severity::Low.raised(), Severity::Medium);
        assert_eq!(Severity::Medium.raised(), Severity::High);
        assert_eq!(Severity::High.raised(), Severity::Critical);
        assert_eq!(Severity::Critical.raised(), Severity::Critical);
    }

    #[test]
    fn a_heartbeat_expires_one_interval_after_its_last_ping() {
        let hb = HeartbeatDef {
            name: "nightly-backup".into(),
            service: "db".into(),
            interval: Duration::from_secs(25 * 3600),
            severity: Severity::High,
        };
        assert_eq!(
            hb.expires_at(utc("2026-03-02T03:00:00Z")),
            utc("2026-03-03T04:00:00Z")
        );
        assert_eq!(hb.dedup_key(), "heartbeat/nightly-backup");
    }

    #[test]
    fn the_bucket_allows_a_burst_then_the_rate() {
        let t0 = utc("2026-03-02T00:00:00Z");
        let mut b = TokenBucket::full(60, t0);
        for _ in 0..60 {
            assert!(b.take(60, t0));
        }
        assert!(!b.take(60, t0));
        assert!(b.take(60, t0 + chrono::Duration::seconds(1)));
        assert!(!b.take(60, t0 + chrono::Duration::seconds(1)));
        // Refills to the burst, not beyond.
        let later = t0 + chrono::Duration::hours(1);
        for _ in 0..60 {
            assert!(b.take(60, later));
        }
        assert!(!b.take(60, later));
    }

    proptest! {
        #[test]
        fn a_deferred_incident_waits_for_a_time_inside_support_hours(
            mins in 0i64..(60 * 24 * 400),
        ) {
            let sh = office();
            let now = utc("2026-01-01T00:00:00Z") + chrono::Duration::minutes(mins);
            match sh.deferred_until(Severity::Low, now) {
                None => prop_assert_eq!(sh.next_start(now), now),
                Some(until) => {
                    prop_assert!(until > now);
                    prop_assert!(until - now <= chrono::Duration::days(3));
                    prop_assert_eq!(sh.next_start(until), until);
                    // Nothing earlier is inside the hours.
                    let just_before = until - chrono::Duration::minutes(1);
                    prop_assert!(just_before < now || sh.next_start(just_before) == until);
                }
            }
        }
    }
}
