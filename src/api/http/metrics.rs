//! `GET /metrics`: Prometheus metrics (OpenMetrics when asked for, else the classic text
//! format), behind a token of any role
//! (`authorization: Bearer`, checked by the same layer and cache as gRPC calls; Prometheus
//! sends it with its `authorization` scrape setting). Without a live token: 401 and nothing
//! else. The counters are kept as the daemon works ([`crate::metrics`]); the gauges are read
//! here, per scrape: two aggregate reads over partial indexes and in-memory state.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::api::grpc::auth::AuthLayer;
use crate::api::grpc::watch_cap::WatchCapLayer;
use crate::domain::IncidentState;
use crate::domain::access::Role;
use crate::engine::Engine;
use crate::metrics::{Format, Scraped};

/// What `/metrics` reads: the engine, the token check, the `Watch` slots.
#[derive(Clone)]
pub struct MetricsState {
    pub engine: Engine,
    pub auth: AuthLayer,
    pub watch: WatchCapLayer,
}

pub fn routes(state: MetricsState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn metrics(State(s): State<MetricsState>, headers: HeaderMap) -> Response {
    if let Err(status) = s.auth.require(&headers, Role::Viewer).await {
        if status.code() == tonic::Code::Unavailable {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "cannot check the token now; retry\n",
            )
                .into_response();
        }
        // Missing, malformed, unknown, revoked and expired look alike to the caller.
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a token is required: authorization: Bearer TOKEN (see `pagerd token create`)\n",
        )
            .into_response();
    }
    let format = Format::from_accept(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    match scrape(&s).await {
        Ok(scraped) => (
            [(header::CONTENT_TYPE, format.content_type())],
            s.engine.metrics().render(&scraped, format),
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = format!("{e:#}"), "metrics scrape failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
    }
}

/// The gauges, read now.
async fn scrape(s: &MetricsState) -> anyhow::Result<Scraped> {
    let now = s.engine.clock().now();
    let (by_state, (pending, earliest)) = s
        .engine
        .store()
        .read(|r| Ok((r.open_incidents_by_state()?, r.outbox_summary()?)))
        .await?;
    let reload = s.engine.reload_status();
    let term = s.engine.leadership().current();
    let seconds = |d: chrono::Duration| (d.num_milliseconds() as f64 / 1000.0).max(0.0);
    let count = |state: IncidentState| {
        by_state
            .iter()
            .find(|(st, _)| *st == state)
            .map_or(0, |(_, n)| *n)
    };
    Ok(Scraped {
        open_by_state: [IncidentState::Triggered, IncidentState::Acknowledged]
            .into_iter()
            .map(|st| (st.as_str(), count(st)))
            .collect(),
        outbox_pending: pending,
        outbox_oldest_due_seconds: earliest.map_or(0.0, |t| seconds(now - t)),
        policy_set_age_seconds: reload.loaded_at.map_or(0.0, |t| seconds(now - t)),
        last_reload_refused: reload.last_attempt.is_some_and(|a| !a.applied),
        watch_streams: s.watch.open_streams() as u64,
        leader: term.is_some(),
        lease_token: term.map_or(0, |t| t.token),
    })
}
