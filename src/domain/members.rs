//! Member changes to a running rotation.
//!
//! A rotation's turns are numbered from its start; member `n mod len` of the file's list takes
//! turn `n`. Editing the list would, taken literally, hand the shift in progress to whoever now
//! sits at that position. Instead, when a changed layer is installed (at start or on reload),
//! the daemon keeps continuity:
//!
//! 1. The person on shift at that moment under the previous definition **keeps the shift**,
//!    and the rotation continues from them in the new list's order.
//! 2. If that person was removed, the next person after them in the previous order who is
//!    still listed takes the shift at once.
//! 3. If the rotation had not started under either definition, or nobody from the previous
//!    list is left, the file's order applies from the rotation start.
//!
//! The result is a member offset ("phase") stored per layer with the definition it belongs
//! to, so a restart without a change keeps it. Past shifts are shown as the current definition
//! computes them (the burnout ledger records who actually served).

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use super::rotation::{Rotation, ShiftLength};

/// The parts of a rotation that decide who is on shift, as stored beside the phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationDef {
    pub zone: String,
    pub start: NaiveDateTime,
    /// e.g. "1w", "12h", "1mo".
    pub length: String,
    /// File order.
    pub members: Vec<String>,
}

impl RotationDef {
    pub fn of(r: &Rotation) -> Self {
        let length = match r.length {
            ShiftLength::Hours(n) => format!("{n}h"),
            ShiftLength::Days(n) => format!("{n}d"),
            ShiftLength::Weeks(n) => format!("{n}w"),
            ShiftLength::Months(n) => format!("{n}mo"),
        };
        Self {
            zone: r.zone.name().to_string(),
            start: r.start,
            length,
            members: r.members.clone(),
        }
    }

