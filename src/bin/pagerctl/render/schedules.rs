//! Overrides as text: the line `override add`/`remove` print and the `override list` table.

use pagerd::proto as pb;

use super::time::{local_time, to_datetime};
use super::{clean, finish_table, non_empty, plain_table, truncate};

/// Longest reason shown in `override list`, in characters.
const OVERRIDE_REASON_CHARS: usize = 40;

/// `override 3 added: dana on call for evenings from … to … (by victor: swap)`.
pub(crate) fn override_line(o: &pb::Override, verb: &str) -> String {
    let at = |t: Option<&prost_types::Timestamp>| {
        to_datetime(t).map(local_time).unwrap_or_else(|| "?".into())
    };
    let who = if o.removed_at.is_some() || !o.removed_by.is_empty() {
        format!("removed by {}", clean(&o.removed_by))
    } else if o.reason.is_empty() {
        format!("by {}", clean(&o.created_by))
    } else {
        format!("by {}: {}", clean(&o.created_by), clean(&o.reason))
    };
    format!(
        "override {} {verb}: {} on call for {} from {} to {} ({who})",
        o.id,
        clean(&o.person),
        clean(&o.schedule),
        at(o.start.as_ref()),
        at(o.end.as_ref()),
    )
}

pub(crate) fn override_table(overrides: &[pb::Override]) -> String {
    let mut table = plain_table();
    table.set_header([
        "ID", "SCHEDULE", "PERSON", "FROM", "TO", "REASON", "BY", "CREATED", "REMOVED",
    ]);
    let at = |t: Option<&prost_types::Timestamp>| to_datetime(t).map(local_time);
    for o in overrides {
        let removed = match (o.removed_by.is_empty(), at(o.removed_at.as_ref())) {
            (true, None) => "-".to_owned(),
            (_, None) => clean(&o.removed_by),
            (_, Some(t)) => format!("{} at {t}", non_empty(clean(&o.removed_by))),
        };
        table.add_row([
            o.id.to_string(),
            clean(&o.schedule),
            clean(&o.person),
            at(o.start.as_ref()).unwrap_or_default(),
            at(o.end.as_ref()).unwrap_or_default(),
            non_empty(truncate(&clean(&o.reason), OVERRIDE_REASON_CHARS)),
            clean(&o.created_by),
            at(o.created_at.as_ref()).unwrap_or_default(),
            removed,
        ]);
    }
    finish_table(table)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::parse::parse_instant;
    use crate::render::json::override_json;
    use crate::render::time::at;

    fn an_override() -> pb::Override {
        pb::Override {
            id: 3,
            schedule: "evenings".into(),
            person: "dana".into(),
            start: at("2026-03-03T18:00Z"),
            end: at("2026-03-03T22:00Z"),
            reason: "sam\nis out".into(),
            created_by: "victor".into(),
            created_at: at("2026-03-03T09:15Z"),
            ..Default::default()
        }
    }

    #[test]
    fn overrides_read_as_one_line_and_a_table_row() {
        // Local time is whatever the machine has; compare against the same rendering.
        let lt = |s: &str| local_time(parse_instant(s).unwrap());
        let o = an_override();
        assert_eq!(
            override_line(&o, "added"),
            format!(
                "override 3 added: dana on call for evenings from {} to {} (by victor: sam is out)",
                lt("2026-03-03T18:00Z"),
                lt("2026-03-03T22:00Z")
            )
        );
        let removed = pb::Override {
            removed_by: "bob".into(),
            removed_at: at("2026-03-03T10:00Z"),
            ..o.clone()
        };
        assert!(
            override_line(&removed, "removed").ends_with("(removed by bob)"),
            "{}",
            override_line(&removed, "removed")
        );

        let text = override_table(&[
            removed,
            pb::Override {
                id: 4,
                reason: String::new(),
                ..o
            },
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            [
                "ID", "SCHEDULE", "PERSON", "FROM", "TO", "REASON", "BY", "CREATED", "REMOVED"
            ]
        );
        assert!(lines[1].starts_with("3 "), "{text}");
        assert!(lines[1].contains("sam is out"), "{text}");
        assert!(
            lines[1].ends_with(&format!("bob at {}", lt("2026-03-03T10:00Z"))),
            "{text}"
        );
        assert!(lines[2].ends_with(" -"), "not removed: {text}");

        let json = override_json(&an_override());
        assert_eq!(json["start"], "2026-03-03T18:00:00Z");
        assert_eq!(json["created_by"], "victor");
        assert_eq!(json["removed_at"], Value::Null);
    }
}
