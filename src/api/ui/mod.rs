//! The web dashboard, served by pagerd itself under `/ui/` on the HTTP listener: HTML rendered
//! on the server (askama templates in `templates/ui/`, escaped by default), a little plain
//! JavaScript for live updates, every asset embedded in the binary. It reads and acts through
//! the same engine calls as the gRPC API, as the session's person, with the API's roles.
//!
//! - `session`: cookies, sessions in the store, CSRF and origin checks, the signed-in viewer;
//! - `signin`: token sign-in, mailed single-use sign-in links, sign-out;
//! - `incidents`: the incident list (live), one incident and its actions, the new-incident form;
//! - `events`: the live-update stream (SSE, resuming by sequence);
//! - `oncall`: who is on call now, my shifts;
//! - `schedule`: a schedule's next weeks as a timeline, with gaps and burnout decisions;
//! - `overrides`: the schedule page's actions (take a shift, add or remove an override);
//! - `timeline`: pure layout of the schedule timeline and times in zones;
//! - `view`: pure helpers the templates use (ages, ordering, labels);
//! - `assets`: the embedded stylesheet and script;
//! - `maintenance`: maintenance windows, added and ended by admins;
//! - `reports`, `reports_view`, `charts`: the on-call load and response times, with charts
//!   drawn by the server as inline SVG;
//! - `local_time`: the viewer's zone, times typed in forms and shown back.

// Handlers refuse with a ready page (an axum `Response`), once per request: its size does
// not matter here.
#![allow(clippy::result_large_err)]

mod assets;
mod events;
mod incidents;
mod oncall;
mod overrides;
mod page;
mod schedule;
pub mod session;
mod signin;
pub mod signin_link;
pub mod timeline;
pub mod view;
// Maintenance and reports pages.
mod charts;
mod local_time;
mod maintenance;
mod reports;
mod reports_view;

use std::sync::Arc;

use axum::Router;
use axum::response::Redirect;
use axum::routing::{get, post};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::api::grpc::auth::AuthLayer;
use crate::config::ui::UiSettings;
use crate::engine::Engine;
use crate::notify::LinkSigner;

pub use page::{Layout, render};

/// What every dashboard handler shares.
pub struct UiState {
    pub engine: Engine,
    pub auth: AuthLayer,
    /// Signs the mailed sign-in links (a key derived from the link secret).
    pub signin_links: LinkSigner,
    pub settings: UiSettings,
    /// Cookies get `Secure` when the HTTP listener serves TLS.
    pub secure_cookies: bool,
    /// Bounds the live-update streams open at once.
    pub streams: Arc<Semaphore>,
    /// Streams open per session, so one browser cannot take them all.
    pub session_streams: Arc<events::PerSession>,
    /// Ends live-update streams when the daemon stops.
    pub stop: CancellationToken,
    /// Who asked for a sign-in link lately (one mail per person per minute).
    pub link_requests: signin::LinkLimiter,
}

pub type Ui = Arc<UiState>;

impl UiState {
    pub fn new(
        engine: Engine,
        auth: AuthLayer,
        links: &LinkSigner,
        settings: UiSettings,
        secure_cookies: bool,
        stop: CancellationToken,
    ) -> Ui {
        Arc::new(Self {
            engine,
            auth,
            signin_links: links.derive("pagerd ui sign-in link", settings.signin_link_ttl),
            streams: Arc::new(Semaphore::new(settings.max_event_streams)),
            session_streams: Default::default(),
            settings,
            secure_cookies,
            stop,
            link_requests: Default::default(),
        })
    }
}

/// Every `/ui/` route.
pub fn routes(ui: Ui) -> Router {
    Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(incidents::home))
        .route("/ui/assets/{file}", get(assets::serve))
        .route("/ui/signin", get(signin::page).post(signin::with_token))
        .route("/ui/signin/link", post(signin::request_link))
        .route(
            "/ui/signin/link/{token}",
            get(signin::confirm_link).post(signin::use_link),
        )
        .route("/ui/signout", post(signin::sign_out))
        .route("/ui/events", get(events::stream))
        .route(
            "/ui/incidents",
            get(incidents::list).post(incidents::create),
        )
        .route("/ui/incidents/new", get(incidents::new_form))
        .route("/ui/incidents/{id}", get(incidents::show))
        .route("/ui/incidents/{id}/{action}", post(incidents::act))
        .route("/ui/{*rest}", get(page::not_found))
        // Maintenance and reports.
        .route(
            "/ui/maintenance",
            get(maintenance::page).post(maintenance::add),
        )
        .route("/ui/maintenance/{id}/end", post(maintenance::end))
        .route("/ui/reports", get(reports::page))
        // On call now and schedules.
        .route("/ui/oncall", get(oncall::page))
        .route("/ui/schedules/{name}", get(schedule::page))
        .route("/ui/schedules/{name}/take", post(overrides::take))
        .route("/ui/schedules/{name}/overrides", post(overrides::add))
        .route(
            "/ui/schedules/{name}/overrides/{id}/remove",
            post(overrides::remove),
        )
        .with_state(ui)
}
