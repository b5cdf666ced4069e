//! HTTP endpoints. For now only `/healthz`; acknowledgement links and inbound webhooks join
//! with the channels work.

use axum::{Router, extract::State, http::StatusCode, routing::get};

use crate::engine::Engine;

pub fn router(engine: Engine) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .with_state(engine)
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
