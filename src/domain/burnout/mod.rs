//! Burnout limits: who takes a shift given who took the ones before.
//!
//! A schedule's rotation names a **candidate** for each layer turn; the limits can move the
//! turn to another member. The decision is a pure function of the history (the shift ledger,
//! with the incidents paged during each shift), the limits and the turn, so the daemon
//! (recording a turn as it starts), the projections (future turns, no new incidents) and a
//! simulator (replaying recorded incidents) give the same answer for the same history:
//! build a [`Load`] from the history and call [`Load::decide`] for each slot in start order
//! ([`plan`] does exactly that for a schedule and its ledger; [`plan_with`] also gives each
//! decided shift its incidents, for a what-if over recorded ones).
//!
//! Rules, checked for each member:
//! - **weeks per quarter**: the person's on-call weeks in the calendar quarter (schedule zone)
//!   in which the turn starts, plus this turn, may not exceed `max_weeks_per_quarter`.
//! - **consecutive evening weeks**: on a layer marked `evening`, the person's unbroken run of
//!   evening turns ending where this one starts, plus this one, may not exceed
//!   `max_consecutive_evening_weeks`.
//! - **rest after a busy shift**: a shift in which more than `rest_after_busy_week`
//!   incidents were paged to the person starts a rest of `rest_days` (default 7) from the
//!   shift's end, in local days (schedule zone); a turn starting within the rest is not theirs. A turn starting when the rest
//!   is over (or later) is theirs as usual.
//! - **minimum rest** (optional): at least `min_rest_hours` between the end of the person's
//!   last shift and the start of this one.
//!
//! **Who takes a moved turn** (the candidate is refused): the first member after the
//! candidate in rotation order who is eligible and would not be on call two turns in a row
//! (neither took the layer's previous turn, nor has the next turn while the candidate could
//! not swap it back). Only if every eligible member would be, the first eligible one takes
//! it, **flagged** "back to back: nobody else eligible".
//!
//! **Swaps, not double shifts**: the replacement's next regular turn in that layer goes to
//! the skipped person if they are eligible then (and it would not put them on two turns in a
//! row, except in a two-person rotation, where it is flagged); the decision names both
//! halves. If not, the replacement keeps their turn (the swap lapses).
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

mod plan;
#[cfg(test)]
mod swap_tests;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDateTime, Utc};

pub use plan::{
    LOOKBACK, LedgerEntry, PROJECTION_HORIZON, Planned, SlotRef, apply, plan, plan_with,
};

/// One on-call week; the load report counts weeks with it too.
pub const WEEK_MINUTES: i64 = 7 * 24 * 60;

/// A schedule's limits; `None` switches a rule off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BurnoutPolicy {
    pub max_weeks_per_quarter: Option<u32>,
    pub max_consecutive_evening_weeks: Option<u32>,
    /// More than this many incidents in a shift → a rest of `rest_days` after it.
    pub rest_after_busy_week: Option<u32>,
    /// How long the rest after a busy shift lasts, from the shift's end.
    pub rest_days: u32,
    pub min_rest_hours: Option<u32>,
}

/// The operations manual's rest: the week after a busy one.
pub const DEFAULT_REST_DAYS: u32 = 7;

