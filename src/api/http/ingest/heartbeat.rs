//! `POST|GET /heartbeats/{name}/{token}`, or `/heartbeats/{name}` with `Authorization: Bearer
//! TOKEN`: a ping, which resolves the heartbeat's "expired" incident. GET stays for cron
//! one-liners; the per-heartbeat token is what keeps a cross-site `<img>` or a stranger from
//! pinging. No token, a wrong token and an unknown name get one and the same answer, so the
//! listener does not tell which heartbeats exist.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{am_error, engine_failure};
use crate::api::http::HttpState;
use crate::engine::{EngineError, UrlKind};

/// The one answer for every refused ping.
pub(super) fn not_found() -> Response {
    am_error(StatusCode::NOT_FOUND, "not found".into())
}

/// The token of an `Authorization: Bearer TOKEN` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

/// `POST|GET /heartbeats/{name}`: the token in the `Authorization` header.
pub(super) async fn ping_with_header(
    State(st): State<HttpState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    ping(&st, &name, bearer(&headers)).await
}

/// `POST|GET /heartbeats/{name}/{token}`
pub(super) async fn ping_with_path(
    State(st): State<HttpState>,
    Path((name, token)): Path<(String, String)>,
) -> Response {
    ping(&st, &name, Some(&token)).await
}

async fn ping(st: &HttpState, name: &str, token: Option<&str>) -> Response {
    let Some(token) = token else {
        return not_found();
    };
    match st
        .engine
        .check_url_secret(UrlKind::Heartbeat, name, token)
        .await
    {
        Ok(true) => {}
        Ok(false) => return not_found(),
        Err(e) => return engine_failure(e),
    }
    match st.engine.heartbeat(name).await {
        Ok((expires_at, resolved)) => (
            StatusCode::OK,
            Json(json!({
                "status": "ok",
                "expires_at": expires_at.to_rfc3339(),
                "resolved_incident": resolved,
            })),
        )
            .into_response(),
        // Removed by a reload between the check and the ping.
        Err(EngineError::NotFound(_)) => not_found(),
        Err(e) => engine_failure(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_takes_only_a_bearer_scheme_with_a_token() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, "bearer  abc ".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer ".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }
}
