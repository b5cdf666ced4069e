//! iCalendar (RFC 5545) feeds of final shifts, so calendar apps can subscribe to a schedule
//! or to one person's shifts: `GET /schedules/{name}/{token}.ics` and
//! `GET /people/{name}/{token}.ics`. The token is the feed's secret (made and rotated through
//! the `FeedUrl` RPC, like PagerDuty's webcal links): a roster says who can be reached when,
//! so an unknown name, a wrong or missing token and the old token-less paths all get the
//! same 404.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use icalendar::{Calendar, Component, Event, EventLike};

use crate::domain::PolicySet;
use crate::domain::schedule::{FinalShift, Schedule};
use crate::engine::{Engine, UrlKind};

/// How far back and ahead a feed reaches.
pub const PAST: Duration = Duration::days(14);
pub const AHEAD: Duration = Duration::days(90);

fn event(schedule: &str, layer_or_override: &str, shift: &FinalShift) -> Event {
    Event::new()
        // Stable across fetches: the same shift keeps its UID, so calendars update in place.
        .uid(&format!(
            "{schedule}-{layer_or_override}-{}@pagerd",
            shift.start.timestamp()
        ))
        .summary(&format!("On call: {} ({schedule})", shift.person))
        .description(&format!(
            "{} is on call for {schedule} via {layer_or_override}",
            shift.person
        ))
        .starts(shift.start)
        .ends(shift.end)
        .timestamp(shift.start)
        .done()
}

/// The shifts a feed shows. A shift cut by the start of the window would get a start (and so
/// a UID) that changes with every fetch, so it is left out.
fn feed_shifts(schedule: &Schedule, now: DateTime<Utc>) -> Vec<FinalShift> {
    let from = now - PAST;
    let mut shifts = schedule.final_shifts(from, now + AHEAD);
    shifts.retain(|s| s.start > from);
    shifts
}

fn calendar(name: &str, events: impl IntoIterator<Item = Event>) -> String {
    let mut cal = Calendar::new();
    cal.name(name);
    for e in events {
        cal.push(e);
    }
    cal.done().to_string()
}

/// The feed of one schedule around `now`; `None` if there is no such schedule.
pub fn schedule_feed(set: &PolicySet, name: &str, now: DateTime<Utc>) -> Option<String> {
    let def = set.schedules.get(name)?;
    let shifts = feed_shifts(&def.schedule, now);
    let events = shifts
        .iter()
        .map(|s| event(name, &def.schedule.describe(&s.source), s));
    Some(calendar(&format!("pagerd: {name}"), events))
}

/// One person's shifts across every schedule around `now`; `None` if there is no such person.
pub fn person_feed(set: &PolicySet, person: &str, now: DateTime<Utc>) -> Option<String> {
    set.people.get(person)?;
    let mut events = Vec::new();
    for (name, def) in &set.schedules {
        for s in feed_shifts(&def.schedule, now) {
            if s.person == person {
                events.push(event(name, &def.schedule.describe(&s.source), &s));
            }
        }
    }
    Some(calendar(&format!("pagerd: {person} on call"), events))
}

/// The one answer for every refused feed request.
pub(super) fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

fn ics(body: String) -> Response {
    (
        [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
        body,
    )
        .into_response()
}

/// The feed of `name` if `file` is `{token}.ics` with its token; else the one 404.
async fn feed(
    engine: &Engine,
    kind: UrlKind,
    name: &str,
    file: &str,
    build: fn(&PolicySet, &str, DateTime<Utc>) -> Option<String>,
) -> Response {
    let Some(token) = file.strip_suffix(".ics") else {
        return not_found();
    };
    match engine.check_url_secret(kind, name, token).await {
        Ok(true) => {}
        Ok(false) => return not_found(),
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "calendar feed: storage failure");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    }
    match build(&engine.policies(), name, engine.clock().now()) {
        Some(body) => ics(body),
        None => not_found(),
    }
}

/// `GET /schedules/{name}/{token}.ics`
pub(super) async fn schedule_ics(
    State(engine): State<Engine>,
    Path((name, file)): Path<(String, String)>,
) -> Response {
    feed(&engine, UrlKind::Schedule, &name, &file, schedule_feed).await
}

/// `GET /people/{name}/{token}.ics`
pub(super) async fn person_ics(
    State(engine): State<Engine>,
    Path((name, file)): Path<(String, String)>,
) -> Response {
    feed(&engine, UrlKind::Person, &name, &file, person_feed).await
}

/// `GET /schedules/{file}`, `GET /people/{file}`: the token-less paths of old, refused alike.
pub(super) async fn tokenless() -> Response {
    not_found()
}
