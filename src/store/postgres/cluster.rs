//! Several nodes on one database: the cluster lease with its fencing token, each node's
//! report of itself, and the fence a leader's writes check.
//!
//! A lease row, not a session advisory lock: an advisory lock is held by a connection, so a
//! leader whose connection hangs (a network cut the server has not noticed) keeps it for as
//! long as TCP keepalives allow — minutes — and a lock has no token to fence a paused old
//! leader with. The row has an expiry on the database's clock (the only clock all nodes
//! share) and a token that grows with every change of holder.

use std::time::Duration;

use super::{Conn, RowExt, Tx};
use crate::store::cluster::{LeaseBackend, NodeRecord};
use crate::store::{Error, Result};

/// The database's clock in Unix ms (`clock_timestamp`: the time now, not the transaction's
/// start).
const NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// The lease on a connection of its own, reconnected when lost.
pub struct PgLease {
    config: postgres::Config,
    conn: Option<Conn>,
}

/// The lease backend for a `postgres://` URL (connects on first use).
pub fn lease(url: &str, settings: &crate::config::settings::StoreSettings) -> Result<PgLease> {
    Ok(PgLease {
        config: super::config(url, settings)?,
        conn: None,
    })
}

impl PgLease {
    fn client(&mut self) -> Result<&mut postgres::Client> {
        if self.conn.as_ref().is_some_and(Conn::is_closed) {
            self.conn = None;
        }
        if self.conn.is_none() {
            self.conn = Some(Conn::connect(&self.config, "lease")?);
        }
        Ok(&mut self.conn.as_mut().expect("connected above").client)
    }

    /// Runs `f`, dropping the connection if it failed (the next call reconnects).
    fn with<T>(
        &mut self,
        f: impl FnOnce(&mut postgres::Client) -> std::result::Result<T, postgres::Error>,
    ) -> Result<T> {
        let client = self.client()?;
        match f(client) {
            Ok(v) => Ok(v),
            Err(e) => {
                if e.is_closed() || e.as_db_error().is_none() {
                    self.conn = None;
                }
                Err(e.into())
            }
        }
    }
}

impl LeaseBackend for PgLease {
    fn acquire(&mut self, node: &str, ttl: Duration) -> Result<Option<i64>> {
        let ttl_ms = ttl.as_millis() as i64;
        // Taken when free or expired; renewed when ours. The token grows whenever the hold
        // starts anew — another holder, or ours after it lapsed (we stopped acting then, so
        // anything still in flight from that hold must be fenced out).
        let sql = format!(
            "INSERT INTO cluster_lease (id, holder, token, expires_at)
                 VALUES (1, $1, 1, {NOW_MS} + $2)
             ON CONFLICT (id) DO UPDATE SET
                 token = CASE WHEN cluster_lease.holder = EXCLUDED.holder
                                   AND cluster_lease.expires_at > {NOW_MS}
                              THEN cluster_lease.token ELSE cluster_lease.token + 1 END,
                 holder = EXCLUDED.holder,
                 expires_at = EXCLUDED.expires_at
             WHERE cluster_lease.holder = EXCLUDED.holder
                OR cluster_lease.expires_at <= {NOW_MS}
             RETURNING token"
        );
        let row = self.with(|c| c.query_opt(&sql, &[&node, &ttl_ms]))?;
        row.map(|r| r.at::<i64>(0)).transpose()
    }

    fn release(&mut self, node: &str) -> Result<()> {
        let sql =
            format!("UPDATE cluster_lease SET expires_at = {NOW_MS} WHERE id = 1 AND holder = $1");
        self.with(|c| c.execute(&sql, &[&node]))?;
        Ok(())
    }

    fn report(&mut self, n: &NodeRecord) -> Result<()> {
        let sql = format!(
            "INSERT INTO cluster_nodes
                 (name, address, version, policy_digest, started_at, seen_at, leader)
             VALUES ($1, $2, $3, $4, $5, {NOW_MS}, $6)
             ON CONFLICT (name) DO UPDATE SET address = EXCLUDED.address,
                 version = EXCLUDED.version, policy_digest = EXCLUDED.policy_digest,
                 started_at = EXCLUDED.started_at, seen_at = EXCLUDED.seen_at,
                 leader = EXCLUDED.leader"
        );
        let started = super::to_ms(n.started_at);
        let leader = i64::from(n.leader);
        self.with(|c| {
            c.execute(
                &sql,
                &[
                    &n.name,
                    &n.address,
                    &n.version,
                    &n.policy_digest,
                    &started,
                    &leader,
                ],
            )
        })?;
        Ok(())
    }
}

impl Tx<'_, '_> {
    /// Refuses the transaction unless the lease is held under `token` now, and keeps the
    /// lease row locked (FOR SHARE) until the commit: no node can take the lease over between
    /// this check and the commit of what the holder took.
    pub fn fence(&self, token: i64) -> Result<()> {
        let sql = format!(
            "SELECT token FROM cluster_lease
             WHERE id = 1 AND token = $1 AND expires_at > {NOW_MS} FOR SHARE"
        );
        match self.query_opt(&sql, &[&token])? {
            Some(_) => Ok(()),
            None => Err(Error::Fenced(token)),
        }
    }

    /// Every node that reported itself, by name.
    pub fn cluster_nodes(&self) -> Result<Vec<NodeRecord>> {
        let rows = self.query(
            "SELECT name, address, version, policy_digest, started_at, seen_at, leader
             FROM cluster_nodes ORDER BY name",
            &[],
        )?;
        rows.iter()
            .map(|r| {
                Ok(NodeRecord {
                    name: r.at(0)?,
                    address: r.at(1)?,
                    version: r.at(2)?,
                    policy_digest: r.at(3)?,
                    started_at: r.ms_at(4)?,
                    seen_at: r.ms_at(5)?,
                    leader: r.bool_at(6)?,
                })
            })
            .collect()
    }
}
