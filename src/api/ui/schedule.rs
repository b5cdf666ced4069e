//! The page *Schedule*: the next 2–4 weeks as a timeline (each layer as if alone, the
//! overrides, the final on-call line with its gaps and burnout decisions), the same as tables,
//! and the responder's actions (take a shift, add or remove an override; handled in
//! `overrides`). It reads what the gRPC `ScheduleService` reads: the serving set's schedule,
//! its listed shifts (`Shifts`) and the API's overrides (`ListOverrides`).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use super::Ui;
use super::oncall::{When, viewer_zone, when};
use super::page::{Layout, engine_error, error, render};
use super::session::Viewer;
use super::timeline::{self, Bar, Tick};
use crate::domain::ScheduleDef;
use crate::domain::access::{Role, allows, may_override_for};
use crate::domain::schedule::Schedule;

/// One segment of a lane.
pub struct Seg {
    pub bar: Bar,
    pub label: String,
    /// CSS class: `on` (a layer's shift), `ov` (an override), `gap`, `dec` (a burnout decision).
    pub class: &'static str,
    pub title: String,
}

pub struct Lane {
    pub label: String,
    pub segs: Vec<Seg>,
}

/// A row of the final shifts' table.
pub struct ShiftRow {
    pub person: String,
    pub start: When,
    pub end: When,
    pub via: String,
    pub reason: String,
    pub projected: bool,
    pub flagged: bool,
    /// Unix seconds, for the "Take this shift" form.
    pub start_unix: i64,
    pub end_unix: i64,
    pub takeable: bool,
    /// A burnout limit moved or flagged this shift (not the plain "X's turn").
    pub decision: bool,
}

/// Whether a listed shift's reason is a burnout decision worth marking: anything but the
/// rotation's plain "PERSON's turn" (which schedules with limits give every turn), and
/// every flagged override.
pub fn is_decision(person: &str, reason: &str, flagged: bool) -> bool {
    flagged || !(reason.is_empty() || reason == format!("{person}'s turn"))
}

pub struct GapRow {
    pub start: When,
    pub end: When,
}

pub struct OverrideRow {
    pub person: String,
    pub start: When,
    pub end: When,
    pub reason: String,
    /// Made through the API and the viewer may remove it.
    pub removable: Option<i64>,
}

#[derive(Template)]
#[template(path = "ui/schedule.html")]
struct SchedulePage {
    layout: Layout,
    name: String,
    schedule_zone_name: String,
    zone: String,
    weeks: i64,
    ticks: Vec<Tick>,
    /// Whether the schedule has burnout limits (else no decision column).
    limits: bool,
    now_x: Option<String>,
    lanes: Vec<Lane>,
    shifts: Vec<ShiftRow>,
    any_decision: bool,
    gaps: Vec<GapRow>,
    gap_paged: String,
    overrides: Vec<OverrideRow>,
    may_act: bool,
    /// People the add form offers: all for an admin, the viewer's person for a responder.
    people: Vec<String>,
    default_start: String,
    default_end: String,
}

#[derive(Deserialize, Default)]
pub struct ScheduleQuery {
    #[serde(default)]
    weeks: String,
    #[serde(default)]
    done: String,
}

/// `weeks=2..4` (empty: 2), or the message naming the field.
pub fn parse_weeks(v: &str) -> Result<i64, String> {
    match v.trim() {
        "" => Ok(2),
        v => v
            .parse::<i64>()
            .ok()
            .filter(|w| (2..=4).contains(w))
            .ok_or_else(|| "weeks: 2, 3 or 4".to_string()),
    }
}

fn flash(done: &str) -> Option<String> {
    Some(
        match done {
            "taken" => "You are on call for that shift now (an override for you was added).",
            "added" => "Override added.",
            "removed" => "Override removed.",
            _ => return None,
        }
        .into(),
    )
}

