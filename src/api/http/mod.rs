//! HTTP endpoints, one file per route group; the router and the state they share live here.
//! - `health`: `/healthz` (alive) and `/readyz` (ready);
//! - `ical`: iCalendar feeds `/schedules/{name}/{token}.ics` and `/people/{name}/{token}.ics`;
//! - `actions`: acknowledging from a page: signed links (`/act/{token}`) and Slack button
//!   clicks;
//! - `sms_inbound`: SMS replies (`/integrations/sms/inbound`), authenticated, with expiring
//!   codes and a wrong-code lockout;
//! - `ingest`: alert intake: Events v2, Alertmanager, heartbeats;
//! - `metrics`: `/metrics` for Prometheus, behind a token (its own router and state).

pub mod actions;
mod health;
pub mod ical;
pub mod ingest;
pub mod metrics;
pub mod sms_inbound;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::{Router, extract::FromRef};

use crate::config::settings::IntegrationSettings;
use crate::engine::Engine;
pub use actions::HttpDeps;
use ingest::Intake;
pub use sms_inbound::SmsInbound;

/// Everything the HTTP handlers share.
#[derive(Clone)]
pub struct HttpState {
    pub engine: Engine,
    pub deps: Arc<HttpDeps>,
    /// Alert intake settings and per-key rate limits.
    pub intake: Arc<Intake>,
}

impl FromRef<HttpState> for Engine {
    fn from_ref(s: &HttpState) -> Engine {
        s.engine.clone()
    }
}

pub fn router(engine: Engine, deps: HttpDeps, integrations: IntegrationSettings) -> Router {
    let state = HttpState {
        engine,
        deps: Arc::new(deps),
        intake: Arc::new(Intake::new(integrations)),
    };
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/schedules/{name}/{file}", get(ical::schedule_ics))
        .route("/people/{name}/{file}", get(ical::person_ics))
        .route("/schedules/{file}", get(ical::tokenless))
        .route("/people/{file}", get(ical::tokenless))
        .merge(ingest::routes())
        .route(
            "/act/{token}",
            get(actions::confirm_page).post(actions::act),
        )
        .route("/integrations/sms/inbound", post(sms_inbound::sms_inbound))
        .route("/integrations/slack/actions", post(actions::slack_action))
        .with_state(state)
}
