//! `POST /integrations/alertmanager/{key}`: Prometheus Alertmanager's webhook (version 4).

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{HttpState, am_error, engine_failure};
use crate::api::limits::{
    MAX_ALERTMANAGER_ALERTS, MAX_DEDUP_KEY_BYTES, MAX_DETAILS_BYTES, MAX_SOURCE_BYTES,
    MAX_SUMMARY_CHARS, check_href,
};
use crate::domain::{Link, NewAlert};

/// Alertmanager sends whole groups; its own `max_alerts` bounds them.
pub const MAX_ALERTMANAGER_BYTES: usize = 8 * 1024 * 1024;

/// Alertmanager's webhook body, version 4. Unknown fields are ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AmPayload {
    pub version: Option<String>,
    #[serde(default)]
    pub group_key: String,
    #[serde(default)]
    pub truncated_alerts: u64,
    pub status: String,
    #[serde(default)]
    pub external_url: String,
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    pub alerts: Vec<AmAlert>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AmAlert {
    pub status: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub starts_at: String,
    #[serde(default)]
    pub ends_at: String,
    #[serde(default, rename = "generatorURL")]
    pub generator_url: String,
    pub fingerprint: Option<String>,
}

/// What one Alertmanager alert asks for.
#[derive(Debug, PartialEq)]
pub enum AmAction {
    Trigger(NewAlert),
    Resolve { dedup_key: String },
}

