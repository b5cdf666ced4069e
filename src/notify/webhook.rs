//! HTTP POST of a JSON page to a configured URL, with an `Idempotency-Key` header.

use super::direct::{self, Direct};
use super::http::{self, Outcome, Redactor};
use super::{Channel, Delivered, SendError};
use crate::config::settings::WebhookSettings;
use crate::domain::{Page, Person};

pub struct WebhookChannel {
    client: Client,
    /// The configured headers, our user agent and the content type: every request's.
    headers: reqwest::header::HeaderMap,
    secrets: Redactor,
    /// `host:port`, what the outbox's per-host cap counts.
    host: Option<String>,
}

enum Client {
    /// hyper directly (see `direct`), with the URL parsed for it once.
    Direct(Box<Direct>, ::http::Uri),
    /// reqwest, where the environment names a proxy for the URL.
    Proxied(reqwest::Client, reqwest::Url),
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
        let secrets = Redactor::for_url(&url).with_headers(&headers);
        let uri: ::http::Uri = url
            .as_str()
            .parse()
            .map_err(|e| anyhow::anyhow!("url: {}", secrets.redact(&format!("{e}"))))?;
        let proxies = hyper_util::client::proxy::matcher::Matcher::from_env();
        let client = if direct::proxied(&proxies, &uri) {
            Client::Proxied(http::client(settings.timeout)?, url.clone())
        } else {
            Client::Direct(Box::new(Direct::new(settings.timeout)?), uri)
        };
        // A configured user agent wins, as it did over reqwest's default.
        headers
            .entry(reqwest::header::USER_AGENT)
            .or_insert(reqwest::header::HeaderValue::from_static(http::USER_AGENT));
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            reqwest::header::HeaderValue::from_static("application/json"),
        );
        headers
            .entry(reqwest::header::ACCEPT)
            .or_insert(reqwest::header::HeaderValue::from_static("*/*"));
        let host = url
            .host_str()
            .map(|h| format!("{h}:{}", url.port_or_known_default().unwrap_or(0)));
        Ok(Self {
            client,
            secrets,
            headers,
            host,
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
        self.host.clone()
    }

    async fn send(&self, page: &Page, person: Option<&Person>) -> Result<Delivered, SendError> {
        let body = serde_json::to_vec(&page_body(page, person))
            .map_err(|e| SendError::Permanent(format!("webhook body: {e}")))?;
        let mut headers = self.headers.clone();
        headers.insert(
            "idempotency-key",
            reqwest::header::HeaderValue::from_str(&page.idempotency_key)
                .map_err(|e| SendError::Permanent(format!("webhook idempotency key: {e}")))?,
        );
        let (status, outcome) = match &self.client {
            Client::Direct(client, uri) => {
                let answer = client.post(uri.clone(), headers, body).await.map_err(|e| {
                    let msg = format!("webhook request failed: {e}");
                    SendError::Retryable(self.secrets.redact(&msg))
                })?;
                let retry_after = answer
                    .headers
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok());
                let outcome = Outcome::of(answer.status, retry_after, std::time::SystemTime::now());
                (answer.status, outcome)
            }
            Client::Proxied(client, url) => {
                let resp = client
                    .post(url.clone())
                    .headers(headers)
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| http::unanswered("webhook request failed", e, &self.secrets))?;
                // The body is not read: the status is all a receiver is asked to say.
                (resp.status(), Outcome::of_response(&resp))
            }
        };
        outcome.into_result(status, || format!("webhook answered {status}"))
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

    mod client {
        use std::collections::BTreeMap;
        use std::net::SocketAddr;
        use std::sync::{Arc, Mutex};
        use std::time::Duration;

        use axum::extract::ConnectInfo;
        use axum::http::{HeaderMap, StatusCode};
        use axum::routing::post;

        use super::super::{Client, WebhookChannel};
        use crate::config::settings::WebhookSettings;
        use crate::notify::escaping_tests::page_with;
        use crate::notify::{Channel, SendError};

        fn settings() -> WebhookSettings {
            WebhookSettings {
                url: None,
                timeout: Duration::from_secs(5),
                headers: BTreeMap::from([("x-api-key".to_string(), "k3y-s3cret".to_string())]),
            }
        }

        async fn serve(app: axum::Router) -> SocketAddr {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            tokio::spawn(async move { axum::serve(listener, app).await });
            addr
        }

        /// Pages go out on hyper directly, with the channel's headers, over one kept-alive
        /// connection.
        #[tokio::test]
        async fn pages_go_out_with_their_headers_over_one_kept_alive_connection() {
            type Seen = Arc<Mutex<Vec<(SocketAddr, HeaderMap)>>>;
            let seen: Seen = Arc::default();
            let log = seen.clone();
            let app = axum::Router::new().route(
                "/hook",
                post(
                    move |ConnectInfo(peer): ConnectInfo<SocketAddr>, headers: HeaderMap| async move {
                        log.lock().unwrap().push((peer, headers));
                        (StatusCode::ACCEPTED, "queued")
                    },
                ),
            );
            let addr = serve(app).await;
            let hook = WebhookChannel::new(&format!("http://{addr}/hook"), &settings()).unwrap();
            assert!(matches!(hook.client, Client::Direct(..)));
            for text in ["one", "two", "three"] {
                let sent = hook.send(&page_with(text), None).await.unwrap();
                assert_eq!(sent.response.as_deref(), Some("HTTP 202"));
            }
            let seen = seen.lock().unwrap();
            assert_eq!(seen.len(), 3);
            assert!(seen.iter().all(|(peer, _)| *peer == seen[0].0), "{seen:?}");
            let headers = &seen[0].1;
            assert_eq!(headers["x-api-key"], "k3y-s3cret");
            assert_eq!(headers["content-type"], "application/json");
            assert!(
                headers["user-agent"]
                    .to_str()
                    .unwrap()
                    .starts_with("pagerd/")
            );
            assert_eq!(
                headers["idempotency-key"],
                page_with("one").idempotency_key.as_str()
            );
        }

        /// A redirect is not followed: the page and its API key never reach where it points,
        /// and the answer fails the page for good.
        #[tokio::test]
        async fn a_redirect_is_not_followed_and_fails_the_page() {
            let elsewhere = Arc::new(Mutex::new(0));
            let hits = elsewhere.clone();
            let app = axum::Router::new()
                .route(
                    "/hook",
                    post(|| async {
                        (StatusCode::TEMPORARY_REDIRECT, [("location", "/elsewhere")])
                    }),
                )
                .route(
                    "/elsewhere",
                    post(move || async move {
                        *hits.lock().unwrap() += 1;
                        "ok"
                    }),
                );
            let addr = serve(app).await;
            let hook = WebhookChannel::new(&format!("http://{addr}/hook"), &settings()).unwrap();
            let got = hook.send(&page_with("x"), None).await;
            assert!(
                matches!(&got, Err(SendError::Permanent(m)) if m.contains("307")),
                "{got:?}"
            );
            assert_eq!(*elsewhere.lock().unwrap(), 0);
        }

        /// HTTPS is verified: a server whose certificate no trusted root signed gets no page,
        /// and the failure says why (and is worth retrying, as reqwest's was).
        #[tokio::test]
        async fn https_to_an_untrusted_certificate_fails_and_says_so() {
            let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
            let key =
                rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let config = rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![cert.cert.der().clone()], key)
                .unwrap();
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let handshakes = tokio::spawn(async move {
                let (tcp, _) = listener.accept().await.unwrap();
                acceptor
                    .accept(tcp)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            });
            let hook = WebhookChannel::new(&format!("https://localhost:{port}/hook"), &settings())
                .unwrap();
            let got = hook.send(&page_with("x"), None).await;
            assert!(
                matches!(&got, Err(SendError::Retryable(m))
                    if m.contains("webhook request failed: error sending request")
                        && m.contains("certificate")),
                "{got:?}"
            );
            // The server saw a TLS handshake, which the client broke off.
            assert!(handshakes.await.unwrap().is_err());
        }

        /// Where the environment names a proxy for the URL, the channel keeps to reqwest.
        #[test]
        fn a_proxied_url_goes_through_reqwest() {
            use hyper_util::client::proxy::matcher::Matcher;
            let proxies = Matcher::builder()
                .http("http://proxy.internal:3128")
                .no("localhost")
                .build();
            let uri = |u: &str| u.parse::<::http::Uri>().unwrap();
            assert!(super::super::direct::proxied(
                &proxies,
                &uri("http://hooks.example.com/p")
            ));
            assert!(!super::super::direct::proxied(
                &proxies,
                &uri("http://localhost/p")
            ));
            assert!(!super::super::direct::proxied(
                &proxies,
                &uri("https://hooks.example.com/p")
            ));
        }
    }
}
