//! What-if for a rotation change (`pagerd check DIR --simulate`): the recorded incidents of a
//! range replayed against a policy set, beside what actually happened.
//!
//! The replay walks time forward over the schedules with burnout limits. Each turn is
//! decided by [`burnout::plan`] — the function the daemon records turns with — from the
//! simulated ledger so far; each recorded incident, at its creation time, pages whoever the
//! simulated schedules put on call for the first level of its escalation policy (the same
//! [`PolicySet::resolve_targets`] the engine pages with), and counts toward that person's
//! shift, so a busy simulated week feeds the next decisions as in the daemon. History before
//! the range is the recorded ledger, as if the files had been installed at `from`.
//!
//! Both sides are then counted by [`load_report`], so simulated and actual figures mean the
//! same thing. What actually happened is the ledger's rows and the pages sent to people
//! while on call for one of those schedules. Escalations past the first level are not
//! replayed.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::Severity;
use super::burnout::{self, LOOKBACK, LedgerEntry, SlotRef, WEEK_MINUTES};
use super::load_report::{DeliveredPage, PersonLoad, load_report};
use super::policy::{PolicySet, Target};
use super::schedule::Assignment;

/// An incident as the database recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedIncident {
    pub id: i64,
    pub service: String,
    /// The escalation policy it ran under (a routing rule may have chosen it).
    pub escalation_policy: String,
    pub severity: Severity,
    pub created_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// What the database holds about a range: its incidents, the ledger rows that can matter
/// (from [`LOOKBACK`] before the range on), the pages sent in it and the API overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    pub incidents: Vec<RecordedIncident>,
    pub ledger: Vec<LedgerEntry>,
    pub pages: Vec<DeliveredPage>,
    /// Overrides made through the API (not removed) that reach into that window: they
    /// happened, so the replay keeps them.
    pub overrides: Vec<super::policy::ScheduleOverride>,
}

/// One side's figures for a person over the range.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    /// On-call weeks of the shifts starting in the range (local length / 7 days).
    pub weeks: f64,
    /// The part of `weeks` on evening layers.
    pub evening_weeks: f64,
    pub incidents: u32,
    pub off_hours_pages: u32,
    pub call_in_hours: u32,
    /// Turns the person was passed over for because of a limit.
    pub limit_skips: u32,
}

/// A person's simulated figures beside the recorded ones.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonWhatIf {
    pub person: String,
    pub simulated: Figures,
    pub actual: Figures,
}

/// A simulated turn where a limit changed or flagged something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitDecision {
    pub schedule: String,
    /// Empty for an override.
    pub layer: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The schedule's zone, for showing the times.
    pub zone: chrono_tz::Tz,
    pub candidate: String,
    pub person: String,
    pub reason: String,
    pub flagged: bool,
    pub nobody_eligible: bool,
    /// Who the ledger says took that time on that layer (`None`: not recorded).
    pub actual: Option<String>,
}

/// The what-if report.
#[derive(Debug, Clone, PartialEq)]
pub struct WhatIf {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The schedules replayed (those with burnout limits), by name.
    pub schedules: Vec<String>,
    pub people: Vec<PersonWhatIf>,
    pub decisions: Vec<LimitDecision>,
}

