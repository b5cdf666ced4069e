//! The one place that reads the time.
//!
//! `System` is the wall clock. `Anchored` advances with tokio's clock from a fixed UTC instant,
//! so tests that pause and advance tokio time move the daemon's UTC time with it.

use chrono::{DateTime, Utc};
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub enum Clock {
    System,
    Anchored { utc: DateTime<Utc>, at: Instant },
}

impl Clock {
    /// A clock that reads `utc` now and follows tokio's (possibly paused) clock from here on.
    pub fn anchored(utc: DateTime<Utc>) -> Self {
        Self::Anchored {
            utc,
            at: Instant::now(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Self::System => Utc::now(),
            Self::Anchored { utc, at } => {
                *utc + chrono::Duration::from_std(at.elapsed()).unwrap_or_default()
            }
        }
    }

    /// The tokio instant at which `t` will be reached (now if it is past).
    ///
    /// The wall clock can jump; with `System`, callers re-check after at most `max_sleep`.
    pub fn instant_for(&self, t: DateTime<Utc>) -> Instant {
        let wait = (t - self.now()).to_std().unwrap_or_default();
        let wait = match self {
            Self::System => wait.min(Self::MAX_SYSTEM_SLEEP),
            Self::Anchored { .. } => wait,
        };
        Instant::now() + wait
    }

    /// Sleeps until `t` (see [`Clock::instant_for`]), or forever when there is no deadline.
    pub async fn sleep_until(&self, t: Option<DateTime<Utc>>) {
        match t {
            Some(t) => tokio::time::sleep_until(self.instant_for(t)).await,
            None => std::future::pending().await,
        }
    }

    /// Longest single sleep against the wall clock, so a clock step (NTP, suspend) delays a
    /// due action by at most this much.
    const MAX_SYSTEM_SLEEP: std::time::Duration = std::time::Duration::from_secs(30);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn anchored_clock_follows_paused_tokio_time() {
        let start = DateTime::parse_from_rfc3339("2026-03-08T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = Clock::anchored(start);
        assert_eq!(clock.now(), start);
        tokio::time::advance(Duration::from_secs(900)).await;
        assert_eq!(clock.now(), start + chrono::Duration::minutes(15));
        let due = start + chrono::Duration::minutes(20);
        assert_eq!(
            clock.instant_for(due) - Instant::now(),
            Duration::from_secs(300)
        );
    }
}
