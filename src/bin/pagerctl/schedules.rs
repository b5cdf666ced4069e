//! Schedule commands: who is on call, a schedule's shifts, and overrides (add, remove, list).

use anyhow::Context;
use serde_json::{Value, json};

use pagerd::proto as pb;

use crate::Global;
use crate::cli::{
    FeedKind, FeedUrlArgs, OncallArgs, OverrideAddArgs, OverrideListArgs, OverrideRemoveArgs,
    ShiftsArgs,
};
use crate::client::{Pagerd, Usage};
use crate::render::json::{override_json, shift_json};
use crate::render::schedules::{override_line, override_table};
use crate::render::time::{local_time, schedule_time_of, to_timestamp};
use crate::render::{clean, emit, emit_json, finish_table, plain_table};

pub(crate) async fn oncall(g: &Global, args: OncallArgs) -> anyhow::Result<()> {
    let at = g.time_opt("--at", args.at.as_ref())?;
    let pagerd = g.connect().await?;
    let schedules = schedule_list(&pagerd).await?;
    let names = match args.schedule {
        Some(name) => vec![name],
        None => schedules.iter().map(|s| s.name.clone()).collect(),
    };
    let mut rows = Vec::new();
    for name in names {
        let request = pb::OnCallRequest {
            schedule: name.clone(),
            at: at.map(to_timestamp),
        };
        rows.push((
            name,
            pagerd.call(pagerd.schedules().on_call(request)).await?,
        ));
    }
    if g.json {
        let items: Vec<Value> = rows
            .iter()
            .map(|(name, r)| {
                let shift = r.shift.as_ref().map(shift_json);
                json!({ "schedule": name, "shift": shift, "owner": r.owner })
            })
            .collect();
        return emit_json(&json!({ "on_call": items }));
    }
    let mut table = plain_table();
    table.set_header(["SCHEDULE", "ON CALL", "SINCE", "UNTIL", "VIA"]);
    for (name, r) in &rows {
        let zone = zone_of(&schedules, name);
        match &r.shift {
            Some(s) => table.add_row([
                clean(name),
                clean(&s.person),
                schedule_time_of(s.start.as_ref(), zone),
                schedule_time_of(s.end.as_ref(), zone),
                clean(&s.source),
            ]),
            None => table.add_row([
                clean(name),
                format!("nobody (owner {} is paged)", clean(&r.owner)),
                String::new(),
                String::new(),
                "gap".to_string(),
            ]),
        };
    }
    emit(&finish_table(table))
}

/// Every schedule with its zone (`oncall` and `shifts` show a schedule's times in it).
async fn schedule_list(pagerd: &Pagerd) -> anyhow::Result<Vec<pb::ScheduleInfo>> {
    let list = pagerd
        .call(
            pagerd
                .schedules()
                .list_schedules(pb::ListSchedulesRequest {}),
        )
        .await?;
    Ok(list.schedules)
}

/// The zone of the schedule `name`; empty (shown in the display zone) when not listed.
fn zone_of<'a>(schedules: &'a [pb::ScheduleInfo], name: &str) -> &'a str {
    schedules
        .iter()
        .find(|s| s.name == name)
        .map_or("", |s| s.time_zone.as_str())
}

