//! `POST /integrations/sms/inbound`: the SMS provider's incoming-message webhook, "ACK K7QH3M" /
//! "RES K7QH3M" from the paged person's number.
//!
//! The sender's number is only as good as the provider's word for it, so the request must
//! prove it comes from the provider (a shared secret, or Twilio's signature) before anything
//! else is looked at — including the wrong-code lockout, which a forged `From` must not be able
//! to trigger against someone else. Codes are 6 random characters, live while the incident is
//! open and for 24 h after the page; 5 wrong codes from a number in 10 minutes lock it out for
//! 10 minutes, answered exactly like a wrong code.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

use super::HttpState;
use super::actions::{internal, perform};
use crate::config::channels::resolve_secret;
use crate::config::settings::{SmsInboundProvider, SmsSettings};
use crate::domain::contact::parse_reply;
use crate::engine::EngineError;

/// Wrong codes allowed from one number within [`STRIKE_WINDOW`] before it is locked out.
pub const MAX_STRIKES: usize = 5;
pub const STRIKE_WINDOW: TimeDelta = TimeDelta::minutes(10);
pub const LOCKOUT: TimeDelta = TimeDelta::minutes(10);

/// The inbound SMS endpoint's settings, secrets resolved, and the per-number lockouts.
pub struct SmsInbound {
    /// `None`: the endpoint is off (404).
    secret: Option<String>,
    provider: SmsInboundProvider,
    public_url: String,
    from_field: String,
    body_field: String,
    /// Keyed by known numbers only (unknown ones are refused before), so it stays small.
    strikes: Mutex<HashMap<String, Strikes>>,
}

impl SmsInbound {
    /// Refuses an enabled endpoint without a secret (see [`SmsSettings::validate_inbound`]).
    pub fn from_settings(s: &SmsSettings) -> anyhow::Result<Self> {
        s.validate_inbound()?;
        let i = &s.inbound;
        let secret = if s.inbound_enabled() {
            resolve_secret(&i.secret, &i.secret_file, "notify.sms.inbound.secret")?
                .map(|s| s.expose().to_string())
        } else {
            None
        };
        Ok(Self {
            secret,
            provider: i.provider,
            public_url: i.public_url.clone().unwrap_or_default(),
            from_field: i.from_field.clone(),
            body_field: i.body_field.clone(),
            strikes: Mutex::new(HashMap::new()),
        })
    }

    /// Whether `number` is locked out now.
    fn locked(&self, number: &str, now: DateTime<Utc>) -> bool {
        let strikes = self.strikes.lock().expect("sms strikes");
        strikes.get(number).is_some_and(|s| s.locked(now))
    }

    /// Counts a wrong code; true if this one locked the number out.
    fn strike(&self, number: &str, now: DateTime<Utc>) -> bool {
        let mut strikes = self.strikes.lock().expect("sms strikes");
        strikes.entry(number.to_string()).or_default().strike(now)
    }

    fn forgive(&self, number: &str) {
        self.strikes.lock().expect("sms strikes").remove(number);
    }
}

/// Wrong codes from one number: their times within the window, and a lockout.
#[derive(Debug, Default)]
struct Strikes {
    recent: Vec<DateTime<Utc>>,
    locked_until: Option<DateTime<Utc>>,
}

impl Strikes {
    fn locked(&self, now: DateTime<Utc>) -> bool {
        self.locked_until.is_some_and(|t| now < t)
    }

    fn strike(&mut self, now: DateTime<Utc>) -> bool {
        if self.locked(now) {
            return false;
        }
        self.recent.retain(|t| now - *t < STRIKE_WINDOW);
        self.recent.push(now);
        if self.recent.len() >= MAX_STRIKES {
            self.recent.clear();
            self.locked_until = Some(now + LOCKOUT);
            return true;
        }
        false
    }
}

/// "+15550000002" → "+155******02": enough to tell numbers apart in a log, not to dial one.
pub fn mask_number(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    if chars.len() <= 6 {
        return "*".repeat(chars.len());
    }
    let (head, tail) = (4, 2);
    chars[..head]
        .iter()
        .chain(std::iter::repeat_n(&'*', chars.len() - head - tail))
        .chain(&chars[chars.len() - tail..])
        .collect()
}

/// Twilio's `X-Twilio-Signature`: base64 of HMAC-SHA1, keyed with the auth token, over the
/// webhook URL followed by every form parameter's name and value, sorted by name.
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> Vec<u8> {
    use hmac::{Hmac, KeyInit, Mac};
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac =
        Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes any key");
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    mac.finalize().into_bytes().to_vec()
}

/// Compares digests so the time taken says nothing about the secret.
fn same_secret(given: &[u8], secret: &[u8]) -> bool {
    use hmac::digest::Digest;
    sha2::Sha256::digest(given) == sha2::Sha256::digest(secret)
}

fn refused(why: &str) -> Response {
    tracing::warn!(reason = why, "inbound SMS refused");
    (StatusCode::FORBIDDEN, "bad token\n").into_response()
}

fn wrong_code(code: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        format!("No page with code {code}.\n"),
    )
        .into_response()
}

