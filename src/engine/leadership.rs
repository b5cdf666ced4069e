//! Which node runs time. With several nodes on one PostgreSQL database, only the holder of the
//! cluster lease runs the timer and the outbox; a single node (SQLite) always holds it.
//!
//! A [`Term`] is this node's current hold: the lease's fencing token and the monotonic instant
//! until which the node may act on it. The lease loop (`app::cluster`) extends it on every
//! renewal and ends it when a renewal says someone else holds the lease. A term also lapses by
//! itself when `valid_until` passes — a node that cannot reach the database stops sending
//! before its lease can expire there: every send checks [`Leadership::current`], and the
//! lease loop ends a lapsed term ([`Leadership::lapse_if_due`]), stopping the loops.
//!
//! Terms are on the real monotonic clock (`std::time::Instant`), not tokio's: a test that
//! moves tokio's paused clock by hours must not end a lease that the database still grants.

use std::future::Future;
use std::sync::Arc;

use std::time::Instant;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::domain::health::Loop;

use super::health::LoopBeats;

/// This node's hold on the lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Term {
    /// The fencing token: it grows with every change of holder, and every due action this
    /// node takes is taken in a transaction that checks the token is still current.
    pub token: i64,
    /// Until when this node may act (monotonic: a process stopped by SIGSTOP finds it passed).
    pub valid_until: Instant,
}

impl Term {
    fn live(&self, now: Instant) -> bool {
        now < self.valid_until
    }
}

/// Shared between the lease loop, the timer, the outbox and `/metrics`.
pub struct Leadership {
    term: watch::Sender<Option<Term>>,
    clustered: bool,
    /// This node's name in the cluster (empty for a single node).
    name: String,
}

/// The timer or outbox found it no longer holds the lease (a fenced write was refused, or
/// its term lapsed): it stops, and runs again if the node wins the lease back.
#[derive(Debug, thiserror::Error)]
#[error("this node no longer holds the cluster lease (token {token})")]
pub struct NotLeader {
    pub token: i64,
}

impl Leadership {
    /// One node: always the leader, with token 0 (nothing to fence).
    pub fn single() -> Arc<Self> {
        let forever = Instant::now() + std::time::Duration::from_secs(100 * 365 * 86_400);
        Arc::new(Self {
            term: watch::channel(Some(Term {
                token: 0,
                valid_until: forever,
            }))
            .0,
            clustered: false,
            name: String::new(),
        })
    }

    /// One node of several: not the leader until the lease loop wins the lease.
    pub fn clustered(name: &str) -> Arc<Self> {
        Arc::new(Self {
            term: watch::channel(None).0,
            clustered: true,
            name: name.to_string(),
        })
    }

    pub fn is_clustered(&self) -> bool {
        self.clustered
    }

    /// This node's name in the cluster; empty for a single node.
    pub fn node_name(&self) -> &str {
        &self.name
    }

    /// The current term, if it has not lapsed.
    pub fn current(&self) -> Option<Term> {
        let term = *self.term.borrow();
        term.filter(|t| t.live(Instant::now()))
    }

    /// Set by the lease loop: a won or renewed term, or `None` (someone else holds it).
    pub fn set(&self, term: Option<Term>) {
        self.term.send_if_modified(|cur| {
            let changed = *cur != term;
            *cur = term;
            changed
        });
    }

    /// Ends the current term if its time is up (called by the lease loop between renewals).
    pub fn lapse_if_due(&self) {
        let now = Instant::now();
        self.term.send_if_modified(|cur| match cur {
            Some(t) if !t.live(now) => {
                *cur = None;
                true
            }
            _ => false,
        });
    }

    /// A fenced write was refused for `token`: that term is over, whatever its clock says.
    pub fn lost(&self, token: i64) {
        self.term.send_if_modified(|cur| match cur {
            Some(t) if t.token == token => {
                *cur = None;
                true
            }
            _ => false,
        });
    }

