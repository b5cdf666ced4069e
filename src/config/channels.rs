//! Settings of the contact-method channels (email, SMS, Slack) and of signed action links.
//!
//! Secrets may be written inline, given by environment (`PAGERD_NOTIFY__EMAIL__PASSWORD=…`,
//! layered by the `config` crate like any key) or read from a file (`password_file`, handy
//! with systemd credentials). They are held in [`Secret`], whose `Debug` never shows them.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

use super::settings::de_duration;

/// A secret value: never printed.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

/// The inline secret, else the file's first line; `key` names the setting in errors.
pub fn resolve_secret(
    inline: &Option<Secret>,
    file: &Option<PathBuf>,
    key: &str,
) -> anyhow::Result<Option<Secret>> {
    match (inline, file) {
        (Some(_), Some(_)) => bail!("{key}: set either {key} or {key}_file, not both"),
        (Some(s), None) => Ok(Some(s.clone())),
        (None, Some(path)) => read_secret_file(path)
            .with_context(|| format!("{key}_file: cannot read {}", path.display()))
            .map(Some),
        (None, None) => Ok(None),
    }
}

fn read_secret_file(path: &Path) -> anyhow::Result<Secret> {
    let text = std::fs::read_to_string(path)?;
    let line = text.lines().next().unwrap_or_default().trim();
    if line.is_empty() {
        bail!("the file is empty");
    }
    Ok(Secret::new(line))
}

/// Signed acknowledge/resolve links (in emails).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinkSettings {
    /// Where people's browsers reach pagerd's HTTP listener, e.g. `https://pagerd.example.com`.
    pub public_url: String,
    /// HMAC-SHA256 key; unset (and no file) = generated into `data_dir/link-secret`.
    pub secret: Option<Secret>,
    pub secret_file: Option<PathBuf>,
    /// How long a link works.
    #[serde(deserialize_with = "de_duration")]
    pub ttl: Duration,
}

impl Default for LinkSettings {
    fn default() -> Self {
        Self {
            public_url: "http://127.0.0.1:8080".into(),
            secret: None,
            secret_file: None,
            ttl: Duration::from_secs(24 * 3600),
        }
    }
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required), usually port 587.
    #[default]
    Starttls,
    /// TLS from the first byte ("SMTPS"), usually port 465.
    Tls,
    /// No TLS: only for a relay on localhost.
    None,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailSettings {
    /// Unset = the email channel is disabled.
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    /// Extra PEM CA certificate to trust (a private relay's own CA).
    pub ca_file: Option<PathBuf>,
    pub from: String,
    #[serde(deserialize_with = "de_duration")]
    pub timeout: Duration,
    /// A page still failing this long after it was queued fails over to the next method.
    #[serde(deserialize_with = "de_duration")]
    pub deadline: Duration,
}

impl Default for EmailSettings {
    fn default() -> Self {
        Self {
            smtp_host: None,
            smtp_port: 587,
            tls: SmtpTls::Starttls,
            username: None,
            password: None,
            password_file: None,
            ca_file: None,
            from: "pagerd <pagerd@localhost>".into(),
            timeout: Duration::from_secs(10),
            deadline: Duration::from_secs(15 * 60),
        }
    }
}

/// Body encoding of the SMS provider request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyFormat {
    /// `application/x-www-form-urlencoded` (Twilio, Vonage, …).
    #[default]
    Form,
    Json,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsSettings {
    /// The provider's send-message URL; unset = the SMS channel is disabled.
    pub url: Option<String>,
    /// HTTP method: POST or PUT.
    pub method: String,
    pub format: BodyFormat,
    /// Body fields; `{to}`, `{text}` and `{from}` are filled in. Empty = Twilio's
    /// `To`/`From`/`Body` (a default map would be merged into, not replaced by, the user's).
    pub fields: BTreeMap<String, String>,
    /// The sender number or id (`{from}`).
    pub from: String,
    /// Request headers (e.g. `Authorization`); values are secrets.
    pub headers: BTreeMap<String, Secret>,
    #[serde(deserialize_with = "de_duration")]
    pub timeout: Duration,
    #[serde(deserialize_with = "de_duration")]
    pub deadline: Duration,
    /// At most this many messages a minute to one number; more are coalesced.
    pub rate_limit: u32,
    pub inbound: SmsInboundSettings,
}

