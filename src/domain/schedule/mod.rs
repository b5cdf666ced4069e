//! Schedules: layers of rotations with restrictions, plus overrides, flattened into the final
//! shifts (who is on call when, and why).
//!
//! - A layer's rotation gives turns; its **restrictions** (daily or weekly windows in the
//!   schedule's zone) cut each turn down to the covered windows. No restriction = always.
//! - **Higher layers win** wherever they have someone; lower layers show through elsewhere.
//! - **Overrides** win over every layer for their interval.
//! - A time nobody covers is a **gap** (no final shift there).
//!
//! Restrictions and their expansion into windows are in `restriction`; this file flattens
//! layers and overrides into final shifts. Windows stay at local time across daylight-saving
//! changes ("17:00–09:00" is 17:00–09:00 local).

mod restriction;

pub use restriction::Restriction;
pub(crate) use restriction::windows;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use super::rotation::{Rotation, Turn};
use restriction::push_windows;

#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    pub name: String,
    pub rotation: Rotation,
    pub restrictions: Vec<Restriction>,
    /// An evening/off-hours rotation, for the consecutive-evening-weeks limit.
    pub evening: bool,
    /// Who takes each turn (by index) where the burnout limits decided it: from the shift
    /// ledger for past turns, projected for future ones. Turns not listed go to the
    /// rotation's member. Shared, so cloning a serving set stays cheap.
    pub assigned: Arc<BTreeMap<i64, Assignment>>,
}

/// A turn as the burnout limits decided it (see `domain::burnout`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub person: String,
    /// e.g. "bob skipped: 4 on-call weeks in 2026-Q1 already (limit 4) → carol".
    pub reason: String,
    /// Not recorded in the ledger yet: a projection (no new incidents assumed).
    pub projected: bool,
    /// An override that breaks a limit.
    pub flagged: bool,
}

