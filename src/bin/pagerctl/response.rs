//! `pagerctl report response`: response times and SLA compliance per group, as a table (with
//! the breaches below), CSV (the groups and the total) or JSON (everything).

use serde_json::{Value, json};

use pagerd::api::convert::severity_name;
use pagerd::proto as pb;

use crate::Global;
use crate::cli::{ReportArgs, ReportBy, ReportFormat};
use crate::client::Usage;
use crate::render::json::timestamp_json;
use crate::render::time::{format_duration, local_time_of, to_timestamp};
use crate::render::{clean, emit, emit_json, finish_table, plain_table};

pub(crate) async fn report(g: &Global, args: ReportArgs) -> anyhow::Result<()> {
    if args.schedule.is_some() {
        return Err(
            Usage("--schedule belongs to the load report, not `report response`".into()).into(),
        );
    }
    let from = g.time("--from", &args.from)?;
    let to = g.time_opt("--to", args.to.as_ref())?.unwrap_or(g.now);
    let by = match args.by.unwrap_or(ReportBy::Service) {
        ReportBy::Service => "service",
        ReportBy::Severity => "severity",
        ReportBy::Person => "person",
        ReportBy::Policy => "policy",
    };
    let pagerd = g.connect().await?;
    let request = pb::ResponsivenessRequest {
        from: Some(to_timestamp(from)),
        to: Some(to_timestamp(to)),
        service: args.service.unwrap_or_default(),
        by: by.to_string(),
    };
    let r = pagerd
        .call(pagerd.reports().responsiveness(request))
        .await?;
    let rows: Vec<&pb::ResponseGroup> = r.groups.iter().chain(r.total.as_ref()).collect();
    if g.json || args.format == ReportFormat::Json {
        return emit_json(&json!({
            "from": timestamp_json(Some(&to_timestamp(from))),
            "to": timestamp_json(Some(&to_timestamp(to))),
            "by": r.by,
            "groups": r.groups.iter().map(group_json).collect::<Vec<_>>(),
            "total": r.total.as_ref().map(group_json),
            "breaches": r.breaches.iter().map(breach_json).collect::<Vec<_>>(),
        }));
    }
    if args.format == ReportFormat::Csv {
        return emit(&csv(by, &rows));
    }
    emit(&table(by, &rows, &r.breaches))
}

fn group_json(g: &pb::ResponseGroup) -> Value {
    json!({
        "key": g.key,
        "incidents": g.incidents,
        "acknowledged": g.acknowledged,
        "resolved": g.resolved,
        "mtta_median_seconds": g.mtta_median_seconds,
        "mtta_p90_seconds": g.mtta_p90_seconds,
        "mttr_median_seconds": g.mttr_median_seconds,
        "mttr_p90_seconds": g.mttr_p90_seconds,
        "escalated": g.escalated,
        "escalation_rate": g.escalation_rate,
        "retriggered": g.retriggered,
        "retrigger_rate": g.retrigger_rate,
        "off_hours": g.off_hours,
        "off_hours_share": g.off_hours_share,
        "sla_met": g.sla_met,
        "sla_breached": g.sla_breached,
        "sla_compliance": g.sla_compliance,
    })
}

fn breach_json(b: &pb::ResponseBreach) -> Value {
    json!({
        "incident": b.incident_id,
        "service": b.service,
        "severity": severity_name(b.severity),
        "opened": timestamp_json(b.created_at.as_ref()),
        "first_paged": Some(&b.first_paged).filter(|p| !p.is_empty()),
        "target_seconds": b.target_seconds,
        "late_seconds": b.late_seconds,
        "answered": b.answered,
    })
}

/// `17` → `17`; rates as shares with three decimals; a missing value is empty.
fn csv(by: &str, rows: &[&pb::ResponseGroup]) -> String {
    let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
    let rate = |v: f64| format!("{v:.3}");
    let mut out = format!(
        "{by},incidents,acknowledged,resolved,mtta_median_seconds,mtta_p90_seconds,\
         mttr_median_seconds,mttr_p90_seconds,escalated,escalation_rate,retriggered,\
         retrigger_rate,off_hours,off_hours_share,sla_met,sla_breached,sla_compliance"
    );
    for g in rows {
        // Keys are policy-file names (plain words), "-" or "all": no quoting needed.
        let fields = [
            g.key.clone(),
            g.incidents.to_string(),
            g.acknowledged.to_string(),
            g.resolved.to_string(),
            opt(g.mtta_median_seconds),
            opt(g.mtta_p90_seconds),
            opt(g.mttr_median_seconds),
            opt(g.mttr_p90_seconds),
            g.escalated.to_string(),
            rate(g.escalation_rate),
            g.retriggered.to_string(),
            rate(g.retrigger_rate),
            g.off_hours.to_string(),
            rate(g.off_hours_share),
            g.sla_met.to_string(),
            g.sla_breached.to_string(),
            g.sla_compliance.map(rate).unwrap_or_default(),
        ];
        out.push('\n');
        out.push_str(&fields.join(","));
    }
    out
}

