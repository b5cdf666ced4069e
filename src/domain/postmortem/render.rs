//! A draft as Markdown. Every text that came from outside (alert fields, notes, names) goes
//! through [`md`]: put on one line and with Markdown's and HTML's active characters
//! backslash-escaped, so it can neither start a heading or a table row nor become a link,
//! an image or raw HTML where the draft is rendered (a wiki, a Git host).

use std::fmt::Write;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{Draft, Responder};

/// `s` on one line, with the characters that make Markdown or HTML escaped (CommonMark
/// allows a backslash before any ASCII punctuation).
pub fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
            out.push(' ');
            continue;
        }
        if matches!(
            c,
            '\\' | '`'
                | '*'
                | '_'
                | '['
                | ']'
                | '<'
                | '>'
                | '#'
                | '|'
                | '!'
                | '~'
                | '&'
                | '{'
                | '}'
                | '$'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// "1h 5m", "45s", "2d 3h": whole seconds, at most the two largest units.
pub fn human(seconds: i64) -> String {
    if seconds < 0 {
        return format!("-{}", human(-seconds));
    }
    let units = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)];
    let mut parts = Vec::new();
    let mut rest = seconds;
    for (name, size) in units {
        if rest >= size {
            parts.push(format!("{}{name}", rest / size));
            rest %= size;
        }
    }
    if parts.is_empty() {
        return "0s".into();
    }
    parts.truncate(2);
    parts.join(" ")
}

fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The draft as Markdown.
pub fn markdown(d: &Draft) -> String {
    let mut o = String::new();
    let local = |t: DateTime<Utc>| {
        t.with_timezone(&d.tz)
            .format("%Y-%m-%d %H:%M:%S %Z")
            .to_string()
    };
    let both = |t: DateTime<Utc>| {
        if d.tz == Tz::UTC {
            utc(t)
        } else {
            format!("{} ({})", utc(t), local(t))
        }
    };
    let _ = writeln!(
        o,
        "# Post-mortem: incident {} — {}\n",
        d.incident_id,
        md(&d.summary)
    );
    if d.tz == Tz::UTC {
        let _ = writeln!(
            o,
            "*A draft from pagerd. Times are UTC ({}).*\n",
            md(&d.zone_source)
        );
    } else {
        let _ = writeln!(
            o,
            "*A draft from pagerd. Times are UTC and {} ({}).*\n",
            md(&d.zone),
            md(&d.zone_source)
        );
    }

    o.push_str("## Summary\n\n");
    let mut field = |name: &str, value: String| {
        let _ = writeln!(o, "- **{name}:** {value}");
    };
    field("Summary", md(&d.summary));
    field("Severity", d.severity.to_string());
    field("Service", md(&d.service));
    field("Escalation policy", md(&d.escalation_policy));
    field("State", d.state.to_string());
    field("Started", both(d.created_at));
    if let Some(t) = d.acknowledged_at {
        let by = d.acknowledged_by.as_deref().map(md).unwrap_or_default();
        let after = d.time_to_acknowledge_seconds.map(human).unwrap_or_default();
        field(
            "Acknowledged",
            format!("{} by {by}, {after} after it started", both(t)),
        );
    }
    if let Some(t) = d.resolved_at {
        let by = d.resolved_by.as_deref().map(md).unwrap_or_default();
        let after = d.time_to_resolve_seconds.map(human).unwrap_or_default();
        field(
            "Resolved",
            format!("{} by {by}, {after} after it started", both(t)),
        );
    }
    if let Some(note) = &d.resolve_note {
        field("Resolution note", md(note));
    }
    field("Alerts", d.alert_count.to_string());
    let status = match (&d.postmortem_url, d.postmortem_pending) {
        (Some(url), _) => format!("recorded at {}", md(url)),
        (None, true) => "pending".into(),
        (None, false) => "not required".into(),
    };
    field("Post-mortem", status);

    o.push_str("\n## Impact\n\n");
    if d.impact.is_empty() {
        o.push_str("*The alert carried no details; describe the impact here.*\n");
    }
    for (k, v) in &d.impact {
        let _ = writeln!(o, "- **{}:** {}", md(k), md(v));
    }
    for l in &d.links {
        let text = if l.text.is_empty() { &l.href } else { &l.text };
        // The href was checked at intake (http, https or mailto); only its text is shown as
        // a label, never made into markup.
        let _ = writeln!(o, "- Link: {} — {}", md(text), md(&l.href));
    }

    o.push_str("\n## Timeline\n\n");
    if d.tz == Tz::UTC {
        o.push_str("| Time (UTC) | Event | Level | Who | What |\n|---|---|---|---|---|\n");
    } else {
        let _ = writeln!(
            o,
            "| Time (UTC) | Time ({}) | Event | Level | Who | What |\n|---|---|---|---|---|---|",
            md(&d.zone)
        );
    }
    let half = d.timeline.len() / 2;
    for (i, e) in d.timeline.iter().enumerate() {
        if d.omitted_events > 0 && i == half {
            let columns = if d.tz == Tz::UTC { 5 } else { 6 };
            let _ = writeln!(
                o,
                "| {} | {} more events: see `pagerctl show {}` |",
                vec!["…"; columns - 1].join(" | "),
                d.omitted_events,
                d.incident_id
            );
        }
        let who = match (&e.person, &e.channel, &e.actor) {
            (Some(p), Some(c), _) => format!("{} via {}", md(p), md(c)),
            (Some(p), None, _) => md(p),
            (None, _, Some(a)) => md(a),
            _ => String::new(),
        };
        let level = e.level.map(|l| l.to_string()).unwrap_or_default();
        let time = e.at.format("%Y-%m-%d %H:%M:%S").to_string();
        let kind = e.kind.replace('_', " ");
        if d.tz == Tz::UTC {
            let _ = writeln!(
                o,
                "| {time} | {kind} | {level} | {who} | {} |",
                md(&e.message)
            );
        } else {
            let _ = writeln!(
                o,
                "| {time} | {} | {kind} | {level} | {who} | {} |",
                local(e.at),
                md(&e.message)
            );
        }
    }

    o.push_str("\n## Response\n\n");
    let dur = |s: Option<i64>| s.map(human).unwrap_or_else(|| "-".into());
    let _ = writeln!(
        o,
        "- **Time to acknowledge:** {}",
        dur(d.time_to_acknowledge_seconds)
    );
    let _ = writeln!(
        o,
        "- **Time to resolve:** {}",
        dur(d.time_to_resolve_seconds)
    );
    let _ = writeln!(o, "- **Response target:** {}", target_line(d));
    let _ = writeln!(o, "- **SLA:** {}", sla_line(d));
    let _ = writeln!(
        o,
        "- **Escalations:** {} (highest level paged: {})",
        d.escalations, d.highest_level
    );
    if d.responders.is_empty() {
        o.push_str("\n*Nobody was paged and nobody acted.*\n");
    } else {
        o.push_str(
            "\n| Person | First paged (UTC) | Level | Pages delivered | Pages failed | First response | Resolved | Notes |\n\
             |---|---|---|---|---|---|---|---|\n",
        );
        for r in &d.responders {
            o.push_str(&responder_row(r));
        }
    }

    for section in ["Root cause", "What went well", "What went wrong"] {
        let _ = writeln!(o, "\n## {section}\n\n*To be written.*");
    }
    o.push_str("\n## Action items\n\n- [ ] *To be written (owner, due date).*\n");
    o
}