pub async fn page(
    viewer: Viewer,
    State(ui): State<Ui>,
    Path(name): Path<String>,
    Query(q): Query<ScheduleQuery>,
    headers: HeaderMap,
) -> Response {
    let weeks = match parse_weeks(&q.weeks) {
        Ok(w) => w,
        Err(m) => return error(StatusCode::BAD_REQUEST, "Check the address", &m),
    };
    let zone = viewer_zone(&headers);
    let now = super::session::now(&ui);
    let set = ui.engine.policies();
    let Some(def) = set.schedules.get(&name) else {
        return error(
            StatusCode::NOT_FOUND,
            "Not found",
            &format!("schedule: no schedule `{name}`"),
        );
    };
    let s = &def.schedule;
    // From the start of the viewer's day, whole days, so the axis reads as a calendar.
    let from = super::local_time::day_start("", now.with_timezone(&zone).date_naive(), zone)
        .unwrap_or(now)
        .min(now);
    let to = from + Duration::weeks(weeks);
    let api_overrides = match ui
        .engine
        .list_overrides(Some(name.clone()), from, false)
        .await
    {
        Ok(v) => v,
        Err(e) => return engine_error(e),
    };
    let may_act = allows(viewer.role, Role::Responder);
    let may_for = |person: &str| {
        may_act
            && may_override_for(viewer.role, &viewer.label, viewer.person.as_deref(), person)
                .is_ok()
    };

    let shifts: Vec<ShiftRow> = listed(def, from, to)
        .into_iter()
        .map(|(start, end, p)| ShiftRow {
            takeable: end > now
                && viewer.person.as_ref().is_some_and(|me| *me != p.person)
                && viewer.person.as_deref().is_some_and(&may_for),
            decision: is_decision(&p.person, &p.reason, p.flagged),
            start: when(start, zone, s.zone),
            end: when(end, zone, s.zone),
            start_unix: start.timestamp(),
            end_unix: end.timestamp(),
            person: p.person,
            via: p.source,
            reason: p.reason,
            projected: p.projected,
            flagged: p.flagged,
        })
        .collect();
    let gaps = s.gaps(from, to);
    let lanes = lanes(def, from, to, &shifts, &gaps);
    let overrides = s
        .overrides
        .iter()
        .filter(|o| o.end > from && o.start < to && o.start < o.end)
        .map(|o| OverrideRow {
            person: o.person.clone(),
            start: when(o.start, zone, s.zone),
            end: when(o.end, zone, s.zone),
            reason: o.reason.clone(),
            removable: api_overrides
                .iter()
                .find(|a| (&a.person, a.start, a.end) == (&o.person, o.start, o.end))
                .filter(|a| a.end > now && may_for(&a.person))
                .map(|a| a.id),
        })
        .collect();
    let people = match (viewer.role, &viewer.person) {
        (Role::Admin, _) => set.people.keys().cloned().collect(),
        (_, Some(me)) if may_act => vec![me.clone()],
        _ => vec![],
    };
    let mut layout = Layout::new(&viewer, format!("Schedule {name}"), "oncall");
    layout.flash = flash(&q.done);
    let start = now + Duration::hours(1);
    render(
        StatusCode::OK,
        &SchedulePage {
            layout,
            schedule_zone_name: s.zone.name().to_string(),
            zone: zone.name().to_string(),
            weeks,
            ticks: timeline::day_ticks(from, to, zone),
            limits: def.burnout.is_some(),
            now_x: timeline::place(from, to, now, to).map(|b| b.x),
            lanes,
            gaps: gaps
                .iter()
                .map(|&(a, b)| GapRow {
                    start: when(a, zone, s.zone),
                    end: when(b, zone, s.zone),
                })
                .collect(),
            gap_paged: def.gap_fallback().to_string(),
            any_decision: shifts.iter().any(|r| r.decision),
            shifts,
            overrides,
            may_act,
            people,
            default_start: timeline::input_value(start, zone),
            default_end: timeline::input_value(start + Duration::hours(8), zone),
            name,
        },
    )
}

