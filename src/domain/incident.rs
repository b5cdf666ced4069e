//! Incident, event and page records: the values the store persists and the API shows.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{EventKind, IncidentState, PageKind, Position, Severity};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Link {
    pub href: String,
    pub text: String,
}

/// A validated trigger, as accepted at the API edge.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlert {
    pub service: String,
    pub dedup_key: String,
    pub severity: Severity,
    pub summary: String,
    pub source: String,
    pub details: BTreeMap<String, String>,
    pub links: Vec<Link>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub id: i64,
    pub service: String,
    pub dedup_key: String,
    pub severity: Severity,
    pub summary: String,
    pub source: String,
    pub details: BTreeMap<String, String>,
    pub links: Vec<Link>,
    pub state: IncidentState,
    pub escalation_policy: String,
    pub pos: Position,
    pub alert_count: u32,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub resolve_note: Option<String>,
    pub next_action_at: Option<DateTime<Utc>>,
    /// The summary and details of the latest repeat (a trigger with this open incident's
    /// key), if there was one; `summary`/`details` stay those of the first alert.
    pub last_summary: Option<String>,
    pub last_details: Option<BTreeMap<String, String>>,
    /// Its severity needed a post-mortem when it was resolved (`postmortem.required_for`).
    pub postmortem_required: bool,
    /// Where the post-mortem went, once recorded.
    pub postmortem_url: Option<String>,
}

impl Incident {
    /// A post-mortem is required and nobody has recorded where it went yet.
    pub fn postmortem_pending(&self) -> bool {
        self.postmortem_required && self.postmortem_url.is_none()
    }
}

/// One line of an incident's timeline (also what `Watch` streams).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: i64,
    pub incident_id: i64,
    pub service: String,
    pub kind: EventKind,
    pub at: DateTime<Utc>,
    pub level: Option<u32>,
    pub person: Option<String>,
    pub channel: Option<String>,
    pub actor: Option<String>,
    pub message: String,
}

/// An event before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub kind: EventKind,
    pub level: Option<u32>,
    pub person: Option<String>,
    pub channel: Option<String>,
    pub actor: Option<String>,
    pub message: String,
}

impl NewEvent {
    pub fn new(kind: EventKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            level: None,
            person: None,
            channel: None,
            actor: None,
            message: message.into(),
        }
    }

    pub fn level(mut self, level: u32) -> Self {
        self.level = Some(level);
        self
    }

    pub fn actor(mut self, actor: &str) -> Self {
        if !actor.is_empty() {
            self.actor = Some(actor.to_string());
        }
        self
    }
}

/// A page waiting in (or taken from) the outbox, with what a channel needs to render it.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub id: i64,
    /// Stable across retries and restarts; unique across databases.
    pub idempotency_key: String,
    pub kind: PageKind,
    pub person: String,
    pub channel: String,
    pub pos: Position,
    pub attempts: u32,
    /// When the decision that produced this page was due (for lateness).
    pub due_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// The incident as it was when the page was taken from the outbox (without its
    /// `next_action_at`, which no channel shows); `None` for notifications that belong to no
    /// incident (handoffs).
    pub incident: Option<Incident>,
    /// The text of a notification without an incident.
    pub notice: Option<Notice>,
    /// What the person replies with by SMS ("ACK K7QH3M"); SMS pages only.
    pub reply_code: Option<String>,
}

/// A notification's own subject and text (a handoff summary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub subject: String,
    pub body: String,
}