impl Default for BurnoutPolicy {
    /// The operations manual's limits: 4 weeks a quarter, 2 evening weeks in a row, a week's
    /// rest after more than 3 incidents; no minimum rest.
    fn default() -> Self {
        Self {
            max_weeks_per_quarter: Some(4),
            max_consecutive_evening_weeks: Some(2),
            rest_after_busy_week: Some(3),
            rest_days: DEFAULT_REST_DAYS,
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
    /// The layer's name (swaps and back-to-back turns are per layer); empty for an override.
    pub layer: &'a str,
}

impl Slot<'_> {
    fn minutes(&self) -> i64 {
        (self.local_end - self.local_start).num_minutes().max(0)
    }

    fn is_override(&self) -> bool {
        self.members.is_empty()
    }

    /// The layer's following turn, as far as the limits can tell it apart (same length).
    fn following(&self) -> Self {
        Self {
            start: self.end,
            end: self.end + (self.end - self.start),
            local_start: self.local_end,
            local_end: self.local_end + (self.local_end - self.local_start),
            ..self.clone()
        }
    }
}

/// How a layer turn came to its person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnKind {
    /// The candidate's own turn (or an override).
    Own,
    /// Moved from the candidate by the named limit (see [`limit_label`]); the candidate is
    /// owed the person's next turn.
    Moved(&'static str),
    /// The second half of a swap: the candidate had taken this person's turn earlier.
    Swap,
    /// Nobody was eligible; the least-loaded member took it.
    Forced,
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
    /// An override: its hours come off the turns of others it covers.
    pub is_override: bool,
    /// The layer of a turn; empty for an override.
    pub layer: String,
    /// Whose turn it was by rotation.
    pub candidate: String,
    pub kind: TurnKind,
    /// Flagged (a back-to-back turn, or an override over a limit).
    pub flagged: bool,
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
    /// An override that breaks a limit, or a turn that puts someone on call two turns in a
    /// row because nobody else was eligible (`back_to_back`).
    pub flagged: bool,
    /// Nobody was eligible; the least-loaded member took it (the owner is told).
    pub nobody_eligible: bool,
    /// The candidate was skipped for a rest after a busy shift.
    pub rested: bool,
    /// The second half of a swap: the person takes back a turn of the candidate, who took
    /// theirs earlier.
    pub swap: bool,
    /// The person is on call for this layer two turns in a row because of this decision
    /// (or the one before it could not be avoided); nobody else could take it.
    pub back_to_back: bool,
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

/// The short name of the limit a refusal text (from [`Load::refusal`]) comes from, as swaps
/// quote it: "rest after busy shift", "weeks per quarter", ….
pub fn limit_label(why: &str) -> &'static str {
    if why.contains("rest after a busy shift") {
        "rest after busy shift"
    } else if why.contains("on-call weeks in") {
        "weeks per quarter"
    } else if why.contains("consecutive evening weeks") {
        "consecutive evening weeks"
    } else if why.contains("rest since the last shift") {
        "minimum rest"
    } else {
        "limit"
    }
}

/// "14 Dec": how a swap names a turn.
fn day(t: NaiveDateTime) -> String {
    t.format("%-d %b").to_string()
}

/// A layer turn as swaps and back-to-back checks need it.
#[derive(Debug, Clone)]
struct LayerTurn {
    person: String,
    candidate: String,
    end: DateTime<Utc>,
    local_start: NaiveDateTime,
    kind: TurnKind,
    flagged: bool,
}

/// Per-person history, updated as shifts are decided.
#[derive(Debug, Clone, Default)]
pub struct Load {
    policy: Option<BurnoutPolicy>,
    people: HashMap<String, Vec<Taken>>,
    /// Overrides taken so far: (start, end, person).
    overrides: Vec<(DateTime<Utc>, DateTime<Utc>, String)>,
    /// Each layer's turns in start order.
    layers: HashMap<String, Vec<LayerTurn>>,
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
            ..Self::default()
        };
        for t in history {
            load.push(t);
        }
        load
    }

    fn push(&mut self, t: Taken) {
        if t.is_override {
            self.overrides.push((t.start, t.end, t.person.clone()));
        } else if !t.layer.is_empty() {
            self.layers
                .entry(t.layer.clone())
                .or_default()
                .push(LayerTurn {
                    person: t.person.clone(),
                    candidate: t.candidate.clone(),
                    end: t.end,
                    local_start: t.local_start,
                    kind: t.kind,
                    flagged: t.flagged,
                });
        }
        self.people.entry(t.person.clone()).or_default().push(t);
    }

    /// Sets the incidents of `person`'s shift starting at `start` (a simulator replaying
    /// recorded incidents calls this once the shift is over; tests too).
    pub fn set_incidents(&mut self, person: &str, start: DateTime<Utc>, incidents: u32) {
        if let Some(t) = (self.people.get_mut(person))
            .and_then(|ts| ts.iter_mut().rev().find(|t| t.start == start))
        {
            t.incidents = incidents;
        }
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
        if let Some(n) = p.rest_after_busy_week {
            let rest = chrono::Duration::days(i64::from(p.rest_days));
            // Any busy shift whose rest the turn starts in (shifts end in start order,
            // except overlapping layers, so look back a little past the first miss).
            // In local days, like the turns: a week's rest ends at the same wall-clock time a
            // week later, across a daylight-saving change too.
            let busy = (mine.iter().rev())
                .take_while(|t| t.local_end + rest + rest > slot.local_start)
                .find(|t| {
                    t.incidents > n && t.end <= slot.start && slot.local_start < t.local_end + rest
                });
            if let Some(busy) = busy {
                return Some(format!(
                    "rest after a busy shift ({} incidents from {}, more than {n}, rest until {})",
                    busy.incidents,
                    busy.local_start.format("%Y-%m-%d"),
                    (busy.local_end + rest).format("%Y-%m-%d %H:%M")
                ));
            }
        }
        if let Some(h) = p.min_rest_hours {
            let last_end = (mine.iter())
                .filter(|t| t.start < slot.start)
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

    /// Decides `slot` and records the outcome (with no incidents yet). This is the whole
    /// decision: the daemon, projections and a simulator call it for each slot in start
    /// order, after building the `Load` from the history.
    pub fn decide(&mut self, slot: &Slot<'_>) -> Decision {
        let decision = self.choose(slot);
        let kind = if decision.nobody_eligible && decision.person != decision.candidate {
            TurnKind::Forced
        } else if decision.swap {
            TurnKind::Swap
        } else if decision.person != decision.candidate {
            let why = self.refusal(slot.candidate, slot).unwrap_or_default();
            TurnKind::Moved(limit_label(&why))
        } else {
            TurnKind::Own
        };
        self.push(Taken {
            person: decision.person.clone(),
            start: slot.start,
            end: slot.end,
            local_start: slot.local_start,
            local_end: slot.local_end,
            evening: slot.evening,
            incidents: 0,
            is_override: slot.is_override(),
            layer: slot.layer.to_string(),
            candidate: decision.candidate.clone(),
            kind,
            flagged: decision.flagged,
        });
        decision
    }

    /// The layer's turn that ends where `slot` starts.
    fn previous(&self, slot: &Slot<'_>) -> Option<&LayerTurn> {
        let last = self.layers.get(slot.layer)?.last()?;
        (last.end == slot.start).then_some(last)
    }

    /// The swap `candidate` owes in `layer`: they took someone's turn, moved by a limit, and
    /// have had no turn of their own since. (skipped person, that turn's local start, limit)
    fn owed(&self, layer: &str, candidate: &str) -> Option<(&str, NaiveDateTime, &'static str)> {
        for t in self.layers.get(layer)?.iter().rev() {
            if t.candidate == candidate {
                return None;
            }
            if let (true, TurnKind::Moved(label)) = (t.person == candidate, t.kind) {
                return Some((&t.candidate, t.local_start, label));
            }
        }
        None
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
            swap: false,
            back_to_back: false,
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
        let m = slot.members;
        let n = m.len();
        let at = m.iter().position(|x| x == slot.candidate).unwrap_or(0);
        let next = &m[(at + 1) % n];
        let previous = self.previous(slot);
        // On call two turns in a row (one-person rotations always are: no flag).
        let after_own = |p: &str| n > 1 && previous.is_some_and(|t| t.person == p);
        let mark = |d: &mut Decision, why: &str| {
            d.back_to_back = true;
            d.flagged = true;
            d.reason.push_str(&format!(" (back to back: {why})"));
        };
        let mark_back_to_back = |d: &mut Decision| mark(d, "nobody else eligible");

        // The second half of a swap: the candidate took this person's turn earlier.
        let mut lapsed = None;
        if let Some((owed, when, label)) = self.owed(slot.layer, slot.candidate)
            && m.iter().any(|x| x == owed)
        {
            let why = if after_own(owed) {
                Some("on call the turn before".to_string())
            } else if owed == next && n > 2 {
                Some(format!("{owed}'s own turn follows"))
            } else {
                self.refusal(owed, slot)
            };
            match why {
                None => {
                    d.person = owed.to_string();
                    d.swap = true;
                    d.reason = format!(
                        "{candidate} takes {owed}'s {} turn ({label}); {owed} takes \
                         {candidate}'s {} turn",
                        day(when),
                        day(slot.local_start)
                    );
                    if owed == next {
                        // Two people: the swap still halves the run the move started.
                        mark_back_to_back(&mut d);
                    }
                    return d;
                }
                Some(why) => lapsed = Some(format!(" (no swap back to {owed}: {why})")),
            }
        }

        let Some(own_why) = self.refusal(slot.candidate, slot) else {
            d.reason = format!("{candidate}'s turn{}", lapsed.unwrap_or_default());
            // Left by an earlier decision that could not foresee it (say an override since).
            if after_own(&candidate) && !previous.is_some_and(|t| t.flagged) {
                mark(&mut d, "on call the turn before too");
            }
            return d;
        };
        d.rested = own_why.starts_with("rest after");
        // Would the candidate be refused the next turn too (so no swap back from `next`)?
        let no_swap_from_next = self.refusal(slot.candidate, &slot.following()).is_some();
        let mut why_not = vec![format!("{candidate} skipped: {own_why}")];
        let mut skipped = vec![candidate.clone()];
        let mut eligible = Vec::new();
        for k in 1..n {
            let x = &m[(at + k) % n];
            match self.refusal(x, slot) {
                None => eligible.push(x),
                // Those passed over before the first eligible one, as today's rule says.
                Some(why) if eligible.is_empty() => {
                    why_not.push(format!("{x} skipped: {why}"));
                    skipped.push(x.clone());
                }
                Some(_) => {}
            }
        }
        let clear = |x: &&&String| !(after_own(x) || (**x == next && no_swap_from_next));
        if let Some(&pick) = eligible.iter().find(clear).or(eligible.first()) {
            d.skipped = skipped;
            let passed: Vec<&str> = (eligible.iter())
                .take_while(|x| **x != pick)
                .map(|x| x.as_str())
                .collect();
            d.person = pick.clone();
            d.reason = format!("{} → {pick}", why_not.join("; "));
            if !passed.is_empty() {
                d.reason.push_str(&format!(
                    " ({} on call the turn before or after)",
                    passed.join(", ")
                ));
            }
            d.reason
                .push_str(&format!("; {candidate} is owed {pick}'s next turn"));
            if !clear(&&pick) {
                mark_back_to_back(&mut d);
            }
            return d;
        }

        // Nobody eligible: the shift is still covered, by the least loaded (rotation order
        // breaks ties, starting from the candidate).
        let q = quarter(slot.local_start);
        let pick = (0..n)
            .map(|k| &m[(at + k) % n])
            .min_by_key(|x| self.quarter_minutes(x, q))
            .cloned()
            .unwrap_or(candidate);
        d.skipped = skipped;
        d.reason = format!(
            "nobody eligible ({}) → least-loaded {pick} ({} weeks in {}-Q{})",
            why_not.join("; "),
            weeks_text(self.quarter_minutes(&pick, q)),
            q.0,
            q.1
        );
        d.skipped.retain(|x| *x != pick);
        d.rested &= pick != d.candidate;
        d.person = pick;
        d.nobody_eligible = true;
        if after_own(&d.person) {
            mark_back_to_back(&mut d);
        }
        d
    }
}
