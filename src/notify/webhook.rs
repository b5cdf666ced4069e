//! HTTP POST of a JSON page to a configured URL, with an `Idempotency-Key` header.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use super::{Channel, Delivered, SendError};
use crate::config::settings::WebhookSettings;
use crate::domain::{Page, Person};

pub struct WebhookChannel {
    client: reqwest::Client,
    url: reqwest::Url,
    headers: reqwest::header::HeaderMap,
}

impl WebhookChannel {
    pub fn new(url: &str, settings: &WebhookSettings) -> anyhow::Result<Self> {
        let mut headers = reqwest::header::HeaderMap::new();
        for (k, v) in &settings.headers {
            headers.insert(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).map_err(|e| {
                    anyhow::anyhow!("notify.webhook.headers: bad header name `{k}`: {e}")
                })?,
                reqwest::header::HeaderValue::from_str(v)
                    .map_err(|e| anyhow::anyhow!("notify.webhook.headers.{k}: bad value: {e}"))?,
            );
        }
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .user_agent(concat!("pagerd/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            url: reqwest::Url::parse(url)?,
            headers,
        })
    }
}

/// The JSON body receivers get; documented in the README.
pub fn page_body(page: &Page, person: Option<&Person>) -> serde_json::Value {
    json!({
        "idempotency_key": page.idempotency_key,
        "kind": page.kind.as_str(),
        "level": page.pos.level + 1,
        "loop": page.pos.loop_no + 1,
        "attempt": page.attempts + 1,
        "due_at": page.due_at.to_rfc3339(),
        "person": {
            "name": page.person,
            "time_zone": person.map(|p| p.time_zone.name()),
            "email": person.and_then(|p| p.email.as_deref()),
            "sms": person.and_then(|p| p.sms.as_deref()),
            "slack": person.and_then(|p| p.slack.as_deref()),
        },
        "incident": page.incident.as_ref().map(|inc| json!({
            "id": inc.id,
            "service": inc.service,
            "dedup_key": inc.dedup_key,
            "severity": inc.severity.as_str(),
            "state": inc.state.as_str(),
            "summary": inc.summary,
            "source": inc.source,
            "details": inc.details,
            "links": inc.links.iter().map(|l| json!({"href": l.href, "text": l.text})).collect::<Vec<_>>(),
        })),
        "notice": page.notice.as_ref().map(|n| json!({"subject": n.subject, "text": n.body})),
    })
}

#[async_trait::async_trait]
impl Channel for WebhookChannel {
    fn name(&self) -> &str {
        "webhook"
    }

    async fn send(&self, page: &Page, person: Option<&Person>) -> Result<Delivered, SendError> {
        let resp = self
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .header("Idempotency-Key", &page.idempotency_key)
            .json(&page_body(page, person))
            .send()
            .await
            .map_err(|e| SendError::Retryable(format!("webhook request failed: {e}")))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(Delivered::with(format!("HTTP {}", status.as_u16())));
        }
        let msg = format!("webhook answered {status}");
        if status == StatusCode::TOO_MANY_REQUESTS {
            let wait = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs)
                .unwrap_or(Duration::from_secs(30));
            return Err(SendError::RetryAfter(wait, msg));
        }
        if status.is_client_error() {
            return Err(SendError::Permanent(msg));
        }
        Err(SendError::Retryable(msg))
    }
}
