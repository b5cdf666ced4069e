//! Notification channels: one async trait, one implementation per channel.
//!
//! Channels are built from settings (base URL, timeout) so tests can point them at local
//! servers. Whether and when to retry is the outbox's decision; a channel only classifies
//! its failure.

mod log;
mod webhook;

use std::time::Duration;

pub use log::LogChannel;
pub use webhook::WebhookChannel;

use crate::domain::{Page, Person};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later (timeouts, connection errors, 5xx).
    #[error("{0}")]
    Retryable(String),
    /// The receiver asked us to wait at least this long (HTTP 429 `Retry-After`).
    #[error("{1} (retry after {0:?})")]
    RetryAfter(Duration, String),
    /// Will never succeed as it is (4xx other than 429, a person without an address).
    #[error("{0}")]
    Permanent(String),
}

#[async_trait::async_trait]
pub trait Channel: Send + Sync + 'static {
    /// The name pages are queued under (`webhook`, `log`, …).
    fn name(&self) -> &str;

    /// Delivers one page to one person. `person` is `None` when the person was removed from
    /// the policy files after the page was queued.
    async fn send(&self, page: &Page, person: Option<&Person>) -> Result<(), SendError>;
}
