//! The webhook channel's HTTP client: hyper's pooled client over rustls, without reqwest's
//! layers. The webhook carries every page of a busy integration, and per request reqwest's
//! redirect support parsed the URL twice (even with redirects off) and its proxy matcher ran:
//! about a third of a send's instructions (BENCHMARKS.md, "The webhook on hyper directly").
//! What it keeps from the reqwest client of the other channels (`http::client`): one timeout
//! per request, TLS verified against the platform's roots, HTTP/2 where the server offers it,
//! TCP_NODELAY, keep-alive pooling, our user agent, and no redirect followed (hyper follows
//! none).
//!
//! A proxy is reqwest's to handle: where the environment names one for the URL
//! (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`), the channel keeps to reqwest.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

/// Whether `proxies` (the environment's, `Matcher::from_env`) send requests to `uri`
/// through a proxy.
pub(super) fn proxied(
    proxies: &hyper_util::client::proxy::matcher::Matcher,
    uri: &http::Uri,
) -> bool {
    proxies.intercept(uri).is_some()
}

/// How much of an answer's body is read (so the connection can be used again) before the
/// rest is left unread and the connection closed: a receiver is asked for a status only.
const BODY_READ: usize = 64 * 1024;

pub(super) struct Direct {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

/// A receiver's answer: what `http::Outcome` needs.
pub(super) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
}

impl Direct {
    pub(super) fn new(timeout: Duration) -> anyhow::Result<Self> {
        // The provider reqwest would use: one installed for the process, else aws-lc-rs.
        let provider = rustls::crypto::CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
        let verifier = rustls_platform_verifier::Verifier::new(provider.clone())?;
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        let https = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        // The timer expires idle pooled connections (after 90 s, as reqwest's pool does).
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(https);
        Ok(Self { client, timeout })
    }

    /// POSTs `body` with `headers`; the answer, or what went wrong (without the URL, which
    /// may hold a secret), in reqwest's words so timelines read as before.
    pub(super) async fn post(
        &self,
        uri: http::Uri,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> Result<Answer, String> {
        let mut req = http::Request::post(uri)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("builder error: {e}"))?;
        *req.headers_mut() = headers;
        let exchange = async {
            let resp = self.client.request(req).await.map_err(|e| sending(&e))?;
            let (parts, body) = resp.into_parts();
            // Read what there is (bounded) so the connection goes back to the pool.
            let _ = Limited::new(body, BODY_READ).collect().await;
            Ok(Answer {
                status: parts.status,
                headers: parts.headers,
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or_else(|_| Err("error sending request: operation timed out".into()))
    }
}

/// "error sending request: client error (Connect): tcp connect error: Connection refused
/// (os error 111)": the error and its causes, as `http::describe` writes reqwest's.
fn sending(e: &hyper_util::client::legacy::Error) -> String {
    let mut text = format!("error sending request: {e}");
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
