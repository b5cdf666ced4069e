//! Due actions: every future thing the daemon has promised to do, as one type. The store keeps
//! each as a row with a due time (so it survives a restart); the timer task hands the ones
//! whose time has come to the engine, which runs them with one `match`.

use super::Position;

/// One future action, with exactly what running it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// The current level's delay ran out: page the next one.
    Escalate { incident: i64 },
    /// Acknowledged but not resolved in time: re-trigger and escalate.
    AckTimeout { incident: i64 },
    /// An incident held by a maintenance window or support hours may start paging.
    Release { incident: i64 },
    /// A later step of a person's contact rules (SMS after 1 minute, …), valid only while the
    /// incident still waits at escalation position `pos`.
    Contact {
        incident: i64,
        person: String,
        channel: String,
        pos: Position,
    },
    /// A schedule's shift changes: tell the incoming (and outgoing) person.
    Handoff { schedule: String },
    /// A turn of a schedule with burnout limits starts: record who takes it.
    Shift { schedule: String },
    /// A heartbeat was not pinged in time.
    HeartbeatExpiry { heartbeat: String },
    /// Weekly: tell a schedule's owner whom the rebalance signal flags (`domain::rebalance`).
    Rebalance { schedule: String },
}

impl Due {
    /// The kind's name, as stored and logged.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Escalate { .. } => "escalate",
            Self::AckTimeout { .. } => "ack_timeout",
            Self::Release { .. } => "release",
            Self::Contact { .. } => "contact",
            Self::Handoff { .. } => "handoff",
            Self::Shift { .. } => "shift",
            Self::HeartbeatExpiry { .. } => "heartbeat",
            Self::Rebalance { .. } => "rebalance",
        }
    }
}

/// Which pending due actions to drop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DueScope {
    /// Every action of the incident (acknowledged, resolved, escalated by hand, released).
    Incident(i64),
    /// The schedule's pending handoff.
    Handoff(String),
    /// The schedule's pending shift recording.
    Shift(String),
    /// The heartbeat's expiry.
    Heartbeat(String),
    /// The schedule's weekly rebalance notice.
    Rebalance(String),
}
