//! Dashboard sessions. Signing in makes a random 32-byte session id, sent to the browser as
//! the cookie `pagerd_session` (`HttpOnly; SameSite=Strict; Path=/ui`, plus `Secure` under
//! TLS) and kept in the store only as its SHA-256, so several nodes share sessions and a
//! database reader learns no cookie. A session signed in with a token re-checks the token on
//! every request (revoking it ends the session, its role is the token's current role).
//!
//! Every state-changing request is a POST carrying the session's CSRF value in the form
//! field `csrf`, compared in constant time, and, when the browser says where it comes from
//! (`Origin`, `Sec-Fetch-Site`), from this origin only.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use serde::de::DeserializeOwned;
use sha2::{Digest as _, Sha256};

use super::Ui;
use super::page::error;
use crate::domain::access::{Role, allows};
use crate::domain::audit::Actor;
use crate::store::UiSession;

pub const COOKIE: &str = "pagerd_session";
/// Largest form a dashboard POST may send (a resolve note, a new incident's details).
pub const MAX_FORM: usize = 64 * 1024;

/// The signed-in person (or token) of a request.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub label: String,
    pub person: Option<String>,
    pub role: Role,
    pub csrf: String,
    /// For the audit trail: "dashboard, token NAME" or "dashboard, email sign-in link".
    pub via: String,
    pub id_hash: String,
}

impl Viewer {
    pub fn actor(&self) -> Actor {
        Actor::new(self.label.clone(), self.via.clone())
    }

    /// Ok if the viewer's role allows what needs `role`; else the 403 page.
    pub fn require(&self, role: Role) -> Result<(), Response> {
        if allows(self.role, role) {
            Ok(())
        } else {
            Err(error(
                StatusCode::FORBIDDEN,
                "Not allowed",
                &format!(
                    "This needs role {role}; you ({}) have role {}.",
                    self.label, self.role
                ),
            ))
        }
    }
}

