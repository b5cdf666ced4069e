//! The shift ledger's rows and the planning over a schedule: which slots are not recorded
//! yet, decided in start order from the ledger's history ([`plan`]), and the decided turns
//! applied to a schedule for serving ([`apply`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{BurnoutPolicy, Decision, Load, Slot, Taken, TurnKind, limit_label};
use crate::domain::policy::{OverrideNotes, ScheduleDef};
use crate::domain::schedule::{Assignment, Schedule};

/// One row of the shift ledger: who took a layer turn or an override, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub schedule: String,
    /// Empty for an override.
    pub layer: String,
    pub turn: Option<i64>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub person: String,
    pub candidate: String,
    pub reason: String,
    pub skipped: Vec<String>,
    pub flagged: bool,
    pub nobody_eligible: bool,
    /// The candidate was skipped for a rest after a busy shift (so it is served).
    pub rested: bool,
    pub evening: bool,
    /// Incidents paged to the person during the shift (counted from the pages sent).
    pub incidents: u32,
}

/// What a planned slot is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotRef {
    Turn {
        layer: usize,
        index: i64,
    },
    /// Index into `Schedule::overrides`.
    Override(usize),
}

/// A slot not in the ledger yet, decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub slot: SlotRef,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub evening: bool,
    pub decision: Decision,
}

impl LedgerEntry {
    /// How the turn came to its person, read back from the row: a turn away from its
    /// candidate with nobody skipped is the second half of a swap; a moved one names its
    /// limit in the candidate's clause of the reason.
    pub fn kind(&self) -> TurnKind {
        if self.turn.is_none() || self.person == self.candidate {
            TurnKind::Own
        } else if self.nobody_eligible {
            TurnKind::Forced
        } else if self.skipped.is_empty() {
            TurnKind::Swap
        } else {
            let first = self.reason.split("; ").next().unwrap_or_default();
            TurnKind::Moved(limit_label(first))
        }
    }
}

impl Planned {
    /// The ledger row recording this decision.
    pub fn entry(&self, schedule: &Schedule) -> LedgerEntry {
        let (layer, turn) = match self.slot {
            SlotRef::Turn { layer, index } => (schedule.layers[layer].name.clone(), Some(index)),
            SlotRef::Override(_) => (String::new(), None),
        };
        let d = &self.decision;
        LedgerEntry {
            schedule: schedule.name.clone(),
            layer,
            turn,
            start: self.start,
            end: self.end,
            person: d.person.clone(),
            candidate: d.candidate.clone(),
            reason: d.reason.clone(),
            skipped: d.skipped.clone(),
            flagged: d.flagged,
            nobody_eligible: d.nobody_eligible,
            rested: d.rested,
            evening: self.evening,
            incidents: 0,
        }
    }
}

