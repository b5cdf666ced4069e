//! Burnout limits: who takes a shift given who took the ones before.
//!
//! A schedule's rotation names a **candidate** for each layer turn; the limits can move the
//! turn to the next member in rotation order who is eligible. The decision is a pure function
//! of the history (the shift ledger, with the incidents paged during each shift), the limits
//! and the turn, so the daemon (recording a turn as it starts) and the projections (future
//! turns, no new incidents) give the same answer for the same history.
//!
//! Rules, checked for each member in turn from the candidate on:
//! - **weeks per quarter**: the person's on-call weeks in the calendar quarter (schedule zone)
//!   in which the turn starts, plus this turn, may not exceed `max_weeks_per_quarter`.
//! - **consecutive evening weeks**: on a layer marked `evening`, the person's unbroken run of
//!   evening turns ending where this one starts, plus this one, may not exceed
//!   `max_consecutive_evening_weeks`.
//! - **rest after a busy week**: more than `rest_after_busy_week` incidents paged to the
//!   person during a shift → their next turn as candidate is skipped, and they are not picked
//!   as a replacement until it has been.
//! - **minimum rest** (optional): at least `min_rest_hours` between the end of the person's
//!   last shift and the start of this one.
//!
//! **How shifts count as weeks**: a shift counts as its length in local wall-clock time
//! divided by 7 × 24 h, so a 1-week turn is one week even across a daylight-saving change,
//! a 12-hour turn is 1/14 of a week and a monthly one about 4.3. A turn with restrictions
//! (say 17:00–09:00 evenings) counts by its whole turn: an evening week is one on-call week.
//! A shift counts toward the quarter in which it starts. Where an override covers part of
//! someone else's turn, those hours count for the override's person, not the turn's.
//!
//! **Overrides** set by an admin always win; their hours count toward the limits like a
//! turn's, and one that breaks a limit is taken and **flagged**. If nobody is eligible the
//! turn still goes to someone: the **least-loaded** member (fewest weeks this quarter, then
//! rotation order), and the decision says so (the daemon tells the schedule's owner).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDateTime, Utc};

use super::policy::{OverrideNotes, ScheduleDef};
use super::schedule::{Assignment, Schedule};

/// One on-call week; the load report counts weeks with it too.
pub(super) const WEEK_MINUTES: i64 = 7 * 24 * 60;

/// A schedule's limits; `None` switches a rule off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BurnoutPolicy {
    pub max_weeks_per_quarter: Option<u32>,
    pub max_consecutive_evening_weeks: Option<u32>,
    /// More than this many incidents in a shift → the next turn is skipped.
    pub rest_after_busy_week: Option<u32>,
    pub min_rest_hours: Option<u32>,
}

impl Default for BurnoutPolicy {
    /// The operations manual's limits: 4 weeks a quarter, 2 evening weeks in a row, a rest
    /// after more than 3 incidents; no minimum rest.
    fn default() -> Self {
        Self {
            max_weeks_per_quarter: Some(4),
            max_consecutive_evening_weeks: Some(2),
            rest_after_busy_week: Some(3),
            min_rest_hours: None,
        }
    }
}

/// One shift to decide: a layer turn (with its rotation candidate) or an override.
#[derive(Debug, Clone)]
pub struct Slot<'a> {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The same instants in the schedule's zone.
    pub local_start: NaiveDateTime,
    pub local_end: NaiveDateTime,
    pub evening: bool,
    pub candidate: &'a str,
    /// Rotation order to look for a replacement in (the layer's members); empty for an
    /// override, whose person is `candidate` and always takes it.
    pub members: &'a [String],
}

impl Slot<'_> {
    fn minutes(&self) -> i64 {
        (self.local_end - self.local_start).num_minutes().max(0)
    }

    fn is_override(&self) -> bool {
        self.members.is_empty()
    }
}

/// A shift someone took, as the ledger has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    pub person: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub local_start: NaiveDateTime,
    pub local_end: NaiveDateTime,
    pub evening: bool,
    /// Incidents paged to the person during the shift (projections: none).
    pub incidents: u32,
    /// They served a rest (were skipped as candidate) after their last busy shift.
    pub rested: bool,
    /// An override: its hours come off the turns of others it covers.
    pub is_override: bool,
}

