//! Notification channels: one async trait, one implementation per channel.
//!
//! Channels are built from settings (base URL, timeout) so tests can point them at local
//! servers. Whether and when to retry is the outbox's decision; a channel only classifies
//! its failure: every HTTP channel through `http.rs`, one reading of status and
//! `Retry-After`. The contact methods (email, SMS, Slack) implement [`ContactChannel`] and get
//! the rest of [`Channel`] from it.

mod direct;
mod email;
#[cfg(test)]
mod escaping_tests;
mod http;
pub mod links;
mod log;
pub mod render;
pub mod slack;
mod sms;
mod webhook;

use std::time::Duration;

pub use email::EmailChannel;
pub use links::LinkSigner;
pub use log::LogChannel;
pub use slack::SlackChannel;
pub use sms::SmsChannel;
pub use webhook::WebhookChannel;

use crate::domain::contact::Method;
use crate::domain::{Page, Person};

/// What a channel reports of an accepted message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivered {
    /// The provider's answer worth showing: "250 2.0.0 Ok: queued", "HTTP 201".
    pub response: Option<String>,
}

impl Delivered {
    pub fn with(response: impl Into<String>) -> Self {
        Self {
            response: Some(response.into()),
        }
    }
}

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

    /// The person's contact method this channel is, if it is one. Channels that are not
    /// (webhook, log) get every page at once; contact methods follow each person's rules.
    fn method(&self) -> Option<Method> {
        None
    }

    /// How long a page may keep failing before it fails for good (and the person's next
    /// method is tried); `None` = the outbox default.
    fn deadline(&self) -> Option<Duration> {
        None
    }

    /// The provider host (`host:port`) this channel sends to, when sends to it are capped
    /// per host (`outbox.per_host`); `None` = only the per-channel cap applies.
    fn host(&self) -> Option<String> {
        None
    }

    /// At most this many messages a minute to one person; more are coalesced.
    fn rate_limit(&self) -> Option<u32> {
        None
    }

    /// The address this channel uses for `person`, for the timeline.
    fn address(&self, person: Option<&Person>) -> Option<String> {
        let _ = person;
        None
    }

    /// Delivers one page to one person. `person` is `None` when the person was removed from
    /// the policy files after the page was queued.
    async fn send(&self, page: &Page, person: Option<&Person>) -> Result<Delivered, SendError>;

    /// Delivers several pages to one person as one message (over a rate limit). The default
    /// sends them one by one, for channels without a limit.
    async fn send_many(
        &self,
        pages: &[Page],
        person: Option<&Person>,
    ) -> Result<Delivered, SendError> {
        let mut last = Delivered::default();
        for page in pages {
            last = self.send(page, person).await?;
        }
        Ok(last)
    }
}

/// What makes a channel one of a person's contact methods: the method, how long its pages may
/// keep failing, and its rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contact {
    pub method: Method,
    pub deadline: Duration,
    pub rate_limit: Option<u32>,
}

/// A channel that is a contact method (email, SMS, Slack): it delivers one page or several to
/// one address as one message. [`Channel`] follows from [`Contact`]: queued under the method's
/// name, sent to the person's address for that method (a permanent failure without one).
#[async_trait::async_trait]
pub trait ContactChannel: Send + Sync + 'static {
    fn contact(&self) -> &Contact;

    /// Delivers `pages` (at least one, all for one person) to `to` as one message.
    async fn deliver(&self, pages: &[Page], to: &str) -> Result<Delivered, SendError>;
}

#[async_trait::async_trait]
impl<T: ContactChannel> Channel for T {
    fn name(&self) -> &str {
        self.contact().method.as_str()
    }

    fn method(&self) -> Option<Method> {
        Some(self.contact().method)
    }

    fn deadline(&self) -> Option<Duration> {
        Some(self.contact().deadline)
    }

    fn rate_limit(&self) -> Option<u32> {
        self.contact().rate_limit
    }

    fn address(&self, person: Option<&Person>) -> Option<String> {
        let method = self.contact().method;
        person.and_then(|p| method.address(p)).map(str::to_string)
    }

    async fn send(&self, page: &Page, person: Option<&Person>) -> Result<Delivered, SendError> {
        self.send_many(std::slice::from_ref(page), person).await
    }

    async fn send_many(
        &self,
        pages: &[Page],
        person: Option<&Person>,
    ) -> Result<Delivered, SendError> {
        let to = address_of(self.contact().method, &pages[0], person)?;
        self.deliver(pages, &to).await
    }
}

/// The person's address for a contact method, or a permanent error naming what is missing.
pub fn address_of(
    method: Method,
    page: &Page,
    person: Option<&Person>,
) -> Result<String, SendError> {
    let person = person.ok_or_else(|| {
        SendError::Permanent(format!("{} is no longer in the policy files", page.person))
    })?;
    method.address(person).map(str::to_string).ok_or_else(|| {
        SendError::Permanent(format!(
            "{} has no {} address",
            page.person,
            method.as_str()
        ))
    })
}