    /// Runs `task` (the timer or the outbox) while this node holds the lease: waits for a
    /// term, starts the task with a stop token that is cancelled when the term ends (lost,
    /// lapsed or shutdown), and waits for the next term. While waiting the loop counts as
    /// alive (a follower's loops are idle by design). Returns when `shutdown` is cancelled or
    /// the task fails.
    pub async fn run_while_leader<F, Fut>(
        self: Arc<Self>,
        beats: Arc<LoopBeats>,
        which: Loop,
        shutdown: CancellationToken,
        mut task: F,
    ) -> anyhow::Result<()>
    where
        F: FnMut(CancellationToken) -> Fut,
        Fut: Future<Output = anyhow::Result<()>>,
    {
        let mut rx = self.term.subscribe();
        loop {
            // Wait for a live term.
            let won = beats
                .idle(which, async {
                    loop {
                        if let Some(t) = self.current() {
                            return Some(t);
                        }
                        tokio::select! {
                            _ = shutdown.cancelled() => return None,
                            changed = rx.changed() => {
                                if changed.is_err() {
                                    return None;
                                }
                            }
                        }
                    }
                })
                .await;
            let Some(term) = won else {
                return Ok(());
            };
            if self.clustered {
                tracing::info!(task = which.name(), token = term.token, "leader: starting");
            }
            let stop = shutdown.child_token();
            let run = task(stop.clone());
            tokio::pin!(run);
            let ended = tokio::select! {
                r = &mut run => Some(r),
                _ = self.term_over(term.token, &mut rx) => None,
            };
            match ended {
                // The task ended by itself: shutdown, a failure, or it found it lost the lease.
                Some(r) => {
                    if shutdown.is_cancelled() {
                        return r;
                    }
                    match r {
                        Err(e) if e.downcast_ref::<NotLeader>().is_none() => return Err(e),
                        _ => {}
                    }
                }
                None => {
                    stop.cancel();
                    let r = run.await;
                    if shutdown.is_cancelled() {
                        return r;
                    }
                    tracing::warn!(
                        task = which.name(),
                        token = term.token,
                        "lost the cluster lease: stopped"
                    );
                    if let Err(e) = r
                        && e.downcast_ref::<NotLeader>().is_none()
                    {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Resolves when the term with `token` is over: replaced or ended (a lapse is ended by
    /// the lease loop; meanwhile every send checks the clock itself).
    async fn term_over(&self, token: i64, rx: &mut watch::Receiver<Option<Term>>) {
        loop {
            let term = *rx.borrow_and_update();
            if term.is_none_or(|t| t.token != token) {
                return;
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    }
}

impl super::Engine {
    /// Makes this engine one node of several (`Leadership::clustered`); before the loops start.
    pub fn set_leadership(&self, leadership: Arc<Leadership>) {
        if self.inner.leadership.set(leadership).is_err() {
            tracing::warn!("leadership was set twice; the first stays");
        }
    }

    /// Another node committed something: the timer and the outbox look again (they only run
    /// on the leader; elsewhere the wake-up is a no-op).
    pub fn wake_loops(&self) {
        self.timer_handle().wake.notify_one();
        self.outbox_wake().notify_one();
    }

    /// [`Engine::wake_loops`] for the store to call when another node committed. Holds the
    /// engine weakly: the store must not keep the engine (and so itself) alive.
    pub fn loop_waker(&self) -> Arc<dyn Fn() + Send + Sync> {
        let weak = Arc::downgrade(&self.inner);
        Arc::new(move || {
            if let Some(inner) = weak.upgrade() {
                super::Engine { inner }.wake_loops();
            }
        })
    }

    /// For the store to call when another node added or removed an override or maintenance
    /// window: re-installs the serving files, which re-reads those from the store (on the
    /// runtime `rt`; holds the engine weakly, like [`Engine::loop_waker`]).
    pub fn schedules_waker(&self, rt: tokio::runtime::Handle) -> Arc<dyn Fn() + Send + Sync> {
        let weak = Arc::downgrade(&self.inner);
        Arc::new(move || {
            let Some(inner) = weak.upgrade() else {
                return;
            };
            let engine = super::Engine { inner };
            rt.spawn(async move {
                let files = engine.inner.installed.lock().await.files.clone();
                if let Err(e) = engine.install((*files).clone()).await {
                    tracing::warn!(error = format!("{e:#}"), "overrides and windows made on another node not re-read; retried on the next change");
                }
            });
        })
    }

    /// Whether this node runs time; a single node always does.
    pub fn leadership(&self) -> &Arc<Leadership> {
        self.inner.leadership.get_or_init(Leadership::single)
    }

    /// The current term's token, or [`NotLeader`] (the timer and outbox stop).
    pub(crate) fn leader_token(&self) -> Result<i64, NotLeader> {
        self.leadership()
            .current()
            .map(|t| t.token)
            .ok_or(NotLeader { token: -1 })
    }

    /// Every node on the database (`pagerctl status`); on a single-node store, this one.
    pub async fn cluster_nodes(
        &self,
    ) -> super::EngineResult<Vec<crate::store::cluster::NodeRecord>> {
        let mut nodes = self.store().read(|r| r.cluster_nodes()).await?;
        if nodes.is_empty() && !self.leadership().is_clustered() {
            nodes.push(crate::store::cluster::NodeRecord {
                name: "this node".into(),
                address: String::new(),
                version: env!("CARGO_PKG_VERSION").to_string(),
                policy_digest: self.policies().digest.clone(),
                started_at: self.started_at(),
                seen_at: self.clock().now(),
                leader: true,
            });
        }
        Ok(nodes)
    }

    /// A fenced write refused: ends the term and says so as [`NotLeader`].
    pub(crate) fn fenced_out(&self, e: anyhow::Error) -> anyhow::Error {
        match crate::store::fenced(&e) {
            Some(token) => {
                self.leadership().lost(token);
                NotLeader { token }.into()
            }
            None => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    fn term(token: i64, ms: u64) -> Option<Term> {
        Some(Term {
            token,
            valid_until: Instant::now() + Duration::from_millis(ms),
        })
    }

    /// Polls `cond` for up to 5 s of real time.
    async fn eventually(what: &str, cond: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !cond() {
            assert!(Instant::now() < deadline, "{what}");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_single_node_always_leads_with_token_zero_whatever_the_paused_clock_does() {
        let l = Leadership::single();
        assert_eq!(l.current().unwrap().token, 0);
        tokio::time::advance(Duration::from_secs(86_400 * 365)).await;
        assert!(l.current().is_some());
        // A clustered term is on the real clock: moving tokio's clock does not end it.
        let c = Leadership::clustered("a");
        c.set(term(1, 60_000));
        tokio::time::advance(Duration::from_secs(86_400)).await;
        c.lapse_if_due();
        assert_eq!(c.current().unwrap().token, 1);
    }

    #[test]
    fn a_term_lapses_by_its_clock_and_by_a_fenced_refusal() {
        let l = Leadership::clustered("a");
        assert!(l.current().is_none());
        l.set(term(3, 30));
        assert_eq!(l.current().unwrap().token, 3);
        std::thread::sleep(Duration::from_millis(40));
        assert!(l.current().is_none(), "lapsed without a renewal");
        l.set(term(4, 60_000));
        l.lost(3);
        assert_eq!(
            l.current().unwrap().token,
            4,
            "an older token's refusal ends nothing"
        );
        l.lost(4);
        assert!(l.current().is_none());
    }

    /// The task runs only during terms, is stopped when one lapses or is replaced, and
    /// starts again on the next.
    #[tokio::test]
    async fn the_task_runs_only_while_a_term_is_live() {
        let l = Leadership::clustered("a");
        let beats = Arc::new(LoopBeats::default());
        let shutdown = CancellationToken::new();
        let starts = Arc::new(AtomicUsize::new(0));
        let running = Arc::new(AtomicUsize::new(0));
        let sup = {
            let (l, shutdown, starts, running) =
                (l.clone(), shutdown.clone(), starts.clone(), running.clone());
            tokio::spawn(
                l.run_while_leader(beats, Loop::Timer, shutdown, move |stop| {
                    let (starts, running) = (starts.clone(), running.clone());
                    async move {
                        starts.fetch_add(1, Ordering::SeqCst);
                        running.fetch_add(1, Ordering::SeqCst);
                        stop.cancelled().await;
                        running.fetch_sub(1, Ordering::SeqCst);
                        Ok(())
                    }
                }),
            )
        };
        let count = |a: &AtomicUsize| a.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(count(&starts), 0, "a follower runs nothing");
        l.set(term(1, 60_000));
        eventually("runs once leader", || count(&running) == 1).await;
        // Renewed: the same term goes on.
        l.set(term(1, 60_000));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!((count(&starts), count(&running)), (1, 1));
        // No renewal: once lapsed, the lease loop ends it and the task stops.
        l.set(term(1, 20));
        std::thread::sleep(Duration::from_millis(30));
        l.lapse_if_due();
        eventually("stops once lapsed", || count(&running) == 0).await;
        // A new term (won back): runs again.
        l.set(term(2, 60_000));
        eventually("runs again", || (count(&starts), count(&running)) == (2, 1)).await;
        // Someone else holds it.
        l.set(None);
        eventually("stops for another holder", || count(&running) == 0).await;
        shutdown.cancel();
        sup.await.unwrap().unwrap();
    }
}