/// Who takes a slot, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub person: String,
    pub candidate: String,
    /// e.g. "bob skipped: 4 on-call weeks in 2026-Q1 already (limit 4) → carol".
    pub reason: String,
    /// Members passed over because of a limit.
    pub skipped: Vec<String>,
    /// An override that breaks a limit.
    pub flagged: bool,
    /// Nobody was eligible; the least-loaded member took it (the owner is told).
    pub nobody_eligible: bool,
    /// The candidate was skipped for a rest after a busy week (it is served).
    pub rested: bool,
}

/// The calendar quarter of a local date-time, e.g. (2026, 1).
pub fn quarter(t: NaiveDateTime) -> (i32, u32) {
    (t.year(), (t.month() - 1) / 3 + 1)
}

/// Weeks as people read them: "4", "1.5".
pub fn weeks_text(minutes: i64) -> String {
    let w = minutes as f64 / WEEK_MINUTES as f64;
    if (w - w.round()).abs() < 0.005 {
        format!("{}", w.round() as i64)
    } else {
        format!("{w:.1}")
    }
}

/// Per-person history, updated as shifts are decided.
#[derive(Debug, Clone, Default)]
pub struct Load {
    policy: Option<BurnoutPolicy>,
    people: HashMap<String, Vec<Taken>>,
    /// Overrides taken so far: (start, end, person).
    overrides: Vec<(DateTime<Utc>, DateTime<Utc>, String)>,
}

/// Minutes of `[a, b)` that `[c, d)` covers.
pub(super) fn overlap_minutes(
    a: DateTime<Utc>,
    b: DateTime<Utc>,
    c: DateTime<Utc>,
    d: DateTime<Utc>,
) -> i64 {
    (b.min(d) - a.max(c)).num_minutes().max(0)
}

impl Load {
    /// `history` in start order.
    pub fn new(policy: BurnoutPolicy, history: impl IntoIterator<Item = Taken>) -> Self {
        let mut load = Self {
            policy: Some(policy),
            people: HashMap::new(),
            overrides: Vec::new(),
        };
        for t in history {
            load.push(t);
        }
        load
    }

    fn push(&mut self, t: Taken) {
        if t.is_override {
            self.overrides.push((t.start, t.end, t.person.clone()));
        }
        self.people.entry(t.person.clone()).or_default().push(t);
    }

    /// A shift's on-call minutes (local length), less what others' overrides covered of a
    /// turn: whoever covers a turn is on call for it, not the turn's person.
    fn served_minutes(&self, t: &Taken) -> i64 {
        let whole = (t.local_end - t.local_start).num_minutes().max(0);
        if t.is_override {
            return whole;
        }
        let covered: i64 = (self.overrides.iter())
            .filter(|(_, _, who)| *who != t.person)
            .map(|&(s, e, _)| overlap_minutes(t.start, t.end, s, e))
            .sum();
        (whole - covered).max(0)
    }

    /// The person's on-call minutes in the quarter `q` (shifts starting in it).
    pub fn quarter_minutes(&self, person: &str, q: (i32, u32)) -> i64 {
        let Some(ts) = self.people.get(person) else {
            return 0;
        };
        // Newest first, stopping at the first shift of an earlier quarter.
        ts.iter()
            .rev()
            .skip_while(|t| quarter(t.local_start) > q)
            .take_while(|t| quarter(t.local_start) == q)
            .map(|t| self.served_minutes(t))
            .sum()
    }

