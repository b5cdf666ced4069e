//! The maintenance page: active and upcoming windows, in the viewer's zone; for admins a
//! form that adds a window (one service or every service; an end or a duration) and an
//! "End now" button per window. The same engine calls and bounds as the gRPC
//! `IntakeService` (`AddMaintenance`, `RemoveMaintenance`): at most 366 days, times from 1970
//! to 2200, the reason at most 4 KiB; the window is made as the session's person.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

use super::Ui;
use super::local_time::{self, parse_local, show};
use super::page::{Layout, engine_error, error, render};
use super::session::{Posted, Viewer};
use crate::api::limits;
use crate::domain::access::Role;
use crate::engine::{MaintenanceRequest, MaintenanceView};

/// The service field's value for "every service".
pub const ALL: &str = "*";

/// A window as the page shows it.
pub struct WindowRow {
    pub id: Option<i64>,
    pub service: String,
    pub start: String,
    pub end: String,
    pub reason: String,
    pub by: String,
    pub active: bool,
    pub page_after: bool,
}

/// Active windows first (the soonest to end first), then upcoming ones (the soonest to start
/// first), as rows in `zone`.
pub fn rows(mut windows: Vec<MaintenanceView>, now: DateTime<Utc>, zone: Tz) -> Vec<WindowRow> {
    windows.retain(|v| v.window.end > now && v.removed_by.is_none());
    let key = |v: &MaintenanceView| {
        let w = &v.window;
        let active = w.start <= now;
        (
            !active,
            if active { w.end } else { w.start },
            w.service.clone(),
            w.id,
        )
    };
    windows.sort_by_key(key);
    windows
        .into_iter()
        .map(|v| {
            let w = v.window;
            WindowRow {
                id: w.id,
                active: w.start <= now,
                start: show(w.start, zone),
                end: show(w.end, zone),
                by: if w.id.is_some() {
                    w.created_by
                } else {
                    "the policy files".into()
                },
                reason: w.reason,
                service: w.service,
                page_after: w.page_after,
            }
        })
        .collect()
}

/// The add form as sent.
#[derive(Deserialize, Debug, Default)]
pub struct AddForm {
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub start: String,
    #[serde(default)]
    pub end: String,
    #[serde(default)]
    pub duration: String,
    #[serde(default)]
    pub reason: String,
    /// Present (a checkbox): incidents held by the window stay quiet after it.
    #[serde(default)]
    pub quiet_after: Option<String>,
    /// The zone the page showed its times in (the form's times are in it).
    #[serde(default)]
    pub tz: String,
}

/// What an add form asks for, checked.
#[derive(Debug, PartialEq)]
pub struct Plan {
    pub services: Vec<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub reason: String,
    pub page_after: bool,
}

/// The windows an add form asks for, or the message naming the field that is wrong.
/// `services` are the known ones; an empty start means `now`.
pub fn plan(form: &AddForm, services: &[String], now: DateTime<Utc>) -> Result<Plan, String> {
    let zone = match form.tz.trim() {
        "" => chrono_tz::UTC,
        z => local_time::parse_zone(z).ok_or("tz: not a time zone")?,
    };
    let service = form.service.trim();
    limits::check_name(service).map_err(|e| format!("service: {e}"))?;
    let chosen: Vec<String> = match service {
        "" => return Err("service: choose a service or all services".into()),
        ALL if services.is_empty() => return Err("service: there are no services".into()),
        ALL => services.to_vec(),
        s if services.iter().any(|k| k == s) => vec![s.to_string()],
        s => return Err(format!("service: no service `{s}`")),
    };
    let start = match form.start.trim() {
        "" => now,
        s => parse_local("start", s, zone)?,
    };
    let end = match (form.end.trim(), form.duration.trim()) {
        ("", "") => return Err("end: give an end or a duration".into()),
        (_, d) if !d.is_empty() && !form.end.trim().is_empty() => {
            return Err("duration: give an end or a duration, not both".into());
        }
        (e, "") => parse_local("end", e, zone)?,
        (_, d) => start + duration(d)?,
    };
    if end <= start {
        return Err("end: must be after start".into());
    }
    limits::check_window_length(start, end).map_err(|e| format!("end: {e}"))?;
    limits::request_time(end.timestamp(), 0).map_err(|e| format!("end: {e}"))?;
    if end <= now {
        return Err("end: the window would be over already".into());
    }
    let reason = form.reason.trim();
    if reason.len() > limits::MAX_NOTE_BYTES {
        return Err(format!("reason: at most {} bytes", limits::MAX_NOTE_BYTES));
    }
    Ok(Plan {
        services: chosen,
        start,
        end,
        reason: reason.to_string(),
        page_after: form.quiet_after.is_none(),
    })
}

