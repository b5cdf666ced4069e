//! The page *On call now*: every schedule, who is on call, until when (in the viewer's zone
//! and the schedule's), who is next; and the signed-in person's shifts in the next four
//! weeks. It reads what the gRPC `ScheduleService` reads: the serving policy set's schedules.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use super::Ui;
use super::page::{Layout, render};
use super::session::Viewer;
use super::timeline;

/// How far ahead "who is next" and "my shifts" look.
const AHEAD: Duration = Duration::days(28);

/// An instant in the viewer's zone and, when it differs, the schedule's.
pub struct When {
    pub viewer: String,
    pub schedule: Option<String>,
}

pub fn when(t: DateTime<Utc>, viewer: Tz, schedule: Tz) -> When {
    When {
        viewer: timeline::show(t, viewer),
        schedule: (viewer != schedule).then(|| timeline::show(t, schedule)),
    }
}

pub use super::local_time::viewer_zone;

pub struct OnCallRow {
    pub name: String,
    pub zone: String,
    /// `None`: a gap right now.
    pub person: Option<String>,
    pub via: String,
    pub until: Option<When>,
    pub next: Option<(String, When)>,
    /// Who a page to the schedule reaches in a gap.
    pub gap_paged: String,
}

pub struct MyShift {
    pub schedule: String,
    pub zone: String,
    pub start: When,
    pub end: When,
    pub via: String,
}

#[derive(Template)]
#[template(path = "ui/oncall.html")]
struct OnCallPage {
    layout: Layout,
    zone: String,
    rows: Vec<OnCallRow>,
    person: Option<String>,
    mine: Vec<MyShift>,
}

pub async fn page(viewer: Viewer, State(ui): State<Ui>, headers: HeaderMap) -> Response {
    let zone = viewer_zone(&headers);
    let now = super::session::now(&ui);
    let set = ui.engine.policies();
    let mut rows = Vec::new();
    let mut mine = Vec::new();
    for def in set.schedules.values() {
        let s = &def.schedule;
        let current = s.on_call(now);
        let ahead = s.final_shifts(now, now + AHEAD);
        let boundary = current.as_ref().map_or(now, |c| c.end);
        let next = ahead
            .iter()
            .find(|n| n.start >= boundary && n.start > now)
            .map(|n| (n.person.clone(), when(n.start, zone, s.zone)));
        if let Some(me) = &viewer.person {
            for piece in ahead.iter().filter(|p| &p.person == me) {
                mine.push((
                    piece.start,
                    MyShift {
                        schedule: s.name.clone(),
                        zone: s.zone.name().to_string(),
                        start: when(piece.start, zone, s.zone),
                        end: when(piece.end, zone, s.zone),
                        via: s.describe(&piece.source),
                    },
                ));
            }
        }
        rows.push(OnCallRow {
            name: s.name.clone(),
            zone: s.zone.name().to_string(),
            via: current
                .as_ref()
                .map(|c| s.describe(&c.source))
                .unwrap_or_default(),
            until: current.as_ref().map(|c| when(c.end, zone, s.zone)),
            person: current.map(|c| c.person),
            next,
            gap_paged: def.gap_fallback().to_string(),
        });
    }
    mine.sort_by_key(|(start, _)| *start);
    render(
        StatusCode::OK,
        &OnCallPage {
            layout: Layout::new(&viewer, "On call now", "oncall"),
            zone: zone.name().to_string(),
            rows,
            person: viewer.person.clone(),
            mine: mine.into_iter().map(|(_, m)| m).collect(),
        },
    )
}