    /// Why `person` may not take `slot`, if a limit stands in the way.
    pub fn refusal(&self, person: &str, slot: &Slot<'_>) -> Option<String> {
        let p = self.policy?;
        let mine = self.people.get(person).map(Vec::as_slice).unwrap_or(&[]);
        if let Some(max) = p.max_weeks_per_quarter {
            let q = quarter(slot.local_start);
            let done = self.quarter_minutes(person, q);
            if done + slot.minutes() > i64::from(max) * WEEK_MINUTES {
                return Some(format!(
                    "{} on-call weeks in {}-Q{} already (limit {max})",
                    weeks_text(done),
                    q.0,
                    q.1
                ));
            }
        }
        if let (Some(max), true) = (p.max_consecutive_evening_weeks, slot.evening) {
            // The unbroken run of evening shifts ending where this one starts.
            let mut edge = slot.start;
            let mut run = 0;
            for t in mine.iter().rev().filter(|t| t.evening) {
                if t.end != edge {
                    break;
                }
                run += self.served_minutes(t);
                edge = t.start;
            }
            if run > 0 && run + slot.minutes() > i64::from(max) * WEEK_MINUTES {
                return Some(format!(
                    "{} consecutive evening weeks already (limit {max})",
                    weeks_text(run)
                ));
            }
        }
        let last = mine.iter().rev().find(|t| !t.rested && t.end <= slot.start);
        if let (Some(n), Some(busy)) = (p.rest_after_busy_week, last)
            && busy.incidents > n
            && !mine.iter().any(|t| t.rested && t.start >= busy.end)
        {
            return Some(format!(
                "rest after a busy shift ({} incidents from {}, more than {n})",
                busy.incidents,
                busy.local_start.format("%Y-%m-%d")
            ));
        }
        if let Some(h) = p.min_rest_hours {
            let last_end = (mine.iter())
                .filter(|t| !t.rested && t.start < slot.start)
                .map(|t| t.end)
                .max();
            if let Some(end) = last_end
                && slot.start - end < chrono::Duration::hours(i64::from(h))
            {
                let rest = (slot.start - end).num_minutes().max(0);
                return Some(format!(
                    "only {} h rest since the last shift (minimum {h} h)",
                    rest / 60
                ));
            }
        }
        None
    }

    /// Decides `slot` and records the outcome (with no incidents yet).
    pub fn decide(&mut self, slot: &Slot<'_>) -> Decision {
        let decision = self.choose(slot);
        self.push(Taken {
            person: decision.person.clone(),
            start: slot.start,
            end: slot.end,
            local_start: slot.local_start,
            local_end: slot.local_end,
            evening: slot.evening,
            incidents: 0,
            rested: false,
            is_override: slot.is_override(),
        });
        if decision.rested
            && let Some(ts) = self.people.get_mut(&decision.candidate)
        {
            // The skip served the rest: recorded as a zero-length marker at the slot start.
            ts.push(Taken {
                person: decision.candidate.clone(),
                start: slot.start,
                end: slot.start,
                local_start: slot.local_start,
                local_end: slot.local_start,
                evening: false,
                incidents: 0,
                rested: true,
                is_override: false,
            });
            ts.sort_by_key(|t| t.start);
        }
        decision
    }

