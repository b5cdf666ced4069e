//! `pagerctl report`: on-call load per person as a table, CSV or JSON.

use serde_json::{Value, json};

use pagerd::proto as pb;

use crate::Global;
use crate::cli::{ReportArgs, ReportFormat};
use crate::client::Usage;
use crate::render::json::timestamp_json;
use crate::render::time::to_timestamp;
use crate::render::{clean, emit, emit_json, finish_table, plain_table};

pub(crate) async fn report(g: &Global, args: ReportArgs) -> anyhow::Result<()> {
    if args.service.is_some() || args.by.is_some() {
        return Err(Usage("--service and --by belong to `report response`".into()).into());
    }
    let from = g.time("--from", &args.from)?;
    let to = g.time_opt("--to", args.to.as_ref())?.unwrap_or(g.now);
    let pagerd = g.connect().await?;
    let request = pb::OnCallLoadRequest {
        from: Some(to_timestamp(from)),
        to: Some(to_timestamp(to)),
        schedule: args.schedule.unwrap_or_default(),
    };
    let r = pagerd.call(pagerd.reports().on_call_load(request)).await?;
    const HEADER: [&str; 12] = [
        "PERSON",
        "QUARTER WEEKS",
        "WEEKS",
        "SHIFTS",
        "INCIDENTS",
        "PAGES",
        "OFF-HOURS PAGES",
        "HOURS CALLED IN",
        "TOIL HOURS",
        "LIMIT SKIPS",
        "FLAGGED OVERRIDES",
        "REBALANCE",
    ];
    let weeks = |w: f64| format!("{w:.1}");
    let row = |p: &pb::PersonLoad| {
        [
            p.person.clone(),
            weeks(p.quarter_weeks),
            weeks(p.weeks),
            p.shifts.to_string(),
            p.incidents.to_string(),
            p.pages.to_string(),
            p.off_hours_pages.to_string(),
            p.hours_called_in.to_string(),
            p.toil_hours.to_string(),
            p.limit_skips.to_string(),
            p.flagged_overrides.to_string(),
            if p.rebalance.is_empty() {
                "-".to_string()
            } else {
                p.rebalance.clone()
            },
        ]
    };
    if g.json || args.format == ReportFormat::Json {
        let people: Vec<Value> = r
            .people
            .iter()
            .map(|p| {
                json!({
                    "person": p.person,
                    "quarter_weeks": p.quarter_weeks,
                    "weeks": p.weeks,
                    "shifts": p.shifts,
                    "incidents": p.incidents,
                    "pages": p.pages,
                    "off_hours_pages": p.off_hours_pages,
                    "hours_called_in": p.hours_called_in,
                    "toil_hours": p.toil_hours,
                    "limit_skips": p.limit_skips,
                    "flagged_overrides": p.flagged_overrides,
                    "rebalance": !p.rebalance.is_empty(),
                    "rebalance_reason": p.rebalance,
                })
            })
            .collect();
        return emit_json(&json!({
            "from": timestamp_json(Some(&to_timestamp(from))),
            "to": timestamp_json(Some(&to_timestamp(to))),
            "people": people,
        }));
    }
    if args.format == ReportFormat::Csv {
        let header = HEADER
            .iter()
            .map(|h| h.to_ascii_lowercase().replace([' ', '-'], "_"))
            .collect::<Vec<_>>()
            .join(",");
        let mut out = header;
        for p in &r.people {
            out.push('\n');
            // Names are plain words (the policy files' rule): no quoting needed.
            out.push_str(&row(p).join(","));
        }
        return emit(&out);
    }
    let mut table = plain_table();
    table.set_header(HEADER);
    for p in &r.people {
        table.add_row(row(p).map(|c| clean(&c)));
    }
    emit(&finish_table(table))
}
