//! Acknowledging and resolving from a page, over HTTP:
//! - signed links in emails: `GET /act/{token}` shows a confirmation page (mail scanners that
//!   prefetch links change nothing), `POST` acts;
//! - the SMS provider's incoming-message webhook is in `sms_inbound`;
//! - Slack's interactivity requests (button clicks), verified by Slack's request signature.
//!
//! Every refusal is logged with its reason; the person who acts is the one the link, number or
//! Slack account belongs to.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Value, json};

use super::HttpState;
use super::sms_inbound::SmsInbound;
use crate::domain::audit::Actor;
use crate::domain::contact::ReplyAction;
use crate::domain::{Incident, IncidentState};
use crate::engine::{ActionOutcome, Engine, EngineError};
use crate::notify::LinkSigner;
use crate::notify::links::{LinkAction, LinkError};
use crate::notify::slack::{SlackApi, verify_signature};

/// What the action endpoints need besides the engine.
pub struct HttpDeps {
    pub links: LinkSigner,
    pub slack_api: Option<SlackApi>,
    pub slack_signing_secret: Option<Vec<u8>>,
    pub sms_inbound: SmsInbound,
    /// Slack requests seen in the last five minutes (see [`replay_keys`]), to refuse replays.
    pub seen_requests: Mutex<HashMap<String, i64>>,
}

impl HttpDeps {
    pub fn new(
        links: LinkSigner,
        slack_api: Option<SlackApi>,
        slack_signing_secret: Option<Vec<u8>>,
        sms_inbound: SmsInbound,
    ) -> Self {
        Self {
            links,
            slack_api,
            slack_signing_secret,
            sms_inbound,
            seen_requests: Mutex::new(HashMap::new()),
        }
    }
}

impl HttpDeps {
    /// Records a verified Slack request's keys; false if any was seen in the last five
    /// minutes (older requests fail the timestamp check anyway).
    fn first_sight(&self, keys: &[String], now: i64) -> bool {
        let mut seen = self.seen_requests.lock().expect("seen requests");
        seen.retain(|_, at| now - *at <= 5 * 60);
        let fresh = keys.iter().all(|k| !seen.contains_key(k));
        for k in keys {
            seen.insert(k.clone(), now);
        }
        fresh
    }
}

/// What makes a verified Slack request the same request again: its signature normalized (hex
/// is case-insensitive, so `v0=AB…` verifies like `v0=ab…`), and its timestamp with the
/// body's SHA-256 — which is what the signature covers, so no re-encoding gets past both.
pub fn replay_keys(timestamp: &str, body: &[u8], signature: &str) -> [String; 2] {
    use hmac::digest::Digest;
    let sig = signature.trim().to_ascii_lowercase();
    let sig = sig.strip_prefix("v0=").unwrap_or(&sig);
    let ts = timestamp.trim();
    let ts = ts
        .parse::<i64>()
        .map_or_else(|_| ts.to_string(), |t| t.to_string());
    [
        format!("sig:{sig}"),
        format!("req:{ts}:{}", hex::encode(sha2::Sha256::digest(body))),
    ]
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    (
        status,
        Html(format!(
            "<!doctype html><html><head><meta name=viewport content=\"width=device-width\">\
             <title>{t}</title></head><body style=\"font-family:sans-serif;max-width:40em\">\
             <h1>{t}</h1>{body}</body></html>",
            t = esc(title)
        )),
    )
        .into_response()
}

fn describe_incident(inc: &Incident) -> String {
    format!(
        "<p><b>{}</b> {}: {} (#{})</p><p>State: {}</p>",
        inc.severity.as_str().to_uppercase(),
        esc(&inc.service),
        esc(&inc.summary),
        inc.id,
        inc.state.as_str()
    )
}

fn verb(action: LinkAction) -> (&'static str, &'static str) {
    match action {
        LinkAction::Acknowledge => ("Acknowledge", "acknowledged"),
        LinkAction::Resolve => ("Resolve", "resolved"),
    }
}

