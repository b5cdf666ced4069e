//! HTTP endpoints: `/healthz`, iCalendar feeds `/schedules/{name}.ics` and
//! `/people/{name}.ics`, and alert intake (see [`super::ingest`]): Events v2, Alertmanager,
//! heartbeats.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Router, routing::get};

use std::sync::Arc;

use super::ingest::{HttpState, Intake};
use crate::config::settings::IntegrationSettings;
use crate::engine::Engine;

pub fn router(engine: Engine, integrations: IntegrationSettings) -> Router {
    let state = HttpState {
        engine,
        intake: Arc::new(Intake::new(integrations)),
    };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/schedules/{file}", get(schedule_ics))
        .route("/people/{file}", get(person_ics))
        .merge(super::ingest::routes())
        .with_state(state)
}

/// Healthy when the database answers a read.
async fn healthz(State(engine): State<Engine>) -> (StatusCode, String) {
    match engine.store().read(|r| r.open_incident_count()).await {
        Ok(open) => (StatusCode::OK, format!("ok: {open} open incidents\n")),
        Err(e) => {
            tracing::warn!(error = format!("{e:#}"), "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "database unavailable\n".into(),
            )
        }
    }
}

fn ics(feed: Option<String>, what: &str) -> Response {
    match feed {
        Some(body) => (
            [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
            body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, format!("no {what}\n")).into_response(),
    }
}

async fn schedule_ics(State(engine): State<Engine>, Path(file): Path<String>) -> Response {
    let Some(name) = file.strip_suffix(".ics") else {
        return (StatusCode::NOT_FOUND, "feeds end in .ics\n").into_response();
    };
    let feed = super::ical::schedule_feed(&engine.policies(), name, engine.clock().now());
    ics(feed, &format!("schedule {name}"))
}

async fn person_ics(State(engine): State<Engine>, Path(file): Path<String>) -> Response {
    let Some(name) = file.strip_suffix(".ics") else {
        return (StatusCode::NOT_FOUND, "feeds end in .ics\n").into_response();
    };
    let feed = super::ical::person_feed(&engine.policies(), name, engine.clock().now());
    ics(feed, &format!("person {name}"))
}
