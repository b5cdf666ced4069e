//! `[ui]`: the web dashboard served under `/ui/` on the HTTP listener (README "Dashboard").

use std::time::Duration;

use anyhow::bail;
use serde::Deserialize;

use super::settings::de_duration;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiSettings {
    /// Serve the dashboard at all.
    pub enabled: bool,
    /// How long a sign-in lasts (a token session also ends when its token is revoked).
    #[serde(deserialize_with = "de_duration")]
    pub session_ttl: Duration,
    /// How long a mailed sign-in link works (once).
    #[serde(deserialize_with = "de_duration")]
    pub signin_link_ttl: Duration,
    /// Live-update streams (`/ui/events`) open at once, over all browsers.
    pub max_event_streams: usize,
}

impl Default for UiSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            session_ttl: Duration::from_secs(12 * 3600),
            signin_link_ttl: Duration::from_secs(15 * 60),
            max_event_streams: 256,
        }
    }
}

impl UiSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.session_ttl < Duration::from_secs(60)
            || self.session_ttl > Duration::from_secs(30 * 86400)
        {
            bail!("ui.session_ttl: must be between 1m and 30d");
        }
        if self.signin_link_ttl < Duration::from_secs(60)
            || self.signin_link_ttl > Duration::from_secs(86400)
        {
            bail!("ui.signin_link_ttl: must be between 1m and 24h");
        }
        if !(1..=100_000).contains(&self.max_event_streams) {
            bail!("ui.max_event_streams: must be between 1 and 100000");
        }
        Ok(())
    }
}
