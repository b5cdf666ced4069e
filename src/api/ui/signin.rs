//! Signing in and out. With a token (the API's tokens, `pagerd token create`), or with a link
//! mailed to a person listed in the schedules: signed, short-lived (`ui.signin_link_ttl`),
//! single use, and shown behind a confirmation page so a mail scanner that fetches links
//! uses nothing. Asking for a link answers the same whoever is named, so the form tells no
//! one who exists; each person gets at most one link a minute.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::Ui;
use super::page::{error, render};
use super::session::{self, Posted, same_origin};
use super::signin_link::{self, SigninLinkError};
use crate::app::tokens::secret_digest;
use crate::domain::PageKind;
use crate::domain::access::Role;

/// Who asked for a link in the last minute.
#[derive(Default)]
pub struct LinkLimiter(Mutex<HashMap<String, Instant>>);

const LINK_EVERY: Duration = Duration::from_secs(60);

impl LinkLimiter {
    /// True if `person` may get a link now (and records it).
    fn allow(&self, person: &str) -> bool {
        let mut seen = self.0.lock().expect("link limiter");
        let now = Instant::now();
        seen.retain(|_, at| now.duration_since(*at) < LINK_EVERY);
        if seen.contains_key(person) || seen.len() >= 10_000 {
            return false;
        }
        seen.insert(person.to_string(), now);
        true
    }
}

#[derive(Template)]
#[template(path = "ui/signin.html")]
struct SigninPage {
    sent: bool,
}

#[derive(Template)]
#[template(path = "ui/signin_confirm.html")]
struct ConfirmPage<'a> {
    person: &'a str,
    action: String,
}

pub async fn page() -> Response {
    render(StatusCode::OK, &SigninPage { sent: false })
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    token: String,
}

fn signed_in(ui: &Ui, id: &str) -> Response {
    let mut r = Redirect::to("/ui/incidents").into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, session::set_cookie(ui, Some(id)));
    r
}

pub async fn with_token(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    if let Err(r) = same_origin(&headers) {
        return r;
    }
    let token = form.token.trim();
    if token.is_empty() || token.len() > 512 {
        return error(
            StatusCode::UNAUTHORIZED,
            "Not signed in",
            "Paste a pagerd token (made with `pagerd token create`).",
        );
    }
    let digest = secret_digest(token);
    let id = match ui.auth.identify_digest(digest).await {
        Ok(id) => id,
        Err(s) if s.code() == tonic::Code::Unavailable => {
            return session::unavailable(&s.message());
        }
        Err(_) => {
            tracing::info!("dashboard: sign-in with an unknown, revoked or expired token");
            return error(
                StatusCode::UNAUTHORIZED,
                "Not signed in",
                "That token is not valid: unknown, revoked or expired.",
            );
        }
    };
    let label = id.person.as_deref().unwrap_or(&id.token).to_string();
    let person = id.person.as_deref().map(str::to_string);
    match session::start(&ui, label, person, Some(hex::encode(digest)), id.role).await {
        Ok(cookie) => {
            tracing::info!(token = %id.token, role = %id.role, "dashboard: signed in with a token");
            signed_in(&ui, &cookie)
        }
        Err(r) => r,
    }
}

#[derive(Deserialize)]
pub struct LinkForm {
    #[serde(default)]
    who: String,
}

/// The person a sign-in request names: by name, or by email address (any case).
fn find_person(ui: &Ui, who: &str) -> Option<(String, String)> {
    let who = who.trim();
    let policies = ui.engine.policies();
    policies
        .people
        .values()
        .find(|p| {
            p.name == who
                || p.email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(who))
        })
        .and_then(|p| Some((p.name.clone(), p.email.clone()?)))
}