impl Layer {
    /// Who takes turn `n`: the decided person, else the rotation's member.
    pub fn member(&self, n: i64) -> &str {
        match self.assigned.get(&n) {
            Some(a) => &a.person,
            None => self.rotation.member(n),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub person: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub name: String,
    pub zone: Tz,
    /// Lowest first: a later layer wins over an earlier one.
    pub layers: Vec<Layer>,
    pub overrides: Vec<Override>,
}

/// What put a person on call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Index into `Schedule::layers`.
    Layer(usize),
    /// Index into `Schedule::overrides`.
    Override(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalShift {
    pub person: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub source: Source,
}

/// A half-open UTC interval `[start, end)`.
type Span = (DateTime<Utc>, DateTime<Utc>);

/// The layer's turns cut to its restrictions, within `[from, to)`: disjoint, in order, each
/// with its turn index.
fn layer_spans(
    layer: &Layer,
    zone: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(Span, i64)> {
    let turns = layer.rotation.turns_between(from, to);
    let clip = |t: &Turn| (t.start.max(from), t.end.min(to));
    if layer.restrictions.is_empty() {
        return turns.iter().map(|t| (clip(t), t.index)).collect();
    }
    let (Some(first), Some(last)) = (turns.first(), turns.last()) else {
        return Vec::new();
    };
    // Windows over the whole range at once (not per turn), merged, then intersected with the
    // turns in one pass: both lists are sorted and disjoint.
    let (wfrom, wto) = (first.start.max(from), last.end.min(to));
    let mut windows = Vec::new();
    for r in &layer.restrictions {
        push_windows(r, zone, wfrom, wto, &mut windows);
    }
    windows.sort_unstable();
    let windows = merge(windows);
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < turns.len() && j < windows.len() {
        let ((ts, te), (ws, we)) = (clip(&turns[i]), windows[j]);
        let (s, e) = (ts.max(ws), te.min(we));
        if s < e {
            out.push(((s, e), turns[i].index));
        }
        if te <= we {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// Merges overlapping or touching spans (sorted by start).
fn merge(spans: Vec<Span>) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for (s, e) in spans {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

impl Schedule {
    /// How a source reads to people: "layer evenings" or "override (swap with sam)".
    pub fn describe(&self, source: &Source) -> String {
        match source {
            Source::Layer(i) => format!("layer {}", self.layers[*i].name),
            Source::Override(i) => format!("override ({})", self.overrides[*i].reason),
        }
    }

    /// The final shifts overlapping `[from, to)`, in time order; adjacent pieces with the same
    /// person and source are joined. Times with no shift are gaps.
    pub fn final_shifts(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<FinalShift> {
        if to <= from {
            return Vec::new();
        }
        // A sweep over the start and end of every candidate span. Each candidate has a rank:
        // layer `i` ranks `i`, override `i` ranks `layers.len() + i`, so the highest active
        // rank wins (overrides over layers, the latest override first, higher layers over
        // lower). At most one span per rank is active at a time: a layer's spans are disjoint
        // and each override is one span.
        let n_layers = self.layers.len();
        let mut events: Vec<(DateTime<Utc>, bool, usize, &str)> = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            for ((s, e), turn) in layer_spans(layer, self.zone, from, to) {
                let person = layer.member(turn);
                events.push((s, true, i, person));
                events.push((e, false, i, person));
            }
        }
        for (i, o) in self.overrides.iter().enumerate() {
            let (s, e) = (o.start.max(from), o.end.min(to));
            if s < e {
                events.push((s, true, n_layers + i, &o.person));
                events.push((e, false, n_layers + i, &o.person));
            }
        }
        // Ends sort before starts at the same instant, so a span ending where the next one
        // of the same rank begins frees the rank first.
        events.sort_unstable_by_key(|&(t, is_start, _, _)| (t, is_start));
        let source = |rank: usize| match rank.checked_sub(n_layers) {
            Some(i) => Source::Override(i),
            None => Source::Layer(rank),
        };

        let mut active: BTreeMap<usize, &str> = BTreeMap::new();
        // The piece being built: rank, person, start.
        let mut current: Option<(usize, &str, DateTime<Utc>)> = None;
        let mut out = Vec::new();
        let mut k = 0;
        while k < events.len() {
            let t = events[k].0;
            while let Some(&(et, is_start, rank, person)) = events.get(k) {
                if et != t {
                    break;
                }
                if is_start {
                    active.insert(rank, person);
                } else {
                    active.remove(&rank);
                }
                k += 1;
            }
            let winner = active.last_key_value().map(|(&r, &p)| (r, p));
            if let (Some((r, p, _)), Some((wr, wp))) = (current, winner)
                && r == wr
                && p == wp
            {
                continue; // same person and source: the piece goes on
            }
            if let Some((r, p, s)) = current {
                out.push(FinalShift {
                    person: p.to_string(),
                    start: s,
                    end: t,
                    source: source(r),
                });
            }
            current = winner.map(|(r, p)| (r, p, t));
        }
        out
    }

    /// Who is on call at `at`, with the whole final shift around it; `None` in a gap. The
    /// same shift as `final_shifts` gives around `at` for a window reaching
    /// `ON_CALL_REACH` (two months) either side, so a longer shift is cut there.
    pub fn on_call(&self, at: DateTime<Utc>) -> Option<FinalShift> {
        // This runs for every page to a schedule, so it looks only at what can matter:
        // overrides first (they need no local-time work), then layers top down, stopping at
        // the first that has someone at `at`.
        let (lo, hi) = (at - Self::ON_CALL_REACH, at + Self::ON_CALL_REACH);
        // One pass, latest override first, tracking where the overrides seen so far last end
        // before `at` (floor) and next start after it (ceil).
        let (mut floor, mut ceil) = (lo, hi);
        for (i, o) in self.overrides.iter().enumerate().rev() {
            if o.start >= o.end {
                continue; // covers nothing
            }
            if o.end <= at {
                floor = floor.max(o.end);
            } else if o.start > at {
                ceil = ceil.min(o.start);
            } else {
                // The latest override containing `at` wins; only later ones (already seen)
                // can cut it.
                return Some(FinalShift {
                    person: o.person.clone(),
                    start: o.start.max(floor),
                    end: o.end.min(ceil),
                    source: Source::Override(i),
                });
            }
        }
        // A layer, then, between the overrides nearest before and after `at`. Start with a
        // small window and widen it only while the shift found is cut by the window (its
        // real bounds lie further out).
        let mut reach = Duration::days(1);
        loop {
            let (from, to) = ((at - reach).max(floor), (at + reach).min(ceil));
            let shift = self.layer_shift_at(at, from, to)?;
            let cut = (shift.start == from && from > floor) || (shift.end == to && to < ceil);
            if !cut || reach >= Self::ON_CALL_REACH {
                return Some(shift);
            }
            reach = (reach * 4).min(Self::ON_CALL_REACH);
        }
    }

    /// How far `on_call` looks for the bounds of the shift in progress.
    const ON_CALL_REACH: Duration = Duration::days(62);

    /// The layer shift around `at` within `[from, to)`, a range no override touches: the
    /// highest layer with someone at `at`, joined across that person's touching spans and cut
    /// where a higher layer takes over.
    fn layer_shift_at(
        &self,
        at: DateTime<Utc>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Option<FinalShift> {
        // Where the higher layers (which have nobody at `at`) last stop and next start.
        let (mut floor, mut ceil) = (from, to);
        for (i, layer) in self.layers.iter().enumerate().rev() {
            let spans = layer_spans(layer, self.zone, from, to);
            let k = spans.partition_point(|((s, _), _)| *s <= at);
            let Some(k) = k.checked_sub(1).filter(|&k| at < spans[k].0.1) else {
                for &((s, e), _) in &spans {
                    if e <= at {
                        floor = floor.max(e);
                    } else {
                        ceil = ceil.min(s);
                    }
                }
                continue;
            };
            let joins = |a: &(Span, i64), b: &(Span, i64)| {
                a.0.1 == b.0.0 && layer.member(a.1) == layer.member(b.1)
            };
            let (mut a, mut b) = (k, k);
            while a > 0 && joins(&spans[a - 1], &spans[a]) {
                a -= 1;
            }
            while b + 1 < spans.len() && joins(&spans[b], &spans[b + 1]) {
                b += 1;
            }
            return Some(FinalShift {
                person: layer.member(spans[k].1).to_string(),
                start: spans[a].0.0.max(floor),
                end: spans[b].0.1.min(ceil),
                source: Source::Layer(i),
            });
        }
        None
    }

    /// The gaps (nobody on call) within `[from, to)`.
    pub fn gaps(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let mut gaps = Vec::new();
        let mut cursor = from;
        for s in self.final_shifts(from, to) {
            if s.start > cursor {
                gaps.push((cursor, s.start));
            }
            cursor = cursor.max(s.end);
        }
        if cursor < to {
            gaps.push((cursor, to));
        }
        gaps
    }
}

#[cfg(test)]
mod tests;