/// `GET /act/{token}`: what the link would do, and a button that does it.
pub async fn confirm_page(State(s): State<HttpState>, Path(token): Path<String>) -> Response {
    let claims = match s.deps.links.verify(&token, s.engine.clock().now()) {
        Ok(c) => c,
        Err(e) => return refused_link(e),
    };
    let inc = match s.engine.get(claims.incident_id).await {
        Ok((inc, _)) => inc,
        Err(EngineError::NotFound(_)) => {
            return page(StatusCode::NOT_FOUND, "No such incident", "");
        }
        Err(e) => return internal(e),
    };
    let (button, _) = verb(claims.action);
    page(
        StatusCode::OK,
        &format!("{button} incident #{}?", inc.id),
        &format!(
            "{}<form method=post><button type=submit style=\"font-size:1.2em\">{button} as {}</button></form>",
            describe_incident(&inc),
            claims.person
        ),
    )
}

/// `POST /act/{token}`: acknowledge or resolve as the person the link was made for.
pub async fn act(State(s): State<HttpState>, Path(token): Path<String>) -> Response {
    let claims = match s.deps.links.verify(&token, s.engine.clock().now()) {
        Ok(c) => c,
        Err(e) => return refused_link(e),
    };
    let reply = match claims.action {
        LinkAction::Acknowledge => ReplyAction::Acknowledge,
        LinkAction::Resolve => ReplyAction::Resolve,
    };
    let (_, done) = verb(claims.action);
    match perform(
        &s.engine,
        reply,
        claims.incident_id,
        &claims.person,
        "via email link",
    )
    .await
    {
        Ok(o) => {
            let title = if o.changed {
                format!("Incident #{} {done}", o.incident.id)
            } else {
                format!(
                    "Incident #{} was already {}",
                    o.incident.id, o.incident.state
                )
            };
            page(
                StatusCode::OK,
                &title,
                &format!(
                    "{}<p>By {}.</p>",
                    describe_incident(&o.incident),
                    claims.person
                ),
            )
        }
        Err(EngineError::NotFound(_)) => page(StatusCode::NOT_FOUND, "No such incident", ""),
        Err(EngineError::FailedPrecondition(m)) => page(
            StatusCode::CONFLICT,
            "Nothing to do",
            &format!("<p>{m}</p>"),
        ),
        Err(e) => internal(e),
    }
}

fn refused_link(e: LinkError) -> Response {
    tracing::warn!(reason = %e, "action link refused");
    page(
        StatusCode::FORBIDDEN,
        "This link does not work",
        &format!("<p>{e}.</p>"),
    )
}

