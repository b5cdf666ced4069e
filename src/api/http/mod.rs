//! HTTP endpoints: `/healthz`; iCalendar feeds `/schedules/{name}.ics` and
//! `/people/{name}.ics`; acknowledging from a page: signed links (`/act/{token}`), inbound
//! SMS replies and Slack button clicks (see `actions`); and alert intake: Events v2,
//! Alertmanager, heartbeats (see `ingest`).

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Router, extract::FromRef};

pub mod actions;
pub mod ical;
pub mod ingest;

use crate::config::settings::IntegrationSettings;
use crate::engine::Engine;
pub use actions::{HttpDeps, SmsInbound};
use ingest::Intake;

/// Everything the HTTP handlers share.
#[derive(Clone)]
pub struct HttpState {
    pub engine: Engine,
    pub deps: std::sync::Arc<HttpDeps>,
    /// Alert intake settings and per-key rate limits.
    pub intake: std::sync::Arc<Intake>,
}

impl FromRef<HttpState> for Engine {
    fn from_ref(s: &HttpState) -> Engine {
        s.engine.clone()
    }
}

pub fn router(engine: Engine, deps: HttpDeps, integrations: IntegrationSettings) -> Router {
    let state = HttpState {
        engine,
        deps: std::sync::Arc::new(deps),
        intake: std::sync::Arc::new(Intake::new(integrations)),
    };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/schedules/{file}", get(schedule_ics))
        .route("/people/{file}", get(person_ics))
        .merge(ingest::routes())
        .route(
            "/act/{token}",
            get(actions::confirm_page).post(actions::act),
        )
        .route("/integrations/sms/inbound", post(actions::sms_inbound))
        .route("/integrations/slack/actions", post(actions::slack_action))
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
    let feed = ical::schedule_feed(&engine.policies(), name, engine.clock().now());
    ics(feed, &format!("schedule {name}"))
}

async fn person_ics(State(engine): State<Engine>, Path(file): Path<String>) -> Response {
    let Some(name) = file.strip_suffix(".ics") else {
        return (StatusCode::NOT_FOUND, "feeds end in .ics\n").into_response();
    };
    let feed = ical::person_feed(&engine.policies(), name, engine.clock().now());
    ics(feed, &format!("person {name}"))
}
