//! HTTP POST of a JSON page to a configured URL, with an `Idempotency-Key` header.

use serde_json::json;

use super::http::{self, Outcome, Redactor};
use super::{Channel, Delivered, SendError};
use crate::config::settings::WebhookSettings;
use crate::domain::{Page, Person};

pub struct WebhookChannel {
    client: reqwest::Client,
    url: reqwest::Url,
    headers: reqwest::header::HeaderMap,
    secrets: Redactor,
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
        // The URL is not echoed on a parse error: it may hold a token.
        let url = reqwest::Url::parse(url).map_err(|e| anyhow::anyhow!("url: {e}"))?;
        Ok(Self {
            client: http::client(settings.timeout)?,
            secrets: Redactor::for_url(&url).with_headers(&headers),
            url,
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

    fn host(&self) -> Option<String> {
        let host = self.url.host_str()?;
        Some(format!(
            "{host}:{}",
            self.url.port_or_known_default().unwrap_or(0)
        ))
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
            .map_err(|e| http::unanswered("webhook request failed", e, &self.secrets))?;
        // The body is not read: the status is all a receiver is asked to say.
        let status = resp.status();
        Outcome::of_response(&resp).into_result(status, || format!("webhook answered {status}"))
    }
}