pub(crate) async fn shifts(g: &Global, args: ShiftsArgs) -> anyhow::Result<()> {
    let from = g.time_opt("--from", args.from.as_ref())?.unwrap_or(g.now);
    let to = g
        .time_opt("--to", args.to.as_ref())?
        .unwrap_or(from + chrono::Duration::days(7));
    let pagerd = g.connect().await?;
    let zone = match g.json {
        true => String::new(),
        false => zone_of(&schedule_list(&pagerd).await?, &args.schedule).to_owned(),
    };
    let request = pb::ShiftsRequest {
        schedule: args.schedule,
        from: Some(to_timestamp(from)),
        to: Some(to_timestamp(to)),
    };
    let r = pagerd.call(pagerd.schedules().shifts(request)).await?;
    if g.json {
        let shifts: Vec<Value> = r.shifts.iter().map(shift_json).collect();
        return emit_json(&json!({ "shifts": shifts }));
    }
    let mut table = plain_table();
    table.set_header(["PERSON", "START", "END", "VIA", "REASON"]);
    for s in &r.shifts {
        // Projected turns and flagged overrides say so in front of their reason.
        let mut reason = clean(&s.reason);
        if s.flagged {
            reason = format!("FLAGGED {reason}");
        }
        if s.projected {
            reason = format!("(projected) {reason}");
        }
        table.add_row([
            clean(&s.person),
            schedule_time_of(s.start.as_ref(), &zone),
            schedule_time_of(s.end.as_ref(), &zone),
            clean(&s.source),
            reason,
        ]);
    }
    emit(&finish_table(table))
}

pub(crate) async fn override_add(g: &Global, args: OverrideAddArgs) -> anyhow::Result<()> {
    let start = g.time("--from", &args.from)?;
    let end = args
        .to
        .resolve(start, &g.zone, g.now)
        .map_err(|e| Usage(format!("--to {e}")))?;
    if end <= start {
        return Err(Usage(format!(
            "--to ({}) must be after --from ({})",
            local_time(end),
            local_time(start)
        ))
        .into());
    }
    let request = pb::AddOverrideRequest {
        schedule: args.schedule,
        person: args.person,
        start: Some(to_timestamp(start)),
        end: Some(to_timestamp(end)),
        reason: args.reason.unwrap_or_default(),
        by: args.by,
    };
    let pagerd = g.connect().await?;
    let r = pagerd
        .call(pagerd.schedules().add_override(request))
        .await?;
    emit_override(g, r.entry, "added")
}

pub(crate) async fn override_remove(g: &Global, args: OverrideRemoveArgs) -> anyhow::Result<()> {
    let request = pb::RemoveOverrideRequest {
        id: args.id,
        by: args.by,
    };
    let pagerd = g.connect().await?;
    let r = pagerd
        .call(pagerd.schedules().remove_override(request))
        .await?;
    emit_override(g, r.entry, "removed")
}

/// The override pagerd answered `add` or `remove` with, as JSON or one line.
fn emit_override(g: &Global, entry: Option<pb::Override>, verb: &str) -> anyhow::Result<()> {
    let entry = entry.context("pagerd replied without the override")?;
    if g.json {
        return emit_json(&override_json(&entry));
    }
    emit(&override_line(&entry, verb))
}

pub(crate) async fn override_list(g: &Global, args: OverrideListArgs) -> anyhow::Result<()> {
    let request = pb::ListOverridesRequest {
        schedule: args.schedule.unwrap_or_default(),
        since: g
            .time_opt("--since", args.since.as_ref())?
            .map(to_timestamp),
        include_removed: args.all,
    };
    let pagerd = g.connect().await?;
    let r = pagerd
        .call(pagerd.schedules().list_overrides(request))
        .await?;
    if g.json {
        let overrides: Vec<Value> = r.overrides.iter().map(override_json).collect();
        return emit_json(&json!({ "overrides": overrides }));
    }
    if r.overrides.is_empty() {
        eprintln!("no overrides match");
        return Ok(());
    }
    emit(&override_table(&r.overrides))
}

pub(crate) async fn feed_url(g: &Global, args: FeedUrlArgs) -> anyhow::Result<()> {
    let pagerd = g.connect().await?;
    let (schedule, person) = match args.kind {
        FeedKind::Schedule => (args.name.clone(), String::new()),
        FeedKind::Person => (String::new(), args.name.clone()),
    };
    let r = pagerd
        .call(pagerd.schedules().feed_url(pb::FeedUrlRequest {
            schedule,
            person,
            rotate: args.rotate,
        }))
        .await?;
    if g.json {
        return emit_json(&json!({ "name": args.name, "url": r.url, "rotated": args.rotate }));
    }
    emit(&clean(&r.url))
}
