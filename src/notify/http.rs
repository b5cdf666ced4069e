//! What an HTTP answer means for a page, in one place for every HTTP channel (webhook, SMS,
//! Slack): 2xx accepted; 429 retry after its `Retry-After` (delta-seconds or HTTP-date, RFC
//! 9110 §10.2.3); other 4xx, and redirects, permanent; 5xx, and requests that got no answer
//! at all (timeouts, refused or reset connections), retryable.

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;

use super::{Delivered, SendError};

/// How long to wait after a 429 that does not say (or says something unreadable).
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(30);

/// The client every HTTP channel sends with: one timeout per request, our user agent, and no
/// redirects followed. A provider's endpoint is configured, not discovered: following a 3xx
/// would send the page, and headers such as an API key (reqwest strips only the standard
/// credential headers), to wherever the answer points.
pub(super) fn client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(USER_AGENT)
        .build()
}

/// What every HTTP channel says it is.
pub(super) const USER_AGENT: &str = concat!("pagerd/", env!("CARGO_PKG_VERSION"));

/// The verdict on one HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Accepted,
    /// The receiver asked us to wait this long (429).
    RetryAfter(Duration),
    /// 4xx other than 429, and 3xx: resending the same request will not help.
    Permanent,
    /// 5xx (and anything else that is not a success): worth trying again.
    Retryable,
}

impl Outcome {
    /// The rule, pure: a status and its `Retry-After` value, as of `now`.
    pub(super) fn of(status: StatusCode, retry_after: Option<&str>, now: SystemTime) -> Self {
        if status.is_success() {
            Self::Accepted
        } else if status == StatusCode::TOO_MANY_REQUESTS {
            Self::RetryAfter(
                retry_after
                    .and_then(|v| parse_retry_after(v, now))
                    .unwrap_or(DEFAULT_RETRY_AFTER),
            )
        } else if status.is_client_error() || status.is_redirection() {
            // A redirect is not followed (see `client`): the configured URL needs fixing.
            Self::Permanent
        } else {
            Self::Retryable
        }
    }

    /// The verdict on `resp`, read now.
    pub(super) fn of_response(resp: &reqwest::Response) -> Self {
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok());
        Self::of(resp.status(), retry_after, SystemTime::now())
    }

    /// The channel's result: an accepted answer is shown as `HTTP 201`; a failure carries
    /// `msg` (only built when needed).
    pub(super) fn into_result(
        self,
        status: StatusCode,
        msg: impl FnOnce() -> String,
    ) -> Result<Delivered, SendError> {
        match self {
            Self::Accepted => Ok(Delivered::with(format!("HTTP {}", status.as_u16()))),
            Self::RetryAfter(wait) => Err(SendError::RetryAfter(wait, msg())),
            Self::Permanent => Err(SendError::Permanent(msg())),
            Self::Retryable => Err(SendError::Retryable(msg())),
        }
    }
}

