//! Schedules: time zone, owner and fallback, handoff notices, burnout limits, layers and
//! overrides.

use std::collections::HashSet;

use chrono_tz::Tz;

use super::{Checker, SourceFile};
use crate::config::policy::raw::{RawLayer, RawSchedule};
use crate::config::policy::syntax::{check_name, parse_local, parse_shift};
use crate::domain::burnout::BurnoutPolicy;
use crate::domain::policy::{HandoffNotify, ScheduleDef};
use crate::domain::rotation::Rotation;
use crate::domain::schedule::{Layer, Override, Schedule};

/// A rest longer than a year is a typo, not a policy.
const MAX_REST_DAYS: u32 = 366;

impl Checker {
    pub(super) fn schedule(
        &mut self,
        file: &SourceFile,
        raw: &RawSchedule,
        people: Option<&HashSet<&str>>,
    ) -> Option<ScheduleDef> {
        let name = raw.name.get_ref();
        let context = format!("schedule {name:?}");
        let before = self.errors.len();
        let zone = self.home_zone(file, &raw.time_zone, &context);
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
            // A bad interval is reported and leaves the override out; the schedule is
            // refused anyway.
            let Some((start, end)) = self.interval(file, &raw.from, &raw.to, zone, &context) else {
                continue;
            };
            overrides.push(Override {
                person: raw.person.get_ref().clone(),
                start,
                end,
                reason: raw.reason.clone().unwrap_or_default(),
            });
        }
        let burnout = raw.burnout.as_ref().map(|b| {
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
                // `rest_days = 0` switches the rest off.
                rest_after_busy_week: (b.rest_after_busy_week)
                    .or(d.rest_after_busy_week)
                    .filter(|_| b.rest_days.as_ref().is_none_or(|r| *r.get_ref() > 0)),
                rest_days: b.rest_days.as_ref().map_or(d.rest_days, |r| *r.get_ref()),
                min_rest_hours: on(b.min_rest_hours, None),
            }
        });
        if let Some(policy) = &burnout {
            self.impossible_limits(file, raw, &layers, policy, &context);
        }
        if let Some(days) = raw.burnout.as_ref().and_then(|b| b.rest_days.as_ref())
            && *days.get_ref() > MAX_REST_DAYS
        {
            self.error(
                file,
                &days.span(),
                format!(
                    "{context}: burnout: rest_days = {} is more than {MAX_REST_DAYS}",
                    days.get_ref()
                ),
            );
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
            burnout,
            override_notes: Default::default(),
        })
    }

    /// `context` names the layer, e.g. `layer "evenings" of schedule "support"`. `None` when
    /// the layer has errors or the schedule's zone is unknown.
    pub(super) fn layer(
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
            let parsed = self.restriction(file, r, context, "restriction");
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
}
