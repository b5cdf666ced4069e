//! The one timer task: sleeps until the earliest due action, runs everything due, repeats.
//! Writers that schedule something earlier than its current target wake it.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::Engine;

/// Shared between the timer task and the writers that schedule actions.
pub struct TimerHandle {
    /// Unix ms the task sleeps until. `i64::MAX` while it is running actions or when nothing
    /// is due, so every hint then leaves a wake-up permit: an action committed between the
    /// task's "what is next" read and its sleep is never missed.
    target_ms: AtomicI64,
    wake: Notify,
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
        loop {
            handle.target_ms.store(i64::MAX, Ordering::Release);
            let ran = self.engine.run_due(clock.now(), self.batch).await?;
            if ran == self.batch {
                // More may be due; yield so RPCs are not starved, then continue.
                tokio::task::yield_now().await;
                continue;
            }
            let next = self.engine.store().read(|r| r.next_due_at()).await?;
            handle.target_ms.store(
                next.map_or(i64::MAX, |t| t.timestamp_millis()),
                Ordering::Release,
            );
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = handle.wake.notified() => {}
                _ = clock.sleep_until(next) => {}
            }
        }
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
}
