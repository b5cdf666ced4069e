//! `POST /v2/enqueue`: PagerDuty's Events API v2 (routing key = an integration key). Errors
//! name the fields as PagerDuty does (`payload.summary`, `links[0].href`).

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::DateTime;
use serde_json::{Value, json};

use super::{HttpState, engine_failure, invalid_event};
use crate::api::limits::{
    MAX_DEDUP_KEY_BYTES, MAX_DETAILS_BYTES, MAX_LINKS, MAX_SOURCE_BYTES, MAX_SUMMARY_CHARS,
    check_href, check_link_text,
};
use crate::domain::{Link, NewAlert, Severity};

/// Events v2 bodies larger than this are refused (PagerDuty's limit).
pub const MAX_EVENT_BYTES: usize = 512 * 1024;

/// An Events v2 event, validated.
#[derive(Debug, PartialEq)]
pub enum EventV2 {
    Trigger(NewAlert),
    Acknowledge { dedup_key: String },
    Resolve { dedup_key: String },
}

fn str_field<'a>(
    obj: &'a serde_json::Map<String, Value>,
    name: &str,
    path: &str,
    errors: &mut Vec<String>,
) -> Option<&'a str> {
    match obj.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => {
            errors.push(format!("{path}{name}: must be a string"));
            None
        }
    }
}

/// Parses and validates an Events v2 body for `service` (the routing key is resolved by the
/// caller). Errors name the fields as PagerDuty does (`payload.summary`, `links[0].href`).
pub fn parse_event(
    obj: &serde_json::Map<String, Value>,
    service: &str,
) -> Result<EventV2, Vec<String>> {
    let mut errors = Vec::new();
    let action = str_field(obj, "event_action", "", &mut errors);
    let dedup_key = str_field(obj, "dedup_key", "", &mut errors).map(str::to_string);
    if let Some(k) = &dedup_key
        && k.len() > MAX_DEDUP_KEY_BYTES
    {
        errors.push(format!(
            "dedup_key: {} bytes; at most {MAX_DEDUP_KEY_BYTES}",
            k.len()
        ));
    }
    let needs_key = |errors: &mut Vec<String>, dedup_key: Option<String>| {
        let k = dedup_key.filter(|k| !k.is_empty());
        if k.is_none() {
            errors.push("dedup_key: required to acknowledge or resolve".into());
        }
        k.unwrap_or_default()
    };
    let event = match action {
        None => {
            errors.push("event_action: required (trigger, acknowledge or resolve)".into());
            None
        }
        Some("acknowledge") => Some(EventV2::Acknowledge {
            dedup_key: needs_key(&mut errors, dedup_key),
        }),
        Some("resolve") => Some(EventV2::Resolve {
            dedup_key: needs_key(&mut errors, dedup_key),
        }),
        Some("trigger") => {
            parse_trigger(obj, service, dedup_key, &mut errors).map(EventV2::Trigger)
        }
        Some(other) => {
            errors.push(format!(
                "event_action: `{other}` is not trigger, acknowledge or resolve"
            ));
            None
        }
    };
    match event {
        Some(e) if errors.is_empty() => Ok(e),
        _ => Err(errors),
    }
}

