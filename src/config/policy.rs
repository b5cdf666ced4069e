//! Policy files (`schedules/*.toml`): people, services, escalation policies and on-call
//! schedules.
//!
//! Files are parsed into raw, span-carrying structs, then validated as one set so that every
//! problem is reported at once, each as `file:line: message`. Names are global across files.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use serde::Deserialize;
use thiserror::Error;
use toml::Spanned;

use crate::domain::burnout::BurnoutPolicy;
use crate::domain::contact;
use crate::domain::policy::{HandoffNotify, ScheduleDef};
use crate::domain::rotation::{Rotation, ShiftLength, resolve_local};
use crate::domain::schedule::{Layer, Override, Restriction, Schedule};
use crate::domain::{
    EscalationPolicy, Level, Person, PolicySet, Repeat, Service, Severity, Target, Timeline,
};

/// One problem in the policy files.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}{}: {message}", .file.display(), .line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct PolicyError {
    pub file: PathBuf,
    /// 1-based; `None` when the problem is the file or directory as a whole.
    pub line: Option<usize>,
    pub message: String,
}

/// Every problem found, in file order; displayed one per line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct PolicyErrors(pub Vec<PolicyError>);

/// What `pagerd check` prints for a valid directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSummary {
    pub dir: PathBuf,
    pub people: usize,
    pub services: usize,
    pub policies: usize,
    pub schedules: usize,
}

impl fmt::Display for CheckSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural =
            |n: usize, one: &'static str, many: &'static str| if n == 1 { one } else { many };
        write!(
            f,
            "{}: {} {}, {} {}, {} escalation {}, {} {} — OK",
            self.dir.display(),
            self.people,
            plural(self.people, "person", "people"),
            self.services,
            plural(self.services, "service", "services"),
            self.policies,
            plural(self.policies, "policy", "policies"),
            self.schedules,
            plural(self.schedules, "schedule", "schedules"),
        )
    }
}

impl CheckSummary {
    /// The counts of a loaded set from `dir`.
    pub fn of(dir: &Path, set: &PolicySet) -> Self {
        Self {
            dir: dir.to_path_buf(),
            people: set.people.len(),
            services: set.services.len(),
            policies: set.policies.len(),
            schedules: set.schedules.len(),
        }
    }
}

/// Loads and validates a directory of policy files; see [`load_dir`].
pub fn check_dir(dir: &Path) -> Result<CheckSummary, PolicyErrors> {
    let set = load_dir(dir)?;
    Ok(CheckSummary::of(dir, &set))
}

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

/// Reads every `*.toml` file directly in `dir` (in name order) and validates them as one set.
pub fn load_dir(dir: &Path) -> Result<PolicySet, PolicyErrors> {
    let dir_error = |message: String| {
        PolicyErrors(vec![PolicyError {
            file: dir.to_path_buf(),
            line: None,
            message,
        }])
    };
    let entries =
        std::fs::read_dir(dir).map_err(|e| dir_error(format!("cannot read directory: {e}")))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| dir_error(format!("cannot read directory: {e}")))?
            .path();
        if path.extension().is_some_and(|ext| ext == "toml") && path.is_file() {
            paths.push(path);
        }
    }
    if paths.is_empty() {
        return Err(dir_error("no *.toml policy files".to_owned()));
    }
    paths.sort();

    let mut checker = Checker::default();
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        match std::fs::read_to_string(&path) {
            Ok(text) => files.push(SourceFile { path, text }),
            Err(e) => checker.errors.push(PolicyError {
                file: path,
                line: None,
                message: format!("cannot read file: {e}"),
            }),
        }
    }
    let set = checker.check(&files);
    if checker.errors.is_empty() {
        return Ok(set);
    }
    checker
        .errors
        .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    Err(PolicyErrors(checker.errors))
}

