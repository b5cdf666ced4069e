//! What several nodes on one database share besides the data: the lease that says which node
//! runs time (with its fencing token), and each node's last report of itself. A backend for
//! several nodes (PostgreSQL) implements [`LeaseBackend`] on a connection of its own.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Result;

/// One node as it last reported itself (`pagerctl status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    pub name: String,
    /// Its gRPC listener.
    pub address: String,
    pub version: String,
    /// The digest of the policy set it runs (`PolicySet::digest`).
    pub policy_digest: String,
    pub started_at: DateTime<Utc>,
    /// When it last reported (the database's clock).
    pub seen_at: DateTime<Utc>,
    /// Whether it held the lease at its last report.
    pub leader: bool,
}

/// The lease, on a connection of its own (blocking calls, run off the async runtime).
pub trait LeaseBackend: Send {
    /// Wins or renews the lease for `node` until `ttl` from now on the database's clock, if it
    /// is free, expired or already `node`'s; returns the fencing token (a new, higher one
    /// whenever the holder changes or a lapsed hold is taken again), or `None` while another
    /// node holds it.
    fn acquire(&mut self, node: &str, ttl: Duration) -> Result<Option<i64>>;

    /// Gives the lease up if `node` holds it (a clean stop: the next node need not wait).
    fn release(&mut self, node: &str) -> Result<()>;

    /// Records `node`'s report of itself (`seen_at` is set by the database).
    fn report(&mut self, node: &NodeRecord) -> Result<()>;
}
