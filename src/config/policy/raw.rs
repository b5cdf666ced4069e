//! The file format: what serde reads from one policy file, with spans for `file:line`
//! messages. Values with a syntax of their own stay strings here; `check` parses them.

use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    #[serde(default)]
    pub(super) person: Vec<RawPerson>,
    #[serde(default)]
    pub(super) service: Vec<RawService>,
    #[serde(default)]
    pub(super) escalation_policy: Vec<RawPolicy>,
    #[serde(default)]
    pub(super) schedule: Vec<RawSchedule>,
    #[serde(default)]
    pub(super) heartbeat: Vec<RawHeartbeat>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPerson {
    pub(super) name: Spanned<String>,
    pub(super) time_zone: Spanned<String>,
    pub(super) email: Option<Spanned<String>>,
    pub(super) sms: Option<Spanned<String>>,
    pub(super) slack: Option<Spanned<String>>,
    /// Which method when, for critical/high/medium pages; default from the methods present.
    pub(super) contact_rules: Option<Vec<RawContactRule>>,
    /// The same for low-severity pages; default email only.
    pub(super) low_contact_rules: Option<Vec<RawContactRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawContactRule {
    pub(super) method: Spanned<String>,
    pub(super) after: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    pub(super) name: Spanned<String>,
    pub(super) description: Option<String>,
    pub(super) escalation_policy: Spanned<String>,
    #[serde(default)]
    pub(super) integration_keys: Vec<Spanned<String>>,
    /// `{ count = 3, within = "1h" }` or `"off"`; checked by hand for a clearer message.
    pub(super) threshold: Option<Spanned<toml::Value>>,
    /// Detail (label) names whose shared values make distinct open alerts "related" for the
    /// threshold rule, e.g. `["alertname"]`.
    pub(super) related_by: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) support_hours: Option<Spanned<RawSupportHours>>,
    #[serde(default)]
    pub(super) route: Vec<Spanned<RawRoute>>,
    #[serde(default)]
    pub(super) maintenance: Vec<Spanned<RawMaintenance>>,
    /// Per-severity response targets; win over the escalation policy's.
    pub(super) response_targets: Option<RawTargets>,
}

/// `response_targets = { critical = "15m", high = "1h", medium = "4h", low = "24h" }`: any
/// subset; the rest falls back to the policy's, then to those defaults.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTargets {
    pub(super) critical: Option<Spanned<String>>,
    pub(super) high: Option<Spanned<String>>,
    pub(super) medium: Option<Spanned<String>>,
    pub(super) low: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSupportHours {
    pub(super) time_zone: Spanned<String>,
    pub(super) hours: Spanned<Vec<Spanned<RawRestriction>>>,
    /// Severities that wait for the hours; default `["low"]`.
    pub(super) defer: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    #[serde(default)]
    pub(super) severities: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) when: std::collections::BTreeMap<String, String>,
    pub(super) escalation_policy: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMaintenance {
    pub(super) from: Spanned<String>,
    pub(super) to: Spanned<String>,
    /// Zone of local `from`/`to`; default UTC.
    pub(super) time_zone: Option<Spanned<String>>,
    pub(super) reason: Option<String>,
    pub(super) page_after: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHeartbeat {
    pub(super) name: Spanned<String>,
    pub(super) service: Spanned<String>,
    pub(super) interval: Spanned<String>,
    pub(super) severity: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    pub(super) name: Spanned<String>,
    /// An integer or `"until_acknowledged"`; checked by hand for a clearer message.
    pub(super) repeat: Option<Spanned<toml::Value>>,
    pub(super) ack_timeout: Option<Spanned<String>>,
    pub(super) levels: Spanned<Vec<Spanned<RawLevel>>>,
    pub(super) critical: Option<RawTimeline>,
    pub(super) high: Option<RawTimeline>,
    pub(super) medium: Option<RawTimeline>,
    pub(super) low: Option<RawTimeline>,
    /// Per-severity response targets of the services it serves (see [`RawTargets`]).
    pub(super) response_targets: Option<RawTargets>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTimeline {
    pub(super) levels: Spanned<Vec<Spanned<RawLevel>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLevel {
    /// People.
    #[serde(default)]
    pub(super) targets: Vec<Spanned<String>>,
    /// Schedules: whoever is on call when the level is paged.
    #[serde(default)]
    pub(super) schedules: Vec<Spanned<String>>,
    pub(super) delay: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSchedule {
    pub(super) name: Spanned<String>,
    pub(super) time_zone: Spanned<String>,
    pub(super) owner: Spanned<String>,
    /// Paged in a gap instead of the owner.
    pub(super) fallback: Option<Spanned<String>>,
    /// "incoming" (default), "both" or "off".
    pub(super) handoff_notifications: Option<Spanned<String>>,
    /// Limits the rotation enforces; absent: none.
    pub(super) burnout: Option<RawBurnout>,
    /// Lowest first.
    #[serde(default)]
    pub(super) layer: Vec<RawLayer>,
    #[serde(default, rename = "override")]
    pub(super) overrides: Vec<RawOverride>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLayer {
    pub(super) name: Spanned<String>,
    pub(super) members: Spanned<Vec<Spanned<String>>>,
    pub(super) shift: Spanned<String>,
    pub(super) start: Spanned<String>,
    #[serde(default)]
    pub(super) restrictions: Vec<Spanned<RawRestriction>>,
    /// An evening/off-hours rotation (the consecutive-evening-weeks limit applies).
    #[serde(default)]
    pub(super) evening: bool,
}

/// `[schedule.burnout]`: each key defaults to the operations manual's limit; 0 switches
/// `max_weeks_per_quarter` and `max_consecutive_evening_weeks` off.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBurnout {
    pub(super) max_weeks_per_quarter: Option<u32>,
    pub(super) max_consecutive_evening_weeks: Option<u32>,
    pub(super) rest_after_busy_week: Option<u32>,
    /// Days of rest after a busy shift ends (default 7).
    pub(super) rest_days: Option<Spanned<u32>>,
    pub(super) min_rest_hours: Option<u32>,
}

/// Exactly one of the two; checked by hand for a clearer message.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRestriction {
    pub(super) daily: Option<Spanned<String>>,
    pub(super) weekly: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOverride {
    pub(super) person: Spanned<String>,
    pub(super) from: Spanned<String>,
    pub(super) to: Spanned<String>,
    pub(super) reason: Option<String>,
}
