//! Progress beats of the timer loop and the outbox dispatcher, and the engine's answers
//! to "alive?" and "ready?" (the decisions themselves are [`crate::domain::health`]).
//!
//! Each loop records a turn on every iteration and, while it waits, at least every
//! `stall / 4` ([`LoopBeats::idle`]): a turn can only be recorded by the loop's own task
//! getting to run, so a stale turn means that task is stuck, never merely idle.

use std::future::Future;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::Engine;
use crate::domain::health::{self, Limits, Loop, LoopState, Now, Problem};

pub struct LoopBeats {
    origin: Instant,
    /// Last turn of each loop, in ms since `origin` (index: [`slot`]).
    turns: [AtomicU64; 2],
    stall_ms: AtomicU64,
    behind_ms: AtomicU64,
    /// Test hook (`health.wedge_timer_file`): while this file exists the timer loop stops
    /// turning, as a loop stuck on a hung await would.
    wedge_timer_file: OnceLock<PathBuf>,
}

fn slot(which: Loop) -> usize {
    match which {
        Loop::Timer => 0,
        Loop::Outbox => 1,
    }
}

impl Default for LoopBeats {
    fn default() -> Self {
        Self {
            origin: Instant::now(),
            turns: [AtomicU64::new(0), AtomicU64::new(0)],
            stall_ms: AtomicU64::new(30_000),
            behind_ms: AtomicU64::new(60_000),
            wedge_timer_file: OnceLock::new(),
        }
    }
}

impl LoopBeats {
    /// Set by the caller before the loops start.
    pub fn configure(&self, limits: Limits, wedge_timer_file: Option<PathBuf>) {
        self.stall_ms
            .store(limits.stall.as_millis() as u64, Ordering::Relaxed);
        self.behind_ms
            .store(limits.behind.as_millis() as u64, Ordering::Relaxed);
        if let Some(path) = wedge_timer_file {
            let _ = self.wedge_timer_file.set(path);
        }
    }

    pub fn limits(&self) -> Limits {
        Limits {
            stall: Duration::from_millis(self.stall_ms.load(Ordering::Relaxed)),
            behind: Duration::from_millis(self.behind_ms.load(Ordering::Relaxed)),
        }
    }

    fn mono(&self) -> Duration {
        self.origin.elapsed()
    }

    /// Records a turn of `which`.
    pub(crate) fn turn(&self, which: Loop) {
        self.turns[slot(which)].store(self.mono().as_millis() as u64, Ordering::Release);
    }

    fn last_turn(&self, which: Loop) -> Duration {
        Duration::from_millis(self.turns[slot(which)].load(Ordering::Acquire))
    }

    /// Awaits `f`, recording a turn of `which` every beat interval meanwhile: a loop waiting
    /// for work is alive.
    pub(crate) async fn idle<F: Future>(&self, which: Loop, f: F) -> F::Output {
        tokio::pin!(f);
        loop {
            tokio::select! {
                out = &mut f => return out,
                _ = tokio::time::sleep(health::beat_every(self.limits().stall)) => {
                    self.wedge_point(which).await;
                    self.turn(which);
                }
            }
        }
    }

    /// The test hook, passed on every turn of the timer loop: while the configured file
    /// exists, waits without recording turns, deaf to everything (shutdown too), as a loop
    /// stuck on a hung await would be.
    pub(crate) async fn wedge_point(&self, which: Loop) {
        let Some(path) = self.wedge_timer_file.get() else {
            return;
        };
        if which != Loop::Timer || !path.exists() {
            return;
        }
        tracing::warn!(path = %path.display(), "test hook: the timer loop is wedged while this file exists");
        while path.exists() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tracing::warn!("test hook: the timer loop runs again");
    }

    /// The monotonic "now" the loops' turns compare with.
    pub fn now_mono(&self) -> Duration {
        self.mono()
    }

    /// The loops' turns, without their backlog (enough for liveness and the watchdog).
    pub fn turns(&self) -> Vec<LoopState> {
        Loop::ALL
            .iter()
            .map(|&which| LoopState {
                which,
                last_turn: self.last_turn(which),
                oldest_due: None,
            })
            .collect()
    }
}

impl Engine {
    pub fn loop_beats(&self) -> &std::sync::Arc<LoopBeats> {
        &self.inner.loop_beats
    }

    fn health_now(&self) -> Now {
        Now {
            mono: self.inner.loop_beats.now_mono(),
            utc: self.clock().now(),
        }
    }

    /// Why the daemon is not alive (empty: alive). Reads no store.
    pub fn liveness(&self) -> Vec<Problem> {
        let hb = &self.inner.loop_beats;
        health::liveness(&hb.turns(), self.health_now(), hb.limits())
    }

    /// Why the daemon is not ready (empty: ready). Asks the store whether it takes writes
    /// (probing while it refuses them) and for the oldest due action and page; a store that
    /// does not answer within the stall limit (at most 5 s) counts as a store problem.
    pub async fn readiness(&self) -> Vec<Problem> {
        let hb = &self.inner.loop_beats;
        let limits = hb.limits();
        let wait = limits.stall.min(Duration::from_secs(5));
        let store = self.inner.store.clone();
        let asked = tokio::time::timeout(wait, async move {
            let writes = store.check_writes().await.err();
            let dues = store
                .read(|r| Ok((r.next_due_at()?, r.oldest_pending_page_at()?)))
                .await;
            (writes, dues)
        })
        .await;
        let (store_problem, dues) = match asked {
            Ok((writes, Ok(dues))) => (writes, dues),
            Ok((writes, Err(e))) => (
                Some(writes.unwrap_or_else(|| format!("reads fail: {e:#}"))),
                (None, None),
            ),
            Err(_) => (
                Some(format!("did not answer within {}s", wait.as_secs_f32())),
                (None, None),
            ),
        };
        let mut loops = hb.turns();
        for l in &mut loops {
            l.oldest_due = match l.which {
                Loop::Timer => dues.0,
                Loop::Outbox => dues.1,
            };
        }
        health::readiness(&loops, store_problem.as_deref(), self.health_now(), limits)
    }
}
