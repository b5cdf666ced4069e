//! The incident pages: the list (open first, filters, live refresh of its table), one
//! incident with its details, links and timeline and the responder's buttons, the actions
//! themselves (POST, as the session's person), and the form that opens an incident by hand.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::Ui;
use super::page::{Layout, engine_error, error, render};
use super::session::{Posted, Viewer};
use super::view;
use crate::api::limits;
use crate::domain::access::Role;
use crate::domain::{Event, Incident, IncidentState, NewAlert, Severity};
use crate::store::IncidentFilter;

/// Most incidents one list shows.
const LIST_LIMIT: usize = 200;
/// Rows of the list that show who was paged.
const PAGED_ROWS: usize = 50;
/// Most timeline events one incident page shows (the API pages further).
const TIMELINE_LIMIT: usize = 2000;

pub async fn home(_viewer: Viewer) -> Response {
    Redirect::to("/ui/incidents").into_response()
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    service: String,
    #[serde(default)]
    severity: String,
    /// "open" (the default), "triggered", "acknowledged", "resolved" or "all".
    #[serde(default)]
    state: String,
    #[serde(default)]
    partial: Option<String>,
}

/// One row of the list.
pub struct Row {
    pub inc: Incident,
    pub age: String,
    pub paged: String,
}

#[derive(Template)]
#[template(path = "ui/incidents.html")]
struct ListPage<'a> {
    layout: Layout,
    rows: &'a [Row],
    services: Vec<String>,
    q: &'a ListQuery,
    open: usize,
}

#[derive(Template)]
#[template(path = "ui/incidents_table.html")]
struct ListTable<'a> {
    rows: &'a [Row],
    open: usize,
}

pub async fn list(viewer: Viewer, State(ui): State<Ui>, Query(q): Query<ListQuery>) -> Response {
    let states = match q.state.as_str() {
        "" | "open" => vec![IncidentState::Triggered, IncidentState::Acknowledged],
        "all" => vec![],
        s => match IncidentState::parse(s) {
            Some(s) => vec![s],
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "Check the filter",
                    "state: not a state",
                );
            }
        },
    };
    let severity = match q.severity.as_str() {
        "" => None,
        s => match Severity::parse(s) {
            Ok(s) => Some(s),
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "Check the filter",
                    &format!("severity: {e}"),
                );
            }
        },
    };
    if let Err(e) = limits::check_name(&q.service) {
        return error(
            StatusCode::BAD_REQUEST,
            "Check the filter",
            &format!("service: {e}"),
        );
    }
    let filter = IncidentFilter {
        states,
        service: (!q.service.is_empty()).then(|| q.service.clone()),
        limit: LIST_LIMIT,
        ..Default::default()
    };
    let mut incidents = match ui.engine.list(filter).await {
        Ok(v) => v,
        Err(e) => return engine_error(e),
    };
    incidents.retain(|i| severity.is_none_or(|s| i.severity == s));
    incidents.sort_by(view::list_order);
    let rows = match rows(&ui, incidents).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    // The title counts every open incident, whatever the filter shows.
    let open = match ui.engine.open_incident_count().await {
        Ok(n) => n as usize,
        Err(e) => return engine_error(e),
    };
    if q.partial.is_some() {
        return render(StatusCode::OK, &ListTable { rows: &rows, open });
    }
    let services = ui.engine.policies().services.keys().cloned().collect();
    let layout = Layout::new(
        &viewer,
        view::title_with_count(open, "Incidents"),
        "incidents",
    );
    render(
        StatusCode::OK,
        &ListPage {
            layout,
            rows: &rows,
            services,
            q: &q,
            open,
        },
    )
}

/// The rows, with who was paged at each open incident's level (their timelines read in one
/// store read).
async fn rows(ui: &Ui, incidents: Vec<Incident>) -> Result<Vec<Row>, Response> {
    // Who was paged matters for the open incidents at the top; a storm of hundreds need
    // not cost hundreds of timeline reads per refresh.
    let ids: Vec<i64> = incidents
        .iter()
        .filter(|i| i.state != IncidentState::Resolved)
        .take(PAGED_ROWS)
        .map(|i| i.id)
        .collect();
    let timelines: BTreeMap<i64, Vec<Event>> = ui
        .engine
        .store()
        .read(move |r| {
            ids.into_iter()
                .map(|id| Ok((id, r.timeline(id)?)))
                .collect::<crate::store::Result<_>>()
        })
        .await
        .map_err(|e| super::session::unavailable(&e))?;
    let now = super::session::now(ui);
    Ok(incidents
        .into_iter()
        .map(|inc| {
            let paged = timelines
                .get(&inc.id)
                .map(|t| view::paged_now(&inc, t).join(", "))
                .unwrap_or_default();
            Row {
                age: view::age(inc.created_at, now),
                paged,
                inc,
            }
        })
        .collect())
}