// ---- raw file format -------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    person: Vec<RawPerson>,
    #[serde(default)]
    service: Vec<RawService>,
    #[serde(default)]
    escalation_policy: Vec<RawPolicy>,
    #[serde(default)]
    schedule: Vec<RawSchedule>,
    #[serde(default)]
    heartbeat: Vec<RawHeartbeat>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPerson {
    name: Spanned<String>,
    time_zone: Spanned<String>,
    email: Option<Spanned<String>>,
    sms: Option<Spanned<String>>,
    slack: Option<Spanned<String>>,
    /// Which method when, for critical/high/medium pages; default from the methods present.
    contact_rules: Option<Vec<RawContactRule>>,
    /// The same for low-severity pages; default email only.
    low_contact_rules: Option<Vec<RawContactRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContactRule {
    method: Spanned<String>,
    after: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    name: Spanned<String>,
    description: Option<String>,
    escalation_policy: Spanned<String>,
    #[serde(default)]
    integration_keys: Vec<Spanned<String>>,
    /// `{ count = 3, within = "1h" }` or `"off"`; checked by hand for a clearer message.
    threshold: Option<Spanned<toml::Value>>,
    support_hours: Option<Spanned<RawSupportHours>>,
    #[serde(default)]
    route: Vec<Spanned<RawRoute>>,
    #[serde(default)]
    maintenance: Vec<Spanned<RawMaintenance>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSupportHours {
    time_zone: Spanned<String>,
    hours: Spanned<Vec<Spanned<RawRestriction>>>,
    /// Severities that wait for the hours; default `["low"]`.
    defer: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    #[serde(default)]
    severities: Vec<Spanned<String>>,
    #[serde(default)]
    when: std::collections::BTreeMap<String, String>,
    escalation_policy: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMaintenance {
    from: Spanned<String>,
    to: Spanned<String>,
    /// Zone of local `from`/`to`; default UTC.
    time_zone: Option<Spanned<String>>,
    reason: Option<String>,
    page_after: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeartbeat {
    name: Spanned<String>,
    service: Spanned<String>,
    interval: Spanned<String>,
    severity: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    name: Spanned<String>,
    /// An integer or `"until_acknowledged"`; checked by hand for a clearer message.
    repeat: Option<Spanned<toml::Value>>,
    ack_timeout: Option<Spanned<String>>,
    levels: Spanned<Vec<Spanned<RawLevel>>>,
    critical: Option<RawTimeline>,
    high: Option<RawTimeline>,
    medium: Option<RawTimeline>,
    low: Option<RawTimeline>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTimeline {
    levels: Spanned<Vec<Spanned<RawLevel>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLevel {
    /// People.
    #[serde(default)]
    targets: Vec<Spanned<String>>,
    /// Schedules: whoever is on call when the level is paged.
    #[serde(default)]
    schedules: Vec<Spanned<String>>,
    delay: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    name: Spanned<String>,
    time_zone: Spanned<String>,
    owner: Spanned<String>,
    /// Paged in a gap instead of the owner.
    fallback: Option<Spanned<String>>,
    /// "incoming" (default), "both" or "off".
    handoff_notifications: Option<Spanned<String>>,
    /// Limits the rotation enforces; absent: none.
    burnout: Option<RawBurnout>,
    /// Lowest first.
    #[serde(default)]
    layer: Vec<RawLayer>,
    #[serde(default, rename = "override")]
    overrides: Vec<RawOverride>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayer {
    name: Spanned<String>,
    members: Spanned<Vec<Spanned<String>>>,
    shift: Spanned<String>,
    start: Spanned<String>,
    #[serde(default)]
    restrictions: Vec<Spanned<RawRestriction>>,
    /// An evening/off-hours rotation (the consecutive-evening-weeks limit applies).
    #[serde(default)]
    evening: bool,
}

/// `[schedule.burnout]`: each key defaults to the operations manual's limit; 0 switches
/// `max_weeks_per_quarter` and `max_consecutive_evening_weeks` off.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBurnout {
    max_weeks_per_quarter: Option<u32>,
    max_consecutive_evening_weeks: Option<u32>,
    rest_after_busy_week: Option<u32>,
    min_rest_hours: Option<u32>,
}

/// Exactly one of the two; checked by hand for a clearer message.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRestriction {
    daily: Option<Spanned<String>>,
    weekly: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverride {
    person: Spanned<String>,
    from: Spanned<String>,
    to: Spanned<String>,
    reason: Option<String>,
}

// ---- validation ------------------------------------------------------------------------------

struct SourceFile {
    path: PathBuf,
    text: String,
}

impl SourceFile {
    fn line(&self, span: &Range<usize>) -> usize {
        let end = span.start.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }
}

/// Where a name was first defined, for duplicate reports.
struct Definition<'a> {
    file: &'a SourceFile,
    line: usize,
}

#[derive(Default)]
struct Checker {
    errors: Vec<PolicyError>,
}

/// Names defined anywhere in the set, for reference checks (absent while a file failed to
/// parse).
#[derive(Clone, Copy)]
struct Known<'a> {
    people: &'a HashSet<&'a str>,
    schedules: &'a HashSet<&'a str>,
}

impl Checker {
    fn error(&mut self, file: &SourceFile, span: &Range<usize>, message: impl Into<String>) {
        self.errors.push(PolicyError {
            file: file.path.clone(),
            line: Some(file.line(span)),
            message: message.into(),
        });
    }

    fn check(&mut self, files: &[SourceFile]) -> PolicySet {
        let mut parsed = Vec::new();
        for file in files {
            match toml::from_str::<RawFile>(&file.text) {
                Ok(raw) => parsed.push((file, raw)),
                Err(e) => {
                    let line = e.span().map(|span| file.line(&span));
                    let message = with_severity_hint(e.message().trim_end());
                    self.errors.push(PolicyError {
                        file: file.path.clone(),
                        line,
                        message,
                    });
                }
            }
        }
        // A file that cannot be read or parsed defines names we cannot see: checking
        // references against the rest would only add false "unknown person" reports.
        let check_refs = self.errors.is_empty();

        let mut people: HashMap<String, Definition> = HashMap::new();
        let mut services: HashMap<String, Definition> = HashMap::new();
        let mut policies: HashMap<String, Definition> = HashMap::new();
        let mut schedules: HashMap<String, Definition> = HashMap::new();
        let mut heartbeats: HashMap<String, Definition> = HashMap::new();
        for (file, raw) in &parsed {
            for h in &raw.heartbeat {
                self.define(&mut heartbeats, "heartbeat", file, &h.name);
            }
            for p in &raw.person {
                self.define(&mut people, "person", file, &p.name);
            }
            for s in &raw.service {
                self.define(&mut services, "service", file, &s.name);
            }
            for p in &raw.escalation_policy {
                self.define(&mut policies, "escalation policy", file, &p.name);
            }
            for s in &raw.schedule {
                self.define(&mut schedules, "schedule", file, &s.name);
            }
        }
        let known_people: HashSet<&str> = people.keys().map(String::as_str).collect();
        let known_schedules: HashSet<&str> = schedules.keys().map(String::as_str).collect();
        let known = check_refs.then_some(Known {
            people: &known_people,
            schedules: &known_schedules,
        });

        let mut set = PolicySet::default();
        for (file, raw) in &parsed {
            for p in &raw.person {
                if let Some(person) = self.person(file, p) {
                    set.people.entry(person.name.clone()).or_insert(person);
                }
            }
            for s in &raw.service {
                let known_policies = check_refs.then_some(&policies);
                let service = self.service(file, s, known_policies);
                for key in &s.integration_keys {
                    let key_text = key.get_ref();
                    match set.integration_keys.get(key_text) {
                        Some(other) => {
                            let message = format!(
                                "service {:?}: integration key {key_text:?} is already used by service {other:?}",
                                s.name.get_ref()
                            );
                            self.error(file, &key.span(), message);
                        }
                        None => {
                            set.integration_keys
                                .insert(key_text.clone(), s.name.get_ref().clone());
                        }
                    }
                }
                for (index, w) in s.maintenance.iter().enumerate() {
                    let context = format!(
                        "maintenance window {} of service {:?}",
                        index + 1,
                        s.name.get_ref()
                    );
                    if let Some(w) = self.maintenance(file, s.name.get_ref(), w, &context) {
                        set.maintenance.push(w);
                    }
                }
                set.services.entry(service.name.clone()).or_insert(service);
            }
            for p in &raw.escalation_policy {
                let policy = self.policy(file, p, known);
                if let Some(policy) = policy {
                    set.policies.entry(policy.name.clone()).or_insert(policy);
                }
            }
            for h in &raw.heartbeat {
                let known_services = check_refs.then_some(&services);
                if let Some(h) = self.heartbeat(file, h, known_services) {
                    set.heartbeats.entry(h.name.clone()).or_insert(h);
                }
            }
            for s in &raw.schedule {
                let schedule = self.schedule(file, s, check_refs.then_some(&known_people));
                if let Some(def) = schedule {
                    set.schedules
                        .entry(def.schedule.name.clone())
                        .or_insert(def);
                }
            }
        }
        set
    }

    /// Checks a name's spelling and records its first definition; reports duplicates.
    fn define<'a>(
        &mut self,
        seen: &mut HashMap<String, Definition<'a>>,
        kind: &str,
        file: &'a SourceFile,
        name: &Spanned<String>,
    ) {
        let line = file.line(&name.span());
        if let Err(why) = check_name(name.get_ref()) {
            self.error(
                file,
                &name.span(),
                format!("{kind} name {:?} {why}", name.get_ref()),
            );
        }
        if let Some(first) = seen.get(name.get_ref()) {
            let message = format!(
                "{kind} {:?} is already defined at {}:{}",
                name.get_ref(),
                first.file.path.display(),
                first.line
            );
            self.error(file, &name.span(), message);
        } else {
            seen.insert(name.get_ref().clone(), Definition { file, line });
        }
    }

    /// A service with its integration keys, routing rules, support hours and threshold.
    /// `policies` is absent while some file failed to parse.
    fn service(
        &mut self,
        file: &SourceFile,
        raw: &RawService,
        policies: Option<&HashMap<String, Definition>>,
    ) -> Service {
        let name = raw.name.get_ref();
        let context = format!("service {name:?}");
        let check_policy = |this: &mut Self, policy: &Spanned<String>, what: &str| {
            if policies.is_some_and(|p| !p.contains_key(policy.get_ref())) {
                let message = format!("{what}: unknown escalation policy {:?}", policy.get_ref());
                this.error(file, &policy.span(), message);
            }
        };
        check_policy(self, &raw.escalation_policy, &context);
        let mut service = Service::new(name, raw.escalation_policy.get_ref());
        service.description = raw.description.clone().unwrap_or_default();
        for key in &raw.integration_keys {
            if !valid_integration_key(key.get_ref()) {
                self.error(
                    file,
                    &key.span(),
                    format!(
                        "{context}: integration key {:?} is not 32 letters and digits (generate one with `pagerctl integration-key`)",
                        key.get_ref()
                    ),
                );
            } else {
                service.integration_keys.push(key.get_ref().clone());
            }
        }
        for (index, r) in raw.route.iter().enumerate() {
            let route_context = format!("routing rule {} of {context}", index + 1);
            let rule = r.get_ref();
            check_policy(self, &rule.escalation_policy, &route_context);
            let severities = rule
                .severities
                .iter()
                .filter_map(|s| {
                    self.report(
                        file,
                        s,
                        Severity::parse(s.get_ref()),
                        &format!("{route_context}: severities"),
                    )
                })
                .collect();
            service.routes.push(crate::domain::ingest::Route {
                severities,
                when: rule.when.clone(),
                escalation_policy: rule.escalation_policy.get_ref().clone(),
            });
        }
        if let Some(sh) = &raw.support_hours {
            service.support_hours = self.support_hours(file, sh, &context);
        }
        if let Some(t) = &raw.threshold {
            service.threshold = self.threshold(file, t, &context);
        }
        service
    }

    fn support_hours(
        &mut self,
        file: &SourceFile,
        raw: &Spanned<RawSupportHours>,
        context: &str,
    ) -> Option<crate::domain::ingest::SupportHours> {
        let context = format!("{context}: support_hours");
        let sh = raw.get_ref();
        let zone = self.report(
            file,
            &sh.time_zone,
            sh.time_zone
                .get_ref()
                .parse::<Tz>()
                .map_err(|_| "is not an IANA time zone such as \"Europe/Berlin\"".to_owned()),
            &format!("{context}: time_zone"),
        );
        if sh.hours.get_ref().is_empty() {
            self.error(
                file,
                &sh.hours.span(),
                format!("{context}: hours must not be empty"),
            );
        }
        let mut windows = Vec::new();
        for r in sh.hours.get_ref() {
            windows.extend(self.restriction(file, r, &context));
        }
        let defer = match &sh.defer {
            None => vec![Severity::Low],
            Some(list) => list
                .iter()
                .filter_map(|s| {
                    self.report(
                        file,
                        s,
                        Severity::parse(s.get_ref()),
                        &format!("{context}: defer"),
                    )
                })
                .collect(),
        };
        Some(crate::domain::ingest::SupportHours {
            zone: zone?,
            windows,
            defer,
        })
    }

    fn threshold(
        &mut self,
        file: &SourceFile,
        raw: &Spanned<toml::Value>,
        context: &str,
    ) -> Option<crate::domain::ingest::Threshold> {
        let bad = |this: &mut Self| {
            this.error(
                file,
                &raw.span(),
                format!(
                    "{context}: threshold = {} is not {{ count = 3, within = \"1h\" }} (count at least 2) or \"off\"",
                    raw.get_ref()
                ),
            );
            None
        };
        match raw.get_ref() {
            toml::Value::String(s) if s == "off" => None,
            toml::Value::Table(t) => {
                let count = t.get("count").and_then(|c| c.as_integer());
                let within = t
                    .get("within")
                    .and_then(|w| w.as_str())
                    .and_then(|w| humantime::parse_duration(w.trim()).ok())
                    .filter(|d| !d.is_zero());
                match (count, within, t.len()) {
                    (Some(count @ 2..=1000), Some(within), 2) => {
                        Some(crate::domain::ingest::Threshold {
                            count: count as u32,
                            within,
                        })
                    }
                    _ => bad(self),
                }
            }
            _ => bad(self),
        }
    }

    fn maintenance(
        &mut self,
        file: &SourceFile,
        service: &str,
        raw: &Spanned<RawMaintenance>,
        context: &str,
    ) -> Option<crate::domain::ingest::MaintenanceWindow> {
        let w = raw.get_ref();
        let zone = match &w.time_zone {
            None => Some(Tz::UTC),
            Some(z) => self.report(
                file,
                z,
                z.get_ref()
                    .parse::<Tz>()
                    .map_err(|_| "is not an IANA time zone such as \"Europe/Berlin\"".to_owned()),
                &format!("{context}: time_zone"),
            ),
        }?;
        let start = self.instant(file, &w.from, zone, &format!("{context}: from"));
        let end = self.instant(file, &w.to, zone, &format!("{context}: to"));
        let (start, end) = (start?, end?);
        if end <= start {
            let message = format!(
                "{context}: to {:?} is not after from {:?}",
                w.to.get_ref(),
                w.from.get_ref()
            );
            self.error(file, &w.to.span(), message);
            return None;
        }
        Some(crate::domain::ingest::MaintenanceWindow {
            id: None,
            service: service.to_string(),
            start,
            end,
            reason: w.reason.clone().unwrap_or_default(),
            page_after: w.page_after.unwrap_or(true),
            created_by: String::new(),
        })
    }

    fn heartbeat(
        &mut self,
        file: &SourceFile,
        raw: &RawHeartbeat,
        services: Option<&HashMap<String, Definition>>,
    ) -> Option<crate::domain::ingest::HeartbeatDef> {
        let name = raw.name.get_ref();
        let context = format!("heartbeat {name:?}");
        let before = self.errors.len();
        if services.is_some_and(|s| !s.contains_key(raw.service.get_ref())) {
            self.error(
                file,
                &raw.service.span(),
                format!("{context}: unknown service {:?}", raw.service.get_ref()),
            );
        }
        let interval = self.duration(file, &raw.interval, &format!("{context}: interval"));
        let severity = match &raw.severity {
            None => Some(Severity::High),
            Some(s) => self.report(
                file,
                s,
                Severity::parse(s.get_ref()),
                &format!("{context}: severity"),
            ),
        };
        if self.errors.len() != before {
            return None;
        }
        Some(crate::domain::ingest::HeartbeatDef {
            name: name.clone(),
            service: raw.service.get_ref().clone(),
            interval: interval?,
            severity: severity?,
        })
    }

    /// One `{ daily = … }` or `{ weekly = … }` window.
    fn restriction(
        &mut self,
        file: &SourceFile,
        r: &Spanned<RawRestriction>,
        context: &str,
    ) -> Option<Restriction> {
        match (&r.get_ref().daily, &r.get_ref().weekly) {
            (Some(daily), None) => self.report(
                file,
                daily,
                parse_daily(daily.get_ref()),
                &format!("{context}: daily window"),
            ),
            (None, Some(weekly)) => self.report(
                file,
                weekly,
                parse_weekly(weekly.get_ref()),
                &format!("{context}: weekly window"),
            ),
            _ => {
                self.error(
                    file,
                    &r.span(),
                    format!(
                        "{context}: a window is either {{ daily = \"17:00-09:00\" }} or {{ weekly = \"Mon 09:00 - Fri 17:00\" }}"
                    ),
                );
                None
            }
        }
    }

    fn person(&mut self, file: &SourceFile, raw: &RawPerson) -> Option<Person> {
        let name = raw.name.get_ref();
        let before = self.errors.len();
        let time_zone = match raw.time_zone.get_ref().parse::<chrono_tz::Tz>() {
            Ok(tz) => Some(tz),
            Err(_) => {
                let message = format!(
                    "person {name:?}: unknown time zone {:?} (expected an IANA name such as \"Europe/Berlin\")",
                    raw.time_zone.get_ref()
                );
                self.error(file, &raw.time_zone.span(), message);
                None
            }
        };
        let checks: [AddressCheck; 3] = [
            ("email", &raw.email, valid_email, "is not an email address"),
            (
                "sms",
                &raw.sms,
                valid_e164,
                "is not an E.164 number (+ and 8 to 15 digits)",
            ),
            (
                "slack",
                &raw.slack,
                valid_slack_id,
                "is not a Slack member id",
            ),
        ];
        for (key, value, valid, why) in checks {
            if let Some(value) = value.as_ref().filter(|v| !valid(v.get_ref())) {
                self.error(
                    file,
                    &value.span(),
                    format!("person {name:?}: {key} {:?} {why}", value.get_ref()),
                );
            }
        }
        let value = |v: &Option<Spanned<String>>| v.as_ref().map(|v| v.get_ref().clone());
        let mut person = Person {
            name: name.clone(),
            time_zone: time_zone.unwrap_or(chrono_tz::UTC),
            email: value(&raw.email),
            sms: value(&raw.sms),
            slack: value(&raw.slack),
            contact_rules: Vec::new(),
            low_contact_rules: Vec::new(),
        };
        person.contact_rules = match &raw.contact_rules {
            Some(rules) => self.contact_rules(file, &person, rules, "contact_rules"),
            None => contact::default_rules(&person),
        };
        person.low_contact_rules = match &raw.low_contact_rules {
            Some(rules) => self.contact_rules(file, &person, rules, "low_contact_rules"),
            None => contact::default_low_rules(&person),
        };
        if self.errors.len() != before {
            return None;
        }
        Some(person)
    }

    /// `[{ method = "slack", after = "0m" }, …]`: known methods the person has an address
    /// for, each once; sorted by `after`.
    fn contact_rules(
        &mut self,
        file: &SourceFile,
        person: &Person,
        raw: &[RawContactRule],
        key: &str,
    ) -> Vec<contact::ContactRule> {
        let context = format!("person {:?}: {key}", person.name);
        let mut rules: Vec<contact::ContactRule> = Vec::new();
        for r in raw {
            let text = r.method.get_ref();
            let Some(method) = contact::Method::parse(text) else {
                self.error(
                    file,
                    &r.method.span(),
                    format!("{context}: unknown method {text:?} (expected \"slack\", \"sms\" or \"email\")"),
                );
                continue;
            };
            if method.address(person).is_none() {
                self.error(
                    file,
                    &r.method.span(),
                    format!("{context}: method {text:?} but the person has no {text} address"),
                );
            }
            if rules.iter().any(|x| x.method == method) {
                self.error(
                    file,
                    &r.method.span(),
                    format!("{context}: method {text:?} is listed twice"),
                );
            }
            let after = r.after.get_ref();
            match humantime::parse_duration(after.trim()) {
                Ok(after) => rules.push(contact::ContactRule { method, after }),
                Err(e) => self.error(
                    file,
                    &r.after.span(),
                    format!("{context}: after {after:?} is not a duration such as \"2m\" ({e})"),
                ),
            }
        }
        rules.sort_by_key(|r| r.after);
        rules
    }

    fn policy(
        &mut self,
        file: &SourceFile,
        raw: &RawPolicy,
        known: Option<Known<'_>>,
    ) -> Option<EscalationPolicy> {
        let name = raw.name.get_ref();
        let before = self.errors.len();
        let mut repeat = Repeat::Times(0);
        if let Some(value) = &raw.repeat {
            let parsed = match value.get_ref() {
                toml::Value::Integer(n) => u32::try_from(*n).ok().map(Repeat::Times),
                toml::Value::String(s) if s == "until_acknowledged" => {
                    Some(Repeat::UntilAcknowledged)
                }
                _ => None,
            };
            match parsed {
                Some(parsed) => repeat = parsed,
                None => {
                    let message = format!(
                        "escalation policy {name:?}: repeat = {} is not a number of extra passes (0 or more) or \"until_acknowledged\"",
                        value.get_ref()
                    );
                    self.error(file, &value.span(), message);
                }
            }
        }
        let context = format!("escalation policy {name:?}");
        let ack_timeout = raw
            .ack_timeout
            .as_ref()
            .and_then(|t| self.duration(file, t, &format!("{context}: ack_timeout")));
        let default = self.timeline(file, &raw.levels, &context, known);
        let mut per_severity = HashMap::new();
        let timelines = [
            (Severity::Critical, &raw.critical),
            (Severity::High, &raw.high),
            (Severity::Medium, &raw.medium),
            (Severity::Low, &raw.low),
        ];
        for (severity, timeline) in timelines {
            if let Some(timeline) = timeline {
                let context = format!("the {severity} timeline of {context}");
                per_severity.insert(
                    severity,
                    self.timeline(file, &timeline.levels, &context, known),
                );
            }
        }
        (self.errors.len() == before).then(|| EscalationPolicy {
            name: name.clone(),
            default,
            per_severity,
            repeat,
            ack_timeout,
        })
    }

    /// `context` names the timeline, e.g. `escalation policy "engineering"`.
    fn timeline(
        &mut self,
        file: &SourceFile,
        levels: &Spanned<Vec<Spanned<RawLevel>>>,
        context: &str,
        known: Option<Known<'_>>,
    ) -> Timeline {
        if levels.get_ref().is_empty() {
            self.error(
                file,
                &levels.span(),
                format!("{context}: levels must not be empty"),
            );
        }
        let mut out = Vec::new();
        for (index, level) in levels.get_ref().iter().enumerate() {
            let context = format!("level {} of {context}", index + 1);
            let raw = level.get_ref();
            if raw.targets.is_empty() && raw.schedules.is_empty() {
                self.error(
                    file,
                    &level.span(),
                    format!(
                        "{context}: targets must not be empty (people in `targets`, schedules in `schedules`)"
                    ),
                );
            }
            let lists = [
                ("person", &raw.targets, known.map(|k| k.people)),
                ("schedule", &raw.schedules, known.map(|k| k.schedules)),
            ];
            for (kind, names, known_names) in lists {
                let mut seen = HashSet::new();
                for target in names {
                    let name = target.get_ref();
                    if !seen.insert(name) {
                        self.error(
                            file,
                            &target.span(),
                            format!("{context}: {kind} {name:?} is listed twice"),
                        );
                    } else if known_names.is_some_and(|k| !k.contains(name.as_str())) {
                        self.error(
                            file,
                            &target.span(),
                            format!("{context}: unknown {kind} {name:?}"),
                        );
                    }
                }
            }
            let delay = self.duration(file, &raw.delay, &format!("{context}: delay"));
            let people = raw
                .targets
                .iter()
                .map(|t| Target::Person(t.get_ref().clone()));
            let schedules = raw
                .schedules
                .iter()
                .map(|t| Target::Schedule(t.get_ref().clone()));
            out.push(Level {
                targets: people.chain(schedules).collect(),
                delay: delay.unwrap_or_default(),
            });
        }
        Timeline { levels: out }
    }

    /// Reports `person` as unknown if the set of `people` is known and lacks it.
    fn check_person(
        &mut self,
        file: &SourceFile,
        person: &Spanned<String>,
        people: Option<&HashSet<&str>>,
        context: &str,
    ) {
        let name = person.get_ref();
        if people.is_some_and(|known| !known.contains(name.as_str())) {
            self.error(
                file,
                &person.span(),
                format!("{context}: unknown person {name:?}"),
            );
        }
    }

    fn schedule(
        &mut self,
        file: &SourceFile,
        raw: &RawSchedule,
        people: Option<&HashSet<&str>>,
    ) -> Option<ScheduleDef> {
        let name = raw.name.get_ref();
        let context = format!("schedule {name:?}");
        let before = self.errors.len();
        let zone = match raw.time_zone.get_ref().parse::<Tz>() {
            Ok(zone) => Some(zone),
            Err(_) => {
                let message = format!(
                    "{context}: unknown time zone {:?} (expected an IANA name such as \"Europe/Berlin\")",
                    raw.time_zone.get_ref()
                );
                self.error(file, &raw.time_zone.span(), message);
                None
            }
        };
        self.check_person(file, &raw.owner, people, &format!("{context}: owner"));
        if let Some(fallback) = &raw.fallback {
            self.check_person(file, fallback, people, &format!("{context}: fallback"));
        }
        let handoff = match raw
            .handoff_notifications
            .as_ref()
            .map(|h| (h, h.get_ref().as_str()))
        {
            None | Some((_, "incoming")) => HandoffNotify::default(),
            Some((_, "both")) => HandoffNotify {
                incoming: true,
                outgoing: true,
            },
            Some((_, "off")) => HandoffNotify::OFF,
            Some((h, other)) => {
                self.error(
                    file,
                    &h.span(),
                    format!(
                        "{context}: handoff_notifications {other:?} is not one of \"incoming\", \"both\", \"off\""
                    ),
                );
                HandoffNotify::default()
            }
        };
        if raw.layer.is_empty() {
            self.error(
                file,
                &raw.name.span(),
                format!("{context}: needs at least one [[schedule.layer]]"),
            );
        }
        let mut layers = Vec::new();
        let mut layer_names = HashSet::new();
        for layer in &raw.layer {
            let layer_name = layer.name.get_ref();
            if let Err(why) = check_name(layer_name) {
                self.error(
                    file,
                    &layer.name.span(),
                    format!("{context}: layer name {layer_name:?} {why}"),
                );
            } else if !layer_names.insert(layer_name) {
                self.error(
                    file,
                    &layer.name.span(),
                    format!("{context}: layer {layer_name:?} is already listed"),
                );
            }
            let context = format!("layer {layer_name:?} of {context}");
            if let Some(layer) = self.layer(file, layer, zone, &context, people) {
                layers.push(layer);
            }
        }
        let mut overrides = Vec::new();
        for (index, raw) in raw.overrides.iter().enumerate() {
            let context = format!("override {} of {context}", index + 1);
            self.check_person(file, &raw.person, people, &context);
            let Some(zone) = zone else { continue };
            let from = self.instant(file, &raw.from, zone, &format!("{context}: from"));
            let to = self.instant(file, &raw.to, zone, &format!("{context}: to"));
            let (Some(start), Some(end)) = (from, to) else {
                continue;
            };
            if end <= start {
                let message = format!(
                    "{context}: to {:?} is not after from {:?}",
                    raw.to.get_ref(),
                    raw.from.get_ref()
                );
                self.error(file, &raw.to.span(), message);
            }
            overrides.push(Override {
                person: raw.person.get_ref().clone(),
                start,
                end,
                reason: raw.reason.clone().unwrap_or_default(),
            });
        }
        if self.errors.len() != before {
            return None;
        }
        Some(ScheduleDef {
            schedule: Schedule {
                name: name.clone(),
                zone: zone?,
                layers,
                overrides,
            },
            owner: raw.owner.get_ref().clone(),
            fallback: raw.fallback.as_ref().map(|f| f.get_ref().clone()),
            handoff,
            burnout: raw.burnout.as_ref().map(|b| {
                let d = BurnoutPolicy::default();
                // 0 switches a limit off; a missing key takes the manual's default.
                let on = |v: Option<u32>, d: Option<u32>| match v {
                    Some(0) => None,
                    Some(n) => Some(n),
                    None => d,
                };
                BurnoutPolicy {
                    max_weeks_per_quarter: on(b.max_weeks_per_quarter, d.max_weeks_per_quarter),
                    max_consecutive_evening_weeks: on(
                        b.max_consecutive_evening_weeks,
                        d.max_consecutive_evening_weeks,
                    ),
                    rest_after_busy_week: b.rest_after_busy_week.or(d.rest_after_busy_week),
                    min_rest_hours: on(b.min_rest_hours, None),
                }
            }),
            override_notes: Default::default(),
        })
    }

    /// `context` names the layer, e.g. `layer "evenings" of schedule "support"`. `None` when
    /// the layer has errors or the schedule's zone is unknown.
    fn layer(
        &mut self,
        file: &SourceFile,
        raw: &RawLayer,
        zone: Option<Tz>,
        context: &str,
        people: Option<&HashSet<&str>>,
    ) -> Option<Layer> {
        let before = self.errors.len();
        if raw.members.get_ref().is_empty() {
            self.error(
                file,
                &raw.members.span(),
                format!("{context}: members must not be empty"),
            );
        }
        let mut seen = HashSet::new();
        for member in raw.members.get_ref() {
            if !seen.insert(member.get_ref()) {
                self.error(
                    file,
                    &member.span(),
                    format!(
                        "{context}: person {:?} is listed twice in members",
                        member.get_ref()
                    ),
                );
            } else {
                self.check_person(file, member, people, context);
            }
        }
        let shift = self.report(
            file,
            &raw.shift,
            parse_shift(raw.shift.get_ref()),
            &format!("{context}: shift"),
        );
        let start = self.report(
            file,
            &raw.start,
            parse_local(raw.start.get_ref()),
            &format!("{context}: start"),
        );
        let mut restrictions = Vec::new();
        for r in &raw.restrictions {
            let parsed = match (&r.get_ref().daily, &r.get_ref().weekly) {
                (Some(daily), None) => self.report(
                    file,
                    daily,
                    parse_daily(daily.get_ref()),
                    &format!("{context}: daily restriction"),
                ),
                (None, Some(weekly)) => self.report(
                    file,
                    weekly,
                    parse_weekly(weekly.get_ref()),
                    &format!("{context}: weekly restriction"),
                ),
                _ => {
                    self.error(
                        file,
                        &r.span(),
                        format!(
                            "{context}: a restriction is either {{ daily = \"17:00-09:00\" }} or {{ weekly = \"Mon 09:00 - Fri 17:00\" }}"
                        ),
                    );
                    None
                }
            };
            restrictions.extend(parsed);
        }
        if self.errors.len() != before {
            return None;
        }
        Some(Layer {
            evening: raw.evening,
            assigned: Default::default(),
            name: raw.name.get_ref().clone(),
            rotation: Rotation {
                zone: zone?,
                start: start?,
                length: shift?,
                members: raw
                    .members
                    .get_ref()
                    .iter()
                    .map(|m| m.get_ref().clone())
                    .collect(),
            },
            restrictions,
        })
    }

    /// An override bound: RFC 3339 with an offset, or a local date-time in `zone`.
    fn instant(
        &mut self,
        file: &SourceFile,
        raw: &Spanned<String>,
        zone: Tz,
        context: &str,
    ) -> Option<DateTime<Utc>> {
        let text = raw.get_ref().trim();
        let parsed = match DateTime::parse_from_rfc3339(text) {
            Ok(t) => Ok(t.with_timezone(&Utc)),
            Err(_) => parse_local(text)
                .map(|local| resolve_local(zone, local))
                .map_err(|_| {
                    "is not a local date-time such as \"2026-03-10T17:00\" or an RFC 3339 time with an offset".to_owned()
                }),
        };
        self.report(file, raw, parsed, context)
    }

    /// Reports a parse failure as `context: "value" why` at the value's line.
    fn report<T>(
        &mut self,
        file: &SourceFile,
        raw: &Spanned<String>,
        parsed: Result<T, String>,
        context: &str,
    ) -> Option<T> {
        parsed
            .map_err(|why| {
                self.error(
                    file,
                    &raw.span(),
                    format!("{context}: {:?} {why}", raw.get_ref()),
                );
            })
            .ok()
    }

    /// A humantime duration greater than zero.
    fn duration(
        &mut self,
        file: &SourceFile,
        raw: &Spanned<String>,
        context: &str,
    ) -> Option<Duration> {
        let text = raw.get_ref();
        match humantime::parse_duration(text.trim()) {
            Ok(d) if !d.is_zero() => Some(d),
            Ok(_) => {
                self.error(
                    file,
                    &raw.span(),
                    format!("{context} must be greater than zero"),
                );
                None
            }
            Err(e) => {
                self.error(
                    file,
                    &raw.span(),
                    format!("{context}: {text:?} is not a duration such as \"15m\" ({e})"),
                );
                None
            }
        }
    }
}

/// An optional contact field of a person: key, value, validity check, why it is invalid.
type AddressCheck<'a> = (
    &'static str,
    &'a Option<Spanned<String>>,
    fn(&str) -> bool,
    &'static str,
);

/// `[a-z0-9][a-z0-9._-]*`, at most 64 characters.
fn check_name(name: &str) -> Result<(), &'static str> {
    let mut chars = name.chars();
    match chars.next() {
        None => Err("is empty"),
        Some(_) if name.len() > 64 => Err("is longer than 64 characters"),
        Some(c) if !(c.is_ascii_lowercase() || c.is_ascii_digit()) => {
            Err("must start with a-z or 0-9")
        }
        _ if !chars.all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
        }) =>
        {
            Err("may contain only a-z, 0-9, '.', '_' and '-'")
        }
        _ => Ok(()),
    }
}