    fn choose(&self, slot: &Slot<'_>) -> Decision {
        let candidate = slot.candidate.to_string();
        let mut d = Decision {
            person: candidate.clone(),
            candidate: candidate.clone(),
            reason: String::new(),
            skipped: Vec::new(),
            flagged: false,
            nobody_eligible: false,
            rested: false,
        };
        if slot.is_override() {
            match self.refusal(slot.candidate, slot) {
                Some(why) => {
                    d.flagged = true;
                    d.reason = format!("override: {candidate} takes it over a limit: {why}");
                }
                None => d.reason = format!("override: {candidate}"),
            }
            return d;
        }
        let n = slot.members.len();
        let at = slot
            .members
            .iter()
            .position(|m| m == slot.candidate)
            .unwrap_or(0);
        let mut why_not = Vec::new();
        for k in 0..n {
            let m = &slot.members[(at + k) % n];
            match self.refusal(m, slot) {
                None => {
                    d.person = m.clone();
                    d.reason = if why_not.is_empty() {
                        format!("{m}'s turn")
                    } else {
                        format!("{} → {m}", why_not.join("; "))
                    };
                    return d;
                }
                Some(why) => {
                    if k == 0 && why.starts_with("rest after") {
                        d.rested = true;
                    }
                    why_not.push(format!("{m} skipped: {why}"));
                    d.skipped.push(m.clone());
                }
            }
        }
        // Nobody eligible: the shift is still covered, by the least loaded (rotation order
        // breaks ties, starting from the candidate).
        let q = quarter(slot.local_start);
        let pick = (0..n)
            .map(|k| &slot.members[(at + k) % n])
            .min_by_key(|m| self.quarter_minutes(m, q))
            .cloned()
            .unwrap_or(candidate);
        d.reason = format!(
            "nobody eligible ({}) → least-loaded {pick} ({} weeks in {}-Q{})",
            why_not.join("; "),
            weeks_text(self.quarter_minutes(&pick, q)),
            q.0,
            q.1
        );
        d.skipped.retain(|m| *m != pick);
        d.rested &= pick != d.candidate;
        d.person = pick;
        d.nobody_eligible = true;
        d
    }
}

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
    let local = |t: DateTime<Utc>| t.with_timezone(&schedule.zone).naive_local();
    let mut history: Vec<Taken> = Vec::with_capacity(ledger.len() + 4);
    for e in ledger {
        history.push(Taken {
            person: e.person.clone(),
            start: e.start,
            end: e.end,
            local_start: local(e.start),
            local_end: local(e.end),
            evening: e.evening,
            incidents: e.incidents,
            rested: false,
            is_override: e.turn.is_none(),
        });
        if e.rested {
            history.push(Taken {
                person: e.candidate.clone(),
                start: e.start,
                end: e.start,
                local_start: local(e.start),
                local_end: local(e.start),
                evening: false,
                incidents: 0,
                rested: true,
                is_override: false,
            });
        }
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
        let (candidate, members, evening): (&str, &[String], bool) = match what {
            SlotRef::Turn { layer, index } => {
                let l = &schedule.layers[layer];
                (l.rotation.member(index), &l.rotation.members, l.evening)
            }
            SlotRef::Override(k) => (&schedule.overrides[k].person, &[], false),
        };
        let slot = Slot {
            start,
            end,
            local_start: local(start),
            local_end: local(end),
            evening,
            candidate,
            members,
        };
        let decision = load.decide(&slot);
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, NaiveDate};
    use proptest::prelude::*;

    fn members(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    /// Week `k` from Monday 2026-01-05 (UTC zone: local = UTC).
    fn week(k: i64) -> (NaiveDateTime, NaiveDateTime) {
        let monday = NaiveDate::from_ymd_opt(2026, 1, 5)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap();
        (monday + Duration::weeks(k), monday + Duration::weeks(k + 1))
    }

    fn slot<'a>(k: i64, candidate: &'a str, members: &'a [String], evening: bool) -> Slot<'a> {
        let (a, b) = week(k);
        Slot {
            start: a.and_utc(),
            end: b.and_utc(),
            local_start: a,
            local_end: b,
            evening,
            candidate,
            members,
        }
    }

    fn taken(k: i64, person: &str, incidents: u32, evening: bool) -> Taken {
        let (a, b) = week(k);
        Taken {
            person: person.into(),
            start: a.and_utc(),
            end: b.and_utc(),
            local_start: a,
            local_end: b,
            evening,
            incidents,
            rested: false,
            is_override: false,
        }
    }

    fn only(p: BurnoutPolicy) -> BurnoutPolicy {
        p
    }

    const OFF: BurnoutPolicy = BurnoutPolicy {
        max_weeks_per_quarter: None,
        max_consecutive_evening_weeks: None,
        rest_after_busy_week: None,
        min_rest_hours: None,
    };

    #[test]
    fn the_quarter_cap_moves_the_turn_to_the_next_eligible_member() {
        let m = members(&["alice", "bob", "carol"]);
        let history = (0..4).map(|k| taken(k, "bob", 0, false));
        let mut load = Load::new(BurnoutPolicy::default(), history);
        let d = load.decide(&slot(4, "bob", &m, false));
        assert_eq!(d.person, "carol");
        assert_eq!(
            d.reason,
            "bob skipped: 4 on-call weeks in 2026-Q1 already (limit 4) → carol"
        );
        assert_eq!(d.skipped, ["bob"]);
        // A new quarter (week 13 starts 2026-04-06) resets the count.
        let d = load.decide(&slot(13, "bob", &m, false));
        assert_eq!(
            (d.person.as_str(), d.reason.as_str()),
            ("bob", "bob's turn")
        );
    }

    #[test]
    fn two_consecutive_evening_weeks_at_most() {
        let m = members(&["ann", "ben"]);
        let p = only(BurnoutPolicy {
            max_consecutive_evening_weeks: Some(2),
            ..OFF
        });
        let history = [taken(0, "ann", 0, true), taken(1, "ann", 0, true)];
        let mut load = Load::new(p, history.clone());
        let d = load.decide(&slot(2, "ann", &m, true));
        assert_eq!(
            d.reason,
            "ann skipped: 2 consecutive evening weeks already (limit 2) → ben"
        );
        // A day layer is no evening: no limit there.
        let mut load = Load::new(p, history);
        assert_eq!(load.decide(&slot(2, "ann", &m, false)).person, "ann");
    }

    #[test]
    fn a_rest_follows_more_than_three_incidents_not_three() {
        let m = members(&["ann", "ben"]);
        let p = BurnoutPolicy::default();
        for (incidents, want) in [(3, "ann"), (4, "ben")] {
            let mut load = Load::new(p, [taken(0, "ann", incidents, false)]);
            let d = load.decide(&slot(2, "ann", &m, false));
            assert_eq!(d.person, want, "{incidents}: {}", d.reason);
        }
        let mut load = Load::new(p, [taken(0, "ann", 4, false)]);
        let d = load.decide(&slot(2, "ann", &m, false));
        assert_eq!(
            d.reason,
            "ann skipped: rest after a busy shift (4 incidents from 2026-01-05, more than 3) → ben"
        );
        // The rest is served once: her following turn is hers again.
        load.decide(&slot(3, "ben", &m, false));
        assert_eq!(load.decide(&slot(4, "ann", &m, false)).person, "ann");
    }

    #[test]
    fn minimum_rest_between_shifts() {
        let m = members(&["ann", "ben"]);
        let p = BurnoutPolicy {
            min_rest_hours: Some(12),
            ..OFF
        };
        let mut load = Load::new(p, [taken(0, "ann", 0, false)]);
        let d = load.decide(&slot(1, "ann", &m, false));
        assert_eq!(
            d.reason,
            "ann skipped: only 0 h rest since the last shift (minimum 12 h) → ben"
        );
        assert_eq!(load.decide(&slot(3, "ann", &m, false)).person, "ann");
    }

    #[test]
    fn nobody_eligible_goes_to_the_least_loaded() {
        let m = members(&["ann", "ben"]);
        let mut history: Vec<Taken> = (0..4).map(|k| taken(k, "ann", 0, false)).collect();
        history.extend((4..8).map(|k| taken(k, "ben", 0, false)));
        history.push(taken(8, "ann", 0, false));
        history.sort_by_key(|t| t.start);
        // Ann has 5 (over by an earlier override, say), Ben 4.
        let mut load = Load::new(BurnoutPolicy::default(), history);
        let d = load.decide(&slot(9, "ann", &m, false));
        assert!(d.nobody_eligible);
        assert_eq!(d.person, "ben");
        assert_eq!(
            d.reason,
            "nobody eligible (ann skipped: 5 on-call weeks in 2026-Q1 already (limit 4); \
             ben skipped: 4 on-call weeks in 2026-Q1 already (limit 4)) → least-loaded ben \
             (4 weeks in 2026-Q1)"
        );
        assert_eq!(d.skipped, ["ann"]);
    }

    #[test]
    fn an_override_beyond_the_cap_is_taken_and_flagged() {
        let history = (0..4).map(|k| taken(k, "dana", 0, false));
        let mut load = Load::new(BurnoutPolicy::default(), history);
        let d = load.decide(&slot(5, "dana", &[], false));
        assert_eq!(d.person, "dana");
        assert!(d.flagged);
        assert_eq!(
            d.reason,
            "override: dana takes it over a limit: 4 on-call weeks in 2026-Q1 already (limit 4)"
        );
        // And it counts: 5 weeks now.
        assert_eq!(load.quarter_minutes("dana", (2026, 1)), 5 * WEEK_MINUTES);
        let mut load = Load::new(BurnoutPolicy::default(), []);
        let d = load.decide(&slot(5, "dana", &[], false));
        assert!(!d.flagged);
        assert_eq!(d.reason, "override: dana");
        // Covering someone's turn moves its hours: bob's week 5 is dana's.
        let m = members(&["bob", "dana"]);
        let mut load = Load::new(BurnoutPolicy::default(), []);
        load.decide(&slot(5, "bob", &m, false));
        assert_eq!(load.quarter_minutes("bob", (2026, 1)), WEEK_MINUTES);
        load.decide(&slot(5, "dana", &[], false));
        assert_eq!(load.quarter_minutes("bob", (2026, 1)), 0);
        assert_eq!(load.quarter_minutes("dana", (2026, 1)), WEEK_MINUTES);
    }

    #[test]
    fn shifts_count_as_their_local_length_in_weeks() {
        // A 169-hour DST week is one week in local time; 12 h is 1/14.
        assert_eq!(weeks_text(WEEK_MINUTES), "1");
        assert_eq!(weeks_text(12 * 60), "0.1");
        assert_eq!(weeks_text(WEEK_MINUTES * 3 / 2), "1.5");
        let local = |d: u32, h: u32| {
            NaiveDate::from_ymd_opt(2026, 3, d)
                .unwrap()
                .and_hms_opt(h, 0, 0)
                .unwrap()
        };
        let (a, b) = (local(2, 9), local(9, 9));
        let t = Taken {
            person: "x".into(),
            start: a.and_utc(),
            end: b.and_utc() - Duration::hours(1), // 167 h of real time
            local_start: a,
            local_end: b,
            evening: false,
            incidents: 0,
            rested: false,
            is_override: false,
        };
        let load = Load::new(BurnoutPolicy::default(), [t]);
        assert_eq!(load.quarter_minutes("x", (2026, 1)), WEEK_MINUTES);
    }

    fn arb_policy() -> impl Strategy<Value = BurnoutPolicy> {
        (
            prop::option::of(1u32..6),
            prop::option::of(1u32..4),
            prop::option::of(0u32..4),
            prop::option::of(1u32..200),
        )
            .prop_map(|(a, b, c, d)| BurnoutPolicy {
                max_weeks_per_quarter: a,
                max_consecutive_evening_weeks: b,
                rest_after_busy_week: c,
                min_rest_hours: d,
            })
    }

    proptest! {
        /// Over a year of weekly turns with random incidents and overrides: every turn goes to
        /// somebody on the rotation (or the override's person); a member is only skipped for
        /// a stated limit; when some member was eligible, whoever took it breaks no limit;
        /// a flagged override is exactly one that breaks a limit.
        #[test]
        fn projections_cover_every_turn_and_keep_the_limits(
            policy in arb_policy(),
            n in 1usize..6,
            evening in any::<bool>(),
            incidents in prop::collection::vec(0u32..6, 52),
            overrides in prop::collection::vec(prop::option::weighted(0.1, 0usize..6), 52),
        ) {
            let m: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
            let mut load = Load::new(policy, []);
            for k in 0..52i64 {
                let candidate = &m[k as usize % n];
                let s = match overrides[k as usize] {
                    Some(o) => slot(k, &m[o % n], &[], evening),
                    None => slot(k, candidate, &m, evening),
                };
                let before = load.clone();
                let d = load.decide(&s);
                prop_assert!(m.contains(&d.person), "{:?}", d);
                prop_assert!(!d.reason.is_empty());
                if s.is_override() {
                    prop_assert_eq!(&d.person, s.candidate);
                    prop_assert_eq!(d.flagged, before.refusal(s.candidate, &s).is_some());
                } else if !d.nobody_eligible {
                    prop_assert_eq!(before.refusal(&d.person, &s), None);
                    for p in &d.skipped {
                        prop_assert!(before.refusal(p, &s).is_some());
                    }
                } else {
                    for p in &m {
                        prop_assert!(before.refusal(p, &s).is_some());
                    }
                }
                // The shift's incidents become known when it ends.
                if let Some(ts) = load.people.get_mut(&d.person)
                    && let Some(t) = ts.iter_mut().rev().find(|t| t.start == s.start && !t.rested)
                {
                    t.incidents = incidents[k as usize];
                }
            }
        }

        /// Deciding from a history replayed from the ledger gives the same decisions as
        /// deciding in one go (restart safety of projections).
        #[test]
        fn a_replayed_history_decides_the_same(policy in arb_policy(), n in 1usize..6, cut in 1i64..51) {
            let m: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
            let mut whole = Load::new(policy, []);
            let all: Vec<Decision> = (0..52i64).map(|k| whole.decide(&slot(k, &m[k as usize % n], &m, true))).collect();
            let mut replay = Load::new(policy, []);
            for k in 0..cut {
                replay.decide(&slot(k, &m[k as usize % n], &m, true));
            }
            let history: Vec<Taken> = replay.people.values().flatten().cloned().collect::<Vec<_>>();
            let mut history = history;
            history.sort_by_key(|t| (t.start, t.rested));
            let mut restarted = Load::new(policy, history);
            for k in cut..52 {
                let d = restarted.decide(&slot(k, &m[k as usize % n], &m, true));
                prop_assert_eq!(&d, &all[k as usize]);
            }
        }
    }
}
