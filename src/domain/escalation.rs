//! Escalation decisions: given where an incident is on its ladder, what happens next.
//!
//! Positions are zero-based: `level` indexes the timeline's levels, `loop_no` counts passes
//! through the whole chain. A timeline may have changed (hot reload) since the position was
//! recorded, so every function tolerates a `level` past the end by treating it as the last level.

use std::time::Duration;

use super::policy::{Repeat, Target, Timeline};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    pub level: u32,
    pub loop_no: u32,
}

/// The decision for one point of an incident's life.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Page `targets` (the level at `pos`) now; the next escalation is due after `next_in`.
    Page {
        pos: Position,
        targets: Vec<Target>,
        next_in: Duration,
    },
    /// The chain ran out without an acknowledgement: tell the last level's targets, schedule
    /// nothing more. The incident stays open.
    Exhausted { pos: Position, targets: Vec<Target> },
}

impl Step {
    pub fn pos(&self) -> Position {
        match self {
            Step::Page { pos, .. } | Step::Exhausted { pos, .. } => *pos,
        }
    }
}

fn last_index(timeline: &Timeline) -> u32 {
    // Timelines are validated non-empty; saturate anyway so a bad value cannot panic.
    u32::try_from(timeline.levels.len())
        .unwrap_or(u32::MAX)
        .saturating_sub(1)
}

fn page_at(timeline: &Timeline, pos: Position) -> Step {
    let idx = pos.level.min(last_index(timeline)) as usize;
    let level = &timeline.levels[idx];
    Step::Page {
        pos: Position {
            level: idx as u32,
            loop_no: pos.loop_no,
        },
        targets: level.targets.clone(),
        next_in: level.delay,
    }
}

/// The position after `pos` when nobody answered, or `None` when the chain is exhausted.
fn advance(timeline: &Timeline, repeat: Repeat, pos: Position) -> Option<Position> {
    if pos.level < last_index(timeline) {
        return Some(Position {
            level: pos.level + 1,
            loop_no: pos.loop_no,
        });
    }
    let may_loop = match repeat {
        Repeat::UntilAcknowledged => true,
        Repeat::Times(n) => pos.loop_no < n,
    };
    may_loop.then(|| Position {
        level: 0,
        loop_no: pos.loop_no.saturating_add(1),
    })
}

/// A new incident pages the first level.
pub fn on_trigger(timeline: &Timeline) -> Step {
    page_at(timeline, Position::default())
}

/// The current level's delay passed without an acknowledgement.
pub fn on_escalation_due(timeline: &Timeline, repeat: Repeat, pos: Position) -> Step {
    match advance(timeline, repeat, pos) {
        Some(next) => page_at(timeline, next),
        None => {
            let idx = pos.level.min(last_index(timeline));
            Step::Exhausted {
                pos: Position {
                    level: idx,
                    loop_no: pos.loop_no,
                },
                targets: timeline.levels[idx as usize].targets.clone(),
            }
        }
    }
}

/// Someone asked to page the next level now. Refused when there is no next level.
pub fn on_manual_escalate(
    timeline: &Timeline,
    repeat: Repeat,
    pos: Position,
) -> Result<Step, String> {
    match advance(timeline, repeat, pos) {
        Some(next) => Ok(page_at(timeline, next)),
        None => Err(format!(
            "already at the last level ({}) and the repeat rule allows no further pass",
            pos.level.min(last_index(timeline)) + 1
        )),
    }
}