/// 32 ASCII letters and digits, like PagerDuty's routing keys.
fn valid_integration_key(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn valid_email(s: &str) -> bool {
    s.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && !domain.is_empty()
            && !domain.contains('@')
            && !s.contains(char::is_whitespace)
    })
}

fn valid_e164(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

fn valid_slack_id(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// `<n>h`, `<n>d`, `<n>w` or `<n>mo` with `n >= 1`, at most a year (longer turns make no
/// sense for on-call, and bounding them keeps the calendar arithmetic in range).
fn parse_shift(text: &str) -> Result<ShiftLength, String> {
    let syntax = || "is not a shift length such as \"1w\" (<n>h, <n>d, <n>w or <n>mo)".to_owned();
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(0));
    let (length, max): (fn(u32) -> ShiftLength, u32) = match unit {
        "h" => (ShiftLength::Hours, 366 * 24),
        "d" => (ShiftLength::Days, 366),
        "w" => (ShiftLength::Weeks, 52),
        "mo" => (ShiftLength::Months, 12),
        _ => return Err(syntax()),
    };
    match number.parse::<u32>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) if n <= max => Ok(length(n)),
        Err(_) if number.is_empty() => Err(syntax()),
        _ => Err(format!("is longer than a year (at most {max}{unit})")),
    }
}

