//! Slack: with a bot token, `chat.postMessage` with Block Kit and Acknowledge / Resolve
//! buttons (clicks come back to `POST /integrations/slack/actions`, verified by signature, and
//! the message is then updated); with an incoming-webhook URL, a plain message (no buttons).

use anyhow::Context;
use serde_json::{Value, json};

use super::http;
use super::render;
use super::{Contact, ContactChannel, Delivered, SendError};
use crate::config::channels::resolve_secret;
use crate::config::settings::SlackSettings;
use crate::domain::contact::Method;
use crate::domain::{Page, PageKind};

/// Slack's Web API with the bot token; shared with the interactivity endpoint.
#[derive(Clone)]
pub struct SlackApi {
    client: reqwest::Client,
    base: String,
    token: String,
    secrets: http::Redactor,
}

impl SlackApi {
    /// POSTs a Web API method; Slack answers 200 with `ok: false` for most errors.
    pub async fn call(&self, method: &str, body: &Value) -> Result<Value, SendError> {
        let resp = self
            .client
            .post(format!("{}/{method}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .map_err(|e| {
                http::unanswered(format_args!("Slack {method} failed"), e, &self.secrets)
            })?;
        if !resp.status().is_success() {
            return http::provider_answer(resp, &self.secrets)
                .await
                .map(|_| Value::Null)
                .map_err(|e| match e {
                    SendError::Permanent(m) => SendError::Permanent(format!("Slack {method}: {m}")),
                    SendError::Retryable(m) => SendError::Retryable(format!("Slack {method}: {m}")),
                    SendError::RetryAfter(d, m) => {
                        SendError::RetryAfter(d, format!("Slack {method}: {m}"))
                    }
                });
        }
        let v: Value = resp.json().await.map_err(|e| {
            SendError::Retryable(format!(
                "Slack {method}: unreadable answer: {}",
                http::describe(e)
            ))
        })?;
        if v["ok"].as_bool() == Some(true) {
            return Ok(v);
        }
        let error = self
            .secrets
            .redact(v["error"].as_str().unwrap_or("unknown error"));
        // Errors that no retry fixes: configuration or the person's Slack id.
        const PERMANENT: [&str; 9] = [
            "invalid_auth",
            "not_authed",
            "account_inactive",
            "token_revoked",
            "channel_not_found",
            "user_not_found",
            "not_in_channel",
            "is_archived",
            "missing_scope",
        ];
        let msg = format!("Slack {method}: {error}");
        if PERMANENT.contains(&error.as_str()) {
            Err(SendError::Permanent(msg))
        } else {
            Err(SendError::Retryable(msg))
        }
    }
}

enum Mode {
    Bot {
        api: SlackApi,
        channel: Option<String>,
    },
    Webhook {
        client: reqwest::Client,
        url: String,
        secrets: http::Redactor,
    },
}

pub struct SlackChannel {
    mode: Mode,
    contact: Contact,
}

impl SlackChannel {
    /// `None` when neither a bot token nor a webhook URL is configured.
    pub fn new(s: &SlackSettings) -> anyhow::Result<Option<Self>> {
        let client = http::client(s.timeout)?;
        let token = resolve_secret(&s.bot_token, &s.bot_token_file, "notify.slack.bot_token")?;
        let mode = match (token, &s.webhook_url) {
            (Some(_), Some(_)) => {
                anyhow::bail!("notify.slack: set bot_token or webhook_url, not both")
            }
            (Some(token), None) => Mode::Bot {
                api: SlackApi {
                    client,
                    base: s.api_url.trim_end_matches('/').to_string(),
                    secrets: http::Redactor::default().with(token.expose()),
                    token: token.expose().to_string(),
                },
                channel: s.channel.clone(),
            },
            (None, Some(url)) => {
                let parsed =
                    reqwest::Url::parse(url.expose()).context("notify.slack.webhook_url")?;
                Mode::Webhook {
                    client,
                    url: url.expose().to_string(),
                    secrets: http::Redactor::for_url(&parsed),
                }
            }
            (None, None) => return Ok(None),
        };
        Ok(Some(Self {
            mode,
            contact: Contact {
                method: Method::Slack,
                deadline: s.deadline,
                rate_limit: Some(s.rate_limit),
            },
        }))
    }

    /// The Web API client, for updating messages after a button click (bot mode only).
    pub fn api(&self) -> Option<SlackApi> {
        match &self.mode {
            Mode::Bot { api, .. } => Some(api.clone()),
            Mode::Webhook { .. } => None,
        }
    }
}

