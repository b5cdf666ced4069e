//! Rendering: the layout every page shares, the response headers every page gets (a strict
//! Content-Security-Policy: no inline script or style, no framing, forms only to pagerd), and
//! the error pages.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::session::Viewer;
use crate::domain::access::Role;

/// The top of every signed-in page: who is signed in, the sign-out form's CSRF value, the
/// active navigation entry and a message after an action.
pub struct Layout {
    pub title: String,
    pub nav: &'static str,
    pub who: String,
    pub role: Role,
    pub csrf: String,
    pub flash: Option<String>,
}

impl Layout {
    pub fn new(viewer: &Viewer, title: impl Into<String>, nav: &'static str) -> Self {
        Self {
            title: title.into(),
            nav,
            who: viewer.label.clone(),
            role: viewer.role,
            csrf: viewer.csrf.clone(),
            flash: None,
        }
    }

    /// May the viewer do what needs `role`? (Templates show a button only then; the handler
    /// checks again.)
    pub fn may(&self, role: &str) -> bool {
        Role::parse(role).is_ok_and(|r| crate::domain::access::allows(self.role, r))
    }

    pub fn asset(&self, name: &str) -> String {
        super::assets::url(name)
    }
}

/// The page with the dashboard's headers.
pub fn render<T: Template>(status: StatusCode, page: &T) -> Response {
    match page.render() {
        Ok(html) => with_headers((status, Html(html)).into_response()),
        Err(e) => {
            tracing::error!(error = %e, "rendering a dashboard page failed");
            with_headers(
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the page could not be rendered",
                )
                    .into_response(),
            )
        }
    }
}

/// Headers on every dashboard answer: no caching of pages that show incidents, no referrer
/// to other sites (a sign-in link's token is in its URL), no framing, no inline script.
/// `same-origin`, not `no-referrer`: under `no-referrer` browsers send `Origin: null` on the
/// dashboard's own form POSTs, which the same-origin check must refuse.
pub fn with_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; \
             object-src 'none'",
        ),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

#[derive(Template)]
#[template(path = "ui/error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
    signed_out: bool,
}

/// A page saying what went wrong, with `status`.
pub fn error(status: StatusCode, title: &str, message: &str) -> Response {
    render(
        status,
        &ErrorPage {
            title,
            message,
            signed_out: status == StatusCode::UNAUTHORIZED,
        },
    )
}

pub async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no such page on this dashboard.",
    )
}

/// The page for an engine error.
pub fn engine_error(e: crate::engine::EngineError) -> Response {
    use crate::engine::EngineError as E;
    match e {
        E::NotFound(m) => error(StatusCode::NOT_FOUND, "Not found", &m),
        E::FailedPrecondition(m) => error(StatusCode::CONFLICT, "Not possible now", &m),
        E::InvalidArgument(m) => error(StatusCode::BAD_REQUEST, "Check the form", &m),
        E::Internal(e) if crate::store::unavailable(&e).is_some() => {
            super::session::unavailable(&format!("{e:#}"))
        }
        E::Internal(e) => {
            tracing::error!(error = format!("{e:#}"), "dashboard: internal error");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "An internal error happened; the pagerd log has the details.",
            )
        }
    }
}
