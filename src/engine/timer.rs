//! The one timer task: sleeps until the earliest due action, runs everything due, repeats.
//! Writers that schedule something earlier than its current target wake it.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::Engine;
use super::health::LoopBeats;
use crate::domain::health::Loop;

/// Shared between the timer task and the writers that schedule actions.
pub struct TimerHandle {
    /// Unix ms the task sleeps until. `i64::MAX` while it is running actions or when nothing
    /// is due, so every hint then leaves a wake-up permit: an action committed between the
    /// task's "what is next" read and its sleep is never missed.
    target_ms: AtomicI64,
    pub(crate) wake: Notify,
}

impl Default for TimerHandle {
    fn default() -> Self {
        Self {
            target_ms: AtomicI64::new(i64::MAX),
            wake: Notify::new(),
        }
    }
}

impl TimerHandle {
    /// Called after a commit that scheduled an action due at `due`.
    pub fn hint(&self, due: DateTime<Utc>) {
        if due.timestamp_millis() < self.target_ms.load(Ordering::Acquire) {
            self.wake.notify_one();
        }
    }
}

pub struct TimerTask {
    engine: Engine,
    batch: usize,
}

impl TimerTask {
    pub fn new(engine: Engine, batch: usize) -> Self {
        Self { engine, batch }
    }

    /// Runs until `shutdown`. Overdue actions (after a restart) run on the first pass.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let handle = self.engine.timer_handle();
        let clock = self.engine.clock();
        let beats = self.engine.loop_beats().clone();
        let mut failures = Failures::new("timer task").beating(beats.clone(), Loop::Timer);
        loop {
            beats.turn(Loop::Timer);
            beats.wedge_point(Loop::Timer).await;
            handle.target_ms.store(i64::MAX, Ordering::Release);
            let next = match self.pass(clock.now()).await {
                Ok(Pass::More) => {
                    // More may be due; yield so RPCs are not starved, then continue.
                    tokio::task::yield_now().await;
                    continue;
                }
                Ok(Pass::Idle(next)) => {
                    failures.reset();
                    next
                }
                // Not the leader any more: this term's run ends (`Leadership::run_while_leader`).
                Err(e) if e.downcast_ref::<super::NotLeader>().is_some() => return Err(e),
                Err(e) => {
                    failures.record(e, &shutdown).await?;
                    continue;
                }
            };
            handle.target_ms.store(
                next.map_or(i64::MAX, |t| t.timestamp_millis()),
                Ordering::Release,
            );
            let stop = beats
                .idle(Loop::Timer, async {
                    tokio::select! {
                        _ = shutdown.cancelled() => true,
                        _ = handle.wake.notified() => false,
                        _ = clock.sleep_until(next) => false,
                    }
                })
                .await;
            if stop {
                return Ok(());
            }
        }
    }

    /// Runs what is due; says whether more is waiting or when the next action is due.
    async fn pass(&self, now: DateTime<Utc>) -> anyhow::Result<Pass> {
        if self.engine.run_due(now, self.batch).await? == self.batch {
            return Ok(Pass::More);
        }
        Ok(Pass::Idle(
            self.engine.store().read(|r| r.next_due_at()).await?,
        ))
    }
}

enum Pass {
    More,
    Idle(Option<DateTime<Utc>>),
}

/// Consecutive store failures a background task rides out (pausing between tries) before it
/// gives up, so a passing lock or I/O hiccup does not stop the daemon, but a lasting fault
/// makes it exit for its supervisor to restart rather than run deaf.
pub(crate) struct Failures {
    task: &'static str,
    count: u32,
    /// Store refusals in a row (not limited).
    unavailable: u32,
    /// The loop whose turns are recorded while it pauses (a loop backing off is alive).
    beating: Option<(std::sync::Arc<LoopBeats>, Loop)>,
}

impl Failures {
    const LIMIT: u32 = 10;
    const PAUSE: std::time::Duration = std::time::Duration::from_secs(1);

    pub(crate) fn new(task: &'static str) -> Self {
        Self {
            task,
            count: 0,
            unavailable: 0,
            beating: None,
        }
    }