/// A local date-time without an offset: `2026-03-02T09:00` (seconds optional; a space may
/// replace the `T`).
fn parse_local(text: &str) -> Result<NaiveDateTime, String> {
    let text = text.trim();
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .ok_or_else(|| {
            "is not a local date-time such as \"2026-03-02T09:00\" (no offset: it is read in the schedule's time zone)".to_owned()
        })
}

/// `HH:MM`.
fn parse_time(text: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(text.trim(), "%H:%M").ok()
}

/// `"17:00-09:00"`: an end at or before the start crosses midnight; equal bounds are empty.
fn parse_daily(text: &str) -> Result<Restriction, String> {
    let (start, end) = text
        .split_once('-')
        .and_then(|(s, e)| Some((parse_time(s)?, parse_time(e)?)))
        .ok_or_else(|| "is not a daily window such as \"17:00-09:00\" (HH:MM-HH:MM)".to_owned())?;
    if start == end {
        return Err(
            "starts and ends at the same time (to be on call all day, leave out restrictions)"
                .to_owned(),
        );
    }
    Ok(Restriction::Daily { start, end })
}

/// `"Mon 09:00 - Fri 17:00"`: may cross the week's end; equal bounds are empty.
fn parse_weekly(text: &str) -> Result<Restriction, String> {
    let point = |s: &str| -> Option<(Weekday, NaiveTime)> {
        let mut words = s.split_whitespace();
        let day = words.next()?.parse::<Weekday>().ok()?;
        let time = parse_time(words.next()?)?;
        words.next().is_none().then_some((day, time))
    };
    let (start, end) = text
        .split_once('-')
        .and_then(|(s, e)| Some((point(s)?, point(e)?)))
        .ok_or_else(|| {
            "is not a weekly window such as \"Mon 09:00 - Fri 17:00\" (day HH:MM - day HH:MM)"
                .to_owned()
        })?;
    if start == end {
        return Err(
            "starts and ends at the same time (to be on call all week, leave out restrictions)"
                .to_owned(),
        );
    }
    Ok(Restriction::Weekly { start, end })
}

