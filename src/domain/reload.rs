//! The reload diff: what changed between the installed policy files and a new set. Pure and
//! compared with `PartialEq`; the engine applies the changes, the caller reads the files.

use std::collections::{BTreeMap, BTreeSet};

use super::PolicySet;

/// A part of the policy set, to name what changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    Person,
    Service,
    Policy,
    Schedule,
    Heartbeat,
}

impl Section {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Person => "person",
            Self::Service => "service",
            Self::Policy => "escalation policy",
            Self::Schedule => "schedule",
            Self::Heartbeat => "heartbeat",
        }
    }
}

/// One difference between two policy sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Added(Section, String),
    Removed(Section, String),
    Changed(Section, String),
    /// The service's maintenance windows in the files or its support hours changed (or the
    /// service came or went): its held incidents must be decided again.
    Holds {
        service: String,
    },
}

/// What changed from `old` to `new`: each entry added, removed or changed, section by section
/// in name order, then the services whose holds changed.
pub fn diff(old: &PolicySet, new: &PolicySet) -> Vec<Change> {
    let mut changes = Vec::new();
    section(&mut changes, Section::Person, &old.people, &new.people);
    section(&mut changes, Section::Service, &old.services, &new.services);
    section(&mut changes, Section::Policy, &old.policies, &new.policies);
    section(
        &mut changes,
        Section::Schedule,
        &old.schedules,
        &new.schedules,
    );
    section(
        &mut changes,
        Section::Heartbeat,
        &old.heartbeats,
        &new.heartbeats,
    );
    let services: BTreeSet<&String> = old.services.keys().chain(new.services.keys()).collect();
    for service in services {
        // Windows made through the API are not the files' business.
        let windows = |set: &PolicySet| -> Vec<_> {
            set.maintenance
                .iter()
                .filter(|w| w.id.is_none() && &w.service == service)
                .map(|w| (w.start, w.end))
                .collect()
        };
        let hours = |set: &PolicySet| set.services.get(service).map(|s| s.support_hours.clone());
        if windows(old) != windows(new) || hours(old) != hours(new) {
            changes.push(Change::Holds {
                service: service.clone(),
            });
        }
    }
    changes
}

fn section<T: PartialEq>(
    changes: &mut Vec<Change>,
    what: Section,
    old: &BTreeMap<String, T>,
    new: &BTreeMap<String, T>,
) {
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for name in names {
        match (old.get(name), new.get(name)) {
            (None, Some(_)) => changes.push(Change::Added(what, name.clone())),
            (Some(_), None) => changes.push(Change::Removed(what, name.clone())),
            (Some(a), Some(b)) if a != b => changes.push(Change::Changed(what, name.clone())),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Severity;
    use crate::domain::ingest::{MaintenanceWindow, SupportHours};
    use crate::domain::{Person, Service};

    fn person(name: &str, email: Option<&str>) -> Person {
        Person {
            name: name.into(),
            time_zone: chrono_tz::UTC,
            email: email.map(Into::into),
            sms: None,
            slack: None,
            contact_rules: Vec::new(),
            low_contact_rules: Vec::new(),
        }
    }

    fn window(service: &str, id: Option<i64>, end_h: u32) -> MaintenanceWindow {
        let at = |h: u32| format!("2026-03-02T{h:02}:00:00Z").parse().unwrap();
        MaintenanceWindow {
            id,
            service: service.into(),
            start: at(1),
            end: at(end_h),
            reason: "upgrade".into(),
            page_after: false,
            created_by: "ops".into(),
        }
    }

    /// Two services (api, db) and one person (ann).
    fn base() -> PolicySet {
        let mut set = PolicySet::default();
        set.people.insert("ann".into(), person("ann", None));
        for s in ["api", "db"] {
            set.services.insert(s.into(), Service::new(s, "default"));
        }
        set
    }

    fn hours(defer: Vec<Severity>) -> SupportHours {
        SupportHours {
            zone: chrono_tz::UTC,
            windows: Vec::new(),
            defer,
        }
    }

    #[test]
    fn diff_names_every_change_and_only_changes() {
        use Change::*;
        use Section::{Person as P, Service as S};
        type Edit = fn(&mut PolicySet);
        let cases: Vec<(&str, Edit, Edit, Vec<Change>)> = vec![
            ("same set", |_| {}, |_| {}, vec![]),
            (
                "person added",
                |_| {},
                |s| {
                    s.people.insert("bob".into(), person("bob", None));
                },
                vec![Added(P, "bob".into())],
            ),
            (
                "person removed",
                |_| {},
                |s| {
                    s.people.clear();
                },
                vec![Removed(P, "ann".into())],
            ),
            (
                "person changed",
                |_| {},
                |s| {
                    s.people
                        .insert("ann".into(), person("ann", Some("ann@example.com")));
                },
                vec![Changed(P, "ann".into())],
            ),
            (
                "service added: its holds are decided too",
                |_| {},
                |s| {
                    s.services
                        .insert("web".into(), Service::new("web", "default"));
                },
                vec![
                    Added(S, "web".into()),
                    Holds {
                        service: "web".into(),
                    },
                ],
            ),
            (
                "service removed: its holds are decided too",
                |_| {},
                |s| {
                    s.services.remove("db");
                },
                vec![
                    Removed(S, "db".into()),
                    Holds {
                        service: "db".into(),
                    },
                ],
            ),
            (
                "support hours set",
                |_| {},
                |s| {
                    s.services.get_mut("api").unwrap().support_hours =
                        Some(hours(vec![Severity::Low]));
                },
                vec![
                    Changed(S, "api".into()),
                    Holds {
                        service: "api".into(),
                    },
                ],
            ),
            (
                "support hours changed",
                |s| {
                    s.services.get_mut("api").unwrap().support_hours =
                        Some(hours(vec![Severity::Low]));
                },
                |s| {
                    s.services.get_mut("api").unwrap().support_hours =
                        Some(hours(vec![Severity::Low, Severity::Medium]));
                },
                vec![
                    Changed(S, "api".into()),
                    Holds {
                        service: "api".into(),
                    },
                ],
            ),
            (
                "a file window added",
                |_| {},
                |s| s.maintenance.push(window("db", None, 3)),
                vec![Holds {
                    service: "db".into(),
                }],
            ),
            (
                "a file window moved",
                |s| s.maintenance.push(window("db", None, 3)),
                |s| s.maintenance.push(window("db", None, 4)),
                vec![Holds {
                    service: "db".into(),
                }],
            ),
            (
                "a window made through the API is not a change of the files",
                |_| {},
                |s| s.maintenance.push(window("db", Some(7), 3)),
                vec![],
            ),
            (
                "a service's threshold changed: no holds to decide",
                |_| {},
                |s| s.services.get_mut("db").unwrap().threshold = None,
                vec![Changed(S, "db".into())],
            ),
        ];
        for (name, before, after, want) in cases {
            let (mut old, mut new) = (base(), base());
            before(&mut old);
            before(&mut new);
            after(&mut new);
            assert_eq!(diff(&old, &new), want, "{name}");
        }
    }
}
