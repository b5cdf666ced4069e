//! Is the daemon alive, is it ready, may it tell systemd's watchdog so: pure decisions over
//! what the loops last recorded, the current time and the limits.
//!
//! - **Alive** (liveness, `/healthz`, the watchdog): every loop turned within `stall`. A loop
//!   records a turn on every iteration and at least every `stall / 4` while it waits, so one
//!   that has not turned for `stall` is stuck inside an iteration (a hung await, a starved
//!   worker) and a restart is the cure.
//! - **Ready** (`/readyz`, gRPC health): alive, the store takes writes, and no loop is behind:
//!   the oldest action or page that should have run by now is at most `behind` overdue. A
//!   full disk or a slow provider makes pagerd not ready but leaves it alive: restarting
//!   would not help, and pagerd recovers by itself once the cause is gone.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// The long-lived loops whose progress is watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loop {
    Timer,
    Outbox,
}

impl Loop {
    pub const ALL: [Loop; 2] = [Loop::Timer, Loop::Outbox];

    pub fn name(self) -> &'static str {
        match self {
            Loop::Timer => "timer loop",
            Loop::Outbox => "outbox dispatcher",
        }
    }
}

/// What one loop last recorded, and the oldest work it should have done by now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoopState {
    pub which: Loop,
    /// Its last turn, on the monotonic clock (time since a fixed origin).
    pub last_turn: Duration,
    /// The due time of its oldest pending work (a due action, a due page), if any is known.
    pub oldest_due: Option<DateTime<Utc>>,
}

/// The same instant on both clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Monotonic, since the same origin as [`LoopState::last_turn`].
    pub mono: Duration,
    pub utc: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A loop that has not turned this long is stalled.
    pub stall: Duration,
    /// Work overdue by more than this makes the loop behind.
    pub behind: Duration,
}

/// Why the daemon is not alive or not ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Stalled { which: Loop, for_: Duration },
    Behind { which: Loop, by: Duration },
    Store(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Stalled { which, for_ } => write!(
                f,
                "{} stalled: no progress for {}s",
                which.name(),
                for_.as_secs()
            ),
            Problem::Behind { which, by } => write!(
                f,
                "{} behind: work due {}s ago has not run",
                which.name(),
                by.as_secs()
            ),
            Problem::Store(reason) => write!(f, "store: {reason}"),
        }
    }
}

/// Loops that have not turned within `limits.stall`: empty means alive.
pub fn liveness(loops: &[LoopState], now: Now, limits: Limits) -> Vec<Problem> {
    loops
        .iter()
        .filter_map(|l| {
            // A turn recorded after `now` was read (another thread) is as fresh as can be.
            let since = now.mono.saturating_sub(l.last_turn);
            (since > limits.stall).then_some(Problem::Stalled {
                which: l.which,
                for_: since,
            })
        })
        .collect()
}

/// Everything that keeps the daemon from being ready: empty means ready.
pub fn readiness(
    loops: &[LoopState],
    store_problem: Option<&str>,
    now: Now,
    limits: Limits,
) -> Vec<Problem> {
    let mut problems = liveness(loops, now, limits);
    if let Some(reason) = store_problem {
        problems.push(Problem::Store(reason.to_string()));
    }
    for l in loops {
        let Some(due) = l.oldest_due else { continue };
        let by = (now.utc - due).to_std().unwrap_or_default();
        if by > limits.behind {
            problems.push(Problem::Behind { which: l.which, by });
        }
    }
    problems
}

/// Whether the watchdog may be told the daemon is alive: only while every loop is making
/// progress. Store trouble or a backlog never stop the pings (a restart would not cure them).
pub fn may_ping(loops: &[LoopState], now: Now, limits: Limits) -> bool {
    liveness(loops, now, limits).is_empty()
}

/// The watchdog period systemd asks for, as `sd_watchdog_enabled(3)` reads it: `WATCHDOG_USEC`
/// (a positive number of microseconds), for this process when `WATCHDOG_PID` is unset or names
/// it. `None`: no watchdog.
pub fn watchdog_period(usec: Option<&str>, pid: Option<&str>, own_pid: u32) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok().filter(|&u| u > 0)?;
    match pid {
        None => {}
        Some(p) if p.trim().parse::<u32>().ok() == Some(own_pid) => {}
        Some(_) => return None,
    }
    Some(Duration::from_micros(usec))
}

/// How often a loop records a turn while it waits, so an idle loop never looks stalled.
pub fn beat_every(stall: Duration) -> Duration {
    (stall / 4).max(Duration::from_millis(10))
}