    /// The rotation back; `None` if the stored text is not one this version writes.
    pub fn rotation(&self) -> Option<Rotation> {
        let split = self.length.find(|c: char| !c.is_ascii_digit())?;
        let (n, unit) = self.length.split_at(split);
        let n: u32 = n.parse().ok()?;
        let length = match unit {
            "h" => ShiftLength::Hours(n),
            "d" => ShiftLength::Days(n),
            "w" => ShiftLength::Weeks(n),
            "mo" => ShiftLength::Months(n),
            _ => return None,
        };
        Some(Rotation {
            zone: self.zone.parse().ok()?,
            start: self.start,
            length,
            members: self.members.clone(),
        })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(s: &str) -> Option<Self> {
        serde_json::from_str(s).ok()
    }
}

/// `rotation` with its member list turned by `phase` (turn `n` goes to file member
/// `(n + phase) mod len`).
pub fn with_phase(rotation: &Rotation, phase: usize) -> Rotation {
    let mut r = rotation.clone();
    if !r.members.is_empty() {
        let k = phase % r.members.len();
        r.members.rotate_left(k);
    }
    r
}

/// The phase for `new` (file order) installed at `at`, given the previous definition as it
/// ran (`old`, phase applied). See the module rule.
pub fn phase_after_change(old: &Rotation, new: &Rotation, at: DateTime<Utc>) -> usize {
    let len = new.members.len();
    let (Some(was), Some(turn)) = (old.shift_at(at), new.shift_at(at)) else {
        return 0;
    };
    // The person on shift, or the first one after them (old order) still listed.
    let old_len = old.members.len();
    let pos = old.members.iter().position(|m| *m == was.member);
    let keeper = pos.and_then(|pos| {
        (0..old_len)
            .map(|k| &old.members[(pos + k) % old_len])
            .find(|m| new.members.contains(m))
    });
    let Some(keeper) = keeper else {
        return 0;
    };
    let k = new
        .members
        .iter()
        .position(|m| m == keeper)
        .unwrap_or_default() as i64;
    (k - turn.index).rem_euclid(len as i64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use proptest::prelude::*;

    fn weekly(members: &[&str]) -> Rotation {
        Rotation {
            zone: chrono_tz::America::Los_Angeles,
            start: NaiveDate::from_ymd_opt(2026, 3, 2)
                .unwrap()
                .and_hms_opt(9, 0, 0)
                .unwrap(),
            length: ShiftLength::Weeks(1),
            members: members.iter().map(|m| m.to_string()).collect(),
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// Who has the next `n` turns from `at` on.
    fn order(r: &Rotation, at: DateTime<Utc>, n: usize) -> Vec<String> {
        r.shifts_between(at, at + chrono::Duration::weeks(n as i64))
            .into_iter()
            .take(n)
            .map(|s| s.member)
            .collect()
    }

    #[test]
    fn member_changes_keep_the_person_on_shift() {
        // Week 3 (2026-03-16…) is carol's under a,b,c.
        let at = utc("2026-03-18T12:00:00Z");
        let old = weekly(&["alice", "bob", "carol"]);
        assert_eq!(old.shift_at(at).unwrap().member, "carol");
        let table: &[(&[&str], &[&str])] = &[
            // Added someone: carol keeps her week, then the new order from her on.
            (
                &["alice", "bob", "carol", "dave"],
                &["carol", "dave", "alice", "bob"],
            ),
            // Reordered.
            (
                &["carol", "alice", "bob"],
                &["carol", "alice", "bob", "carol"],
            ),
            (
                &["bob", "alice", "carol"],
                &["carol", "bob", "alice", "carol"],
            ),
            // Someone else removed.
            (&["alice", "carol"], &["carol", "alice", "carol"]),
            // Carol herself removed: the next after her in the old order (alice) takes over.
            (&["alice", "bob"], &["alice", "bob", "alice"]),
            (&["bob", "dave"], &["bob", "dave", "bob"]),
            // Nobody left from the old list: file order from the start.
            (&["erin", "frank"], &["erin", "frank"]),
        ];
        for (members, want) in table {
            let new = weekly(members);
            let phase = phase_after_change(&old, &new, at);
            let got = order(&with_phase(&new, phase), at, want.len());
            assert_eq!(got, *want, "{members:?}");
        }
    }

    #[test]
    fn before_the_rotation_starts_the_file_order_applies() {
        let old = weekly(&["alice", "bob"]);
        let new = weekly(&["bob", "alice"]);
        assert_eq!(
            phase_after_change(&old, &new, utc("2026-01-01T00:00:00Z")),
            0
        );
    }

    #[test]
    fn definitions_round_trip_through_their_stored_text() {
        for length in [
            ShiftLength::Hours(12),
            ShiftLength::Days(1),
            ShiftLength::Weeks(2),
            ShiftLength::Months(1),
        ] {
            let mut r = weekly(&["a", "b"]);
            r.length = length;
            let def = RotationDef::of(&r);
            let back = RotationDef::from_json(&def.to_json()).unwrap();
            assert_eq!(back.rotation(), Some(r));
        }
    }

    proptest! {
        /// Whatever the new list, the person on shift keeps it if still listed, and the
        /// turns after follow the new list's order.
        #[test]
        fn the_person_on_shift_keeps_it_if_still_listed(
            old_n in 1usize..6,
            new_members in proptest::sample::subsequence((0..8).collect::<Vec<u32>>(), 1..8),
            shuffle in any::<u64>(),
            week in 0i64..60,
        ) {
            let old_names: Vec<String> = (0..old_n).map(|i| format!("m{i}")).collect();
            let mut new_names: Vec<String> = new_members.iter().map(|i| format!("m{i}")).collect();
            let k = (shuffle as usize) % new_names.len();
            new_names.rotate_left(k);
            let old = weekly(&old_names.iter().map(String::as_str).collect::<Vec<_>>());
            let new = weekly(&new_names.iter().map(String::as_str).collect::<Vec<_>>());
            let at = old.handoff(week) + chrono::Duration::hours(30);
            let was = old.shift_at(at).unwrap().member;
            let now = with_phase(&new, phase_after_change(&old, &new, at));
            let turns = order(&now, at, new_names.len() + 1);
            if new_names.contains(&was) {
                prop_assert_eq!(&turns[0], &was);
            }
            let first = new_names.iter().position(|m| *m == turns[0]).unwrap();
            for (i, who) in turns.iter().enumerate() {
                prop_assert_eq!(who, &new_names[(first + i) % new_names.len()]);
            }
        }
    }
}