#[derive(Template)]
#[template(path = "ui/incident.html")]
struct IncidentPage<'a> {
    layout: Layout,
    inc: &'a Incident,
    /// The alert's links: `href` only where it is http(s) or mailto (links stored before
    /// intake checked them show as text).
    links: Vec<(Option<String>, String)>,
    age: String,
    timeline: Vec<TimelineRow>,
    more: bool,
    may_act: bool,
}

pub struct TimelineRow {
    pub at: String,
    pub kind: &'static str,
    pub who: String,
    pub message: String,
    pub failed: bool,
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    #[serde(default)]
    done: String,
}

fn flash(done: &str, inc: &Incident) -> Option<String> {
    let by = |who: &Option<String>| who.clone().unwrap_or_default();
    match done {
        "acknowledge" => Some(format!("Acknowledged by {}.", by(&inc.acknowledged_by))),
        "resolve" => Some(format!("Resolved by {}.", by(&inc.resolved_by))),
        "escalate" => Some(format!("Escalated: level {} paged.", inc.pos.level + 1)),
        "notes" => Some("Note added.".into()),
        "created" => Some("Incident opened; its first level is being paged.".into()),
        _ => None,
    }
}

pub async fn show(
    viewer: Viewer,
    State(ui): State<Ui>,
    Path(id): Path<i64>,
    Query(q): Query<ShowQuery>,
) -> Response {
    let (inc, mut events, mut next) = match ui
        .engine
        .get_page(id, 0, crate::engine::MAX_TIMELINE_PAGE)
        .await
    {
        Ok((inc, page)) => (inc, page.events, page.next_after),
        Err(e) => return engine_error(e),
    };
    while let Some(after) = next
        && events.len() < TIMELINE_LIMIT
    {
        match ui
            .engine
            .get_page(id, after, crate::engine::MAX_TIMELINE_PAGE)
            .await
        {
            Ok((_, page)) => {
                events.extend(page.events);
                next = page.next_after;
            }
            Err(e) => return engine_error(e),
        }
    }
    let now = super::session::now(&ui);
    let timeline = events
        .iter()
        .map(|e| TimelineRow {
            at: e.at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            kind: e.kind.as_str(),
            who: e
                .actor
                .clone()
                .or_else(|| e.person.clone())
                .unwrap_or_default(),
            message: e.message.clone(),
            failed: e.kind == crate::domain::EventKind::DeliveryFailed,
        })
        .collect();
    let mut layout = Layout::new(&viewer, format!("#{} {}", inc.id, inc.summary), "incidents");
    layout.flash = flash(&q.done, &inc);
    let may_act = crate::domain::access::allows(viewer.role, Role::Responder);
    render(
        StatusCode::OK,
        &IncidentPage {
            layout,
            age: view::age(inc.created_at, now),
            links: inc
                .links
                .iter()
                .map(|l| {
                    let href = limits::check_href(&l.href).ok().map(|_| l.href.clone());
                    let text = if l.text.is_empty() { &l.href } else { &l.text };
                    (href, text.clone())
                })
                .collect(),
            inc: &inc,
            timeline,
            more: next.is_some(),
            may_act,
        },
    )
}

#[derive(Deserialize)]
pub struct ActForm {
    #[serde(default)]
    note: String,
    #[serde(default)]
    text: String,
}

pub async fn act(
    State(ui): State<Ui>,
    Path((id, action)): Path<(i64, String)>,
    posted: Posted<ActForm>,
) -> Response {
    let Posted { viewer, form } = posted;
    if let Err(r) = viewer.require(Role::Responder) {
        return r;
    }
    let by = viewer.actor();
    let e = &ui.engine;
    let result = match action.as_str() {
        "acknowledge" => e.acknowledge(id, by).await,
        "resolve" => {
            if form.note.len() > limits::MAX_NOTE_BYTES {
                return error(
                    StatusCode::BAD_REQUEST,
                    "Check the form",
                    &format!("note: at most {} bytes", limits::MAX_NOTE_BYTES),
                );
            }
            e.resolve(id, by, form.note.trim().to_string()).await
        }
        "escalate" => e.escalate(id, by).await,
        "notes" => {
            let text = form.text.trim();
            if text.is_empty() || text.len() > limits::MAX_NOTE_BYTES {
                return error(
                    StatusCode::BAD_REQUEST,
                    "Check the form",
                    &format!("text: 1 to {} bytes", limits::MAX_NOTE_BYTES),
                );
            }
            e.add_note(id, by, text.to_string()).await
        }
        _ => return super::page::not_found().await,
    };
    match result {
        Ok(_) => Redirect::to(&format!("/ui/incidents/{id}?done={action}")).into_response(),
        Err(err) => engine_error(err),
    }
}