/// An acknowledged incident stayed unresolved past the ack timeout: escalate to the next level.
/// Somebody must own it, so at the very end of the chain the last level is paged again rather
/// than giving up.
pub fn on_ack_timeout(timeline: &Timeline, repeat: Repeat, pos: Position) -> Step {
    match advance(timeline, repeat, pos) {
        Some(next) => page_at(timeline, next),
        None => page_at(timeline, pos),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::policy::Level;
    use proptest::prelude::*;

    fn mins(m: u64) -> Duration {
        Duration::from_secs(m * 60)
    }

    fn person(n: &str) -> Target {
        Target::Person(n.to_string())
    }

    /// critical: 15m → 30m → 1h → 2h → 4h up the chain.
    fn critical_ladder() -> Timeline {
        let rungs = [
            (vec!["alice", "bob"], 15),
            (vec!["dana"], 30),
            (vec!["victor"], 60),
            (vec!["cora"], 120),
            (vec!["erin"], 240),
        ];
        Timeline {
            levels: rungs
                .into_iter()
                .map(|(who, m)| Level {
                    targets: who.into_iter().map(person).collect(),
                    delay: mins(m),
                })
                .collect(),
        }
    }

    fn pos(level: u32, loop_no: u32) -> Position {
        Position { level, loop_no }
    }

    #[test]
    fn trigger_pages_first_level_with_its_delay() {
        let t = critical_ladder();
        assert_eq!(
            on_trigger(&t),
            Step::Page {
                pos: pos(0, 0),
                targets: vec![person("alice"), person("bob")],
                next_in: mins(15),
            }
        );
    }

    #[test]
    fn escalation_walks_the_ladder_in_order() {
        let t = critical_ladder();
        // (from, repeat, expected position, expected targets or exhausted)
        let table: &[(Position, Repeat, Position, Option<&str>)] = &[
            (pos(0, 0), Repeat::Times(0), pos(1, 0), Some("dana")),
            (pos(1, 0), Repeat::Times(0), pos(2, 0), Some("victor")),
            (pos(3, 0), Repeat::Times(0), pos(4, 0), Some("erin")),
            (pos(4, 0), Repeat::Times(0), pos(4, 0), None),
            (pos(4, 0), Repeat::Times(1), pos(0, 1), Some("alice")),
            (pos(4, 1), Repeat::Times(1), pos(4, 1), None),
            (
                pos(4, 7),
                Repeat::UntilAcknowledged,
                pos(0, 8),
                Some("alice"),
            ),
            // A timeline that shrank on reload: treat the old level as the last one.
            (pos(9, 0), Repeat::Times(0), pos(4, 0), None),
        ];
        for &(from, repeat, want_pos, want_target) in table {
            let step = on_escalation_due(&t, repeat, from);
            assert_eq!(step.pos(), want_pos, "from {from:?} with {repeat:?}");
            match (step, want_target) {
                (Step::Page { targets, .. }, Some(first)) => assert_eq!(targets[0], person(first)),
                (Step::Exhausted { targets, .. }, None) => {
                    assert_eq!(targets, vec![person("erin")])
                }
                (other, want) => panic!("from {from:?}: got {other:?}, wanted {want:?}"),
            }
        }
    }

    #[test]
    fn delays_follow_the_critical_ladder() {
        let t = critical_ladder();
        let mut p = pos(0, 0);
        let mut delays = vec![];
        let mut step = on_trigger(&t);
        while let Step::Page { pos, next_in, .. } = step {
            delays.push(next_in);
            p = pos;
            step = on_escalation_due(&t, Repeat::Times(0), p);
        }
        assert_eq!(delays, [15, 30, 60, 120, 240].map(mins));
        assert_eq!(p, pos(4, 0));
    }

    #[test]
    fn manual_escalate_is_refused_at_the_end_of_the_chain() {
        let t = critical_ladder();
        assert_eq!(
            on_manual_escalate(&t, Repeat::Times(0), pos(0, 0))
                .unwrap()
                .pos(),
            pos(1, 0)
        );
        let err = on_manual_escalate(&t, Repeat::Times(0), pos(4, 0)).unwrap_err();
        assert!(err.contains("last level (5)"), "{err}");
    }

    #[test]
    fn ack_timeout_escalates_and_never_gives_up() {
        let t = critical_ladder();
        assert_eq!(
            on_ack_timeout(&t, Repeat::Times(0), pos(0, 0)).pos(),
            pos(1, 0)
        );
        let last = on_ack_timeout(&t, Repeat::Times(0), pos(4, 0));
        assert!(matches!(last, Step::Page { pos: p, .. } if p == pos(4, 0)));
    }

    fn arb_timeline() -> impl Strategy<Value = Timeline> {
        prop::collection::vec(1u64..300, 1..8).prop_map(|delays| Timeline {
            levels: delays
                .into_iter()
                .enumerate()
                .map(|(i, d)| Level {
                    targets: vec![person(&format!("p{i}"))],
                    delay: mins(d),
                })
                .collect(),
        })
    }

    proptest! {
        /// With `Times(n)`, an unanswered incident pages exactly (n + 1) × levels times and
        /// then stops; positions never go backwards.
        #[test]
        fn bounded_repeat_pages_each_level_once_per_pass(t in arb_timeline(), n in 0u32..4) {
            let mut step = on_trigger(&t);
            let mut pages = 0usize;
            let mut last = None;
            while let Step::Page { pos, .. } = step {
                pages += 1;
                prop_assert!(last.is_none_or(|l: Position| (pos.loop_no, pos.level) > (l.loop_no, l.level)));
                last = Some(pos);
                prop_assert!(pages <= (n as usize + 1) * t.levels.len());
                step = on_escalation_due(&t, Repeat::Times(n), pos);
            }
            prop_assert_eq!(pages, (n as usize + 1) * t.levels.len());
        }

        /// Until-acknowledged never exhausts and always pages a level that exists.
        #[test]
        fn until_acknowledged_never_exhausts(t in arb_timeline(), level in 0u32..10, loop_no in 0u32..100) {
            let step = on_escalation_due(&t, Repeat::UntilAcknowledged, pos(level, loop_no));
            let is_page = matches!(step, Step::Page { .. });
            prop_assert!(is_page);
            prop_assert!((step.pos().level as usize) < t.levels.len());
        }
    }
}