/// Text for Slack's mrkdwn with Slack's three control characters escaped, so alert text
/// cannot write a mention (`<!channel>`, `<@U123>`) or a link (`<https://evil|Acknowledge>`):
/// after this, `<` and `>` only ever come from pagerd itself.
pub fn mrkdwn(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The message: a section per page; buttons when the bot can receive their clicks. Every
/// piece of alert text goes through [`mrkdwn`] (and [`render::one_line`]).
pub fn message(pages: &[Page], member: &str, buttons: bool) -> Value {
    let mut blocks = Vec::new();
    let mut text = Vec::new();
    for page in pages {
        let Some(inc) = &page.incident else {
            if let Some(n) = &page.notice {
                text.push(mrkdwn(&render::one_line(&n.subject)));
                blocks.push(
                    json!({"type": "section", "text": {"type": "mrkdwn", "text": format!(
                        "*{}*\n{}", mrkdwn(&render::one_line(&n.subject)), mrkdwn(&n.body)
                    )}}),
                );
            }
            continue;
        };
        let line = mrkdwn(&render::headline(inc));
        let lead = if page.kind == PageKind::Unanswered {
            "Unanswered: "
        } else {
            ""
        };
        text.push(format!("{lead}{line}"));
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": format!(
                "{lead}*{}* {}: {} (#{})\nLevel {} · paging <@{member}>",
                inc.severity.as_str().to_uppercase(), mrkdwn(&render::one_line(&inc.service)),
                mrkdwn(&render::one_line(&inc.summary)), inc.id,
                page.pos.level + 1
            )}
        }));
        if buttons && page.kind == PageKind::Page {
            blocks.push(action_buttons(inc.id));
        }
    }
    let text = if pages.len() > 1 {
        format!("{} incidents need you: {}", pages.len(), text.join("; "))
    } else {
        text.join("")
    };
    json!({"text": text, "blocks": blocks})
}

fn action_buttons(id: i64) -> Value {
    json!({
        "type": "actions",
        "block_id": format!("incident-{id}"),
        "elements": [
            {"type": "button", "style": "primary", "action_id": "ack", "value": id.to_string(),
             "text": {"type": "plain_text", "text": "Acknowledge"}},
            {"type": "button", "style": "danger", "action_id": "resolve", "value": id.to_string(),
             "text": {"type": "plain_text", "text": "Resolve"}},
        ]
    })
}

#[async_trait::async_trait]
impl ContactChannel for SlackChannel {
    fn contact(&self) -> &Contact {
        &self.contact
    }

    async fn deliver(&self, pages: &[Page], member: &str) -> Result<Delivered, SendError> {
        match &self.mode {
            Mode::Bot { api, channel } => {
                let mut body = message(pages, member, true);
                body["channel"] = json!(channel.as_deref().unwrap_or(member));
                let v = api.call("chat.postMessage", &body).await?;
                Ok(Delivered::with(format!(
                    "ok, ts {}",
                    v["ts"].as_str().unwrap_or_default()
                )))
            }
            Mode::Webhook {
                client,
                url,
                secrets,
            } => {
                let resp = client
                    .post(url)
                    .json(&message(pages, member, false))
                    .send()
                    .await
                    .map_err(|e| http::unanswered("Slack webhook failed", e, secrets))?;
                http::provider_answer(resp, secrets).await
            }
        }
    }
}

/// Verifies Slack's `v0` request signature: HMAC-SHA256 of `v0:{timestamp}:{body}` with the
/// signing secret, compared in constant time; the timestamp must be within five minutes.
pub fn verify_signature(
    signing_secret: &[u8],
    timestamp: &str,
    body: &[u8],
    signature: &str,
    now_unix: i64,
) -> Result<(), &'static str> {
    use hmac::{Hmac, KeyInit, Mac};
    let ts: i64 = timestamp.trim().parse().map_err(|_| "bad timestamp")?;
    if (now_unix - ts).abs() > 5 * 60 {
        return Err("stale timestamp");
    }
    let hex_sig = signature
        .strip_prefix("v0=")
        .ok_or("bad signature format")?;
    let sig = hex::decode(hex_sig).map_err(|_| "bad signature format")?;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(signing_secret).map_err(|_| "bad key")?;
    mac.update(b"v0:");
    mac.update(timestamp.trim().as_bytes());
    mac.update(b":");
    mac.update(body);
    mac.verify_slice(&sig).map_err(|_| "signature mismatch")
}

/// The signing secret from settings, if configured.
pub fn signing_secret(s: &SlackSettings) -> anyhow::Result<Option<Vec<u8>>> {
    Ok(resolve_secret(
        &s.signing_secret,
        &s.signing_secret_file,
        "notify.slack.signing_secret",
    )?
    .map(|s| s.expose().as_bytes().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &[u8], ts: &str, body: &[u8]) -> String {
        use hmac::{Hmac, KeyInit, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
        mac.update(format!("v0:{ts}:").as_bytes());
        mac.update(body);
        format!("v0={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn slack_signatures_are_checked_with_time_and_body() {
        let secret = b"8f742231b10e8888abcd99yyyzzz85a5";
        let body = b"payload=%7B%7D";
        let now = 1_700_000_000;
        let good = sign(secret, "1700000000", body);
        assert_eq!(
            verify_signature(secret, "1700000000", body, &good, now),
            Ok(())
        );
        let table: [(&str, &[u8], String, i64, &str); 5] = [
            (
                "1700000000",
                b"payload=%7B%7C",
                good.clone(),
                now,
                "signature mismatch",
            ),
            (
                "1700000000",
                body,
                sign(b"other", "1700000000", body),
                now,
                "signature mismatch",
            ),
            (
                "1700000000",
                body,
                good.clone(),
                now + 301,
                "stale timestamp",
            ),
            (
                "1699999000",
                body,
                sign(secret, "1699999000", body),
                now,
                "stale timestamp",
            ),
            (
                "1700000000",
                body,
                "v1=abc".into(),
                now,
                "bad signature format",
            ),
        ];
        for (ts, b, sig, at, want) in table {
            assert_eq!(
                verify_signature(secret, ts, b, &sig, at),
                Err(want),
                "{ts} {sig}"
            );
        }
    }
}