/// FNV-1a: a short, stable digest of the group key (group keys can be long).
fn fnv64(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

/// The dedup key of an Alertmanager alert: its group and its fingerprint (its label set),
/// never its summary, so different problems sharing a summary stay apart.
pub fn am_dedup_key(group_key: &str, fingerprint: &str) -> String {
    format!("am/{:016x}/{fingerprint}", fnv64(group_key))
}

/// A sender's value quoted in an error: at most 64 characters, on one line.
fn shown(s: &str) -> String {
    let one_line: String = s
        .chars()
        .take(64)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().count() > 64 {
        format!("{one_line}…")
    } else {
        one_line
    }
}

/// Turns a webhook body into actions for `service`; errors name the field.
pub fn parse_alertmanager(
    body: &AmPayload,
    service: &str,
    severities: &crate::config::settings::AlertmanagerSettings,
) -> Result<Vec<AmAction>, String> {
    if let Some(v) = &body.version
        && v != "4"
    {
        return Err(format!(
            "version: `{}` (only version 4 is understood)",
            shown(v)
        ));
    }
    if body.alerts.len() > MAX_ALERTMANAGER_ALERTS {
        return Err(format!(
            "alerts: {} alerts; at most {MAX_ALERTMANAGER_ALERTS} (set max_alerts in the \
             webhook_config)",
            body.alerts.len()
        ));
    }
    let mut out = Vec::with_capacity(body.alerts.len());
    for (i, a) in body.alerts.iter().enumerate() {
        // Errors name the alert by index and, when it has one, by its alertname.
        let at = match a.labels.get("alertname") {
            Some(name) => format!("alerts[{i}] ({})", shown(name)),
            None => format!("alerts[{i}]"),
        };
        let fingerprint = a
            .fingerprint
            .as_deref()
            .filter(|f| !f.is_empty())
            .ok_or_else(|| format!("{at}.fingerprint: required"))?;
        let dedup_key = am_dedup_key(&body.group_key, fingerprint);
        if dedup_key.len() > MAX_DEDUP_KEY_BYTES {
            return Err(format!(
                "{at}.fingerprint: {} bytes; at most {}",
                fingerprint.len(),
                MAX_DEDUP_KEY_BYTES - am_dedup_key("", "").len()
            ));
        }
        match a.status.as_str() {
            "resolved" => out.push(AmAction::Resolve { dedup_key }),
            "firing" => {
                let name = (a.labels.get("alertname").map(|s| s.trim())).filter(|s| !s.is_empty());
                let summary = ["summary", "description", "message"]
                    .iter()
                    .find_map(|k| a.annotations.get(*k).filter(|s| !s.trim().is_empty()))
                    .map(|s| s.trim().to_string())
                    .or(name.map(str::to_string))
                    .unwrap_or_else(|| "Alertmanager alert".to_string());
                let summary = match summary.char_indices().nth(MAX_SUMMARY_CHARS - 1) {
                    Some((cut, _)) => format!("{}…", &summary[..cut]),
                    None => summary,
                };
                let (source_label, source) = ["instance", "job"]
                    .iter()
                    .find_map(|k| Some((*k, a.labels.get(*k).filter(|v| !v.is_empty())?.clone())))
                    .unwrap_or(("", "alertmanager".to_string()));
                if source.len() > MAX_SOURCE_BYTES {
                    return Err(format!(
                        "{at}.labels.{source_label}: {} bytes; at most {MAX_SOURCE_BYTES}",
                        source.len()
                    ));
                }
                let mut details = a.labels.clone();
                for (k, v) in &a.annotations {
                    details.entry(k.clone()).or_insert_with(|| v.clone());
                }
                details.insert("fingerprint".into(), fingerprint.to_string());
                if !a.starts_at.is_empty() {
                    details.insert("starts_at".into(), a.starts_at.clone());
                }
                let details_bytes: usize = details.iter().map(|(k, v)| k.len() + v.len()).sum();
                if details_bytes > MAX_DETAILS_BYTES {
                    return Err(format!(
                        "{at}.labels+annotations: {details_bytes} bytes; at most \
                         {MAX_DETAILS_BYTES} (64 KiB)"
                    ));
                }
                let mut links = Vec::new();
                for (href, text) in [
                    (&a.generator_url, "source"),
                    (&body.external_url, "Alertmanager"),
                ] {
                    // Set by Prometheus and Alertmanager themselves, so a link that is not
                    // a plain web URL is left out rather than refusing the alert.
                    if check_href(href).is_ok() {
                        links.push(Link {
                            href: href.clone(),
                            text: text.to_string(),
                        });
                    }
                }
                out.push(AmAction::Trigger(NewAlert {
                    service: service.to_string(),
                    dedup_key,
                    severity: severities.severity_for(a.labels.get("severity").map(String::as_str)),
                    summary,
                    source,
                    details,
                    links,
                }));
            }
            other => {
                return Err(format!(
                    "{at}.status: `{}` is not firing or resolved",
                    shown(other)
                ));
            }
        }
    }
    Ok(out)
}

pub(super) async fn alertmanager(
    State(st): State<HttpState>,
    Path(key): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let set = st.engine.policies();
    let Some(service) = set.service_for_key(&key).map(|s| s.name.clone()) else {
        return am_error(
            StatusCode::NOT_FOUND,
            "key: no service has this integration key".into(),
        );
    };
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return am_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body: larger than {MAX_ALERTMANAGER_BYTES} bytes"),
            );
        }
        Err(e) => return am_error(e.status(), format!("body: {}", e.body_text())),
    };
    let payload: AmPayload = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return am_error(StatusCode::BAD_REQUEST, format!("body: {e}")),
    };
    let actions = match parse_alertmanager(&payload, &service, &st.intake.settings.alertmanager) {
        Ok(a) => a,
        Err(m) => return am_error(StatusCode::BAD_REQUEST, m),
    };
    if payload.truncated_alerts > 0 {
        tracing::warn!(
            truncated = payload.truncated_alerts,
            group = %shown(&payload.group_key),
            "Alertmanager left alerts out of this notification (max_alerts)"
        );
    }
    let (mut triggered, mut resolved) = (0, 0);
    let results = futures::future::join_all(actions.into_iter().map(|a| {
        let engine = st.engine.clone();
        let service = service.clone();
        async move {
            match a {
                AmAction::Trigger(alert) => engine.trigger(alert).await.map(|_| true),
                AmAction::Resolve { dedup_key } => engine
                    .resolve_by_key(
                        &service,
                        &dedup_key,
                        super::events_v2::by_key(&service, "alertmanager"),
                        "resolved in Alertmanager".into(),
                    )
                    .await
                    .map(|_| false),
            }
        }
    }))
    .await;
    for r in results {
        match r {
            Ok(true) => triggered += 1,
            Ok(false) => resolved += 1,
            // Alertmanager retries the whole notification; triggers are idempotent.
            Err(e) => return engine_failure(e),
        }
    }
    (
        StatusCode::OK,
        Json(json!({"status": "success", "triggered": triggered, "resolved": resolved})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Severity;
    use serde_json::json;

    #[test]
    fn alertmanager_alerts_key_on_group_and_fingerprint_never_the_summary() {
        let body: AmPayload = serde_json::from_value(json!({
            "version": "4", "groupKey": "{}:{alertname=\"HighLatency\"}", "status": "firing",
            "receiver": "pagerd", "externalURL": "http://am:9093", "truncatedAlerts": 0,
            "commonLabels": {"alertname": "HighLatency"}, "groupLabels": {}, "commonAnnotations": {},
            "alerts": [
                {"status": "firing", "labels": {"alertname": "HighLatency", "instance": "web-1", "severity": "warning", "team": "billing"},
                 "annotations": {"summary": "Latency high"}, "startsAt": "2026-03-02T10:00:00Z",
                 "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom:9090/graph", "fingerprint": "aaa"},
                {"status": "firing", "labels": {"alertname": "HighLatency", "instance": "web-2"},
                 "annotations": {"summary": "Latency high"}, "fingerprint": "bbb"},
                {"status": "resolved", "labels": {}, "fingerprint": "ccc"}
            ]
        }))
        .unwrap();
        let am = crate::config::settings::AlertmanagerSettings::default();
        let actions = parse_alertmanager(&body, "web", &am).unwrap();
        let AmAction::Trigger(a) = &actions[0] else {
            panic!()
        };
        let AmAction::Trigger(b) = &actions[1] else {
            panic!()
        };
        assert_eq!(a.summary, b.summary);
        assert_ne!(a.dedup_key, b.dedup_key);
        assert_eq!(a.dedup_key, am_dedup_key(&body.group_key, "aaa"));
        assert_eq!(a.severity, Severity::Medium);
        assert_eq!(b.severity, Severity::High);
        assert_eq!(a.source, "web-1");
        assert_eq!(a.details["team"], "billing");
        assert_eq!(a.links[0].href, "http://prom:9090/graph");
        assert_eq!(
            actions[2],
            AmAction::Resolve {
                dedup_key: am_dedup_key(&body.group_key, "ccc")
            }
        );

        let no_fp: AmPayload = serde_json::from_value(json!({
            "status": "firing", "alerts": [{"status": "firing", "labels": {}}]
        }))
        .unwrap();
        assert_eq!(
            parse_alertmanager(&no_fp, "web", &am).unwrap_err(),
            "alerts[0].fingerprint: required"
        );
    }
}