    /// Records turns of `which` while pausing between tries.
    pub(crate) fn beating(mut self, beats: std::sync::Arc<LoopBeats>, which: Loop) -> Self {
        self.beating = Some((beats, which));
        self
    }

    /// Sleeps `pause` (or until shutdown), recording turns meanwhile if set.
    async fn pause(&self, pause: std::time::Duration, shutdown: &CancellationToken) {
        let wait = async {
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(pause) => {}
            }
        };
        match &self.beating {
            Some((beats, which)) => beats.idle(*which, wait).await,
            None => wait.await,
        }
    }

    pub(crate) fn reset(&mut self) {
        self.count = 0;
        self.unavailable = 0;
    }

    /// Logs `e` and pauses; returns it once the limit is reached. A store that refuses writes
    /// for now (disk full, I/O error, locked) never ends the task: it is retried with a pause
    /// doubling up to 30 s, and the task carries on once the store takes writes again.
    pub(crate) async fn record(
        &mut self,
        e: anyhow::Error,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        if crate::store::unavailable(&e).is_some() {
            self.unavailable = self.unavailable.saturating_add(1);
            let pause = Self::PAUSE
                .saturating_mul(1 << self.unavailable.min(5))
                .min(std::time::Duration::from_secs(30));
            tracing::warn!(
                task = self.task,
                error = format!("{e:#}"),
                retry_in_ms = pause.as_millis() as u64,
                "the store refuses writes; retrying"
            );
            self.pause(pause, shutdown).await;
            return Ok(());
        }
        self.count += 1;
        if self.count >= Self::LIMIT {
            return Err(e.context(format!(
                "{} failed {} times in a row",
                self.task, self.count
            )));
        }
        tracing::warn!(
            task = self.task,
            error = format!("{e:#}"),
            attempt = self.count,
            "retrying"
        );
        self.pause(Self::PAUSE, shutdown).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).unwrap()
    }

    async fn woken(h: &TimerHandle) -> bool {
        tokio::time::timeout(Duration::from_millis(1), h.wake.notified())
            .await
            .is_ok()
    }

    #[tokio::test(start_paused = true)]
    async fn hints_wake_the_timer_only_for_earlier_deadlines() {
        let h = TimerHandle::default();
        // Busy (or idle with nothing due): any new action must wake it.
        h.hint(at(5_000));
        assert!(woken(&h).await);

        h.target_ms.store(10_000, Ordering::Release);
        h.hint(at(20_000));
        assert!(!woken(&h).await, "a later action must not wake the timer");
        h.hint(at(9_999));
        assert!(woken(&h).await);
    }

    #[tokio::test(start_paused = true)]
    async fn background_tasks_ride_out_passing_failures_but_not_lasting_ones() {
        let stop = CancellationToken::new();
        let mut f = Failures::new("test task");
        for _ in 0..Failures::LIMIT - 1 {
            f.record(anyhow::anyhow!("database is locked"), &stop)
                .await
                .unwrap();
        }
        f.reset();
        for _ in 0..Failures::LIMIT - 1 {
            f.record(anyhow::anyhow!("database is locked"), &stop)
                .await
                .unwrap();
        }
        let err = f
            .record(anyhow::anyhow!("disk I/O error"), &stop)
            .await
            .unwrap_err();
        assert!(format!("{err:#}").contains("test task failed 10 times in a row: disk I/O error"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_store_that_refuses_writes_never_ends_a_task() {
        let stop = CancellationToken::new();
        let mut f = Failures::new("test task");
        let full = || {
            anyhow::Error::from(
                crate::store::Error::Unavailable("database or disk is full".into())
                    .context("queueing page"),
            )
        };
        let started = tokio::time::Instant::now();
        for _ in 0..3 * Failures::LIMIT {
            f.record(full(), &stop).await.unwrap();
        }
        // Backing off: the pauses grew to the 30 s cap.
        assert!(started.elapsed() > Duration::from_secs(20 * 30));
        // Other failures still count as before.
        for _ in 0..Failures::LIMIT - 1 {
            f.record(anyhow::anyhow!("bad row"), &stop).await.unwrap();
        }
        assert!(f.record(anyhow::anyhow!("bad row"), &stop).await.is_err());
    }
}
