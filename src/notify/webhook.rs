//! HTTP POST of a JSON page to a configured URL, with an `Idempotency-Key` header.

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

/// The JSON body receivers get; documented in the README. Typed and borrowed rather than a
/// `serde_json::Value`: it is written once per page, straight to bytes. Keys come out in
/// alphabetical order, as the `Value` this replaced wrote them.
#[derive(serde::Serialize)]
pub struct PageBody<'a> {
    attempt: u32,
    due_at: String,
    idempotency_key: &'a str,
    incident: Option<IncidentBody<'a>>,
    kind: &'a str,
    level: u32,
    #[serde(rename = "loop")]
    loop_no: u32,
    notice: Option<NoticeBody<'a>>,
    person: PersonBody<'a>,
}

#[derive(serde::Serialize)]
struct PersonBody<'a> {
    email: Option<&'a str>,
    name: &'a str,
    slack: Option<&'a str>,
    sms: Option<&'a str>,
    time_zone: Option<&'a str>,
}

#[derive(serde::Serialize)]
struct IncidentBody<'a> {
    dedup_key: &'a str,
    details: &'a std::collections::BTreeMap<String, String>,
    id: i64,
    links: &'a [crate::domain::Link],
    service: &'a str,
    severity: &'a str,
    source: &'a str,
    state: &'a str,
    summary: &'a str,
}

#[derive(serde::Serialize)]
struct NoticeBody<'a> {
    subject: &'a str,
    text: &'a str,
}

pub fn page_body<'a>(page: &'a Page, person: Option<&'a Person>) -> PageBody<'a> {
    PageBody {
        attempt: page.attempts + 1,
        due_at: page.due_at.to_rfc3339(),
        idempotency_key: &page.idempotency_key,
        incident: page.incident.as_ref().map(|inc| IncidentBody {
            dedup_key: &inc.dedup_key,
            details: &inc.details,
            id: inc.id,
            links: &inc.links,
            service: &inc.service,
            severity: inc.severity.as_str(),
            source: &inc.source,
            state: inc.state.as_str(),
            summary: &inc.summary,
        }),
        kind: page.kind.as_str(),
        level: page.pos.level + 1,
        loop_no: page.pos.loop_no + 1,
        notice: page.notice.as_ref().map(|n| NoticeBody {
            subject: &n.subject,
            text: &n.body,
        }),
        person: PersonBody {
            email: person.and_then(|p| p.email.as_deref()),
            name: &page.person,
            slack: person.and_then(|p| p.slack.as_deref()),
            sms: person.and_then(|p| p.sms.as_deref()),
            time_zone: person.map(|p| p.time_zone.name()),
        },
    }
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
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(
                serde_json::to_vec(&page_body(page, person))
                    .map_err(|e| SendError::Permanent(format!("webhook body: {e}")))?,
            )
            .send()
            .await
            .map_err(|e| http::unanswered("webhook request failed", e, &self.secrets))?;
        // The body is not read: the status is all a receiver is asked to say.
        let status = resp.status();
        Outcome::of_response(&resp).into_result(status, || format!("webhook answered {status}"))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::page_body;
    use crate::domain::{Notice, Person};
    use crate::notify::escaping_tests::page_with;

    /// The JSON receivers parsed before the body was typed: every key and value, in order.
    fn as_before(page: &crate::domain::Page, person: Option<&Person>) -> serde_json::Value {
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

    #[test]
    fn the_typed_body_writes_the_same_json_byte_for_byte() {
        let alice = Person {
            name: "alice".into(),
            time_zone: chrono_tz::Europe::Berlin,
            email: Some("alice@example.com".into()),
            sms: None,
            slack: Some("U024BE7LH".into()),
            contact_rules: vec![],
            low_contact_rules: vec![],
        };
        let mut notice = page_with("x");
        notice.incident = None;
        notice.notice = Some(Notice {
            subject: "Handoff".into(),
            body: "two \"incidents\"\n".into(),
        });
        for text in ["plain", "quote \" and \\ and \n and <!channel>", ""] {
            let page = page_with(text);
            for (page, person) in [(&page, Some(&alice)), (&page, None), (&notice, None)] {
                let typed = serde_json::to_string(&page_body(page, person)).unwrap();
                let before = serde_json::to_string(&as_before(page, person)).unwrap();
                assert_eq!(typed, before);
            }
        }
    }
}