/// Decides, in start order, every layer turn and override of `schedule` that the ledger does
/// not have yet and that starts before `until`, from the ledger's history (with its incident
/// counts) and no new incidents. A layer without ledger rows starts with its turn in progress
/// at `now` (the ledger begins when the limits are first applied; earlier turns do not count).
pub fn plan(
    schedule: &Schedule,
    policy: BurnoutPolicy,
    ledger: &[LedgerEntry],
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<Planned> {
    plan_with(schedule, policy, ledger, now, until, |_, _, _| 0)
}

/// [`plan`] where the decided shifts have incidents: `incidents(person, start, end)` counts
/// those paged to the person who takes a shift, during it (a what-if replays recorded ones).
/// Only shifts that have ended count toward a rest, so giving a shift its count as soon as
/// it is decided changes nothing before its end. With `|_, _, _| 0` this is [`plan`].
pub fn plan_with(
    schedule: &Schedule,
    policy: BurnoutPolicy,
    ledger: &[LedgerEntry],
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    mut incidents: impl FnMut(&str, DateTime<Utc>, DateTime<Utc>) -> u32,
) -> Vec<Planned> {
    let local = |t: DateTime<Utc>| t.with_timezone(&schedule.zone).naive_local();
    let mut history: Vec<Taken> = Vec::with_capacity(ledger.len());
    for e in ledger {
        history.push(Taken {
            person: e.person.clone(),
            start: e.start,
            end: e.end,
            local_start: local(e.start),
            local_end: local(e.end),
            evening: e.evening,
            incidents: e.incidents,
            is_override: e.turn.is_none(),
            layer: if e.turn.is_some() {
                e.layer.clone()
            } else {
                String::new()
            },
            candidate: e.candidate.clone(),
            kind: e.kind(),
            flagged: e.flagged,
        });
    }
    history.sort_by_key(|t| t.start);
    let mut load = Load::new(policy, history);

    let mut slots: Vec<(DateTime<Utc>, usize, SlotRef, DateTime<Utc>)> = Vec::new();
    for (i, layer) in schedule.layers.iter().enumerate() {
        let last = (ledger.iter().rev()).find(|e| e.layer == layer.name && e.turn.is_some());
        let from = last.map_or(now, |e| e.start + chrono::Duration::milliseconds(1));
        for t in layer.rotation.turns_between(from, until) {
            if last.is_none_or(|e| t.start > e.start) {
                slots.push((
                    t.start,
                    i,
                    SlotRef::Turn {
                        layer: i,
                        index: t.index,
                    },
                    t.end,
                ));
            }
        }
    }
    let begin = ledger.iter().map(|e| e.start).min().unwrap_or(now).min(now);
    for (k, o) in schedule.overrides.iter().enumerate() {
        let recorded = ledger.iter().any(|e| {
            e.turn.is_none() && e.person == o.person && e.start == o.start && e.end == o.end
        });
        if !recorded && o.end > begin && o.start < until && o.start < o.end {
            slots.push((o.start, usize::MAX, SlotRef::Override(k), o.end));
        }
    }
    slots.sort_by_key(|&(start, rank, _, _)| (start, rank));

    let mut out = Vec::with_capacity(slots.len());
    for (start, _, what, end) in slots {
        let (candidate, members, evening, layer): (&str, &[String], bool, &str) = match what {
            SlotRef::Turn { layer, index } => {
                let l = &schedule.layers[layer];
                (
                    l.rotation.member(index),
                    &l.rotation.members,
                    l.evening,
                    &l.name,
                )
            }
            SlotRef::Override(k) => (&schedule.overrides[k].person, &[], false, ""),
        };
        let slot = Slot {
            start,
            end,
            local_start: local(start),
            local_end: local(end),
            evening,
            candidate,
            members,
            layer,
        };
        let decision = load.decide(&slot);
        let count = incidents(&decision.person, start, end);
        if count > 0 {
            load.set_incidents(&decision.person, start, count);
        }
        out.push(Planned {
            slot: what,
            start,
            end,
            evening,
            decision,
        });
    }
    out
}

/// How far ahead turns are projected (`Shifts` answers up to 366 days at a time).
pub const PROJECTION_HORIZON: chrono::Duration = chrono::Duration::days(400);

/// Ledger rows older than this are not needed for a decision: a quarter and a rest reach back
/// less far.
pub const LOOKBACK: chrono::Duration = chrono::Duration::days(200);

/// `def` with every turn's decision applied: past ones from the ledger, later ones projected
/// up to [`PROJECTION_HORIZON`]. Returns the start of the first turn not yet recorded (the
/// next ledger recording is due then; it may be overdue).
pub fn apply(
    def: &mut ScheduleDef,
    ledger: &[LedgerEntry],
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let policy = def.burnout?;
    let planned = plan(&def.schedule, policy, ledger, now, now + PROJECTION_HORIZON);
    let s = &mut def.schedule;
    let mut assigned: Vec<BTreeMap<i64, Assignment>> = vec![BTreeMap::new(); s.layers.len()];
    let mut notes = OverrideNotes::new();
    for e in ledger {
        let a = Assignment {
            person: e.person.clone(),
            reason: e.reason.clone(),
            projected: false,
            flagged: e.flagged,
        };
        if e.turn.is_none() {
            notes.insert((e.person.clone(), e.start, e.end), a);
            continue;
        }
        let Some(i) = s.layers.iter().position(|l| l.name == e.layer) else {
            continue;
        };
        // Only where the turn is still the one recorded (a changed rotation moves turns).
        if let Some(t) = s.layers[i].rotation.shift_at(e.start)
            && t.start == e.start
        {
            assigned[i].insert(t.index, a);
        }
    }
    for p in &planned {
        let a = Assignment {
            person: p.decision.person.clone(),
            reason: p.decision.reason.clone(),
            projected: true,
            flagged: p.decision.flagged,
        };
        match p.slot {
            SlotRef::Turn { layer, index } => {
                assigned[layer].insert(index, a);
            }
            SlotRef::Override(k) => {
                let o = &s.overrides[k];
                notes.insert((o.person.clone(), o.start, o.end), a);
            }
        }
    }
    for (layer, a) in s.layers.iter_mut().zip(assigned) {
        layer.assigned = Arc::new(a);
    }
    def.override_notes = Arc::new(notes);
    planned.first().map(|p| p.start)
}