fn duration(seconds: Option<u64>) -> String {
    seconds.map_or_else(
        || "-".to_string(),
        |s| format_duration(std::time::Duration::from_secs(s)),
    )
}

/// `n (p%)` of a count and its share.
fn counted(n: u32, share: f64) -> String {
    format!("{n} ({:.0}%)", share * 100.0)
}

fn table(by: &str, rows: &[&pb::ResponseGroup], breaches: &[pb::ResponseBreach]) -> String {
    let mut t = plain_table();
    t.set_header([
        by.to_ascii_uppercase().as_str(),
        "INCIDENTS",
        "MTTA MEDIAN",
        "MTTA P90",
        "MTTR MEDIAN",
        "MTTR P90",
        "ESCALATED",
        "RE-TRIGGERED",
        "OFF-HOURS",
        "SLA",
    ]);
    for g in rows {
        let sla = match g.sla_compliance {
            Some(c) => format!(
                "{:.0}% ({} of {})",
                c * 100.0,
                g.sla_met,
                g.sla_met + g.sla_breached
            ),
            None => "-".to_string(),
        };
        t.add_row([
            clean(&g.key),
            g.incidents.to_string(),
            duration(g.mtta_median_seconds),
            duration(g.mtta_p90_seconds),
            duration(g.mttr_median_seconds),
            duration(g.mttr_p90_seconds),
            counted(g.escalated, g.escalation_rate),
            counted(g.retriggered, g.retrigger_rate),
            counted(g.off_hours, g.off_hours_share),
            sla,
        ]);
    }
    let mut out = finish_table(t);
    if breaches.is_empty() {
        out.push_str("\n\nSLA breaches: none");
        return out;
    }
    let mut t = plain_table();
    t.set_header([
        "INCIDENT",
        "SERVICE",
        "SEVERITY",
        "OPENED",
        "FIRST PAGED",
        "TARGET",
        "LATE BY",
        "ANSWERED",
    ]);
    for b in breaches {
        t.add_row([
            b.incident_id.to_string(),
            clean(&b.service),
            severity_name(b.severity).to_string(),
            local_time_of(b.created_at.as_ref()),
            if b.first_paged.is_empty() {
                "-".to_string()
            } else {
                clean(&b.first_paged)
            },
            duration(Some(b.target_seconds)),
            duration(Some(b.late_seconds)),
            if b.answered { "yes" } else { "not yet" }.to_string(),
        ]);
    }
    out.push_str("\n\nSLA breaches:\n");
    out.push_str(&finish_table(t));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(key: &str, answered: bool) -> pb::ResponseGroup {
        pb::ResponseGroup {
            key: key.into(),
            incidents: 4,
            acknowledged: 3,
            resolved: 2,
            mtta_median_seconds: answered.then_some(90),
            mtta_p90_seconds: answered.then_some(3_900),
            escalated: 1,
            escalation_rate: 0.25,
            sla_met: 2,
            sla_breached: u32::from(answered),
            sla_compliance: answered.then_some(2.0 / 3.0),
            ..Default::default()
        }
    }

    #[test]
    fn csv_gives_seconds_and_three_decimal_shares_with_empty_cells_for_none() {
        let (a, b) = (group("api", true), group("all", false));
        let text = csv("severity", &[&a, &b]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("severity,incidents,"), "{text}");
        assert_eq!(
            &lines[1..],
            [
                "api,4,3,2,90,3900,,,1,0.250,0,0.000,0,0.000,2,1,0.667",
                "all,4,3,2,,,,,1,0.250,0,0.000,0,0.000,2,0,"
            ]
        );
    }

    #[test]
    fn the_table_shows_durations_shares_and_the_breaches() {
        let g = group("api", true);
        let breach = pb::ResponseBreach {
            incident_id: 7,
            service: "api".into(),
            severity: pb::Severity::High as i32,
            created_at: None,
            first_paged: String::new(),
            target_seconds: 3_600,
            late_seconds: 125,
            answered: false,
        };
        let text = table("service", &[&g], &[breach]);
        let api = text.lines().nth(1).expect("a row");
        for cell in ["1m 30s", "1h 5m", "1 (25%)", "67% (2 of 3)"] {
            assert!(api.contains(cell), "{cell}: {text}");
        }
        let row = text.lines().last().expect("the breach");
        for cell in ["7", "high", "-", "1h", "2m 5s", "not yet"] {
            assert!(row.contains(cell), "{cell}: {text}");
        }
        let quiet = table("service", &[&g], &[]);
        assert!(quiet.ends_with("SLA breaches: none"), "{quiet}");
    }
}
