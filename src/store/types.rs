//! Values the store operations take and return that are not domain types: filters, attempt
//! outcomes and the stored state of windows, heartbeats and rotation phases. Backend-neutral: nothing here says how a backend keeps them.

use chrono::{DateTime, Utc};

use crate::domain::IncidentState;
pub use crate::domain::burnout::LedgerEntry;
use crate::domain::ingest::MaintenanceWindow;
pub use crate::domain::load_report::DeliveredPage;

/// Filters for `List`; `before_id` is the pagination cursor (ids descend).
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    pub states: Vec<IncidentState>,
    pub service: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub before_id: Option<i64>,
    pub limit: usize,
}

/// What a channel reported about one attempt.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AttemptInfo {
    /// The email address, number or Slack id used.
    pub address: Option<String>,
    /// The provider's answer, e.g. "250 2.0.0 queued" or "HTTP 201".
    pub response: Option<String>,
}

/// Result of one delivery attempt, as the outbox decided it.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptOutcome {
    Sent,
    Retry { at: DateTime<Utc>, error: String },
    Failed { error: String },
}

/// A stored window and who removed it, if someone did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredWindow {
    pub window: MaintenanceWindow,
    pub removed_by: Option<String>,
}

/// A heartbeat's stored state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatState {
    pub name: String,
    pub last_ping_at: Option<DateTime<Utc>>,
    pub pings: i64,
    /// When it expires unless pinged; `None` once expired (or never watched).
    pub expires_at: Option<DateTime<Utc>>,
}

/// A rotation layer's stored definition (JSON, file order) and the member offset applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPhase {
    pub schedule: String,
    pub layer: String,
    pub definition: String,
    pub phase: i64,
}

/// An API token as stored: never its secret, only the secret's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    pub name: String,
    pub role: crate::domain::access::Role,
    pub person: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl StoredToken {
    /// Neither revoked nor expired at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| now < e)
    }
}

/// A token to insert: the hash of its secret, computed by the caller.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub role: crate::domain::access::Role,
    pub person: Option<String>,
    pub secret_hash: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A dashboard session (`/ui/`), as stored: the hash of its cookie, never the cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiSession {
    /// Hex SHA-256 of the cookie's value.
    pub id_hash: String,
    /// The person acting, if known (a token's person, or the one a sign-in link was mailed to).
    pub person: Option<String>,
    /// Signed in with a token: the hex SHA-256 of its secret, so each request re-checks it
    /// (a revoked token ends its sessions) and takes its current role.
    pub token_hash: Option<String>,
    /// Who the session is, for the header and the audit trail: the person, else the token.
    pub label: String,
    /// The role of a sign-in-link session (a token session uses its token's role).
    pub role: crate::domain::access::Role,
    /// The value every form of this session must send back (CSRF).
    pub csrf: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}
