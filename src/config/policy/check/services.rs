//! Services and what they take in: integration keys, routing rules, support hours, alert
//! thresholds, maintenance windows written in the files, and heartbeats.

use std::collections::HashMap;

use chrono_tz::Tz;
use toml::Spanned;

use super::{Checker, Definition, SourceFile};
use crate::config::policy::raw::{
    RawHeartbeat, RawMaintenance, RawService, RawSupportHours, RawTargets,
};
use crate::config::policy::syntax::{parse_duration, valid_integration_key};
use crate::domain::response_report::ResponseTargets;
use crate::domain::{Service, Severity};

/// The most detail names `related_by` may list.
pub const MAX_RELATED_BY: usize = 8;

impl Checker {
    /// A service with its integration keys, routing rules, support hours and threshold.
    /// `policies` is absent while some file failed to parse.
    pub(super) fn service(
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
                .filter_map(|s| self.severity(file, s, &format!("{route_context}: severities")))
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
        if let Some(by) = &raw.related_by {
            service.related_by = self.related_by(file, by, &context);
            let off = matches!(raw.threshold.as_ref().map(|t| t.get_ref()),
                Some(toml::Value::String(s)) if s == "off");
            if off && !by.get_ref().is_empty() {
                self.error(
                    file,
                    &by.span(),
                    format!("{context}: related_by needs a threshold, but threshold = \"off\""),
                );
            }
        }
        service.response_targets =
            self.response_targets(file, raw.response_targets.as_ref(), &context);
        service
    }

    /// `response_targets = { critical = "15m", … }`: each a duration greater than zero.
    pub(super) fn response_targets(
        &mut self,
        file: &SourceFile,
        raw: Option<&RawTargets>,
        context: &str,
    ) -> ResponseTargets {
        let mut out = ResponseTargets::default();
        let Some(raw) = raw else { return out };
        let keys = [
            (Severity::Critical, &raw.critical),
            (Severity::High, &raw.high),
            (Severity::Medium, &raw.medium),
            (Severity::Low, &raw.low),
        ];
        for (severity, value) in keys {
            let Some(value) = value else { continue };
            let what = format!("{context}: response_targets.{severity}");
            if let Some(d) = self.duration(file, value, &what) {
                out.set(severity, d);
            }
        }
        out
    }

    /// `related_by = ["alertname", …]`: detail names, each once, at most
    /// [`MAX_RELATED_BY`].
    pub(super) fn related_by(
        &mut self,
        file: &SourceFile,
        raw: &Spanned<Vec<Spanned<String>>>,
        context: &str,
    ) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if raw.get_ref().len() > MAX_RELATED_BY {
            self.error(
                file,
                &raw.span(),
                format!("{context}: related_by has more than {MAX_RELATED_BY} names"),
            );
        }
        for name in raw.get_ref() {
            let n = name.get_ref();
            let name_char = |c: char| c.is_ascii_alphanumeric() || "_-./:".contains(c);
            let problem = if n.is_empty() || !n.chars().all(name_char) {
                Some("must be a detail (label) name of letters, digits and _ - . / :")
            } else if n.len() > 128 {
                Some("is longer than 128 bytes")
            } else if out.contains(n) {
                Some("is listed twice")
            } else {
                None
            };
            match problem {
                Some(p) => self.error(
                    file,
                    &name.span(),
                    format!("{context}: related_by name {n:?} {p}"),
                ),
                None => out.push(n.clone()),
            }
        }
        out
    }

    pub(super) fn support_hours(
        &mut self,
        file: &SourceFile,
        raw: &Spanned<RawSupportHours>,
        context: &str,
    ) -> Option<crate::domain::ingest::SupportHours> {
        let context = format!("{context}: support_hours");
        let sh = raw.get_ref();
        let zone = self.zone(file, &sh.time_zone, &format!("{context}: time_zone"));
        if sh.hours.get_ref().is_empty() {
            self.error(
                file,
                &sh.hours.span(),
                format!("{context}: hours must not be empty"),
            );
        }
        let mut windows = Vec::new();
        for r in sh.hours.get_ref() {
            windows.extend(self.restriction(file, r, &context, "window"));
        }
        let defer = match &sh.defer {
            None => vec![Severity::Low],
            Some(list) => list
                .iter()
                .filter_map(|s| self.severity(file, s, &format!("{context}: defer")))
                .collect(),
        };
        Some(crate::domain::ingest::SupportHours {
            zone: zone?,
            windows,
            defer,
        })
    }

    pub(super) fn threshold(
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
                    .and_then(|w| parse_duration(w).ok())
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

    pub(super) fn maintenance(
        &mut self,
        file: &SourceFile,
        service: &str,
        raw: &Spanned<RawMaintenance>,
        context: &str,
    ) -> Option<crate::domain::ingest::MaintenanceWindow> {
        let w = raw.get_ref();
        let zone = match &w.time_zone {
            None => Some(Tz::UTC),
            Some(z) => self.zone(file, z, &format!("{context}: time_zone")),
        }?;
        let (start, end) = self.interval(file, &w.from, &w.to, zone, context)?;
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

    pub(super) fn heartbeat(
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
            Some(s) => self.severity(file, s, &format!("{context}: severity")),
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

    /// A severity name (`critical`, `high`, `medium`, `low`).
    fn severity(
        &mut self,
        file: &SourceFile,
        raw: &Spanned<String>,
        context: &str,
    ) -> Option<Severity> {
        self.report(file, raw, Severity::parse(raw.get_ref()), context)
    }
}
