//! Escalation policies: repeat, ack timeout, and the default and per-severity timelines.

use std::collections::{HashMap, HashSet};

use toml::Spanned;

use super::{Checker, Known, SourceFile};
use crate::config::policy::raw::{RawLevel, RawPolicy};
use crate::domain::{EscalationPolicy, Level, Repeat, Severity, Target, Timeline};

impl Checker {
    pub(super) fn policy(
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
        let response_targets = self.response_targets(file, raw.response_targets.as_ref(), &context);
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
            response_targets,
        })
    }

    /// `context` names the timeline, e.g. `escalation policy "engineering"`.
    pub(super) fn timeline(
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
}
