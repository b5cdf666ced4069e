//! SMS through any provider's HTTP API, by configuration: URL, method, headers and body fields
//! (form or JSON) with `{to}`, `{from}` and `{text}` filled in. Twilio-style providers work
//! with the defaults plus an `Authorization` header.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use reqwest::StatusCode;

use super::render;
use super::{Channel, Delivered, SendError, address_of};
use crate::config::settings::{BodyFormat, SmsSettings};
use crate::domain::contact::Method;
use crate::domain::{Page, Person};

pub struct SmsChannel {
    client: reqwest::Client,
    url: reqwest::Url,
    method: reqwest::Method,
    format: BodyFormat,
    fields: BTreeMap<String, String>,
    from: String,
    headers: reqwest::header::HeaderMap,
    deadline: Duration,
    rate_limit: u32,
}

impl SmsChannel {
    pub fn new(s: &SmsSettings) -> anyhow::Result<Self> {
        let raw = s.url.as_deref().context("notify.sms.url is not set")?;
        let url = reqwest::Url::parse(raw).context("notify.sms.url")?;
        let method = match s.method.to_ascii_uppercase().as_str() {
            "POST" => reqwest::Method::POST,
            "PUT" => reqwest::Method::PUT,
            other => anyhow::bail!("notify.sms.method: {other:?} is not POST or PUT"),
        };
        let mut headers = reqwest::header::HeaderMap::new();
        for (k, v) in &s.headers {
            headers.insert(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).map_err(|e| {
                    anyhow::anyhow!("notify.sms.headers: bad header name `{k}`: {e}")
                })?,
                reqwest::header::HeaderValue::from_str(v.expose())
                    .map_err(|_| anyhow::anyhow!("notify.sms.headers.{k}: bad value"))?,
            );
        }
        Ok(Self {
            client: reqwest::Client::builder()
                .timeout(s.timeout)
                .user_agent(concat!("pagerd/", env!("CARGO_PKG_VERSION")))
                .build()?,
            url,
            method,
            format: s.format,
            fields: s.body_fields(),
            from: s.from.clone(),
            headers,
            deadline: s.deadline,
            rate_limit: s.rate_limit,
        })
    }

    fn body(&self, to: &str, text: &str) -> BTreeMap<String, String> {
        self.fields
            .iter()
            .map(|(k, v)| {
                let v = v
                    .replace("{to}", to)
                    .replace("{from}", &self.from)
                    .replace("{text}", text);
                (k.clone(), v)
            })
            .collect()
    }

    async fn deliver(
        &self,
        pages: &[Page],
        person: Option<&Person>,
    ) -> Result<Delivered, SendError> {
        let first = &pages[0];
        let to = address_of(Method::Sms, first, person)?;
        let body = self.body(&to, &render::sms_text(pages));
        let req = self
            .client
            .request(self.method.clone(), self.url.clone())
            .headers(self.headers.clone())
            .header("Idempotency-Key", &first.idempotency_key);
        let req = match self.format {
            BodyFormat::Form => req.form(&body),
            BodyFormat::Json => req.json(&body),
        };
        let resp = req
            .send()
            .await
            .map_err(|e| SendError::Retryable(format!("SMS provider request failed: {e}")))?;
        classify(resp).await
    }
}

/// HTTP answer → delivered, retry (5xx, 429 with its Retry-After), or permanent (other 4xx).
pub(super) async fn classify(resp: reqwest::Response) -> Result<Delivered, SendError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(Delivered::with(format!("HTTP {}", status.as_u16())));
    }
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = resp.text().await.unwrap_or_default();
    let snippet: String = body.chars().take(200).collect();
    let msg = format!(
        "provider answered HTTP {}: {}",
        status.as_u16(),
        snippet.trim()
    );
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Err(SendError::RetryAfter(
            retry_after.unwrap_or(Duration::from_secs(30)),
            msg,
        ));
    }
    if status.is_client_error() {
        return Err(SendError::Permanent(msg));
    }
    Err(SendError::Retryable(msg))
}

#[async_trait::async_trait]
impl Channel for SmsChannel {
    fn name(&self) -> &str {
        "sms"
    }

    fn method(&self) -> Option<Method> {
        Some(Method::Sms)
    }

    fn deadline(&self) -> Option<Duration> {
        Some(self.deadline)
    }

    fn rate_limit(&self) -> Option<u32> {
        Some(self.rate_limit)
    }

    fn address(&self, person: Option<&Person>) -> Option<String> {
        person.and_then(|p| p.sms.clone())
    }

    async fn send(&self, page: &Page, person: Option<&Person>) -> Result<Delivered, SendError> {
        self.deliver(std::slice::from_ref(page), person).await
    }

    async fn send_many(
        &self,
        pages: &[Page],
        person: Option<&Person>,
    ) -> Result<Delivered, SendError> {
        self.deliver(pages, person).await
    }
}
