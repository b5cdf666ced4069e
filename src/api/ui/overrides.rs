//! The schedule page's actions (POST, CSRF-checked by `Posted`): *Take this shift* (an
//! override for the viewer's person over the rest of a shift), *Add override* (a responder for
//! their own person, an admin for anyone) and *Remove* (an override made through the API that
//! the viewer may remove). The same rules and bounds as the gRPC `AddOverride` and
//! `RemoveOverride`: `access::may_override_for`, `limits::check_window_length`, the engine's
//! own checks.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

use super::Ui;
use super::local_time;
use super::page::{engine_error, error};
use super::session::{Posted, Viewer};
use crate::api::limits::{MAX_NOTE_BYTES, check_window_length};
use crate::domain::Person;
use crate::domain::access::{Role, may_override_for};
use crate::engine::OverrideRequest;

fn bad(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "Check the form", message)
}

/// 403 unless the viewer may put `person` on call.
fn may_cover(viewer: &Viewer, person: &str) -> Result<(), Response> {
    may_override_for(viewer.role, &viewer.label, viewer.person.as_deref(), person)
        .map_err(|m| error(StatusCode::FORBIDDEN, "Not allowed", &m))
}

/// `name` as one URL path segment (everything but unreserved characters escaped).
pub fn path_segment(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn back(schedule: &str, done: &str) -> Response {
    Redirect::to(&format!(
        "/ui/schedules/{}?done={done}",
        path_segment(schedule)
    ))
    .into_response()
}

/// A *Take this shift* button's value: `START-END-PERSON` (Unix seconds; whose shift it was).
#[derive(Deserialize)]
pub struct TakeForm {
    #[serde(default)]
    shift: String,
}

/// What a *Take this shift* button asks for: the rest of the shift from `now` and whose it
/// was, or why not.
pub fn take_window(
    shift: &str,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>, String), String> {
    let mut parts = shift.trim().splitn(3, '-');
    let mut time = || {
        parts
            .next()
            .and_then(|v| v.parse::<i64>().ok())
            .and_then(|s| crate::api::limits::request_time(s, 0).ok())
            .ok_or_else(|| "shift: not a shift (START-END-PERSON)".to_string())
    };
    let (start, end) = (time()?.max(now), time()?);
    let from = parts.next().unwrap_or_default().to_string();
    if end <= start {
        return Err("shift: that shift is over already".into());
    }
    check_window_length(start, end).map_err(|m| format!("shift: {m}"))?;
    Ok((start, end, from))
}

pub async fn take(
    State(ui): State<Ui>,
    Path(name): Path<String>,
    posted: Posted<TakeForm>,
) -> Response {
    let Posted { viewer, form } = posted;
    if let Err(r) = viewer.require(Role::Responder) {
        return r;
    }
    let Some(me) = viewer.person.clone() else {
        return error(
            StatusCode::FORBIDDEN,
            "Not allowed",
            "Your sign-in belongs to no person, so it cannot take a shift.",
        );
    };
    if let Err(r) = may_cover(&viewer, &me) {
        return r;
    }
    let (start, end, from) = match take_window(&form.shift, super::session::now(&ui)) {
        Ok(w) => w,
        Err(m) => return bad(&m),
    };
    let from = from.trim();
    let reason = if from.is_empty() || from.len() > 255 {
        "taken on the dashboard".to_string()
    } else {
        format!("taken from {from} on the dashboard")
    };
    let request = OverrideRequest {
        schedule: name.clone(),
        person: me,
        start,
        end,
        reason,
        by: viewer.actor(),
    };
    match ui.engine.add_override(request).await {
        Ok(_) => back(&name, "taken"),
        Err(e) => engine_error(e),
    }
}

#[derive(Deserialize, Default)]
pub struct AddForm {
    #[serde(default)]
    pub person: String,
    #[serde(default)]
    pub start: String,
    #[serde(default)]
    pub end: String,
    #[serde(default)]
    pub reason: String,
    /// The zone the form's times are in (the page puts the viewer's).
    #[serde(default)]
    pub zone: String,
}

/// An *Add override* form read: person, start, end, reason; or the message naming the field.
pub fn parse_add(
    form: &AddForm,
    people: &BTreeMap<String, Person>,
) -> Result<(String, DateTime<Utc>, DateTime<Utc>, String), String> {
    let person = form.person.trim();
    if person.is_empty() {
        return Err("person: required".into());
    }
    if !people.contains_key(person) {
        return Err(format!("person: no person `{person}` in the policy files"));
    }
    let zone: Tz = match form.zone.trim() {
        "" => Tz::UTC,
        z => local_time::parse_zone(z)
            .ok_or_else(|| format!("zone: `{z}` is not an IANA time zone"))?,
    };
    let start = local_time::parse_local("start", &form.start, zone)?;
    let end = local_time::parse_local("end", &form.end, zone)?;
    if end <= start {
        return Err("end: must be after start".into());
    }
    check_window_length(start, end).map_err(|m| format!("end: {m}"))?;
    let reason = form.reason.trim();
    if reason.len() > MAX_NOTE_BYTES {
        return Err(format!("reason: at most {MAX_NOTE_BYTES} bytes"));
    }
    Ok((person.to_string(), start, end, reason.to_string()))
}

pub async fn add(
    State(ui): State<Ui>,
    Path(name): Path<String>,
    posted: Posted<AddForm>,
) -> Response {
    let Posted { viewer, form } = posted;
    if let Err(r) = viewer.require(Role::Responder) {
        return r;
    }
    let (person, start, end, reason) = match parse_add(&form, &ui.engine.policies().people) {
        Ok(v) => v,
        Err(m) => return bad(&m),
    };
    if let Err(r) = may_cover(&viewer, &person) {
        return r;
    }
    let request = OverrideRequest {
        schedule: name.clone(),
        person,
        start,
        end,
        reason,
        by: viewer.actor(),
    };
    match ui.engine.add_override(request).await {
        Ok(_) => back(&name, "added"),
        Err(e) => engine_error(e),
    }
}

#[derive(Deserialize)]
pub struct RemoveForm {}

pub async fn remove(
    State(ui): State<Ui>,
    Path((name, id)): Path<(String, i64)>,
    posted: Posted<RemoveForm>,
) -> Response {
    let Posted { viewer, .. } = posted;
    if let Err(r) = viewer.require(Role::Responder) {
        return r;
    }
    let found = match ui.engine.schedule_override(id).await {
        Ok(o) => o.filter(|o| o.schedule == name),
        Err(e) => return engine_error(e),
    };
    let Some(o) = found else {
        return error(
            StatusCode::NOT_FOUND,
            "Not found",
            &format!("id: no override {id} on schedule `{name}`"),
        );
    };
    // Overrides never change person, so checking before removing cannot race.
    if let Err(r) = may_cover(&viewer, &o.person) {
        return r;
    }
    match ui.engine.remove_override(id, viewer.actor()).await {
        Ok(_) => back(&name, "removed"),
        Err(e) => engine_error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn people() -> BTreeMap<String, Person> {
        let set = crate::domain::PolicySet::default();
        let mut people = set.people;
        for name in ["sam", "bob"] {
            people.insert(
                name.into(),
                Person {
                    name: name.into(),
                    time_zone: Tz::UTC,
                    email: None,
                    sms: None,
                    slack: None,
                    contact_rules: vec![],
                    low_contact_rules: vec![],
                },
            );
        }
        people
    }

    fn form(person: &str, start: &str, end: &str, zone: &str) -> AddForm {
        AddForm {
            person: person.into(),
            start: start.into(),
            end: end.into(),
            reason: " swap ".into(),
            zone: zone.into(),
        }
    }

    #[test]
    fn the_add_override_form_is_checked_field_by_field() {
        let ok = parse_add(
            &form(
                "sam",
                "2026-03-03T09:00",
                "2026-03-03T17:00",
                "Europe/Berlin",
            ),
            &people(),
        )
        .unwrap();
        assert_eq!(
            ok,
            (
                "sam".to_string(),
                t("2026-03-03T08:00:00Z"),
                t("2026-03-03T16:00:00Z"),
                "swap".to_string()
            )
        );
        let long = AddForm {
            reason: "x".repeat(MAX_NOTE_BYTES + 1),
            ..form("sam", "2026-03-03T09:00", "2026-03-03T17:00", "")
        };
        for (f, want) in [
            (
                form("", "2026-03-03T09:00", "2026-03-03T17:00", ""),
                "person: required",
            ),
            (
                form("zed", "2026-03-03T09:00", "2026-03-03T17:00", ""),
                "person: no person `zed`",
            ),
            (
                form("sam", "2026-03-03T09:00", "2026-03-03T17:00", "Nowhere"),
                "zone:",
            ),
            (form("sam", "", "2026-03-03T17:00", ""), "start: required"),
            (
                form("sam", "2026-03-03T09:00", "soon", ""),
                "end: `soon` is not a date and time",
            ),
            (
                form("sam", "2026-03-03T17:00", "2026-03-03T09:00", ""),
                "end: must be after start",
            ),
            (
                form("sam", "2026-03-03T09:00", "2026-03-03T09:00", ""),
                "end: must be after start",
            ),
            (
                form("sam", "2026-03-03T09:00", "2027-03-05T09:00", ""),
                "end: at most 366 days",
            ),
            (long, "reason: at most"),
        ] {
            let e = parse_add(&f, &people()).unwrap_err();
            assert!(e.starts_with(want), "{e}");
        }
    }

    #[test]
    fn taking_a_shift_covers_its_rest_from_now() {
        let now = t("2026-03-03T12:00:00Z");
        let n = now.timestamp();
        let h = chrono::Duration::hours(1);
        type Want = Result<(DateTime<Utc>, DateTime<Utc>, &'static str), &'static str>;
        let table: [(String, Want); 7] = [
            // In progress: from now.
            (
                format!("{}-{}-sam", n - 3600, n + 3600),
                Ok((now, now + h, "sam")),
            ),
            (
                format!("{}-{}-mary-jane", n + 60, n + 3600),
                Ok((now + chrono::Duration::minutes(1), now + h, "mary-jane")),
            ),
            (format!("{}-{}", n, n + 3600), Ok((now, now + h, ""))),
            (
                format!("{}-{}-sam", n - 7200, n - 3600),
                Err("shift: that shift is over"),
            ),
            (format!("x-{}-sam", n), Err("shift: not a shift")),
            (format!("{n}--5-sam"), Err("shift: not a shift")),
            (
                format!("{}-{}-sam", n, n + 400 * 86400),
                Err("shift: at most 366 days"),
            ),
        ];
        for (value, want) in table {
            match (take_window(&value, now), want) {
                (Ok((s, e, from)), Ok((ws, we, wf))) => {
                    assert_eq!((s, e, from.as_str()), (ws, we, wf), "{value}")
                }
                (Err(err), Err(w)) => assert!(err.starts_with(w), "{value}: {err}"),
                (got, want) => panic!("{value}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn schedule_names_are_escaped_as_one_path_segment() {
        assert_eq!(path_segment("evenings"), "evenings");
        assert_eq!(path_segment("a b/c?d"), "a%20b%2Fc%3Fd");
    }
}
