//! `GET /healthz`: healthy when the database answers a read and takes writes. While the store
//! refuses writes (disk full), 503 with the reason; it probes and turns healthy by itself once
//! writes commit again.

use axum::extract::State;
use axum::http::StatusCode;

use crate::engine::Engine;

pub(super) async fn healthz(State(engine): State<Engine>) -> (StatusCode, String) {
    if let Err(problem) = engine.store().check_writes().await {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("unhealthy: {problem}\n"),
        );
    }
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