/// `POST /integrations/sms/inbound`: the provider's incoming-message webhook (form or JSON).
pub async fn sms_inbound(
    State(s): State<HttpState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let cfg = &s.deps.sms_inbound;
    let Some(secret) = &cfg.secret else {
        return (StatusCode::NOT_FOUND, "SMS replies are not enabled\n").into_response();
    };
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let fields: Vec<(String, String)> = match cfg.provider {
        SmsInboundProvider::Generic => {
            let given = query
                .get("token")
                .map(String::as_str)
                .or_else(|| headers.get("x-pagerd-token").and_then(|v| v.to_str().ok()));
            if !given.is_some_and(|g| same_secret(g.as_bytes(), secret.as_bytes())) {
                return refused("missing or wrong token");
            }
            if is_json {
                match serde_json::from_slice::<HashMap<String, Value>>(&body) {
                    Ok(m) => m
                        .into_iter()
                        .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string())))
                        .collect(),
                    Err(e) => {
                        return (StatusCode::BAD_REQUEST, format!("body: not JSON: {e}\n"))
                            .into_response();
                    }
                }
            } else {
                form_urlencoded::parse(&body).into_owned().collect()
            }
        }
        SmsInboundProvider::Twilio => {
            // Twilio posts forms; the signature covers exactly these parameters.
            let fields: Vec<(String, String)> =
                form_urlencoded::parse(&body).into_owned().collect();
            let given = headers
                .get("x-twilio-signature")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| {
                    use base64::Engine as _;
                    base64::engine::general_purpose::STANDARD
                        .decode(v.trim())
                        .ok()
                });
            let want = twilio_signature(secret, &cfg.public_url, &fields);
            if !given.is_some_and(|g| same_secret(&g, &want)) {
                return refused("missing or wrong X-Twilio-Signature");
            }
            fields
        }
    };
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let (Some(from), Some(text)) = (field(&cfg.from_field), field(&cfg.body_field)) else {
        return (
            StatusCode::BAD_REQUEST,
            format!(
                "body: needs fields {} and {}\n",
                cfg.from_field, cfg.body_field
            ),
        )
            .into_response();
    };
    let number: String = from.chars().filter(|c| !c.is_whitespace()).collect();
    let policies = s.engine.policies();
    let Some(person) = policies
        .people
        .values()
        .find(|p| p.sms.as_deref() == Some(number.as_str()))
    else {
        tracing::warn!(from = %mask_number(&number), "inbound SMS from an unknown number refused");
        return (StatusCode::FORBIDDEN, "unknown number\n").into_response();
    };
    let Some((action, code)) = parse_reply(text) else {
        tracing::warn!(person = %person.name, "inbound SMS not understood");
        return (
            StatusCode::OK,
            "Not understood. Reply ACK <code> or RES <code>.\n",
        )
            .into_response();
    };
    let now = s.engine.clock().now();
    if cfg.locked(&number, now) {
        tracing::warn!(person = %person.name, from = %mask_number(&number), "inbound SMS from a locked-out number refused");
        return wrong_code(&code);
    }
    let incident = match s.engine.incident_for_reply_code(&person.name, &code).await {
        Ok(Some(id)) => id,
        Ok(None) => {
            tracing::warn!(person = %person.name, code, "inbound SMS with an unknown, expired or closed code refused");
            if cfg.strike(&number, now) {
                tracing::warn!(
                    person = %person.name,
                    from = %mask_number(&number),
                    "{MAX_STRIKES} wrong SMS reply codes in {} minutes: number locked out for {} minutes",
                    STRIKE_WINDOW.num_minutes(),
                    LOCKOUT.num_minutes()
                );
            }
            return wrong_code(&code);
        }
        Err(e) => return internal(e),
    };
    cfg.forgive(&number);
    match perform(
        &s.engine,
        action,
        incident,
        &person.name,
        &format!("via SMS {}", mask_number(&number)),
    )
    .await
    {
        Ok(o) => {
            let what = if o.changed {
                format!("#{} {}", o.incident.id, o.incident.state)
            } else {
                format!("#{} was already {}", o.incident.id, o.incident.state)
            };
            (StatusCode::OK, format!("{what}\n")).into_response()
        }
        Err(EngineError::FailedPrecondition(m)) => {
            (StatusCode::OK, format!("{m}\n")).into_response()
        }
        Err(EngineError::NotFound(m)) => (StatusCode::NOT_FOUND, format!("{m}\n")).into_response(),
        Err(e) => internal(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(min: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap() + TimeDelta::minutes(min)
    }

    #[test]
    fn five_wrong_codes_in_ten_minutes_lock_a_number_for_ten_minutes() {
        let mut s = Strikes::default();
        // Four spread so the first leaves the window before the fifth: no lockout.
        for m in [0, 3, 6, 9] {
            assert!(!s.strike(t(m)));
        }
        assert!(!s.strike(t(11)), "the strike at 0 left the window");
        assert!(!s.locked(t(11)));
        assert!(s.strike(t(12)), "five within ten minutes (3, 6, 9, 11, 12)");
        assert!(s.locked(t(12)) && s.locked(t(21)));
        // Strikes while locked neither extend nor renew the lock.
        assert!(!s.strike(t(20)));
        assert!(!s.locked(t(22)));
        assert!(!s.strike(t(22)), "the count starts afresh after a lockout");
    }

    #[test]
    fn numbers_are_masked_in_logs() {
        assert_eq!(mask_number("+15550000002"), "+155******02");
        assert_eq!(mask_number("12345"), "*****");
    }

    #[test]
    fn twilio_signature_matches_twilios_documented_example() {
        // https://www.twilio.com/docs/usage/security#validating-requests
        let params: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        use base64::Engine as _;
        let sig = base64::engine::general_purpose::STANDARD.encode(twilio_signature(
            "12345",
            "https://mycompany.com/myapp.php?foo=1&bar=2",
            &params,
        ));
        assert_eq!(sig, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
    }
}