/// Severity tables are spelled `critical`/`high`/`medium`/`low`; point alias users there.
fn with_severity_hint(message: &str) -> String {
    let unknown = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(field, _)| field);
    match unknown.map(Severity::parse) {
        Some(Ok(severity)) => {
            format!("{message} (write the {severity} timeline as [escalation_policy.{severity}])")
        }
        _ => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("schedules")
    }

    const PEOPLE: &str = r#"
[[person]]
name = "alice"
time_zone = "America/Los_Angeles"
email = "alice@example.com"

[[person]]
name = "bob"
time_zone = "Europe/Berlin"
"#;

    const POLICY: &str = r#"
[[service]]
name = "checkout-api"
escalation_policy = "engineering"

[[escalation_policy]]
name = "engineering"
levels = [
  { targets = ["alice"], delay = "15m" },
  { targets = ["bob"], delay = "30m" },
]
"#;

    /// A temp dir holding `files`, as `(name, contents)`.
    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).expect("write policy file");
        }
        dir
    }

    fn errors_for(files: &[(&str, &str)]) -> Vec<PolicyError> {
        let dir = dir_with(files);
        load_dir(dir.path())
            .expect_err("policy set should be rejected")
            .0
    }

    #[test]
    fn levels_may_target_schedules_which_must_exist() {
        let schedule = r#"
[[schedule]]
name = "primary"
time_zone = "UTC"
owner = "alice"
[[schedule.layer]]
name = "all"
members = ["alice", "bob"]
shift = "1w"
start = "2026-03-02T09:00"
"#;
        let policy = POLICY.replace(
            r#"{ targets = ["bob"], delay = "30m" }"#,
            r#"{ schedules = ["primary"], delay = "30m" }"#,
        );
        let dir = dir_with(&[
            ("people.toml", PEOPLE),
            ("p.toml", &policy),
            ("s.toml", schedule),
        ]);
        let set = load_dir(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            set.policies["engineering"].default.levels[1].targets,
            [Target::Schedule("primary".into())]
        );

        let broken = POLICY.replace(
            r#"{ targets = ["bob"], delay = "30m" }"#,
            r#"{ schedules = ["secondary"], delay = "30m" }"#,
        );
        let errors = errors_for(&[
            ("people.toml", PEOPLE),
            ("p.toml", &broken),
            ("s.toml", schedule),
        ]);
        let line = broken
            .lines()
            .position(|l| l.contains("secondary"))
            .unwrap()
            + 1;
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].line, Some(line));
        assert!(
            errors[0]
                .message
                .contains(r#"unknown schedule "secondary""#),
            "{}",
            errors[0]
        );

        let empty = POLICY.replace(
            r#"{ targets = ["bob"], delay = "30m" }"#,
            r#"{ delay = "30m" }"#,
        );
        let errors = errors_for(&[("people.toml", PEOPLE), ("p.toml", &empty)]);
        assert!(
            errors[0].message.contains("targets must not be empty"),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn the_shipped_schedules_load() {
        let set = load_dir(&shipped_dir()).unwrap_or_else(|e| panic!("shipped schedules:\n{e}"));
        for person in [
            "alice", "bob", "dana", "victor", "cora", "erin", "sam", "sofia", "jonas", "lena",
            "mateo", "priya",
        ] {
            assert!(set.people.contains_key(person), "{person}");
        }
        assert_eq!(set.services.len(), 3);
        let engineering = set
            .policy_for_service("checkout-api")
            .expect("checkout-api policy");
        assert_eq!(engineering.name, "engineering");
        assert_eq!(engineering.repeat, Repeat::Times(1));
        assert_eq!(engineering.ack_timeout, Some(Duration::from_secs(4 * 3600)));
        let critical = engineering.timeline(Severity::Critical);
        let first_targets: Vec<_> = critical
            .levels
            .iter()
            .map(|l| l.targets[0].clone())
            .collect();
        let ladder = ["alice", "dana", "victor", "cora", "erin"].map(|p| Target::Person(p.into()));
        assert_eq!(first_targets, ladder);
        assert_eq!(critical.levels[0].delay, Duration::from_secs(15 * 60));
        assert_eq!(engineering.timeline(Severity::Low).levels.len(), 3);
        let support = set
            .policy_for_service("internal-tools")
            .expect("internal-tools policy");
        assert_eq!(support.repeat, Repeat::UntilAcknowledged);

        let names: Vec<_> = set.schedules.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "engineering",
                "platform",
                "sre-follow-the-sun",
                "support-evenings",
                "vp"
            ]
        );
        let support = &set.schedules["support-evenings"];
        assert_eq!(support.owner, "alice");
        let evenings = &support.schedule.layers[0];
        assert_eq!(evenings.rotation.length, ShiftLength::Weeks(1));
        assert_eq!(
            evenings.restrictions,
            [Restriction::Daily {
                start: hm(17, 0),
                end: hm(9, 0)
            }]
        );
        assert_eq!(support.schedule.overrides.len(), 1);
        assert_eq!(
            set.schedules["vp"].schedule.layers[0].rotation.length,
            ShiftLength::Months(1)
        );
        let sun = &set.schedules["sre-follow-the-sun"].schedule;
        assert_eq!(sun.layers.len(), 2);
        // The two regions' windows tile the day: no gaps once the rotations have started.
        let from = utc("2026-06-01T00:00:00Z");
        assert!(
            sun.gaps(from, from + chrono::Duration::days(28)).is_empty(),
            "{:?}",
            sun.gaps(from, from + chrono::Duration::days(28))
        );

        let summary = check_dir(&shipped_dir()).expect("check").to_string();
        assert!(
            summary.ends_with("12 people, 3 services, 3 escalation policies, 5 schedules — OK"),
            "{summary}"
        );

        // Intake: keys, a routing rule, support hours, a threshold, a window, a heartbeat.
        let checkout = &set.services["checkout-api"];
        assert_eq!(
            set.service_for_key(&checkout.integration_keys[0])
                .map(|s| &s.name),
            Some(&checkout.name)
        );
        assert_eq!(checkout.routes[0].escalation_policy, "billing");
        assert_eq!(set.services["search"].threshold.map(|t| t.count), Some(5));
        let tools = &set.services["internal-tools"];
        assert_eq!(
            tools.support_hours.as_ref().map(|s| s.defer.clone()),
            Some(vec![Severity::Low, Severity::Medium])
        );
        assert_eq!(set.maintenance.len(), 1);
        assert_eq!(
            set.maintenance[0].start,
            utc("2026-12-06T06:00:00Z"),
            "local times in the window's zone"
        );
        assert_eq!(
            set.heartbeats["nightly-backup"].interval,
            Duration::from_secs(25 * 3600)
        );
    }

    #[test]
    fn intake_keys_are_checked_with_file_and_line() {
        let files = [
            ("people.toml", PEOPLE),
            (
                "services.toml",
                r#"
[[service]]
name = "web"
escalation_policy = "engineering"
integration_keys = ["short", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]
threshold = { count = 1, within = "1h" }
support_hours = { time_zone = "Mars/Base", hours = [{ weekly = "Mon 09:00" }], defer = ["urgent"] }
[[service.route]]
when = { team = "billing" }
escalation_policy = "billing"
[[service.maintenance]]
from = "2026-03-02T10:00"
to = "2026-03-02T09:00"

[[service]]
name = "api"
escalation_policy = "engineering"
integration_keys = ["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]

[[heartbeat]]
name = "backup"
service = "nope"
interval = "0s"
severity = "p9"

[[escalation_policy]]
name = "engineering"
levels = [{ targets = ["alice"], delay = "15m" }]
"#,
            ),
        ];
        let errors: Vec<String> = errors_for(&files).iter().map(|e| e.to_string()).collect();
        let wanted = [
            "services.toml:5: service \"web\": integration key \"short\" is not 32 letters and digits",
            "services.toml:6: service \"web\": threshold = ",
            "services.toml:7: service \"web\": support_hours: time_zone: \"Mars/Base\"",
            "services.toml:7: service \"web\": support_hours: weekly window: \"Mon 09:00\"",
            "services.toml:7: service \"web\": support_hours: defer: \"urgent\"",
            "services.toml:10: routing rule 1 of service \"web\": unknown escalation policy \"billing\"",
            "services.toml:13: maintenance window 1 of service \"web\": to \"2026-03-02T09:00\" is not after from",
            "services.toml:18: service \"api\": integration key \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\" is already used by service \"web\"",
            "services.toml:22: heartbeat \"backup\": unknown service \"nope\"",
            "services.toml:23: heartbeat \"backup\": interval must be greater than zero",
            "services.toml:24: heartbeat \"backup\": severity: \"p9\"",
        ];
        for w in wanted {
            assert!(
                errors.iter().any(|e| e.contains(w)),
                "missing {w:?} in {errors:#?}"
            );
        }
    }

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).expect("valid time")
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().expect("RFC 3339 instant")
    }

    fn local(s: &str) -> NaiveDateTime {
        parse_local(s).expect("local date-time")
    }

    /// People alice and bob (from `PEOPLE`) plus sam and sofia.
    const SUPPORT: &str = r#"
