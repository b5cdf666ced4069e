//! `GET /healthz` (alive) and `GET /readyz` (ready); the rules are `domain::health`.
//!
//! - `/healthz`: 200 `ok: N open incidents` while the timer loop and the outbox dispatcher
//!   turn and the database answers a read; else 503 naming the stalled loop. A full disk
//!   does not fail it: restarting would not free space, and pagerd recovers by itself.
//! - `/readyz`: 200 `ready` while alive, the store takes writes and neither loop is behind;
//!   else 503 with one line per problem. While the store refuses writes (disk full) each
//!   call also probes it (at most every 250 ms), so readiness returns by itself.
//!
//! Both are open (no token): load balancers and orchestrators call them. They name a loop or
//! a store error, never data.

use axum::extract::State;
use axum::http::StatusCode;

use crate::domain::health::Problem;
use crate::engine::Engine;

fn unavailable(head: &str, problems: &[Problem]) -> (StatusCode, String) {
    let mut body = String::new();
    for p in problems {
        body.push_str(&format!("{head}: {p}\n"));
    }
    (StatusCode::SERVICE_UNAVAILABLE, body)
}

pub(super) async fn healthz(State(engine): State<Engine>) -> (StatusCode, String) {
    let problems = engine.liveness();
    if !problems.is_empty() {
        return unavailable("unhealthy", &problems);
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

pub(super) async fn readyz(State(engine): State<Engine>) -> (StatusCode, String) {
    let problems = engine.readiness().await;
    if problems.is_empty() {
        return (StatusCode::OK, "ready\n".into());
    }
    unavailable("not ready", &problems)
}
