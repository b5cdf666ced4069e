//! SMS through any provider's HTTP API, by configuration: URL, method, headers and body fields
//! (form or JSON) with `{to}`, `{from}` and `{text}` filled in. Twilio-style providers work
//! with the defaults plus an `Authorization` header.

use std::collections::BTreeMap;

use anyhow::Context;

use super::http;
use super::render;
use super::{Contact, ContactChannel, Delivered, SendError};
use crate::config::settings::{BodyFormat, SmsSettings};
use crate::domain::Page;
use crate::domain::contact::Method;

pub struct SmsChannel {
    client: reqwest::Client,
    url: reqwest::Url,
    method: reqwest::Method,
    format: BodyFormat,
    fields: BTreeMap<String, String>,
    from: String,
    headers: reqwest::header::HeaderMap,
    secrets: http::Redactor,
    contact: Contact,
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
        let mut secrets = http::Redactor::for_url(&url).with_headers(&headers);
        for v in s.body_fields().values() {
            // Static body fields (an account id, an API key) are the provider's, not the page's.
            if !v.contains('{') {
                secrets = secrets.with(v);
            }
        }
        Ok(Self {
            client: http::client(s.timeout)?,
            secrets,
            url,
            method,
            format: s.format,
            fields: s.body_fields(),
            from: s.from.clone(),
            headers,
            contact: Contact {
                method: Method::Sms,
                deadline: s.deadline,
                rate_limit: Some(s.rate_limit),
            },
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
}

#[async_trait::async_trait]
impl ContactChannel for SmsChannel {
    fn contact(&self) -> &Contact {
        &self.contact
    }

    async fn deliver(&self, pages: &[Page], to: &str) -> Result<Delivered, SendError> {
        let first = &pages[0];
        let body = self.body(to, &render::sms_text(pages));
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
            .map_err(|e| http::unanswered("SMS provider request failed", e, &self.secrets))?;
        http::provider_answer(resp, &self.secrets).await
    }
}