/// A window's length as typed (`2h`, `30m`, `1h 30m`, `3d`): more than zero, at most
/// [`limits::MAX_WINDOW_DAYS`].
fn duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text)
        .map_err(|e| format!("duration: {e} (write e.g. 2h, 30m or 1h 30m)"))?;
    let max = Duration::days(limits::MAX_WINDOW_DAYS);
    let d = Duration::from_std(d)
        .ok()
        .filter(|d| *d <= max)
        .ok_or_else(|| format!("duration: at most {} days", limits::MAX_WINDOW_DAYS))?;
    if d <= Duration::zero() {
        return Err("duration: must be more than zero".into());
    }
    Ok(d)
}

#[derive(Template)]
#[template(path = "ui/maintenance.html")]
struct MaintenancePage {
    layout: Layout,
    rows: Vec<WindowRow>,
    services: Vec<String>,
    zone: String,
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    #[serde(default)]
    done: String,
}

fn flash(done: &str) -> Option<String> {
    match done {
        "added" => Some("Maintenance window added.".into()),
        "added-all" => Some("Maintenance windows added for every service.".into()),
        "ended" => Some("Maintenance window ended; alerts of its service page again.".into()),
        _ => None,
    }
}

pub async fn page(
    viewer: Viewer,
    State(ui): State<Ui>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Response {
    let zone = local_time::viewer_zone(&headers);
    let now = super::session::now(&ui);
    let windows = match ui.engine.list_maintenance(None, now, false).await {
        Ok(w) => w,
        Err(e) => return engine_error(e),
    };
    let mut layout = Layout::new(&viewer, "Maintenance", "maintenance");
    layout.flash = flash(&q.done);
    render(
        StatusCode::OK,
        &MaintenancePage {
            layout,
            rows: rows(windows, now, zone),
            services: ui.engine.policies().services.keys().cloned().collect(),
            zone: zone.name().to_string(),
        },
    )
}

pub async fn add(State(ui): State<Ui>, posted: Posted<AddForm>) -> Response {
    let Posted { viewer, form } = posted;
    if let Err(r) = viewer.require(Role::Admin) {
        return r;
    }
    let services: Vec<String> = ui.engine.policies().services.keys().cloned().collect();
    let plan = match plan(&form, &services, super::session::now(&ui)) {
        Ok(p) => p,
        Err(m) => return error(StatusCode::BAD_REQUEST, "Check the form", &m),
    };
    let all = plan.services.len() > 1 || form.service.trim() == ALL;
    // Every check a window can fail was made above, for all of them alike: the engine's
    // own (service known, end after start and now) cannot refuse one and pass another.
    for service in plan.services {
        let request = MaintenanceRequest {
            service,
            start: plan.start,
            end: plan.end,
            reason: plan.reason.clone(),
            page_after: plan.page_after,
            by: viewer.actor(),
        };
        if let Err(e) = ui.engine.add_maintenance(request).await {
            return engine_error(e);
        }
    }
    let done = if all { "added-all" } else { "added" };
    Redirect::to(&format!("/ui/maintenance?done={done}")).into_response()
}

/// The end form carries nothing but its CSRF value.
#[derive(Deserialize)]
pub struct EndForm {}

pub async fn end(State(ui): State<Ui>, Path(id): Path<i64>, posted: Posted<EndForm>) -> Response {
    let viewer = posted.viewer;
    if let Err(r) = viewer.require(Role::Admin) {
        return r;
    }
    if id <= 0 {
        return error(
            StatusCode::BAD_REQUEST,
            "Check the form",
            "id: must be a positive maintenance window id",
        );
    }
    match ui.engine.remove_maintenance(id, viewer.actor()).await {
        Ok(_) => Redirect::to("/ui/maintenance?done=ended").into_response(),
        Err(e) => engine_error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ingest::MaintenanceWindow;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn now() -> DateTime<Utc> {
        utc("2026-03-02T17:00:00Z")
    }

    fn services() -> Vec<String> {
        vec!["api".into(), "web".into()]
    }

    fn form(service: &str, start: &str, end: &str, duration: &str) -> AddForm {
        AddForm {
            service: service.into(),
            start: start.into(),
            end: end.into(),
            duration: duration.into(),
            reason: " deploy ".into(),
            quiet_after: None,
            tz: "Europe/Berlin".into(),
        }
    }

    #[test]
    fn a_form_becomes_windows_in_the_viewers_zone() {
        let p = plan(&form("api", "", "", "2h"), &services(), now()).unwrap();
        assert_eq!(
            p,
            Plan {
                services: vec!["api".into()],
                start: now(),
                end: now() + Duration::hours(2),
                reason: "deploy".into(),
                page_after: true,
            }
        );
        // Berlin is UTC+1 in March.
        let p = plan(
            &form("*", "2026-03-03T10:00", "2026-03-03T12:30", ""),
            &services(),
            now(),
        )
        .unwrap();
        assert_eq!(p.services, services());
        assert_eq!(
            (p.start, p.end),
            (utc("2026-03-03T09:00:00Z"), utc("2026-03-03T11:30:00Z"))
        );
        let mut quiet = form("web", "", "", "1h 30m");
        quiet.quiet_after = Some("on".into());
        quiet.tz = String::new();
        let p = plan(&quiet, &services(), now()).unwrap();
        assert!(!p.page_after);
        assert_eq!(p.end, now() + Duration::minutes(90));
    }

    #[test]
    fn each_wrong_field_is_named() {
        let long_reason = AddForm {
            reason: "r".repeat(limits::MAX_NOTE_BYTES + 1),
            ..form("api", "", "", "1h")
        };
        let bad_zone = AddForm {
            tz: "Mars/Base".into(),
            ..form("api", "", "", "1h")
        };
        let table = [
            (form("", "", "", "1h"), "service: choose"),
            (form("nope", "", "", "1h"), "service: no service `nope`"),
            (form(&"s".repeat(300), "", "", "1h"), "service: 300 bytes"),
            (form("api", "", "", ""), "end: give an end or a duration"),
            (
                form("api", "", "2026-03-03T10:00", "1h"),
                "duration: give an end or a duration, not both",
            ),
            (form("api", "", "", "soon"), "duration: "),
            (
                form("api", "", "", "0s"),
                "duration: must be more than zero",
            ),
            (form("api", "", "", "367d"), "duration: at most 366 days"),
            (form("api", "", "", "99999999999999999d"), "duration: "),
            (
                form("api", "later", "", "1h"),
                "start: `later` is not a date",
            ),
            (form("api", "", "never", ""), "end: `never` is not a date"),
            (
                form("api", "2026-03-03T10:00", "2026-03-03T09:00", ""),
                "end: must be after start",
            ),
            (
                form("api", "2026-03-03T10:00", "2027-03-05T10:00", ""),
                "end: at most 366 days after start",
            ),
            (
                form("api", "2026-03-01T10:00", "2026-03-01T12:00", ""),
                "end: the window would be over already",
            ),
            (
                form("api", "2199-12-31T00:00", "", "2d"),
                "end: timestamp out of range",
            ),
            (
                form("api", "2300-01-01T00:00", "", "1h"),
                "start: timestamp out of range",
            ),
            (long_reason, "reason: at most 4096 bytes"),
            (bad_zone, "tz: not a time zone"),
        ];
        for (f, want) in table {
            let e = plan(&f, &services(), now()).unwrap_err();
            assert!(e.starts_with(want), "{f:?}: {e}");
        }
        let none = plan(&form("*", "", "", "1h"), &[], now()).unwrap_err();
        assert!(none.starts_with("service: there are no services"), "{none}");
    }

    fn view(id: Option<i64>, service: &str, start: &str, end: &str) -> MaintenanceView {
        MaintenanceView {
            window: MaintenanceWindow {
                id,
                service: service.into(),
                start: utc(start),
                end: utc(end),
                reason: "r".into(),
                page_after: true,
                created_by: "ann".into(),
            },
            removed_by: None,
        }
    }

    #[test]
    fn active_windows_come_first_then_upcoming_ones_in_the_viewers_zone() {
        let mut removed = view(
            Some(9),
            "api",
            "2026-03-02T16:00:00Z",
            "2026-03-02T20:00:00Z",
        );
        removed.removed_by = Some("bob".into());
        let windows = vec![
            view(
                Some(1),
                "web",
                "2026-03-03T08:00:00Z",
                "2026-03-03T09:00:00Z",
            ),
            view(None, "api", "2026-03-02T12:00:00Z", "2026-03-02T19:00:00Z"),
            view(
                Some(2),
                "api",
                "2026-03-02T16:00:00Z",
                "2026-03-02T18:00:00Z",
            ),
            view(
                Some(3),
                "web",
                "2026-03-02T18:00:00Z",
                "2026-03-02T20:00:00Z",
            ),
            view(
                Some(4),
                "web",
                "2026-03-01T08:00:00Z",
                "2026-03-01T09:00:00Z",
            ),
            removed,
        ];
        let la: Tz = "America/Los_Angeles".parse().unwrap();
        let r = rows(windows, now(), la);
        let ids: Vec<(Option<i64>, bool)> = r.iter().map(|w| (w.id, w.active)).collect();
        assert_eq!(
            ids,
            [
                (Some(2), true),
                (None, true),
                (Some(3), false),
                (Some(1), false)
            ]
        );
        assert_eq!(r[0].start, "2026-03-02 08:00 PST");
        assert_eq!(r[0].by, "ann");
        assert_eq!(r[1].by, "the policy files");
    }
}
