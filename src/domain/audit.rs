//! Who did something, as the daemon authenticated it: the audit trail's actor. A request's
//! free-text `by` can only become a note, never the actor.

use chrono::{DateTime, Utc};

/// The authenticated caller of a mutating action and the channel it came through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The person, or the token / service name when there is no person.
    pub who: String,
    /// How the daemon knows: e.g. "token bob-laptop via gRPC", "via email link".
    pub via: String,
    /// What the request's `by` said when it differs from `who` (only ever a note).
    pub note: Option<String>,
}

impl Actor {
    pub fn new(who: impl Into<String>, via: impl Into<String>) -> Self {
        Self {
            who: who.into(),
            via: via.into(),
            note: None,
        }
    }

    /// Keeps the request's `by` as a note when it is set and says something else.
    pub fn with_claim(mut self, by: &str) -> Self {
        let by = by.trim();
        if !by.is_empty() && by != self.who {
            self.note = Some(format!("by={by}"));
        }
        self
    }

    /// The timeline's actor: "bob (token bob-laptop via gRPC)".
    pub fn label(&self) -> String {
        format!("{} ({})", self.who, self.via)
    }

    /// " (note: by=alice)" or "".
    pub fn note_suffix(&self) -> String {
        self.note
            .as_ref()
            .map(|n| format!(" (note: {n})"))
            .unwrap_or_default()
    }
}

/// One row of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub via: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

impl AuditEntry {
    pub fn new(actor: &Actor, action: &str, target: String, at: DateTime<Utc>) -> Self {
        Self {
            at,
            actor: actor.who.clone(),
            via: actor.via.clone(),
            action: action.to_string(),
            target,
            detail: actor.note.clone().unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claimed_by_is_only_a_note() {
        let a = Actor::new("bob", "token bob-laptop via gRPC").with_claim("alice");
        assert_eq!(a.label(), "bob (token bob-laptop via gRPC)");
        assert_eq!(a.note_suffix(), " (note: by=alice)");
        assert_eq!(Actor::new("bob", "x").with_claim(" bob ").note, None);
        assert_eq!(Actor::new("bob", "x").with_claim("").note, None);
    }
}