/// The final shifts as the `Shifts` RPC lists them (cut where a burnout decision differs),
/// with their bounds as instants.
fn listed(
    def: &ScheduleDef,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>, crate::proto::Shift)> {
    let instant = |t: &Option<prost_types::Timestamp>| {
        t.as_ref()
            .and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
    };
    def.schedule
        .final_shifts(from, to)
        .into_iter()
        .flat_map(|s| crate::api::grpc::schedules::listed_shifts(def, s))
        .filter_map(|p| Some((instant(&p.start)?, instant(&p.end)?, p)))
        .collect()
}

/// The timeline's lanes: one per layer (as if alone), the overrides, then the final line with
/// its gaps and burnout decisions.
fn lanes(
    def: &ScheduleDef,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    shifts: &[ShiftRow],
    gaps: &[(DateTime<Utc>, DateTime<Utc>)],
) -> Vec<Lane> {
    let s = &def.schedule;
    let seg = |start, end, label: &str, class, title: String| {
        timeline::place(from, to, start, end).map(|bar| Seg {
            bar,
            label: label.to_string(),
            class,
            title,
        })
    };
    let mut out = Vec::new();
    for layer in &s.layers {
        let alone = Schedule {
            name: s.name.clone(),
            zone: s.zone,
            layers: vec![layer.clone()],
            overrides: vec![],
        };
        let segs = alone
            .final_shifts(from, to)
            .into_iter()
            .filter_map(|f| seg(f.start, f.end, &f.person, "on", f.person.clone()))
            .collect();
        out.push(Lane {
            label: format!("layer {}", layer.name),
            segs,
        });
    }
    let ov = s
        .overrides
        .iter()
        .filter_map(|o| {
            let title = format!("{}: override ({})", o.person, o.reason);
            seg(o.start, o.end, &o.person, "ov", title)
        })
        .collect();
    out.push(Lane {
        label: "overrides".into(),
        segs: ov,
    });
    let mut fin: Vec<(DateTime<Utc>, Seg)> = Vec::new();
    for r in shifts {
        let (Some(a), Some(b)) = (
            DateTime::from_timestamp(r.start_unix, 0),
            DateTime::from_timestamp(r.end_unix, 0),
        ) else {
            continue;
        };
        let decided = r.decision;
        let class = match (decided, r.via.starts_with("override")) {
            (true, _) => "dec",
            (false, true) => "ov",
            (false, false) => "on",
        };
        let label = if decided {
            format!("{} (limit)", r.person)
        } else {
            r.person.clone()
        };
        let title = match decided {
            true => format!("{}: {}", r.person, r.reason),
            false => format!("{}: {}", r.person, r.via),
        };
        fin.extend(seg(a, b, &label, class, title).map(|g| (a, g)));
    }
    for &(a, b) in gaps {
        let title = "gap: nobody on call".to_string();
        fin.extend(seg(a, b, "gap", "gap", title).map(|g| (a, g)));
    }
    fin.sort_by_key(|(start, _)| *start);
    out.push(Lane {
        label: "on call".into(),
        segs: fin.into_iter().map(|(_, g)| g).collect(),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_are_two_to_four() {
        for (v, want) in [
            ("", Ok(2)),
            ("2", Ok(2)),
            (" 3 ", Ok(3)),
            ("4", Ok(4)),
            ("1", Err(())),
            ("5", Err(())),
            ("two", Err(())),
            ("-3", Err(())),
        ] {
            let got = parse_weeks(v).map_err(|e| assert!(e.starts_with("weeks:"), "{e}"));
            assert_eq!(got, want, "{v:?}");
        }
    }

    #[test]
    fn only_moved_or_flagged_shifts_are_burnout_decisions() {
        for (person, reason, flagged, want) in [
            ("ann", "", false, false),
            ("ann", "ann's turn", false, false),
            ("ann", "bob's turn", false, true),
            (
                "bob",
                "ann skipped: 4 on-call weeks in 2026-Q1 already (limit 4) → bob",
                false,
                true,
            ),
            ("ann", "ann's turn (the swap lapsed)", false, true),
            ("ann", "override breaks the rest rule", true, true),
            ("ann", "", true, true),
        ] {
            assert_eq!(
                is_decision(person, reason, flagged),
                want,
                "{person}: {reason}"
            );
        }
    }
}