fn responder_row(r: &Responder) -> String {
    let paged = r
        .first_paged_at
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into());
    let level = r
        .first_paged_level
        .map(|l| l.to_string())
        .unwrap_or_else(|| "-".into());
    let acked = match (
        r.first_response,
        r.first_response_at,
        r.seconds_to_first_response,
    ) {
        (Some(what), _, Some(s)) => format!("{what}, {} after the first page", human(s)),
        (Some(what), Some(t), None) => format!("{what} at {}", t.format("%H:%M:%S UTC")),
        _ => "-".into(),
    };
    let resolved = if r.resolved_at.is_some() { "yes" } else { "-" };
    format!(
        "| {} | {paged} | {level} | {} | {} | {acked} | {resolved} | {} |\n",
        md(&r.person),
        r.delivered,
        r.failed,
        r.notes
    )
}

/// "10m for critical, set on service web" / "… no target configured: the default".
fn target_line(d: &Draft) -> String {
    let target = human(d.sla.target_seconds);
    let from = match d.sla.target_source {
        "service" => format!("set on service {}", md(&d.service)),
        "escalation policy" => format!("set on escalation policy {}", md(&d.escalation_policy)),
        _ => "no target configured: the default".into(),
    };
    format!("{target} for {}, {from}", d.severity)
}

/// "met (acknowledged after 12m)", "breached by 2m (…)", "pending (…)".
fn sla_line(d: &Draft) -> String {
    let s = &d.sla;
    let how = match (s.answered_by, s.answered_after_seconds) {
        (Some("acknowledged"), Some(t)) => format!("acknowledged after {}", human(t)),
        (Some(_), Some(t)) => format!("never acknowledged; resolved after {}", human(t)),
        _ => format!("not answered as of {}", utc(s.as_of)),
    };
    match (s.outcome, s.breached_by_seconds) {
        ("breached", Some(late)) => format!("**breached by {}** ({how})", human(late)),
        (outcome, _) => format!("{outcome} ({how})"),
    }
}