[[person]]
name = "sam"
time_zone = "Europe/Berlin"

[[person]]
name = "sofia"
time_zone = "America/New_York"
"#;

    /// A valid schedule; the error table edits one line of it at a time.
    const SCHEDULE: &str = r#"[[schedule]]
name = "support-evenings"
time_zone = "America/Los_Angeles"
owner = "alice"
[[schedule.layer]]
name = "base"
members = ["alice", "bob"]
shift = "1mo"
start = "2026-03-01T09:00"
[[schedule.layer]]
name = "evenings"
members = ["sam", "sofia"]
shift = "1w"
start = "2026-03-02T09:00"
restrictions = [{ daily = "17:00-09:00" }, { weekly = "Sat 09:00 - Mon 09:00" }]
[[schedule.override]]
person = "sofia"
from = "2026-03-10T17:00"
to = "2026-03-11T09:00"
reason = "swap with sam"
[[schedule.override]]
person = "bob"
from = "2026-03-12T01:00:00Z"
to = "2026-03-12T05:00:00-07:00"
"#;

    #[test]
    fn a_valid_schedule_builds_the_domain_value() {
        let dir = dir_with(&[
            ("a.toml", PEOPLE),
            ("b.toml", POLICY),
            ("c.toml", SUPPORT),
            ("d.toml", SCHEDULE),
        ]);
        let set = load_dir(dir.path()).unwrap_or_else(|e| {
            panic!(
                "valid set:
{e}"
            )
        });
        let la = chrono_tz::America::Los_Angeles;
        let rotation = |start: &str, length, members: [&str; 2]| Rotation {
            zone: la,
            start: local(start),
            length,
            members: members.map(String::from).to_vec(),
        };
        let want = ScheduleDef {
            burnout: None,
            override_notes: Default::default(),
            owner: "alice".into(),
            fallback: None,
            handoff: HandoffNotify::default(),
            schedule: Schedule {
                name: "support-evenings".into(),
                zone: la,
                layers: vec![
                    Layer {
                        evening: false,
                        assigned: Default::default(),
                        name: "base".into(),
                        rotation: rotation(
                            "2026-03-01T09:00",
                            ShiftLength::Months(1),
                            ["alice", "bob"],
                        ),
                        restrictions: vec![],
                    },
                    Layer {
                        evening: false,
                        assigned: Default::default(),
                        name: "evenings".into(),
                        rotation: rotation(
                            "2026-03-02T09:00",
                            ShiftLength::Weeks(1),
                            ["sam", "sofia"],
                        ),
                        restrictions: vec![
                            Restriction::Daily {
                                start: hm(17, 0),
                                end: hm(9, 0),
                            },
                            Restriction::Weekly {
                                start: (Weekday::Sat, hm(9, 0)),
                                end: (Weekday::Mon, hm(9, 0)),
                            },
                        ],
                    },
                ],
                overrides: vec![
                    Override {
                        person: "sofia".into(),
                        // 17:00 PDT (UTC-7) after the 2026-03-08 spring-forward.
                        start: utc("2026-03-11T00:00:00Z"),
                        end: utc("2026-03-11T16:00:00Z"),
                        reason: "swap with sam".into(),
                    },
                    Override {
                        person: "bob".into(),
                        start: utc("2026-03-12T01:00:00Z"),
                        end: utc("2026-03-12T12:00:00Z"),
                        reason: String::new(),
                    },
                ],
            },
        };
        assert_eq!(set.schedules.len(), 1);
        assert_eq!(set.schedules["support-evenings"], want);
        assert!(
            check_dir(dir.path())
                .expect("check")
                .to_string()
                .ends_with(", 1 schedule — OK")
        );
    }

    #[test]
    fn each_schedule_problem_is_reported_with_file_line_and_value() {
        // (line of SCHEDULE to replace, its replacement, words the message must contain);
        // the error is expected on the replaced line.
        let table: &[(&str, &str, &[&str])] = &[
            (
                r#"name = "support-evenings""#,
                r#"name = "Support""#,
                &[r#"schedule name "Support""#],
            ),
            (
                r#"time_zone = "America/Los_Angeles""#,
                r#"time_zone = "Pacific""#,
                &[
                    r#"schedule "support-evenings""#,
                    r#"unknown time zone "Pacific""#,
                ],
            ),
            (
                r#"owner = "alice""#,
                r#"owner = "zoe""#,
                &[r#"schedule "support-evenings": owner: unknown person "zoe""#],
            ),
            (
                r#"owner = "alice""#,
                "fallback = \"zoe\"\nowner = \"alice\"",
                &[r#"schedule "support-evenings": fallback: unknown person "zoe""#],
            ),
            (
                r#"owner = "alice""#,
                "handoff_notifications = \"always\"\nowner = \"alice\"",
                &[
                    r#"schedule "support-evenings": handoff_notifications "always" is not one of "incoming", "both", "off""#,
                ],
            ),
            (
                r#"members = ["sam", "sofia"]"#,
                r#"members = ["sam", "zoe"]"#,
                &[r#"layer "evenings" of schedule "support-evenings": unknown person "zoe""#],
            ),
            (
                r#"members = ["sam", "sofia"]"#,
                r#"members = ["sam", "sofia", "sam"]"#,
                &[r#"person "sam" is listed twice"#],
            ),
            (
                r#"members = ["sam", "sofia"]"#,
                r#"members = []"#,
                &[r#"layer "evenings""#, "members must not be empty"],
            ),
            (
                r#"name = "evenings""#,
                r#"name = "base""#,
                &[r#"schedule "support-evenings": layer "base" is already listed"#],
            ),
            (
                r#"shift = "1w""#,
                r#"shift = "0w""#,
                &[r#"shift: "0w" must be at least 1"#],
            ),
            (
                r#"shift = "1w""#,
                r#"shift = "1 week""#,
                &[r#"shift: "1 week" is not a shift length"#, "<n>mo"],
            ),
            (r#"shift = "1w""#, r#"shift = "w""#, &[r#"shift: "w""#]),
            (
                r#"start = "2026-03-02T09:00""#,
                r#"start = "2026-03-02""#,
                &[r#"start: "2026-03-02" is not a local date-time"#],
            ),
            (
                r#"start = "2026-03-02T09:00""#,
                r#"start = "2026-03-02T09:00:00-08:00""#,
                &[r#"start: "2026-03-02T09:00:00-08:00""#, "no offset"],
            ),
            (
                r#"{ daily = "17:00-09:00" }"#,
                r#"{ daily = "09:00-09:00" }"#,
                &[r#"daily restriction: "09:00-09:00" starts and ends at the same time"#],
            ),
            (
                r#"{ daily = "17:00-09:00" }"#,
                r#"{ daily = "5pm-9am" }"#,
                &[r#"daily restriction: "5pm-9am" is not a daily window"#],
            ),
            (
                r#"{ weekly = "Sat 09:00 - Mon 09:00" }"#,
                r#"{ weekly = "Sat 09:00 - Sat 09:00" }"#,
                &[
                    r#"weekly restriction: "Sat 09:00 - Sat 09:00" starts and ends at the same time"#,
                ],
            ),
            (
                r#"{ weekly = "Sat 09:00 - Mon 09:00" }"#,
                r#"{ weekly = "Caturday 09:00 - Mon 09:00" }"#,
                &[r#"weekly restriction: "Caturday 09:00 - Mon 09:00" is not a weekly window"#],
            ),
            (
                r#"{ weekly = "Sat 09:00 - Mon 09:00" }"#,
                r#"{ weekly = "Sat 09:00 - Mon 09:00", daily = "17:00-09:00" }"#,
                &["a restriction is either"],
            ),
            (
                r#"person = "sofia""#,
                r#"person = "zoe""#,
                &[r#"override 1 of schedule "support-evenings": unknown person "zoe""#],
            ),
            (
                r#"to = "2026-03-11T09:00""#,
                r#"to = "2026-03-10T17:00""#,
                &[
                    "override 1",
                    r#"to "2026-03-10T17:00" is not after from "2026-03-10T17:00""#,
                ],
            ),
            (
                r#"to = "2026-03-11T09:00""#,
                r#"to = "tomorrow""#,
                &["override 1", r#"to: "tomorrow" is not a local date-time"#],
            ),
            (
                r#"to = "2026-03-12T05:00:00-07:00""#,
                r#"to = "2026-03-12T01:00:00+00:00""#,
                &[
                    "override 2",
                    r#"to "2026-03-12T01:00:00+00:00" is not after from "2026-03-12T01:00:00Z""#,
                ],
            ),
            (
                r#"reason = "swap with sam""#,
                r#"note = "swap with sam""#,
                &["unknown field `note`"],
            ),
        ];
        for (from, to, wanted) in table {
            let (line, _) = SCHEDULE
                .lines()
                .enumerate()
                .find(|(_, l)| l.contains(from))
                .unwrap_or_else(|| panic!("{from:?} is not in SCHEDULE"));
            let line = line + 1;
            assert_eq!(
                SCHEDULE.matches(from).count(),
                1,
                "{from} is not unique in SCHEDULE"
            );
            let text = SCHEDULE.replace(from, to);
            let errors = errors_for(&[
                ("a.toml", PEOPLE),
                ("b.toml", POLICY),
                ("c.toml", &text),
                ("s.toml", SUPPORT),
            ]);
            let shown = PolicyErrors(errors.clone()).to_string();
            assert_eq!(
                errors.len(),
                1,
                "{to}
{shown}"
            );
            assert!(errors[0].file.ends_with("c.toml"), "{shown}");
            assert!(
                shown.contains(&format!("c.toml:{line}: ")),
                "{to}
{shown}"
            );
            for want in *wanted {
                assert!(
                    shown.contains(want),
                    "{shown}
lacks {want:?}"
                );
            }
        }
    }

    #[test]
    fn burnout_limits_take_the_manual_defaults_and_zero_switches_one_off() {
        let text = r#"
[[schedule]]
name = "limited"
time_zone = "UTC"
owner = "alice"
[schedule.burnout]
max_weeks_per_quarter = 0
min_rest_hours = 12
[[schedule.layer]]
name = "evenings"
members = ["alice", "bob"]
shift = "1w"
start = "2026-01-05T09:00"
evening = true
"#;
        let dir = dir_with(&[("a.toml", PEOPLE), ("b.toml", text)]);
        let set = load_dir(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let def = &set.schedules["limited"];
        assert_eq!(
            def.burnout,
            Some(BurnoutPolicy {
                max_weeks_per_quarter: None,
                max_consecutive_evening_weeks: Some(2),
                rest_after_busy_week: Some(3),
                min_rest_hours: Some(12),
            })
        );
        assert!(def.schedule.layers[0].evening);

        let typo = text.replace("min_rest_hours", "min_rest_hour");
        let shown = PolicyErrors(errors_for(&[("a.toml", PEOPLE), ("b.toml", &typo)])).to_string();
        assert!(
            shown.contains("b.toml:8:") && shown.contains("min_rest_hour"),
            "{shown}"
        );
    }

    #[test]
    fn schedule_names_are_unique_across_files_and_need_a_layer() {
        let errors = errors_for(&[
            ("a.toml", PEOPLE),
            ("b.toml", POLICY),
            ("c.toml", SCHEDULE),
            ("d.toml", &format!("\n{SCHEDULE}")),
            ("s.toml", SUPPORT),
        ]);
        let shown = PolicyErrors(errors.clone()).to_string();
        assert_eq!(errors.len(), 1, "{shown}");
        assert!(
            shown.contains("d.toml:3: schedule \"support-evenings\" is already defined at ")
                && shown.contains("c.toml:2"),
            "{shown}"
        );

        let lonely = "[[schedule]]\nname = \"empty\"\ntime_zone = \"UTC\"\nowner = \"bob\"\n";
        let errors = errors_for(&[("a.toml", PEOPLE), ("c.toml", lonely)]);
        let shown = PolicyErrors(errors).to_string();
        assert!(
            shown.contains("c.toml:2: schedule \"empty\": needs at least one [[schedule.layer]]"),
            "{shown}"
        );
    }

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
            report[0].contains("gap(s) in the next 28 days, first Wed 2026-04-01 09:00 PDT–Wed 2026-04-01 17:00 PDT"),
            "{report:?}"
        );
    }

    #[test]
    fn a_valid_set_builds_domain_values() {
        let dir = dir_with(&[
            ("a.toml", PEOPLE),
            ("b.toml", POLICY),
            ("notes.txt", "ignored"),
        ]);
        let set = load_dir(dir.path()).expect("valid set");
        assert_eq!(
            set.people["alice"].time_zone,
            chrono_tz::America::Los_Angeles
        );
        assert_eq!(
            set.people["alice"].email.as_deref(),
            Some("alice@example.com")
        );
        let policy = &set.policies["engineering"];
        assert_eq!(policy.repeat, Repeat::Times(0));
        assert!(policy.per_severity.is_empty());
        assert_eq!(
            policy.default.levels[1].targets,
            vec![Target::Person("bob".into())]
        );
    }

    #[test]
    fn each_problem_is_reported_with_file_line_and_name() {
        // (extra file contents, file name, line, words the message must contain)
        let table: &[(&str, usize, &[&str])] = &[
            (
                "[[person]]\nname = \"alice\"\ntime_zone = \"UTC\"\n",
                2,
                &["person \"alice\"", "already defined at", "a.toml:3"],
            ),
            (
                "[[person]]\nname = \"zed\"\ntime_zone = \"Mars/Olympus\"\n",
                3,
                &["zed", "unknown time zone \"Mars/Olympus\""],
            ),
            (
                "[[person]]\nname = \"Zed\"\ntime_zone = \"UTC\"\n",
                2,
                &["person name \"Zed\""],
            ),
            (
                "[[person]]\nname = \"zed\"\ntime_zone = \"UTC\"\nemail = \"zed.example.com\"\n",
                4,
                &["email \"zed.example.com\""],
            ),
            (
                "[[person]]\nname = \"zed\"\ntime_zone = \"UTC\"\nsms = \"555-1234\"\n",
                4,
                &["sms \"555-1234\"", "E.164"],
            ),
            (
                "[[person]]\nname = \"zed\"\ntime_zone = \"UTC\"\nemail = \"z@x.io\"\ncontact_rules = [{ method = \"fax\", after = \"0m\" }]\n",
                5,
                &["person \"zed\": contact_rules: unknown method \"fax\""],
            ),
            (
                "[[person]]\nname = \"zed\"\ntime_zone = \"UTC\"\nemail = \"z@x.io\"\ncontact_rules = [{ method = \"sms\", after = \"0m\" }]\n",
                5,
                &["contact_rules: method \"sms\" but the person has no sms address"],
            ),
            (
                "[[person]]\nname = \"zed\"\ntime_zone = \"UTC\"\nemail = \"z@x.io\"\nlow_contact_rules = [{ method = \"email\", after = \"later\" }]\n",
                5,
                &["low_contact_rules: after \"later\" is not a duration"],
            ),
            (
                "[[person]]\nname = \"zed\"\ntime_zone = \"UTC\"\nemail = \"z@x.io\"\ncontact_rules = [\n  { method = \"email\", after = \"0m\" },\n  { method = \"email\", after = \"1m\" },\n]\n",
                7,
                &["method \"email\" is listed twice"],
            ),
            (
                "[[service]]\nname = \"search\"\nescalation_policy = \"nope\"\n",
                3,
                &["service \"search\"", "unknown escalation policy \"nope\""],
            ),
            (
                "[[service]]\nname = \"checkout-api\"\nescalation_policy = \"engineering\"\n",
                2,
                &["service \"checkout-api\" is already defined at", "b.toml:3"],
            ),
            (
                "[[escalation_policy]]\nname = \"p2\"\nlevels = [\n  { targets = [\"alice\"], delay = \"5m\" },\n  { targets = [\"zoe\"], delay = \"5m\" },\n]\n",
                5,
                &[r#"level 2 of escalation policy "p2": unknown person "zoe""#],
            ),
            (
                "[[escalation_policy]]\nname = \"p2\"\nlevels = [{ targets = [\"alice\", \"alice\"], delay = \"5m\" }]\n",
                3,
                &["person \"alice\" is listed twice"],
            ),
            (
                "[[escalation_policy]]\nname = \"p2\"\nlevels = [{ targets = [\"alice\"], delay = \"0s\" }]\n",
                3,
                &["level 1 of escalation policy \"p2\": delay must be greater than zero"],
            ),
            (
                "[[escalation_policy]]\nname = \"p2\"\nlevels = [{ targets = [\"alice\"], delay = \"soon\" }]\n",
                3,
                &["delay", "\"soon\""],
            ),
            (
                "[[escalation_policy]]\nname = \"p2\"\nlevels = [{ targets = [], delay = \"5m\" }]\n",
                3,
                &["targets must not be empty"],
            ),
            (
                "[[escalation_policy]]\nname = \"p2\"\nlevels = []\n",
                3,
                &["escalation policy \"p2\": levels must not be empty"],
            ),
            (
                "[[escalation_policy]]\nname = \"p2\"\nrepeat = -1\nlevels = [{ targets = [\"alice\"], delay = \"5m\" }]\n",
                3,
                &["repeat = -1", "until_acknowledged"],
            ),
            (
                "[[escalation_policy]]\nname = \"p2\"\nrepeat = \"forever\"\nlevels = [{ targets = [\"alice\"], delay = \"5m\" }]\n",
                3,
                &["repeat = \"forever\""],
            ),
            (
                "[[escalation_policy]]\nname = \"p2\"\nack_timeout = \"0m\"\nlevels = [{ targets = [\"alice\"], delay = \"5m\" }]\n",
                3,
                &["ack_timeout must be greater than zero"],
            ),
            (
                "[[escalation_policy]]\nname = \"p2\"\nlevels = [{ targets = [\"alice\"], delay = \"5m\" }]\n[escalation_policy.critical]\nlevels = [{ targets = [\"zoe\"], delay = \"5m\" }]\n",
                5,
                &[
                    r#"level 1 of the critical timeline of escalation policy "p2": unknown person "zoe""#,
                ],
            ),
            (
                "[[escalation_policy]]\nname = \"p2\"\nlevels = [{ targets = [\"alice\"], delay = \"5m\" }]\n[escalation_policy.urgent]\nlevels = []\n",
                4,
                &["unknown field `urgent`"],
            ),
            (
                "[[escalation_policy]]\nname = \"p2\"\nlevels = [{ targets = [\"alice\"], delay = \"5m\" }]\n[escalation_policy.p0]\nlevels = []\n",
                4,
                &["unknown field `p0`", "[escalation_policy.critical]"],
            ),
            (
                "[[person]]\nname = \"zed\"\ntime_zone = \"UTC\"\nphone = \"+15550000000\"\n",
                4,
                &["unknown field `phone`"],
            ),
            (
                "[[persons]]\nname = \"zed\"\n",
                1,
                &["unknown field `persons`"],
            ),
            ("\n[[person]]\nname = \"zed\n", 3, &[]),
        ];
        for (text, line, wanted) in table {
            let errors = errors_for(&[("a.toml", PEOPLE), ("b.toml", POLICY), ("c.toml", text)]);
            let shown = errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n");
            assert_eq!(errors.len(), 1, "{text}\n{shown}");
            let error = &errors[0];
            assert!(error.file.ends_with("c.toml"), "{shown}");
            assert_eq!(error.line, Some(*line), "{shown}");
            assert!(shown.contains(&format!("c.toml:{line}: ")), "{shown}");
            for want in *wanted {
                assert!(shown.contains(want), "{shown}\nlacks {want:?}");
            }
        }
    }

    #[test]
    fn all_problems_are_reported_together() {
        let bad = r#"
[[person]]
name = "zed"
time_zone = "Nowhere/Land"

[[escalation_policy]]
name = "ops"
levels = [{ targets = ["yuri"], delay = "0s" }]
"#;
        let errors = errors_for(&[
            ("a.toml", PEOPLE),
            ("b.toml", POLICY),
            ("c.toml", bad),
            ("d.toml", "oops ="),
        ]);
        let shown = PolicyErrors(errors.clone()).to_string();
        assert_eq!(errors.len(), 3, "{shown}");
        assert!(
            errors.is_sorted_by_key(|e| (e.file.clone(), e.line)),
            "{shown}"
        );
        assert!(
            shown.contains("c.toml:4: person \"zed\": unknown time zone"),
            "{shown}"
        );
        assert!(
            shown.contains(
                "c.toml:8: level 1 of escalation policy \"ops\": delay must be greater than zero"
            ),
            "{shown}"
        );
        assert!(shown.contains("d.toml:1: "), "{shown}");
        // References are not checked while a file fails to parse, so "yuri" is not reported.
        assert!(!shown.contains("yuri"), "{shown}");
        let fixed = errors_for(&[("a.toml", PEOPLE), ("b.toml", POLICY), ("c.toml", bad)]);
        assert!(
            fixed
                .iter()
                .any(|e| e.message.contains("unknown person \"yuri\"")),
            "{fixed:?}"
        );
    }

    #[test]
    fn a_directory_without_policy_files_is_an_error() {
        let empty = dir_with(&[("README.md", "# nothing")]);
        let errors = load_dir(empty.path())
            .expect_err("no toml files")
            .to_string();
        assert!(errors.contains("no *.toml policy files"), "{errors}");
        let missing = empty.path().join("missing");
        let errors = load_dir(&missing).expect_err("missing dir").to_string();
        assert!(
            errors.contains("missing") && errors.contains("cannot read directory"),
            "{errors}"
        );
    }

    #[test]
    fn shift_lengths_and_windows_parse() {
        let shifts = [
            ("1w", Ok(ShiftLength::Weeks(1))),
            (" 12h ", Ok(ShiftLength::Hours(12))),
            ("3d", Ok(ShiftLength::Days(3))),
            ("1mo", Ok(ShiftLength::Months(1))),
            ("52w", Ok(ShiftLength::Weeks(52))),
            ("53w", Err("longer than a year")),
            ("99999999999h", Err("longer than a year")),
            ("0d", Err("at least 1")),
            ("1", Err("not a shift length")),
            ("1 w", Err("not a shift length")),
            ("-1w", Err("not a shift length")),
            ("1m", Err("not a shift length")),
        ];
        for (text, want) in shifts {
            match (parse_shift(text), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{text}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{text}: {got}"),
                (got, _) => panic!("{text}: {got:?}"),
            }
        }
        assert_eq!(
            parse_daily(" 17:00 - 09:00 "),
            Ok(Restriction::Daily {
                start: hm(17, 0),
                end: hm(9, 0)
            })
        );
        assert_eq!(
            parse_weekly("friday 17:00 - Mon 09:30"),
            Ok(Restriction::Weekly {
                start: (Weekday::Fri, hm(17, 0)),
                end: (Weekday::Mon, hm(9, 30))
            })
        );
        for bad in ["17:00", "25:00-09:00", "17:00-09:00-10:00"] {
            assert!(parse_daily(bad).is_err(), "{bad}");
        }
        for bad in [
            "Mon 09:00",
            "Mon - Fri",
            "Mon 09:00 - Fri 17:00 UTC",
            "Mon 09:00 Fri 17:00",
        ] {
            assert!(parse_weekly(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_follow_the_naming_rule() {
        for good in ["a", "0", "checkout-api", "sev.1_x", &"a".repeat(64)] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        for bad in ["", "-a", "Alice", "a b", "ünï", &"a".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert!(
            valid_e164("+15551230001") && !valid_e164("+1234567") && !valid_e164("15551230001")
        );
        assert!(
            valid_email("a@b") && !valid_email("@b") && !valid_email("a@") && !valid_email("a b@c")
        );
    }
}