fn parse_trigger(
    obj: &serde_json::Map<String, Value>,
    service: &str,
    dedup_key: Option<String>,
    errors: &mut Vec<String>,
) -> Option<NewAlert> {
    let Some(payload) = obj.get("payload").and_then(Value::as_object) else {
        errors.push("payload: required object for a trigger".into());
        return None;
    };
    let p = "payload.";
    let summary = str_field(payload, "summary", p, errors).map(str::trim);
    match summary {
        None | Some("") => errors.push("payload.summary: required".into()),
        Some(s) if s.chars().count() > MAX_SUMMARY_CHARS => errors.push(format!(
            "payload.summary: {} characters; at most {MAX_SUMMARY_CHARS}",
            s.chars().count()
        )),
        _ => {}
    }
    let source = str_field(payload, "source", p, errors).map(str::trim);
    match source {
        None | Some("") => errors.push("payload.source: required".into()),
        Some(s) if s.len() > MAX_SOURCE_BYTES => errors.push(format!(
            "payload.source: {} bytes; at most {MAX_SOURCE_BYTES}",
            s.len()
        )),
        _ => {}
    }
    let severity = match str_field(payload, "severity", p, errors) {
        Some("critical") => Some(Severity::Critical),
        Some("error") => Some(Severity::High),
        Some("warning") => Some(Severity::Medium),
        Some("info") => Some(Severity::Low),
        Some(other) => {
            errors.push(format!(
                "payload.severity: `{other}` is not critical, error, warning or info"
            ));
            None
        }
        None => {
            errors.push("payload.severity: required (critical, error, warning or info)".into());
            None
        }
    };
    let mut details = BTreeMap::new();
    if let Some(ts) = str_field(payload, "timestamp", p, errors) {
        // PagerDuty's own examples write the offset without a colon (`+0000`).
        let parsed = DateTime::parse_from_rfc3339(ts)
            .or_else(|_| DateTime::parse_from_str(ts, "%Y-%m-%dT%H:%M:%S%.f%z"));
        match parsed {
            Ok(_) => {
                details.insert("timestamp".to_string(), ts.to_string());
            }
            Err(_) => errors.push(format!("payload.timestamp: `{ts}` is not an ISO 8601 time")),
        }
    }
    for name in ["component", "group", "class"] {
        if let Some(v) = str_field(payload, name, p, errors) {
            details.insert(name.to_string(), v.to_string());
        }
    }
    match payload.get("custom_details") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (k, v) in map {
                let text = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                details.entry(k.clone()).or_insert(text);
            }
        }
        Some(Value::String(s)) => {
            details.insert("custom_details".into(), s.clone());
        }
        Some(other) => {
            details.insert("custom_details".into(), other.to_string());
        }
    }
    let details_bytes: usize = details.iter().map(|(k, v)| k.len() + v.len()).sum();
    if details_bytes > MAX_DETAILS_BYTES {
        errors.push(format!(
            "payload.custom_details: {details_bytes} bytes; at most {MAX_DETAILS_BYTES}"
        ));
    }
    let mut links = Vec::new();
    for (field, href_key, text_key) in [("links", "href", "text"), ("images", "href", "alt")] {
        match obj.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let path = format!("{field}[{i}].");
                    let Some(item) = item.as_object() else {
                        errors.push(format!("{field}[{i}]: must be an object"));
                        continue;
                    };
                    let href = str_field(item, href_key, &path, errors);
                    let text = str_field(item, text_key, &path, errors).unwrap_or_default();
                    if let Err(m) = check_link_text(text) {
                        errors.push(format!("{path}{text_key}: {m}"));
                    }
                    match href {
                        Some(h) => match check_href(h) {
                            Ok(()) => links.push(Link {
                                href: h.to_string(),
                                text: text.to_string(),
                            }),
                            Err(m) => errors.push(format!("{path}{href_key}: {m}")),
                        },
                        // An image without a link is only a picture; nothing to keep.
                        None if field == "images" => {}
                        None => errors.push(format!("{path}href: required")),
                    }
                }
            }
            Some(_) => errors.push(format!("{field}: must be an array")),
        }
    }
    let client = str_field(obj, "client", "", errors);
    if let Some(url) = str_field(obj, "client_url", "", errors) {
        let text = client.unwrap_or("client");
        if let Err(m) = check_link_text(text) {
            errors.push(format!("client: {m}"));
        }
        match check_href(url) {
            Ok(()) => links.push(Link {
                href: url.to_string(),
                text: text.to_string(),
            }),
            Err(m) => errors.push(format!("client_url: {m}")),
        }
    }
    if links.len() > MAX_LINKS {
        errors.push(format!("links: {} links; at most {MAX_LINKS}", links.len()));
    }
    if !errors.is_empty() {
        return None;
    }
    Some(NewAlert {
        service: service.to_string(),
        // No key: generated and returned, as PagerDuty does.
        dedup_key: dedup_key
            .filter(|k| !k.is_empty())
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()),
        severity: severity?,
        summary: summary?.to_string(),
        source: source?.to_string(),
        details,
        links,
    })
}

/// Whether a `Content-Type` value is JSON (`application/json`, any case, any parameters).
/// PagerDuty's clients and Alertmanager send exactly that; requiring it means a cross-site
/// form or `fetch` without a CORS preflight (`text/plain`) cannot raise an alert.
pub fn is_json_content_type(value: Option<&str>) -> bool {
    value.is_some_and(|v| {
        v.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
    })
}

pub(super) async fn enqueue(
    State(st): State<HttpState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    if !is_json_content_type(content_type.as_deref()) {
        let got = content_type.as_deref().unwrap_or("none");
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Json(json!({
                "status": "invalid event",
                "message": "Content-Type must be application/json",
                "errors": [format!("Content-Type: `{got}` is not application/json")],
            })),
        )
            .into_response();
    }
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                Json(json!({
                    "status": "invalid event",
                    "message": "Request entity too large",
                    "errors": [format!("body: larger than {MAX_EVENT_BYTES} bytes")],
                })),
            )
                .into_response();
        }
        Err(e) => return invalid_event(vec![format!("body: {}", e.body_text())]),
    };
    let obj = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(obj)) => obj,
        Ok(_) => return invalid_event(vec!["body: must be a JSON object".into()]),
        Err(e) => return invalid_event(vec![format!("body: not valid JSON: {e}")]),
    };
    let key = match obj.get("routing_key") {
        Some(Value::String(k)) if !k.is_empty() => k.clone(),
        _ => {
            let mut errors = vec!["routing_key: required (an integration key)".to_string()];
            if let Err(more) = parse_event(&obj, "") {
                errors.extend(more);
            }
            return invalid_event(errors);
        }
    };
    let set = st.engine.policies();
    let Some(service) = set.service_for_key(&key).map(|s| s.name.clone()) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({
                "status": "invalid event",
                "message": "Unknown routing key",
                "errors": ["routing_key: no service has this integration key"],
            })),
        )
            .into_response();
    };
    if !st.intake.allow(&key, st.engine.clock().now()) {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({
                "status": "throttle event",
                "message": "Requests for this service are arriving too quickly. Please retry later.",
            })),
        )
            .into_response();
    }
    let event = match parse_event(&obj, &service) {
        Ok(e) => e,
        Err(errors) => return invalid_event(errors),
    };
    let result = match event {
        EventV2::Trigger(alert) => st.engine.trigger(alert).await.map(|o| o.dedup_key),
        // Acknowledging or resolving a key with no open incident is accepted and dropped.
        EventV2::Acknowledge { dedup_key } => st
            .engine
            .acknowledge_by_key(&service, &dedup_key, by_key(&service, "events-v2"))
            .await
            .map(|_| dedup_key),
        EventV2::Resolve { dedup_key } => st
            .engine
            .resolve_by_key(
                &service,
                &dedup_key,
                by_key(&service, "events-v2"),
                String::new(),
            )
            .await
            .map(|_| dedup_key),
    };
    match result {
        Ok(dedup_key) => (
            StatusCode::ACCEPTED,
            Json(json!({
                "status": "success",
                "message": "Event processed",
                "dedup_key": dedup_key,
            })),
        )
            .into_response(),
        Err(e) => engine_failure(e),
    }
}