/// Replays `recorded` over `[from, to)` against `set`. `now` bounds call-ins still open.
pub fn simulate(
    set: &PolicySet,
    recorded: &Recorded,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> WhatIf {
    let names: Vec<String> = (set.schedules.iter())
        .filter(|(_, d)| d.burnout.is_some())
        .map(|(n, _)| n.clone())
        .collect();
    let mut work = set.with_overrides(&recorded.overrides);
    // History: the recorded rows that started before the range.
    let mut ledgers: BTreeMap<String, Vec<LedgerEntry>> = (names.iter())
        .map(|n| {
            let rows = (recorded.ledger.iter())
                .filter(|e| &e.schedule == n && e.start < from && e.end > from - LOOKBACK)
                .cloned()
                .collect();
            (n.clone(), rows)
        })
        .collect();
    // The recorded turns serve as decided (where the files still have that turn).
    for (name, rows) in &ledgers {
        let def = work.schedules.get_mut(name).expect("replayed schedule");
        for e in rows.iter().filter(|e| e.turn.is_some()) {
            let Some(l) = def.schedule.layers.iter_mut().find(|l| l.name == e.layer) else {
                continue;
            };
            if let Some(t) = l.rotation.shift_at(e.start)
                && t.start == e.start
            {
                Arc::make_mut(&mut l.assigned).insert(t.index, assignment(e));
            }
        }
    }
    let mut incidents: Vec<&RecordedIncident> = (recorded.incidents.iter())
        .filter(|i| from <= i.created_at && i.created_at < to)
        .collect();
    incidents.sort_by_key(|i| (i.created_at, i.id));
    let mut incidents = incidents.into_iter().peekable();
    let mut pages: Vec<DeliveredPage> = Vec::new();
    let mut decisions = Vec::new();
    // Each schedule's turns ahead as planned from its ledger so far: still valid after the
    // first is recorded (recording it is what planning assumed), not after an incident
    // counted toward a shift of that schedule.
    let mut planned: BTreeMap<String, VecDeque<burnout::Planned>> = BTreeMap::new();
    loop {
        // The earliest turn not decided yet, over every replayed schedule.
        let mut next: Option<(String, DateTime<Utc>)> = None;
        for name in &names {
            let ahead = planned.entry(name.clone()).or_insert_with(|| {
                let def = &work.schedules[name];
                let policy = def.burnout.expect("only schedules with limits");
                burnout::plan(&def.schedule, policy, &ledgers[name], from, to).into()
            });
            if let Some(p) = ahead.front()
                && next.as_ref().is_none_or(|(_, start)| p.start < *start)
            {
                next = Some((name.clone(), p.start));
            }
        }
        let boundary = next.as_ref().map_or(to, |(_, start)| *start);
        // Incidents before it page whoever the turns decided so far put on call; where one
        // counts toward a shift, that schedule's turns ahead are planned again.
        let mut counted = false;
        while let Some(i) = incidents.next_if(|i| i.created_at < boundary) {
            for name in page(&work, &names, &mut ledgers, i, &mut pages) {
                planned.remove(&name);
                counted = true;
            }
        }
        if counted {
            continue;
        }
        let Some((name, _)) = next else { break };
        let p = (planned.get_mut(&name))
            .and_then(VecDeque::pop_front)
            .expect("the earliest planned turn");
        let def = work.schedules.get_mut(&name).expect("replayed schedule");
        let entry = p.entry(&def.schedule);
        let d = &p.decision;
        if let SlotRef::Turn { layer, index } = p.slot {
            let l = &mut def.schedule.layers[layer];
            Arc::make_mut(&mut l.assigned).insert(index, assignment(&entry));
        }
        let limited = d.person != d.candidate || d.flagged || d.nobody_eligible;
        if limited && p.start < to && p.end > from {
            decisions.push(LimitDecision {
                schedule: name.clone(),
                layer: entry.layer.clone(),
                start: p.start,
                end: p.end,
                zone: def.schedule.zone,
                candidate: d.candidate.clone(),
                person: d.person.clone(),
                reason: d.reason.clone(),
                flagged: d.flagged,
                nobody_eligible: d.nobody_eligible,
                actual: actual_at(&recorded.ledger, &name, &entry.layer, p.start),
            });
        }
        ledgers.get_mut(&name).expect("replayed").push(entry);
    }

    let zone = |s: &str| {
        set.schedules
            .get(s)
            .map_or(chrono_tz::UTC, |d| d.schedule.zone)
    };
    let zones: HashMap<String, chrono_tz::Tz> = (set.people.iter())
        .map(|(n, p)| (n.clone(), p.time_zone))
        .collect();
    let with_zones = |rows: &mut dyn Iterator<Item = &LedgerEntry>| -> Vec<_> {
        rows.map(|e| (e.clone(), zone(&e.schedule))).collect()
    };
    // The quarter of `from` starts at most 92 days before it.
    let recent = |e: &&LedgerEntry| e.start >= from - chrono::Duration::days(92);
    let sim_rows = with_zones(&mut ledgers.values().flatten().filter(recent));
    let actual_rows = with_zones(
        &mut (recorded.ledger.iter())
            .filter(|e| names.contains(&e.schedule))
            .filter(recent),
    );
    // Actual pages: those that reached someone on call for a replayed schedule.
    let actual_pages: Vec<DeliveredPage> = (recorded.pages.iter())
        .filter(|p| {
            actual_rows
                .iter()
                .any(|(e, _)| e.person == p.person && e.start <= p.sent_at && p.sent_at < e.end)
        })
        .cloned()
        .collect();
    let simulated = load_report(&sim_rows, &pages, &zones, from, to, now);
    let actual = load_report(&actual_rows, &actual_pages, &zones, from, to, now);
    let mut people: BTreeMap<String, PersonWhatIf> = BTreeMap::new();
    let mut fill = |loads: Vec<PersonLoad>, rows: &[(LedgerEntry, chrono_tz::Tz)], sim: bool| {
        for l in loads {
            let figures = Figures {
                weeks: l.weeks,
                evening_weeks: evening_weeks(rows, &l.person, from, to),
                incidents: l.incidents,
                off_hours_pages: l.off_hours_pages,
                call_in_hours: l.hours_called_in,
                limit_skips: l.limit_skips,
            };
            let p = people
                .entry(l.person.clone())
                .or_insert_with(|| PersonWhatIf {
                    person: l.person.clone(),
                    simulated: Figures::default(),
                    actual: Figures::default(),
                });
            if sim {
                p.simulated = figures;
            } else {
                p.actual = figures;
            }
        }
    };
    fill(simulated, &sim_rows, true);
    fill(actual, &actual_rows, false);
    WhatIf {
        from,
        to,
        schedules: names,
        people: people.into_values().collect(),
        decisions,
    }
}

/// Who the ledger had on `schedule` at `at`: on the layer of that name, else on any layer
/// (a rotation change may rename it), else by an override.
fn actual_at(
    ledger: &[LedgerEntry],
    schedule: &str,
    layer: &str,
    at: DateTime<Utc>,
) -> Option<String> {
    let covering =
        || (ledger.iter()).filter(move |e| e.schedule == schedule && e.start <= at && at < e.end);
    (covering().find(|e| e.layer == layer))
        .or_else(|| covering().find(|e| e.turn.is_some()))
        .or_else(|| covering().next())
        .map(|e| e.person.clone())
}

fn assignment(e: &LedgerEntry) -> Assignment {
    Assignment {
        person: e.person.clone(),
        reason: e.reason.clone(),
        projected: false,
        flagged: e.flagged,
    }
}

/// Pages the first level of `incident`'s policy at its creation, on the replayed schedules
/// only, and counts it toward the paged person's shift there (once per shift). Returns the
/// schedules where it counted.
fn page(
    set: &PolicySet,
    names: &[String],
    ledgers: &mut BTreeMap<String, Vec<LedgerEntry>>,
    incident: &RecordedIncident,
    pages: &mut Vec<DeliveredPage>,
) -> BTreeSet<String> {
    let mut counted = BTreeSet::new();
    let policy = (set.policies.get(&incident.escalation_policy)).or_else(|| {
        let service = set.services.get(&incident.service)?;
        set.policies.get(&service.escalation_policy)
    });
    let Some(policy) = policy else {
        return counted;
    };
    let Some(level) = policy.timeline(incident.severity).levels.first() else {
        return counted;
    };
    let targets: Vec<Target> = (level.targets.iter())
        .filter(|t| matches!(t, Target::Schedule(s) if names.contains(s)))
        .cloned()
        .collect();
    let at = incident.created_at;
    let mut shifts = BTreeSet::new();
    for person in set.resolve_targets(&targets, at).people {
        pages.push(DeliveredPage {
            person: person.clone(),
            incident_id: incident.id,
            sent_at: at,
            acknowledged_at: incident.acknowledged_at,
            resolved_at: incident.resolved_at,
        });
        for (name, rows) in ledgers.iter_mut() {
            if let Some(e) = (rows.iter_mut())
                .rev()
                .find(|e| e.person == person && e.start <= at && at < e.end)
                && shifts.insert((name.clone(), e.start, e.layer.clone()))
            {
                e.incidents += 1;
                counted.insert(name.clone());
            }
        }
    }
    counted
}

/// A person's evening-layer weeks of the rows starting in `[from, to)`.
fn evening_weeks(
    rows: &[(LedgerEntry, chrono_tz::Tz)],
    person: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> f64 {
    let minutes: i64 = (rows.iter())
        .filter(|(e, _)| e.person == person && e.evening && from <= e.start && e.start < to)
        .map(|(e, z)| {
            let local = |t: DateTime<Utc>| t.with_timezone(z).naive_local();
            (local(e.end) - local(e.start)).num_minutes().max(0)
        })
        .sum();
    minutes as f64 / WEEK_MINUTES as f64
}

mod render;
pub use render::{to_json, to_text};

#[cfg(test)]
mod tests;