#[derive(Template)]
#[template(path = "ui/incident_new.html")]
struct NewPage {
    layout: Layout,
    services: Vec<String>,
}

pub async fn new_form(viewer: Viewer, State(ui): State<Ui>) -> Response {
    if let Err(r) = viewer.require(Role::Responder) {
        return r;
    }
    let services = ui.engine.policies().services.keys().cloned().collect();
    render(
        StatusCode::OK,
        &NewPage {
            layout: Layout::new(&viewer, "New incident", "new"),
            services,
        },
    )
}

#[derive(Deserialize)]
pub struct NewForm {
    #[serde(default)]
    service: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    details: String,
    #[serde(default)]
    impact: String,
}

/// The alert a new-incident form opens, or the field that is wrong.
pub fn new_alert(form: &NewForm, who: &str, key: String) -> Result<NewAlert, String> {
    let service = form.service.trim();
    if service.is_empty() {
        return Err("service: choose a service".into());
    }
    limits::check_name(service).map_err(|e| format!("service: {e}"))?;
    let severity = Severity::parse(form.severity.trim()).map_err(|e| format!("severity: {e}"))?;
    let summary = form.summary.trim();
    if summary.is_empty() {
        return Err("summary: say what is wrong".into());
    }
    if summary.chars().count() > limits::MAX_SUMMARY_CHARS {
        return Err(format!(
            "summary: at most {} characters",
            limits::MAX_SUMMARY_CHARS
        ));
    }
    let mut details = BTreeMap::new();
    for (name, value) in [("details", &form.details), ("impact", &form.impact)] {
        if !value.trim().is_empty() {
            details.insert(name.to_string(), value.trim().to_string());
        }
    }
    if details.values().map(String::len).sum::<usize>() > limits::MAX_DETAILS_BYTES {
        return Err(format!(
            "details: at most {} KiB with impact",
            limits::MAX_DETAILS_BYTES / 1024
        ));
    }
    Ok(NewAlert {
        service: service.to_string(),
        dedup_key: key,
        severity,
        summary: summary.to_string(),
        source: format!("dashboard ({who})"),
        details,
        links: vec![],
    })
}

pub async fn create(State(ui): State<Ui>, posted: Posted<NewForm>) -> Response {
    let Posted { viewer, form } = posted;
    if let Err(r) = viewer.require(Role::Responder) {
        return r;
    }
    // A manual incident is its own: a fresh key never deduplicates into another.
    let key = format!("dashboard-{}", uuid::Uuid::new_v4());
    let alert = match new_alert(&form, &viewer.label, key) {
        Ok(a) => a,
        Err(m) => return error(StatusCode::BAD_REQUEST, "Check the form", &m),
    };
    match ui.engine.trigger(alert).await {
        Ok(out) => {
            let _ = ui
                .engine
                .record_audit(
                    &viewer.actor(),
                    "incident.open",
                    format!("incident {}", out.incident_id),
                )
                .await;
            Redirect::to(&format!("/ui/incidents/{}?done=created", out.incident_id)).into_response()
        }
        Err(e) => engine_error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(service: &str, severity: &str, summary: &str) -> NewForm {
        NewForm {
            service: service.into(),
            severity: severity.into(),
            summary: summary.into(),
            details: " disk full ".into(),
            impact: String::new(),
        }
    }

    #[test]
    fn the_new_incident_form_is_checked_field_by_field() {
        let ok = new_alert(&form("web", "p1", " Checkout down "), "ann", "k".into()).unwrap();
        assert_eq!(
            (ok.severity, ok.summary.as_str()),
            (Severity::High, "Checkout down")
        );
        assert_eq!(
            ok.details.get("details").map(String::as_str),
            Some("disk full")
        );
        assert!(!ok.details.contains_key("impact"));
        assert_eq!(ok.source, "dashboard (ann)");
        for (f, field) in [
            (form("", "high", "x"), "service:"),
            (form("web", "urgent", "x"), "severity:"),
            (form("web", "high", "  "), "summary:"),
            (form("web", "high", &"x".repeat(1025)), "summary:"),
        ] {
            let e = new_alert(&f, "ann", "k".into()).unwrap_err();
            assert!(e.starts_with(field), "{e}");
        }
    }
}