/// The actor of a call authenticated by `service`'s integration key, named after its edge.
pub(crate) fn by_key(service: &str, edge: &str) -> crate::domain::audit::Actor {
    crate::domain::audit::Actor::new(edge, format!("integration key of service {service}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn only_json_content_types_are_accepted() {
        let table = [
            (Some("application/json"), true),
            (Some("Application/JSON; charset=utf-8"), true),
            (Some(" application/json ;charset=UTF-8"), true),
            (Some("text/plain"), false),
            (Some("application/x-www-form-urlencoded"), false),
            (Some("multipart/form-data; boundary=x"), false),
            (Some("application/jsonx"), false),
            (Some("application/json-patch+json"), false),
            (Some(""), false),
            (None, false),
        ];
        for (ct, want) in table {
            assert_eq!(is_json_content_type(ct), want, "{ct:?}");
        }
    }

    #[test]
    fn events_v2_fields_are_validated_and_named() {
        let ok = obj(json!({
            "routing_key": "k", "event_action": "trigger", "dedup_key": "disk-1",
            "payload": {"summary": "Disk full", "source": "db-1", "severity": "error",
                        "timestamp": "2026-03-02T10:00:00.000+0000", "component": "postgres",
                        "group": "prod", "class": "disk", "custom_details": {"free": 0, "mount": "/"}},
            "links": [{"href": "https://grafana.example.com/d/1", "text": "dashboard"}],
            "images": [{"src": "https://x/y.png", "href": "https://x/", "alt": "graph"}],
            "client": "Grafana", "client_url": "https://grafana.example.com"
        }));
        let EventV2::Trigger(a) = parse_event(&ok, "db").unwrap() else {
            panic!("a trigger")
        };
        assert_eq!(a.severity, Severity::High);
        assert_eq!(a.dedup_key, "disk-1");
        assert_eq!(a.details["component"], "postgres");
        assert_eq!(a.details["free"], "0");
        assert_eq!(a.details["mount"], "/");
        assert_eq!(a.links.len(), 3);
        assert_eq!(a.links[2].text, "Grafana");

        // (body, fragments every error list must contain)
        let long = "x".repeat(1025);
        let table: Vec<(Value, Vec<&str>)> = vec![
            (json!({}), vec!["event_action: required"]),
            (
                json!({"event_action": "snooze"}),
                vec!["event_action: `snooze`"],
            ),
            (
                json!({"event_action": "resolve"}),
                vec!["dedup_key: required"],
            ),
            (
                json!({"event_action": "trigger"}),
                vec!["payload: required"],
            ),
            (
                json!({"event_action": "trigger", "payload": {"summary": long, "severity": "fatal"}}),
                vec![
                    "payload.summary: 1025 characters",
                    "payload.source: required",
                    "payload.severity: `fatal`",
                ],
            ),
            (
                json!({"event_action": "trigger", "payload": {"summary": "s", "source": "x", "severity": "info", "timestamp": "yesterday"},
                       "links": [{"href": "not a url"}], "dedup_key": 5}),
                vec![
                    "payload.timestamp",
                    "links[0].href",
                    "dedup_key: must be a string",
                ],
            ),
        ];
        for (body, wanted) in table {
            let errors = parse_event(&obj(body.clone()), "db").unwrap_err();
            for w in wanted {
                assert!(
                    errors.iter().any(|e| e.contains(w)),
                    "{body}: {errors:?} lacks {w}"
                );
            }
        }
        // Without a key one is generated.
        let bare = obj(json!({"event_action": "trigger",
            "payload": {"summary": "s", "source": "x", "severity": "info"}}));
        let EventV2::Trigger(a) = parse_event(&bare, "db").unwrap() else {
            panic!("a trigger")
        };
        assert_eq!(a.dedup_key.len(), 32);
    }
}