pub async fn request_link(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Form(form): Form<LinkForm>,
) -> Response {
    if let Err(r) = same_origin(&headers) {
        return r;
    }
    let sent = render(StatusCode::OK, &SigninPage { sent: true });
    if form.who.len() > 320 {
        return sent;
    }
    let Some((person, _email)) = find_person(&ui, &form.who) else {
        tracing::info!("dashboard: a sign-in link was asked for someone not in the schedules");
        return sent;
    };
    if !ui.engine.channel_names().iter().any(|c| c == "email") {
        tracing::warn!(person = %person, "dashboard: cannot mail a sign-in link: the email channel is off");
        return sent;
    }
    if !ui.link_requests.allow(&person) {
        tracing::info!(person = %person, "dashboard: a sign-in link was asked again within a minute; not sent");
        return sent;
    }
    let now = session::now(&ui);
    let nonce: [u8; 16] = rand::random();
    let token = signin_link::make(&ui.signin_links, &person, &nonce, now);
    let url = ui.engine.public_url(&format!("/ui/signin/link/{token}"));
    let minutes = ui.settings.signin_link_ttl.as_secs() / 60;
    let body = format!(
        "Someone (hopefully you) asked to sign in to the pagerd dashboard as {person}.\n\n\
         Sign in: {url}\n\n\
         The link works once, for {minutes} minutes. If you did not ask for it, ignore this \
         mail: nothing happens unless the link is opened and confirmed.\n"
    );
    let who = person.clone();
    let queued = ui
        .engine
        .store()
        .write(move |tx| {
            Ok(tx.enqueue_notice(
                PageKind::Handoff,
                &who,
                "email",
                "Your sign-in link",
                &body,
                now,
                now,
            )?)
        })
        .await;
    match queued {
        Ok(_) => {
            ui.engine.wake_loops();
            tracing::info!(person = %person, "dashboard: sign-in link queued");
            sent
        }
        Err(e) => session::unavailable(&e),
    }
}

fn link_refused(e: SigninLinkError) -> Response {
    let status = match e {
        SigninLinkError::Expired(_) => StatusCode::GONE,
        SigninLinkError::Forged => StatusCode::BAD_REQUEST,
    };
    error(status, "Sign-in link not valid", &e.to_string())
}

pub async fn confirm_link(State(ui): State<Ui>, Path(token): Path<String>) -> Response {
    match signin_link::verify(&ui.signin_links, &token, session::now(&ui)) {
        Ok(claims) => render(
            StatusCode::OK,
            &ConfirmPage {
                person: &claims.person,
                action: format!("/ui/signin/link/{token}"),
            },
        ),
        Err(e) => link_refused(e),
    }
}

pub async fn use_link(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    if let Err(r) = same_origin(&headers) {
        return r;
    }
    let now = session::now(&ui);
    let claims = match signin_link::verify(&ui.signin_links, &token, now) {
        Ok(c) => c,
        Err(e) => return link_refused(e),
    };
    if !ui.engine.policies().people.contains_key(&claims.person) {
        return error(
            StatusCode::FORBIDDEN,
            "Sign-in link not valid",
            "The person this link was made for is no longer in the schedules.",
        );
    }
    let (nonce, expires) = (claims.nonce.clone(), claims.expires);
    let first = ui
        .engine
        .store()
        .write(move |tx| Ok(tx.use_signin_link(&nonce, expires, now)?))
        .await;
    match first {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!(person = %claims.person, "dashboard: a used sign-in link was tried again");
            return error(
                StatusCode::GONE,
                "Sign-in link already used",
                "This sign-in link was already used; each works once. Ask for a new one.",
            );
        }
        Err(e) => return session::unavailable(&e),
    }
    // People listed in the schedules respond to pages; a link grants what an acknowledge
    // link does, no more (admin work needs an admin token).
    let person = claims.person;
    match session::start(
        &ui,
        person.clone(),
        Some(person.clone()),
        None,
        Role::Responder,
    )
    .await
    {
        Ok(cookie) => {
            tracing::info!(person = %person, "dashboard: signed in with a mailed link");
            signed_in(&ui, &cookie)
        }
        Err(r) => r,
    }
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn sign_out(State(ui): State<Ui>, posted: Posted<Empty>) -> Response {
    let key = posted.viewer.id_hash.clone();
    if let Err(e) = ui
        .engine
        .store()
        .write(move |tx| Ok(tx.delete_ui_session(&key)?))
        .await
    {
        return session::unavailable(&e);
    }
    let mut r = Redirect::to("/ui/signin").into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, session::set_cookie(&ui, None));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_link_per_person_per_minute() {
        let l = LinkLimiter::default();
        assert!(l.allow("ann"));
        assert!(!l.allow("ann"));
        assert!(l.allow("bob"));
    }
}