pub(super) fn internal(e: EngineError) -> Response {
    tracing::error!(error = %e, "action failed");
    let status = match &e {
        EngineError::Internal(cause) if crate::store::unavailable(cause).is_some() => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    page(
        status,
        "Something went wrong",
        "<p>Nothing was changed. Try again, or use pagerctl.</p>",
    )
}

pub(super) async fn perform(
    engine: &Engine,
    action: ReplyAction,
    id: i64,
    person: &str,
    via: &str,
) -> Result<ActionOutcome, EngineError> {
    // The link, Slack user or number authenticated `person`; `via` names that channel.
    let by = Actor::new(person, via);
    let o = match action {
        ReplyAction::Acknowledge => engine.acknowledge(id, by).await?,
        ReplyAction::Resolve => engine.resolve(id, by, String::new()).await?,
    };
    tracing::info!(incident = id, person, via, action = ?action, changed = o.changed, "action from a page");
    Ok(o)
}

/// `POST /integrations/slack/actions`: a button click, signed by Slack.
pub async fn slack_action(State(s): State<HttpState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(secret) = &s.deps.slack_signing_secret else {
        return (
            StatusCode::NOT_FOUND,
            "Slack interactivity is not configured\n",
        )
            .into_response();
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (ts, sig) = (
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
    );
    let now = s.engine.clock().now().timestamp();
    if let Err(why) = verify_signature(secret, &ts, &body, &sig, now) {
        tracing::warn!(reason = why, "Slack request refused");
        return (StatusCode::UNAUTHORIZED, format!("{why}\n")).into_response();
    }
    if !s.deps.first_sight(&replay_keys(&ts, &body, &sig), now) {
        tracing::warn!("Slack request refused: replayed request");
        return (StatusCode::UNAUTHORIZED, "replayed request\n").into_response();
    }
    let payload: Option<Value> = form_urlencoded::parse(&body)
        .find(|(k, _)| k == "payload")
        .and_then(|(_, v)| serde_json::from_str(&v).ok());
    let Some(payload) = payload else {
        return (StatusCode::BAD_REQUEST, "body: no JSON payload field\n").into_response();
    };
    let user = payload["user"]["id"].as_str().unwrap_or_default();
    let action = &payload["actions"][0];
    let (Some(action_id), Some(id)) = (
        action["action_id"].as_str(),
        action["value"].as_str().and_then(|v| v.parse::<i64>().ok()),
    ) else {
        return (
            StatusCode::BAD_REQUEST,
            "payload: no action with an incident id\n",
        )
            .into_response();
    };
    let reply = match action_id {
        "ack" => ReplyAction::Acknowledge,
        "resolve" => ReplyAction::Resolve,
        other => {
            return (
                StatusCode::BAD_REQUEST,
                format!("payload: unknown action {other}\n"),
            )
                .into_response();
        }
    };
    let policies = s.engine.policies();
    let Some(person) = policies
        .people
        .values()
        .find(|p| p.slack.as_deref() == Some(user))
    else {
        tracing::warn!(
            slack_user = user,
            "Slack click from a user who is no person refused"
        );
        return (
            StatusCode::OK,
            axum::Json(json!({"response_type": "ephemeral", "text": "Your Slack account is not linked to a pagerd person."})),
        )
            .into_response();
    };
    let outcome = match perform(
        &s.engine,
        reply,
        id,
        &person.name,
        &format!("via Slack user {user}"),
    )
    .await
    {
        Ok(o) => o,
        Err(EngineError::FailedPrecondition(m)) => {
            return (
                StatusCode::OK,
                axum::Json(json!({"response_type": "ephemeral", "text": m})),
            )
                .into_response();
        }
        Err(EngineError::NotFound(m)) => {
            return (StatusCode::NOT_FOUND, format!("{m}\n")).into_response();
        }
        Err(e) => return internal(e),
    };
    // Replace the buttons with who did what, so the channel sees it is handled.
    let channel = payload["channel"]["id"].as_str();
    let ts = payload["container"]["message_ts"]
        .as_str()
        .or(payload["message"]["ts"].as_str());
    if let (Some(api), Some(channel), Some(ts)) = (&s.deps.slack_api, channel, ts) {
        let inc = &outcome.incident;
        let state = if inc.state == IncidentState::Resolved {
            "Resolved"
        } else {
            "Acknowledged"
        };
        let note = format!(
            "{state} by {} at {}",
            person.name,
            s.engine.clock().now().format("%H:%M UTC")
        );
        let headline = crate::notify::slack::mrkdwn(&crate::notify::render::headline(inc));
        let body = json!({
            "channel": channel,
            "ts": ts,
            "text": format!("{headline} — {note}"),
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": headline}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": note}]},
            ],
        });
        if let Err(e) = api.call("chat.update", &body).await {
            tracing::warn!(error = %e, "could not update the Slack message");
        }
    }
    StatusCode::OK.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slack_request_is_the_same_request_however_its_signature_is_spelled() {
        let sig = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        let keys = replay_keys("1531420618", b"payload=x", sig);
        for spelling in [
            sig.to_uppercase(),
            sig.replace("v0=", ""),
            format!(" {sig} "),
        ] {
            assert_eq!(
                replay_keys("1531420618", b"payload=x", &spelling)[0],
                keys[0]
            );
        }
        // The timestamp and body alone identify it too, and a different body does not.
        assert_eq!(
            replay_keys(" 1531420618", b"payload=x", "v0=ff")[1],
            keys[1]
        );
        assert_ne!(replay_keys("1531420618", b"payload=y", sig)[1], keys[1]);
    }
}
