//! What an HTTP answer means for a page, in one place for every HTTP channel (webhook, SMS,
//! Slack): 2xx accepted; 429 retry after its `Retry-After` (delta-seconds or HTTP-date, RFC
//! 9110 §10.2.3); other 4xx permanent; 5xx, and requests that got no answer at all
//! (timeouts, refused or reset connections), retryable.

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;

use super::{Delivered, SendError};

/// How long to wait after a 429 that does not say (or says something unreadable).
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(30);

/// The client every HTTP channel sends with: one timeout per request, our user agent.
pub(super) fn client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("pagerd/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// The verdict on one HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Accepted,
    /// The receiver asked us to wait this long (429).
    RetryAfter(Duration),
    /// 4xx other than 429: resending the same request will not help.
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
        } else if status.is_client_error() {
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

/// A request that got no answer (timeout, refused or reset connection) is worth retrying.
pub(super) fn unanswered(what: impl std::fmt::Display, e: reqwest::Error) -> SendError {
    SendError::Retryable(format!("{what}: {e}"))
}

/// A provider's answer (SMS, Slack): the verdict, with the status and the start of the body
/// in the message when it is not a success.
pub(super) async fn provider_answer(resp: reqwest::Response) -> Result<Delivered, SendError> {
    let status = resp.status();
    let outcome = Outcome::of_response(&resp);
    if outcome == Outcome::Accepted {
        return outcome.into_result(status, String::new);
    }
    let body = resp.text().await.unwrap_or_default();
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

    /// 2015-10-21T07:28:00Z, the date in RFC 9110's example.
    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480)
    }

    #[test]
    fn every_answer_has_one_outcome() {
        let secs = |s| Outcome::RetryAfter(Duration::from_secs(s));
        let table: [(u16, Option<&str>, Outcome); 22] = [
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