/// Whether a periodic check that woke `late` after its schedule should judge this round. A
/// check that overslept by more than the beat interval means the whole process was not run
/// (suspend, a clock jump in tests): the loops had no chance to turn either, so the round is
/// skipped rather than blaming them.
pub fn judge_round(late: Duration, stall: Duration) -> bool {
    late <= beat_every(stall)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn utc(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    const LIMITS: Limits = Limits {
        stall: Duration::from_secs(30),
        behind: Duration::from_secs(60),
    };

    fn state(which: Loop, last_turn: u64, oldest_due: Option<i64>) -> LoopState {
        LoopState {
            which,
            last_turn: secs(last_turn),
            oldest_due: oldest_due.map(utc),
        }
    }

    #[test]
    fn readiness_and_pings_follow_the_loops_the_store_and_the_backlog() {
        let now = Now {
            mono: secs(1_000),
            utc: utc(0),
        };
        // (timer last turn, timer oldest due, outbox last turn, outbox oldest due, store,
        //  expected problems, may ping)
        type Case = (
            u64,
            Option<i64>,
            u64,
            Option<i64>,
            Option<&'static str>,
            &'static [&'static str],
            bool,
        );
        let cases: &[Case] = &[
            (1_000, None, 1_000, None, None, &[], true),
            // Turned exactly `stall` ago: still alive.
            (970, Some(3_600), 990, None, None, &[], true),
            (
                969,
                None,
                1_000,
                None,
                None,
                &["timer loop stalled: no progress for 31s"],
                false,
            ),
            (
                1_000,
                None,
                900,
                None,
                None,
                &["outbox dispatcher stalled: no progress for 100s"],
                false,
            ),
            // A turn recorded after `now` was read.
            (1_001, None, 1_000, None, None, &[], true),
            // Due exactly `behind` ago: not behind yet; one second more is.
            (1_000, Some(-60), 1_000, Some(-10), None, &[], true),
            (
                1_000,
                Some(-61),
                1_000,
                Some(-10),
                None,
                &["timer loop behind: work due 61s ago has not run"],
                true,
            ),
            (
                1_000,
                None,
                1_000,
                Some(-300),
                None,
                &["outbox dispatcher behind: work due 300s ago has not run"],
                true,
            ),
            // Store trouble: not ready, still alive (pings go on).
            (
                1_000,
                None,
                1_000,
                None,
                Some("the store refuses writes (for 3s): database or disk is full"),
                &["store: the store refuses writes (for 3s): database or disk is full"],
                true,
            ),
            // Everything at once, in a stable order.
            (
                0,
                Some(-100),
                1_000,
                Some(-100),
                Some("locked"),
                &[
                    "timer loop stalled: no progress for 1000s",
                    "store: locked",
                    "timer loop behind: work due 100s ago has not run",
                    "outbox dispatcher behind: work due 100s ago has not run",
                ],
                false,
            ),
        ];
        for (i, &(tt, td, ot, od, store, expected, ping)) in cases.iter().enumerate() {
            let loops = [state(Loop::Timer, tt, td), state(Loop::Outbox, ot, od)];
            let got: Vec<String> = readiness(&loops, store, now, LIMITS)
                .iter()
                .map(|p| p.to_string())
                .collect();
            assert_eq!(got, expected, "case {i}");
            assert_eq!(may_ping(&loops, now, LIMITS), ping, "case {i}");
            let alive = liveness(&loops, now, LIMITS).is_empty();
            assert_eq!(alive, ping, "case {i}: liveness is what the pings follow");
        }
    }

    #[test]
    fn the_watchdog_period_is_read_as_sd_watchdog_enabled_reads_it() {
        let cases: &[(Option<&str>, Option<&str>, Option<Duration>)] = &[
            (None, None, None),
            (Some("30000000"), None, Some(secs(30))),
            (Some("30000000"), Some("42"), Some(secs(30))),
            (Some("30000000"), Some("43"), None),
            (Some("2000000"), Some(" 42 "), Some(secs(2))),
            (Some("0"), None, None),
            (Some("-5"), None, None),
            (Some("soon"), None, None),
            (Some("30000000"), Some("not a pid"), None),
            (None, Some("42"), None),
        ];
        for &(usec, pid, expected) in cases {
            assert_eq!(watchdog_period(usec, pid, 42), expected, "{usec:?} {pid:?}");
        }
    }

    #[test]
    fn a_check_that_overslept_skips_its_round() {
        let stall = secs(20);
        assert_eq!(beat_every(stall), secs(5));
        assert_eq!(
            beat_every(Duration::from_millis(1)),
            Duration::from_millis(10)
        );
        assert!(judge_round(Duration::ZERO, stall));
        assert!(judge_round(secs(5), stall));
        assert!(!judge_round(Duration::from_millis(5_001), stall));
        assert!(!judge_round(secs(3_600), stall));
    }
}
