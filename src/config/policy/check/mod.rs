//! The cross-file checker: every raw file of a set, checked together so that names are global
//! and every problem is reported at once. One file per kind of definition; this one holds the
//! set-wide pass and the helpers that turn a parse failure into a `file:line: message`.

mod escalation;
mod limits;
mod people;
mod schedules;
mod services;

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use toml::Spanned;

use super::PolicyError;
use super::raw::{RawFile, RawRestriction};
use super::syntax::{
    check_name, parse_daily, parse_duration, parse_instant, parse_weekly, parse_zone,
};
use crate::domain::schedule::Restriction;
use crate::domain::{PolicySet, Severity};

/// One policy file as read, for parsing and for turning spans into line numbers.
pub(super) struct SourceFile {
    pub(super) path: PathBuf,
    pub(super) text: String,
}

impl SourceFile {
    pub(super) fn line(&self, span: &Range<usize>) -> usize {
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

/// Collects every problem of a set while building the domain values from its files.
#[derive(Default)]
pub(super) struct Checker {
    pub(super) errors: Vec<PolicyError>,
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

    pub(super) fn check(&mut self, files: &[SourceFile]) -> PolicySet {
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

    /// One `{ daily = … }` or `{ weekly = … }` window; `noun` names it in messages ("window"
    /// in support hours, "restriction" in a layer).
    fn restriction(
        &mut self,
        file: &SourceFile,
        r: &Spanned<RawRestriction>,
        context: &str,
        noun: &str,
    ) -> Option<Restriction> {
        match (&r.get_ref().daily, &r.get_ref().weekly) {
            (Some(daily), None) => self.report(
                file,
                daily,
                parse_daily(daily.get_ref()),
                &format!("{context}: daily {noun}"),
            ),
            (None, Some(weekly)) => self.report(
                file,
                weekly,
                parse_weekly(weekly.get_ref()),
                &format!("{context}: weekly {noun}"),
            ),
            _ => {
                self.error(
                    file,
                    &r.span(),
                    format!(
                        "{context}: a {noun} is either {{ daily = \"17:00-09:00\" }} or {{ weekly = \"Mon 09:00 - Fri 17:00\" }}"
                    ),
                );
                None
            }
        }
    }

    /// A time zone value, reported as `context: "value" is not an IANA time zone …`.
    fn zone(&mut self, file: &SourceFile, raw: &Spanned<String>, context: &str) -> Option<Tz> {
        self.report(file, raw, parse_zone(raw.get_ref()), context)
    }

    /// The `time_zone` of a person or schedule, reported as `context: unknown time zone …`.
    fn home_zone(&mut self, file: &SourceFile, raw: &Spanned<String>, context: &str) -> Option<Tz> {
        let zone = parse_zone(raw.get_ref()).ok();
        if zone.is_none() {
            let message = format!(
                "{context}: unknown time zone {:?} (expected an IANA name such as \"Europe/Berlin\")",
                raw.get_ref()
            );
            self.error(file, &raw.span(), message);
        }
        zone
    }

    /// `from` and `to` of an override or maintenance window, `to` after `from`; `None` (with
    /// the problem reported) otherwise.
    fn interval(
        &mut self,
        file: &SourceFile,
        from: &Spanned<String>,
        to: &Spanned<String>,
        zone: Tz,
        context: &str,
    ) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let mut bound = |raw: &Spanned<String>, key: &str| {
            let parsed = parse_instant(raw.get_ref(), zone);
            self.report(file, raw, parsed, &format!("{context}: {key}"))
        };
        let start = bound(from, "from");
        let end = bound(to, "to");
        let (start, end) = (start?, end?);
        if end <= start {
            let message = format!(
                "{context}: to {:?} is not after from {:?}",
                to.get_ref(),
                from.get_ref()
            );
            self.error(file, &to.span(), message);
            return None;
        }
        Some((start, end))
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
        match parse_duration(text) {
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

/// Severity tables are spelled `critical`/`high`/`medium`/`low`; point alias users there.
fn with_severity_hint(message: &str) -> String {
    let unknown = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(field, _)| field);
    match unknown.map(Severity::parse) {
        // `response_targets` takes the same names but holds durations, not timelines.
        Some(Ok(severity)) if !message.contains("`levels`") => {
            format!("{message} (write the {severity} target as {severity} = \"15m\")")
        }
        Some(Ok(severity)) => {
            format!("{message} (write the {severity} timeline as [escalation_policy.{severity}])")
        }
        _ => message.to_owned(),
    }
}