/// `Retry-After` as delta-seconds (`120`) or an HTTP-date (`Wed, 21 Oct 2015 07:28:00 GMT`,
/// and the two obsolete forms RFC 9110 asks recipients to accept). A date already past means
/// "now"; `None` for anything else.
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The secrets of one provider (its URL's path, query and credentials; tokens and header
/// values), removed from every message the channel returns, since those messages are
/// recorded in timelines, shown by `Get` and `Watch`, and logged. A Slack incoming-webhook
/// URL is its own secret, and reqwest's error texts carry the whole URL.
#[derive(Debug, Clone, Default)]
pub(super) struct Redactor {
    /// Longest first, so a whole URL is replaced before its parts.
    secrets: Vec<String>,
}

/// What a secret is replaced with.
pub(super) const REDACTED: &str = "[redacted]";

impl Redactor {
    /// The secret parts of `url`: the URL itself, its path and path segments, its query and
    /// query values, its user name and password. Host and scheme stay readable.
    pub(super) fn for_url(url: &reqwest::Url) -> Self {
        let mut r = Self::default().with(url.as_str());
        r = r.with(url.path());
        for segment in url.path_segments().into_iter().flatten() {
            r = r.with(segment);
        }
        if let Some(q) = url.query() {
            r = r.with(q);
            for (_, v) in url.query_pairs() {
                r = r.with(&v);
            }
        }
        if let Some(p) = url.password() {
            r = r.with(p);
        }
        r.with(url.username())
    }

    /// Adds a secret; values shorter than 6 characters say too little to hide (and hiding
    /// them would blank out ordinary words).
    pub(super) fn with(mut self, secret: &str) -> Self {
        let secret = secret.trim();
        if secret.chars().count() >= 6 && !self.secrets.iter().any(|s| s == secret) {
            self.secrets.push(secret.to_string());
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
        self
    }

    /// Header values (an `Authorization` token, an API key).
    pub(super) fn with_headers(mut self, headers: &reqwest::header::HeaderMap) -> Self {
        for v in headers.values() {
            if let Ok(v) = v.to_str() {
                self = self.with(v);
                // `Bearer xyz`, `Basic xyz`: the credential alone may be echoed too.
                if let Some((_, cred)) = v.split_once(' ') {
                    self = self.with(cred);
                }
            }
        }
        self
    }

    /// `msg` with every secret replaced by [`REDACTED`], on one line.
    pub(super) fn redact(&self, msg: &str) -> String {
        let mut out = super::render::one_line(msg);
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), REDACTED);
            }
        }
        out
    }
}

/// A reqwest error as text without its URL: its kind and the chain of causes ("error
/// sending request: client error (Connect): tcp connect error: Connection refused").
pub(super) fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// A request that got no answer (timeout, refused or reset connection) is worth retrying.
pub(super) fn unanswered(
    what: impl std::fmt::Display,
    e: reqwest::Error,
    secrets: &Redactor,
) -> SendError {
    SendError::Retryable(secrets.redact(&format!("{what}: {}", describe(e))))
}

