//! Alert intake over HTTP, so existing sources work by changing a URL or a key:
//! - `POST /v2/enqueue`: PagerDuty Events API v2 (routing key = an integration key);
//! - `POST /integrations/alertmanager/{key}`: Prometheus Alertmanager's webhook (version 4);
//! - `POST|GET /heartbeats/{name}/{token}` (or the token as a Bearer header): heartbeat pings
//!   (cron jobs, curl).
//!
//! Every 2xx is sent after the change is committed; a storage failure is a 5xx so the sender
//! retries (triggers are idempotent by dedup key).

mod alertmanager;
mod events_v2;
mod heartbeat;
#[cfg(test)]
mod proptests;

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde_json::json;

pub use alertmanager::{
    AmAction, AmAlert, AmPayload, MAX_ALERTMANAGER_BYTES, am_dedup_key, parse_alertmanager,
};
pub use events_v2::{EventV2, MAX_EVENT_BYTES, parse_event};

use super::HttpState;
use crate::config::settings::IntegrationSettings;
use crate::domain::ingest::TokenBucket;
use crate::engine::EngineError;

/// Intake settings and the per-key rate limiters.
pub struct Intake {
    settings: IntegrationSettings,
    buckets: Mutex<HashMap<String, TokenBucket>>,
}

impl Intake {
    pub fn new(settings: IntegrationSettings) -> Self {
        Self {
            settings,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn allow(&self, key: &str, now: DateTime<Utc>) -> bool {
        let rate = self.settings.events_per_minute;
        let mut buckets = self.buckets.lock().expect("rate limiter poisoned");
        buckets
            .entry(key.to_string())
            .or_insert_with(|| TokenBucket::full(rate, now))
            .take(rate, now)
    }
}

pub fn routes() -> Router<HttpState> {
    use axum::extract::DefaultBodyLimit;
    use axum::routing::post;
    Router::new()
        .route(
            "/v2/enqueue",
            post(events_v2::enqueue).layer(DefaultBodyLimit::max(MAX_EVENT_BYTES)),
        )
        .route(
            "/integrations/alertmanager/{key}",
            post(alertmanager::alertmanager).layer(DefaultBodyLimit::max(MAX_ALERTMANAGER_BYTES)),
        )
        .route(
            "/heartbeats/{name}",
            post(heartbeat::ping_with_header).get(heartbeat::ping_with_header),
        )
        .route(
            "/heartbeats/{name}/{token}",
            post(heartbeat::ping_with_path).get(heartbeat::ping_with_path),
        )
}

/// Errors listed in one answer at most: a body of 50,000 bad links gets the first few and a
/// count, not an answer larger than the request.
const MAX_LISTED_ERRORS: usize = 20;

fn invalid_event(mut errors: Vec<String>) -> Response {
    if errors.len() > MAX_LISTED_ERRORS {
        let more = errors.len() - MAX_LISTED_ERRORS;
        errors.truncate(MAX_LISTED_ERRORS);
        errors.push(format!("… and {more} more"));
    }
    (
        StatusCode::BAD_REQUEST,
        Json(json!({
            "status": "invalid event",
            "message": "Event object is invalid",
            "errors": errors,
        })),
    )
        .into_response()
}

fn storage_failure(e: EngineError) -> Response {
    tracing::error!(
        error = format!("{e:#}"),
        "alert not accepted: storage failure"
    );
    // The store refuses writes for now (disk full, I/O, locked): 503, so senders retry.
    if let EngineError::Internal(cause) = &e
        && crate::store::unavailable(cause).is_some()
    {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(axum::http::header::RETRY_AFTER, "5")],
            Json(json!({
                "status": "error",
                "message": "The store refuses writes for now; retry",
            })),
        )
            .into_response();
    }
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({
            "status": "error",
            "message": "The event could not be stored; retry",
        })),
    )
        .into_response()
}

fn engine_failure(e: EngineError) -> Response {
    match e {
        EngineError::NotFound(m) => (
            StatusCode::NOT_FOUND,
            Json(json!({"status": "invalid event", "message": m, "errors": [m]})),
        )
            .into_response(),
        EngineError::InvalidArgument(m) | EngineError::FailedPrecondition(m) => {
            invalid_event(vec![m])
        }
        e @ EngineError::Internal(_) => storage_failure(e),
    }
}

/// An error answer as Alertmanager and heartbeat senders get it.
fn am_error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({"status": "error", "message": message}))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_become_sender_facing_codes_and_only_storage_failures_ask_for_a_retry() {
        let table = [
            (
                EngineError::NotFound("no heartbeat `x`".into()),
                StatusCode::NOT_FOUND,
            ),
            (
                EngineError::InvalidArgument("summary: required".into()),
                StatusCode::BAD_REQUEST,
            ),
            (
                EngineError::FailedPrecondition("held".into()),
                StatusCode::BAD_REQUEST,
            ),
            (
                EngineError::Internal(anyhow::anyhow!("disk I/O error")),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (
                EngineError::Internal(
                    crate::store::Error::Unavailable("database or disk is full".into()).into(),
                ),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
        ];
        for (e, status) in table {
            assert_eq!(engine_failure(e).status(), status);
        }
        assert_eq!(
            am_error(StatusCode::NOT_FOUND, "m".into()).status(),
            StatusCode::NOT_FOUND
        );
    }

    #[tokio::test]
    async fn an_answer_lists_at_most_twenty_errors_and_counts_the_rest() {
        let errors = (0..50_000).map(|i| format!("links[{i}]: must be an object"));
        let resp = invalid_event(errors.collect());
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let listed = v["errors"].as_array().unwrap();
        assert_eq!(listed.len(), MAX_LISTED_ERRORS + 1);
        assert_eq!(listed[MAX_LISTED_ERRORS], "… and 49980 more");
    }
}