/// Hex SHA-256 of a cookie value: what the store keeps.
pub fn hash_id(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// A fresh random value for a session id or CSRF token (32 bytes, base64url).
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The session cookie's value in `headers`, if any.
fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// `Set-Cookie` for a new session (or, with `None`, one that removes it).
pub fn set_cookie(ui: &Ui, value: Option<&str>) -> HeaderValue {
    let secure = if ui.secure_cookies { "; Secure" } else { "" };
    let s = match value {
        Some(v) => format!(
            "{COOKIE}={v}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            ui.settings.session_ttl.as_secs()
        ),
        None => format!("{COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    };
    HeaderValue::from_str(&s).expect("cookie is ASCII")
}

/// Starts a session and returns the cookie's value.
pub async fn start(
    ui: &Ui,
    label: String,
    person: Option<String>,
    token_hash: Option<String>,
    role: Role,
) -> Result<String, Response> {
    let id = random_token();
    let now = ui.engine.clock().now();
    let ttl = chrono::Duration::from_std(ui.settings.session_ttl).unwrap_or_default();
    let session = UiSession {
        id_hash: hash_id(&id),
        person,
        token_hash,
        label,
        role,
        csrf: random_token(),
        created_at: now,
        expires_at: now + ttl,
    };
    ui.engine
        .store()
        .write(move |tx| Ok(tx.insert_ui_session(&session, now)?))
        .await
        .map_err(|e| unavailable(&e))?;
    Ok(id)
}

pub fn unavailable(e: &dyn std::fmt::Display) -> Response {
    tracing::warn!(error = %e, "dashboard: the store did not answer");
    let mut r = error(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again",
        "pagerd cannot read or write its store just now. Try again in a moment.",
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    r
}

/// The session of a request, or what to answer instead: a GET goes to the sign-in page, any
/// other request gets 401.
pub async fn viewer(ui: &Ui, parts: &Parts) -> Result<Viewer, Response> {
    let signed_out = || -> Response {
        if parts.method == axum::http::Method::GET {
            Redirect::to("/ui/signin").into_response()
        } else {
            error(
                StatusCode::UNAUTHORIZED,
                "Signed out",
                "Your session ended. Sign in again.",
            )
        }
    };
    let Some(id) = cookie_value(&parts.headers) else {
        return Err(signed_out());
    };
    let id_hash = hash_id(id);
    let key = id_hash.clone();
    let found = ui
        .engine
        .store()
        .read(move |r| r.ui_session(&key))
        .await
        .map_err(|e| unavailable(&e))?;
    let Some(s) = found else {
        return Err(signed_out());
    };
    let now = ui.engine.clock().now();
    if now >= s.expires_at {
        return Err(signed_out());
    }
    let (role, via) = match &s.token_hash {
        Some(h) => {
            let Some(digest) = hex::decode(h)
                .ok()
                .and_then(|d| <[u8; 32]>::try_from(d).ok())
            else {
                return Err(signed_out());
            };
            match ui.auth.identify_digest(digest).await {
                Ok(id) => (id.role, format!("dashboard, token {}", id.token)),
                Err(s) if s.code() == tonic::Code::Unavailable => {
                    return Err(unavailable(&s.message()));
                }
                Err(_) => return Err(signed_out()),
            }
        }
        None => (s.role, "dashboard, email sign-in link".to_string()),
    };
    Ok(Viewer {
        label: s.label,
        person: s.person,
        role,
        csrf: s.csrf,
        via,
        id_hash,
    })
}

impl FromRequestParts<Ui> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, ui: &Ui) -> Result<Self, Response> {
        viewer(ui, parts).await
    }
}

/// Refuses a cross-site request: a browser names where a request comes from, and a POST to
/// the dashboard must come from the dashboard. (Clients that send neither header still need
/// the CSRF value.)
pub fn same_origin(headers: &HeaderMap) -> Result<(), Response> {
    let refuse = |why: &str| {
        tracing::info!(reason = why, "dashboard: refused a cross-site request");
        Err(error(
            StatusCode::FORBIDDEN,
            "Refused",
            "This request did not come from this dashboard (cross-site request refused).",
        ))
    };
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return refuse("sec-fetch-site");
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
        let origin_host = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .map(|(_, h)| h);
        if host.is_none() || origin_host != host {
            return refuse("origin");
        }
    }
    Ok(())
}

/// A dashboard POST: the signed-in viewer and the form, after the origin and CSRF checks.
pub struct Posted<T> {
    pub viewer: Viewer,
    pub form: T,
}

#[derive(serde::Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

impl<T: DeserializeOwned + Send> FromRequest<Ui> for Posted<T> {
    type Rejection = Response;

    async fn from_request(req: Request, ui: &Ui) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        same_origin(&parts.headers)?;
        let viewer = Viewer::from_request_parts(&mut parts, ui).await?;
        let bytes = axum::body::to_bytes(body, MAX_FORM).await.map_err(|_| {
            error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Too large",
                &format!("A form may send at most {} KiB.", MAX_FORM / 1024),
            )
        })?;
        let sent: CsrfOnly = serde_urlencoded::from_bytes(&bytes).unwrap_or(CsrfOnly {
            csrf: String::new(),
        });
        if !constant_time_eq(sent.csrf.as_bytes(), viewer.csrf.as_bytes()) {
            tracing::info!(who = %viewer.label, "dashboard: refused a POST without the session's CSRF value");
            return Err(error(
                StatusCode::FORBIDDEN,
                "Refused",
                "This form is missing its security value (CSRF). Reload the page and try again.",
            ));
        }
        let form = serde_urlencoded::from_bytes(&bytes).map_err(|e| {
            error(
                StatusCode::BAD_REQUEST,
                "Bad form",
                &format!("The form could not be read: {e}"),
            )
        })?;
        Ok(Posted { viewer, form })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The time now, for handlers (the engine's clock).
pub fn now(ui: &Ui) -> chrono::DateTime<Utc> {
    ui.engine.clock().now()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let h = headers(&[("cookie", "a=1; pagerd_session=abc ; b=2")]);
        assert_eq!(cookie_value(&h), Some("abc"));
        assert_eq!(
            cookie_value(&headers(&[("cookie", "pagerd_session=")])),
            None
        );
        assert_eq!(cookie_value(&headers(&[])), None);
        let long = format!("pagerd_session={}", "x".repeat(200));
        assert_eq!(cookie_value(&headers(&[("cookie", &long)])), None);
    }

    #[test]
    fn only_same_origin_posts_pass() {
        let ok = [
            vec![],
            vec![("host", "p:8080"), ("origin", "http://p:8080")],
            vec![("sec-fetch-site", "same-origin")],
        ];
        for h in ok {
            assert!(same_origin(&headers(&h)).is_ok(), "{h:?}");
        }
        let bad = [
            vec![("host", "p:8080"), ("origin", "http://evil:8080")],
            vec![("origin", "http://p:8080")],
            vec![("host", "p:8080"), ("origin", "null")],
            vec![("sec-fetch-site", "cross-site")],
            vec![("sec-fetch-site", "same-site")],
        ];
        for h in bad {
            assert!(same_origin(&headers(&h)).is_err(), "{h:?}");
        }
    }

    #[test]
    fn csrf_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"", b"abc"));
    }
}