/// A provider's answer (SMS, Slack): the verdict, with the status and the start of the body
/// in the message when it is not a success (with the provider's secrets removed, since a
/// provider may echo its URL or token).
pub(super) async fn provider_answer(
    resp: reqwest::Response,
    secrets: &Redactor,
) -> Result<Delivered, SendError> {
    let status = resp.status();
    let outcome = Outcome::of_response(&resp);
    if outcome == Outcome::Accepted {
        return outcome.into_result(status, String::new);
    }
    let body = resp.text().await.unwrap_or_default();
    // Redact before cutting, so a cut cannot leave part of a secret behind.
    let body = secrets.redact(&body);
    let snippet: String = body.chars().take(200).collect();
    outcome.into_result(status, || {
        format!(
            "provider answered HTTP {}: {}",
            status.as_u16(),
            snippet.trim()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_secrets_are_removed_from_messages_and_hosts_stay_readable() {
        let url = reqwest::Url::parse(
            "https://user:pa55word@hooks.example.com/services/T0/B0/s3cr3tTOKEN?key=q7QueryKey&x=1",
        )
        .unwrap();
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("authorization", "Bearer hdr-t0ken-42".parse().unwrap());
        let r = Redactor::for_url(&url)
            .with("xoxb-bot-token")
            .with_headers(&headers);
        let msg = format!(
            "error sending request for url ({url}): s3cr3tTOKEN q7QueryKey pa55word \
             xoxb-bot-token hdr-t0ken-42 /services/T0/B0/s3cr3tTOKEN\nforged: line"
        );
        let got = r.redact(&msg);
        for secret in [
            "s3cr3tTOKEN",
            "q7QueryKey",
            "pa55word",
            "xoxb-bot-token",
            "hdr-t0ken-42",
        ] {
            assert!(!got.contains(secret), "{secret} in {got}");
        }
        assert!(!got.contains('\n'), "{got}");
        assert!(got.contains(REDACTED));
        // Short values are not secrets worth hiding, and would blank out ordinary words.
        assert_eq!(r.redact("x=1 T0 B0"), "x=1 T0 B0");
    }

    /// A provider answering with a redirect: the client does not follow it, so the page (and
    /// headers such as an API key) never reach where it points, and the answer fails the page.
    #[tokio::test]
    async fn redirects_are_not_followed_and_fail_the_page() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let elsewhere = Arc::new(AtomicUsize::new(0));
        let hits = elsewhere.clone();
        let app = axum::Router::new()
            .route(
                "/hook",
                axum::routing::post(|| async {
                    (StatusCode::TEMPORARY_REDIRECT, [("location", "/elsewhere")])
                }),
            )
            .route(
                "/elsewhere",
                axum::routing::post(move || async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    "ok"
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let resp = client(Duration::from_secs(5))
            .unwrap()
            .post(format!("http://{addr}/hook"))
            .header("x-api-key", "k3y")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(Outcome::of_response(&resp), Outcome::Permanent);
        assert_eq!(elsewhere.load(Ordering::SeqCst), 0);
    }

    /// 2015-10-21T07:28:00Z, the date in RFC 9110's example.
    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480)
    }

    #[test]
    fn every_answer_has_one_outcome() {
        let secs = |s| Outcome::RetryAfter(Duration::from_secs(s));
        let table: [(u16, Option<&str>, Outcome); 25] = [
            (200, None, Outcome::Accepted),
            (201, None, Outcome::Accepted),
            (202, Some("60"), Outcome::Accepted),
            (204, None, Outcome::Accepted),
            (429, Some("120"), secs(120)),
            (429, Some(" 7 "), secs(7)),
            (429, Some("0"), secs(0)),
            (429, None, secs(30)),
            (429, Some("soon"), secs(30)),
            (429, Some("-5"), secs(30)),
            // An HTTP-date: IMF-fixdate, then the obsolete RFC 850 and asctime forms.
            (429, Some("Wed, 21 Oct 2015 07:30:00 GMT"), secs(120)),
            (429, Some("Wednesday, 21-Oct-15 07:29:00 GMT"), secs(60)),
            (429, Some("Wed Oct 21 07:28:45 2015"), secs(45)),
            // A date in the past, or this very second: retry now.
            (429, Some("Wed, 21 Oct 2015 07:28:00 GMT"), secs(0)),
            (429, Some("Tue, 20 Oct 2015 07:28:00 GMT"), secs(0)),
            (429, Some("Wed, 21 Oct 2015 07:30:00 CET"), secs(30)),
            (301, None, Outcome::Permanent),
            (307, Some("10"), Outcome::Permanent),
            (308, None, Outcome::Permanent),
            (400, None, Outcome::Permanent),
            (401, Some("10"), Outcome::Permanent),
            (404, None, Outcome::Permanent),
            (500, None, Outcome::Retryable),
            (503, Some("10"), Outcome::Retryable),
            (504, None, Outcome::Retryable),
        ];
        for (code, retry_after, want) in table {
            let status = StatusCode::from_u16(code).unwrap();
            assert_eq!(
                Outcome::of(status, retry_after, now()),
                want,
                "{code} {retry_after:?}"
            );
        }
    }

    #[test]
    fn failures_carry_their_message_and_successes_the_status() {
        let ok = Outcome::Accepted.into_result(StatusCode::CREATED, || unreachable!());
        assert_eq!(ok, Ok(Delivered::with("HTTP 201")));
        let status = StatusCode::TOO_MANY_REQUESTS;
        let wait = Duration::from_secs(5);
        for (outcome, want) in [
            (
                Outcome::RetryAfter(wait),
                SendError::RetryAfter(wait, "m".into()),
            ),
            (Outcome::Permanent, SendError::Permanent("m".into())),
            (Outcome::Retryable, SendError::Retryable("m".into())),
        ] {
            assert_eq!(outcome.into_result(status, || "m".into()), Err(want));
        }
    }
}
