//! The what-if report as people read it (an aligned table, simulated beside actual) and as
//! JSON for tools. Pure: values in, text out.

use serde_json::{Value, json};

use super::{Figures, WhatIf};

const HEADER: [&str; 13] = [
    "PERSON",
    "WEEKS",
    "WAS",
    "EVENING WEEKS",
    "WAS",
    "INCIDENTS",
    "WAS",
    "OFF-HOURS PAGES",
    "WAS",
    "CALL-IN HOURS",
    "WAS",
    "LIMIT SKIPS",
    "WAS",
];

fn weeks(w: f64) -> String {
    format!("{w:.1}")
}

/// The table (one row per person: each figure simulated, then `WAS` what happened) and the
/// simulated limit decisions, one per line.
pub fn to_text(r: &WhatIf) -> String {
    let day = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M UTC");
    let mut out = format!(
        "what-if {} → {} on {}: simulated, then WAS = what actually happened\n",
        day(r.from),
        day(r.to),
        if r.schedules.is_empty() {
            "no schedule with burnout limits".to_string()
        } else {
            format!("schedule(s) {}", r.schedules.join(", "))
        }
    );
    let mut rows: Vec<Vec<String>> = vec![HEADER.iter().map(|h| h.to_string()).collect()];
    for p in &r.people {
        let (s, a) = (&p.simulated, &p.actual);
        rows.push(vec![
            p.person.clone(),
            weeks(s.weeks),
            weeks(a.weeks),
            weeks(s.evening_weeks),
            weeks(a.evening_weeks),
            s.incidents.to_string(),
            a.incidents.to_string(),
            s.off_hours_pages.to_string(),
            a.off_hours_pages.to_string(),
            s.call_in_hours.to_string(),
            a.call_in_hours.to_string(),
            s.limit_skips.to_string(),
            a.limit_skips.to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..HEADER.len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for row in &rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let w = widths[c];
            if c == 0 {
                line.push_str(&format!("{cell:<w$}"));
            } else {
                line.push_str(&format!("  {cell:>w$}"));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if r.decisions.is_empty() {
        out.push_str("\nno limit decisions in the range\n");
    } else {
        out.push_str(&format!("\n{} limit decision(s):\n", r.decisions.len()));
    }
    for d in &r.decisions {
        let local = |t: chrono::DateTime<chrono::Utc>| {
            t.with_timezone(&d.zone)
                .format("%a %Y-%m-%d %H:%M %Z")
                .to_string()
        };
        let what = if d.layer.is_empty() {
            "override".to_string()
        } else {
            format!("layer {}", d.layer)
        };
        let mut marks = String::new();
        if d.flagged {
            marks.push_str(" [flagged]");
        }
        if d.nobody_eligible {
            marks.push_str(" [nobody eligible]");
        }
        out.push_str(&format!(
            "  {} {what} {} – {}: {} (rotation: {}; actually: {}){marks}\n    {}\n",
            d.schedule,
            local(d.start),
            local(d.end),
            d.person,
            d.candidate,
            d.actual.as_deref().unwrap_or("not recorded"),
            d.reason,
        ));
    }
    out
}

fn figures_json(f: &Figures) -> Value {
    json!({
        "weeks": f.weeks,
        "evening_weeks": f.evening_weeks,
        "incidents": f.incidents,
        "off_hours_pages": f.off_hours_pages,
        "call_in_hours": f.call_in_hours,
        "limit_skips": f.limit_skips,
    })
}

/// `{"from", "to", "schedules", "people": [{person, simulated, actual}], "decisions"}`.
pub fn to_json(r: &WhatIf) -> Value {
    let rfc =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    json!({
        "from": rfc(r.from),
        "to": rfc(r.to),
        "schedules": r.schedules,
        "people": r.people.iter().map(|p| json!({
            "person": p.person,
            "simulated": figures_json(&p.simulated),
            "actual": figures_json(&p.actual),
        })).collect::<Vec<_>>(),
        "decisions": r.decisions.iter().map(|d| json!({
            "schedule": d.schedule,
            "layer": d.layer,
            "start": rfc(d.start),
            "end": rfc(d.end),
            "candidate": d.candidate,
            "person": d.person,
            "actual": d.actual,
            "reason": d.reason,
            "flagged": d.flagged,
            "nobody_eligible": d.nobody_eligible,
        })).collect::<Vec<_>>(),
    })
}
