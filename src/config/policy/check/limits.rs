//! Burnout limits that no rotation could keep: a single turn that by itself breaks a limit
//! (an evening layer of `3w` turns with `max_consecutive_evening_weeks = 2`, a turn longer
//! than `max_weeks_per_quarter`). Such a schedule is refused at the layer's `shift` line;
//! limits that are merely hard to keep (a quarter too long for the members) are warnings,
//! see `config::policy::limits`.

use super::{Checker, SourceFile};
use crate::config::policy::raw::RawSchedule;
use crate::domain::burnout::{BurnoutPolicy, WEEK_MINUTES, weeks_text};
use crate::domain::rotation::ShiftLength;
use crate::domain::schedule::Layer;

/// The longest one turn of `length` can be, in minutes of local time (a month: 31 days).
pub(crate) fn longest_turn_minutes(length: ShiftLength) -> i64 {
    let (n, unit) = match length {
        ShiftLength::Hours(h) => (h, 60),
        ShiftLength::Days(d) => (d, 24 * 60),
        ShiftLength::Weeks(w) => (w, WEEK_MINUTES),
        ShiftLength::Months(m) => (m, 31 * 24 * 60),
    };
    i64::from(n) * unit
}

impl Checker {
    /// Refuses each layer whose turn alone breaks a limit of `policy`.
    pub(super) fn impossible_limits(
        &mut self,
        file: &SourceFile,
        raw: &RawSchedule,
        layers: &[Layer],
        policy: &BurnoutPolicy,
        context: &str,
    ) {
        for layer in layers {
            let Some(raw_layer) = raw.layer.iter().find(|l| *l.name.get_ref() == layer.name) else {
                continue;
            };
            let turn = longest_turn_minutes(layer.rotation.length);
            let shift = raw_layer.shift.get_ref();
            let context = format!("layer {:?} of {context}", layer.name);
            if let (Some(max), true) = (policy.max_consecutive_evening_weeks, layer.evening)
                && turn > i64::from(max) * WEEK_MINUTES
            {
                self.error(
                    file,
                    &raw_layer.shift.span(),
                    format!(
                        "{context}: shift: {shift:?} breaks max_consecutive_evening_weeks = \
                         {max} by itself: each evening turn is {} weeks in a row",
                        weeks_text(turn)
                    ),
                );
            }
            if let Some(max) = policy.max_weeks_per_quarter
                && turn > i64::from(max) * WEEK_MINUTES
            {
                self.error(
                    file,
                    &raw_layer.shift.span(),
                    format!(
                        "{context}: shift: {shift:?} breaks max_weeks_per_quarter = {max} by \
                         itself: one turn is up to {} weeks",
                        weeks_text(turn)
                    ),
                );
            }
        }
    }
}