impl Default for SmsSettings {
    fn default() -> Self {
        Self {
            url: None,
            method: "POST".into(),
            format: BodyFormat::Form,
            fields: BTreeMap::new(),
            from: String::new(),
            headers: BTreeMap::new(),
            timeout: Duration::from_secs(10),
            deadline: Duration::from_secs(10 * 60),
            rate_limit: 5,
            inbound: SmsInboundSettings::default(),
        }
    }
}

/// The provider's incoming-message webhook (`POST /integrations/sms/inbound`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsInboundSettings {
    /// On by default while the SMS channel is; `false` turns the endpoint off (404).
    pub enabled: bool,
    /// Required while inbound is enabled: as `?token=…` or the `X-Pagerd-Token` header
    /// (`generic`), or the Twilio auth token that signs requests (`twilio`).
    pub secret: Option<Secret>,
    pub secret_file: Option<PathBuf>,
    pub provider: SmsInboundProvider,
    /// The webhook URL exactly as configured at the provider (Twilio signs it); the daemon
    /// cannot know it behind a proxy. Required with `provider = "twilio"`.
    pub public_url: Option<String>,
    /// Form or JSON field names of the sender's number and the text.
    pub from_field: String,
    pub body_field: String,
}

/// How inbound SMS requests prove they come from the provider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsInboundProvider {
    /// The shared secret as `?token=…` or `X-Pagerd-Token`.
    #[default]
    Generic,
    /// `X-Twilio-Signature`: HMAC-SHA1 with the auth token over the URL and the form.
    Twilio,
}

impl SmsSettings {
    /// Whether `POST /integrations/sms/inbound` is served: the SMS channel is on and inbound
    /// is not turned off.
    pub fn inbound_enabled(&self) -> bool {
        self.url.is_some() && self.inbound.enabled
    }

    /// An enabled inbound endpoint without a secret would let anyone acknowledge with a
    /// forged `From`: refused at start-up.
    pub fn validate_inbound(&self) -> anyhow::Result<()> {
        if !self.inbound_enabled() {
            return Ok(());
        }
        let i = &self.inbound;
        if i.secret.is_none() && i.secret_file.is_none() {
            bail!(
                "notify.sms.inbound.secret: required while SMS is enabled (or \
                 notify.sms.inbound.secret_file); to refuse all SMS replies instead, set \
                 notify.sms.inbound.enabled = false"
            );
        }
        if i.provider == SmsInboundProvider::Twilio {
            let Some(raw) = &i.public_url else {
                bail!(
                    "notify.sms.inbound.public_url: required with provider = \"twilio\" (the \
                     webhook URL as configured at Twilio, which it signs)"
                );
            };
            match reqwest::Url::parse(raw) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => {}
                _ => bail!("notify.sms.inbound.public_url: {raw:?} is not an http(s) URL"),
            }
        }
        Ok(())
    }
}

impl SmsSettings {
    /// The body fields to send: the configured ones, or Twilio's.
    pub fn body_fields(&self) -> BTreeMap<String, String> {
        if !self.fields.is_empty() {
            return self.fields.clone();
        }
        [("To", "{to}"), ("From", "{from}"), ("Body", "{text}")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

impl Default for SmsInboundSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            secret: None,
            secret_file: None,
            provider: SmsInboundProvider::Generic,
            public_url: None,
            from_field: "From".into(),
            body_field: "Body".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackSettings {
    /// Bot token: `chat.postMessage` with Acknowledge/Resolve buttons.
    pub bot_token: Option<Secret>,
    pub bot_token_file: Option<PathBuf>,
    /// Incoming webhook URL instead of a bot (no buttons then). A secret.
    pub webhook_url: Option<Secret>,
    /// Where bot messages go; unset = a direct message to the person's Slack member id.
    pub channel: Option<String>,
    /// Slack's Web API base (tests point it at a local server).
    pub api_url: String,
    /// Verifies requests to the interactivity endpoint (`POST /integrations/slack/actions`).
    pub signing_secret: Option<Secret>,
    pub signing_secret_file: Option<PathBuf>,
    #[serde(deserialize_with = "de_duration")]
    pub timeout: Duration,
    #[serde(deserialize_with = "de_duration")]
    pub deadline: Duration,
    /// Messages a minute to one person; more are coalesced.
    pub rate_limit: u32,
}

impl Default for SlackSettings {
    fn default() -> Self {
        Self {
            bot_token: None,
            bot_token_file: None,
            webhook_url: None,
            channel: None,
            api_url: "https://slack.com/api".into(),
            signing_secret: None,
            signing_secret_file: None,
            timeout: Duration::from_secs(10),
            deadline: Duration::from_secs(10 * 60),
            rate_limit: 20,
        }
    }
}
