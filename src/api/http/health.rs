//! `GET /healthz`: healthy when the database answers a read.

use axum::extract::State;
use axum::http::StatusCode;

use crate::engine::Engine;

pub(super) async fn healthz(State(engine): State<Engine>) -> (StatusCode, String) {
    match engine.open_incident_count().await {
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
