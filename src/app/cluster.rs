//! The lease loop of a node of several: wins and renews the cluster lease (`store::cluster`),
//! tells the engine's [`Leadership`] when this node may run time and until when, and reports
//! the node (`pagerctl status`). Runs on a thread of its own: the lease connection is blocking.
//!
//! Timing, for a TTL `t` (README, Running several nodes): the lease is taken for `0.9 t` on
//! the database's clock; the holder renews every `t / 5` and acts only until `0.6 t` after a
//! renewal *started* (so it stops before the lease can expire there, whatever the round trip
//! and a drifting clock); the others try every `t / 10`. A dead holder's lease expires at most
//! `0.9 t` after its last renewal and is taken within `t / 10` more: within `t`.

use std::sync::Arc;
use std::time::Duration;

use std::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::engine::{Engine, Leadership, Term};
use crate::store::cluster::{LeaseBackend, NodeRecord};

/// The lease's periods for a TTL (a pure function; see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Periods {
    /// How long the database keeps the lease without a renewal.
    pub lease: Duration,
    /// How long after a renewal started the holder may act.
    pub act: Duration,
    pub renew_every: Duration,
    pub try_every: Duration,
}

pub fn periods(ttl: Duration) -> Periods {
    Periods {
        lease: ttl.mul_f64(0.9),
        act: ttl.mul_f64(0.6),
        renew_every: ttl / 5,
        try_every: ttl / 10,
    }
}

/// What this node is, for its reports.
pub struct Node {
    pub name: String,
    pub address: String,
    pub started_at: chrono::DateTime<chrono::Utc>,
}

/// The lease loop of a node on PostgreSQL, ready to run.
pub struct Lease {
    backend: Box<dyn LeaseBackend>,
    node: Node,
    ttl: Duration,
}

/// On PostgreSQL: makes the engine one node of several (it runs time only while it holds the
/// lease), wakes its loops when another node commits, and returns the lease loop to run. On
/// SQLite: nothing (one node, always the leader).
pub fn prepare(
    engine: &Engine,
    url: &crate::store::url::StoreUrl,
    settings: &crate::config::Settings,
    grpc: std::net::SocketAddr,
) -> anyhow::Result<Option<Lease>> {
    let crate::store::url::StoreUrl::Postgres(url) = url else {
        return Ok(None);
    };
    let name = settings.cluster.node_name(grpc.port());
    engine.set_leadership(Leadership::clustered(&name));
    engine.store().on_remote_change(engine.loop_waker());
    engine
        .store()
        .on_schedules_changed(engine.schedules_waker(tokio::runtime::Handle::current()));
    let backend = crate::store::postgres::cluster::lease(url, &settings.store)?;
    tracing::info!(node = %name, lease_ttl = ?settings.cluster.lease_ttl, "several nodes: this one runs the timer and the outbox only while it holds the cluster lease");
    Ok(Some(Lease {
        backend: Box::new(backend),
        node: Node {
            name,
            address: grpc.to_string(),
            started_at: engine.started_at(),
        },
        ttl: settings.cluster.lease_ttl,
    }))
}

impl Lease {
    /// Runs the loop on its own thread until `stop`; then gives the lease up.
    pub async fn run(self, engine: Engine, stop: CancellationToken) -> anyhow::Result<()> {
        let thread = spawn(self.backend, engine, self.node, self.ttl, stop.clone())?;
        stop.cancelled().await;
        tokio::task::spawn_blocking(move || thread.join())
            .await?
            .map_err(|_| anyhow::anyhow!("the lease thread panicked"))?;
        Ok(())
    }
}

/// Starts the loop; it ends (giving the lease up) once `stop` is cancelled.
pub fn spawn(
    mut backend: Box<dyn LeaseBackend>,
    engine: Engine,
    node: Node,
    ttl: Duration,
    stop: CancellationToken,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let leadership: Arc<Leadership> = engine.leadership().clone();
    let p = periods(ttl);
    std::thread::Builder::new()
        .name("pagerd-lease".into())
        .spawn(move || {
            let mut held: Option<i64> = None;
            while !stop.is_cancelled() {
                let started = Instant::now();
                match backend.acquire(&node.name, p.lease) {
                    Ok(Some(token)) => {
                        if held != Some(token) {
                            tracing::info!(node = %node.name, token, "won the cluster lease: this node runs the timer and the outbox");
                        }
                        held = Some(token);
                        leadership.set(Some(Term {
                            token,
                            valid_until: started + p.act,
                        }));
                    }
                    Ok(None) => {
                        if let Some(token) = held.take() {
                            tracing::warn!(node = %node.name, token, "another node holds the cluster lease now");
                        }
                        leadership.set(None);
                    }
                    // The term lapses by itself at its `valid_until`; retried next round.
                    Err(e) => tracing::warn!(node = %node.name, error = %e, "cluster lease not renewed"),
                }
                let record = NodeRecord {
                    name: node.name.clone(),
                    address: node.address.clone(),
                    version: env!("CARGO_PKG_VERSION").to_string(),
                    policy_digest: engine.policies().digest.clone(),
                    started_at: node.started_at,
                    seen_at: node.started_at,
                    leader: leadership.current().is_some(),
                };
                if let Err(e) = backend.report(&record) {
                    tracing::debug!(error = %e, "node report not recorded");
                }
                let pause = if leadership.current().is_some() {
                    p.renew_every
                } else {
                    p.try_every
                };
                sleep_unless(&stop, started, pause, &leadership);
            }
            if held.is_some() {
                leadership.set(None);
                match backend.release(&node.name) {
                    Ok(()) => tracing::info!(node = %node.name, "gave up the cluster lease"),
                    Err(e) => tracing::warn!(error = %e, "cluster lease not given up; it expires by itself"),
                }
            }
        })
}

/// Sleeps until `from + pause` in short steps, waking early on `stop`, and ends a term whose
/// time is up meanwhile.
fn sleep_unless(stop: &CancellationToken, from: Instant, pause: Duration, lead: &Leadership) {
    let until = from + pause;
    while !stop.is_cancelled() {
        lead.lapse_if_due();
        let now = Instant::now();
        if now >= until {
            return;
        }
        std::thread::sleep((until - now).min(Duration::from_millis(50)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holder_stops_before_its_lease_expires_and_a_dead_one_is_replaced_within_the_ttl() {
        for secs in [2, 10, 30, 600] {
            let ttl = Duration::from_secs(secs);
            let p = periods(ttl);
            // Acting ends well before the database lets another node in.
            assert!(p.act < p.lease, "{p:?}");
            // Two renewals may fail before the holder stops acting.
            assert!(p.renew_every * 2 < p.act, "{p:?}");
            // Worst case: dead right after a renewal; expiry, then one try period.
            assert!(p.lease + p.try_every <= ttl, "{p:?}");
        }
        let p = periods(Duration::from_secs(10));
        assert_eq!(p.renew_every, Duration::from_secs(2));
        assert_eq!(p.try_every, Duration::from_secs(1));
    }
}
