//! Output: writing to stdout, borderless tables, and the small text helpers every renderer
//! uses. One file per command group renders its replies; `json` and `time` are shared.

pub(crate) mod daemon;
pub(crate) mod incidents;
pub(crate) mod json;
pub(crate) mod schedules;
pub(crate) mod time;

use std::io::{self, Write};

use comfy_table::{Table, presets};
use serde_json::Value;

use pagerd::proto as pb;

/// Writes `text` and a newline to stdout, returning (not panicking on) a closed pipe.
pub(crate) fn emit(text: &str) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.trim_end_matches('\n').as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

pub(crate) fn emit_json(value: &Value) -> anyhow::Result<()> {
    emit(&value.to_string())
}

/// `  label:  value` lines, values in one column; an empty label continues the field above.
/// `gap` goes between the label column and the values.
pub(crate) fn labelled(fields: Vec<(&str, String)>, gap: &str) -> String {
    let width = fields
        .iter()
        .map(|(label, _)| label.len() + 1)
        .max()
        .unwrap_or(0);
    let mut text = String::new();
    for (label, value) in fields {
        let label = if label.is_empty() {
            String::new()
        } else {
            format!("{label}:")
        };
        text.push_str(&format!("  {label:<width$}{gap}{value}\n"));
    }
    text
}

/// Borderless columns separated by two spaces, like `ps` or `kubectl get`.
pub(crate) fn plain_table() -> Table {
    let mut table = Table::new();
    table.load_preset(presets::NOTHING);
    table
}

pub(crate) fn finish_table(mut table: Table) -> String {
    let last = table.column_count().saturating_sub(1);
    for (n, column) in table.column_iter_mut().enumerate() {
        column.set_padding((0, if n == last { 0 } else { 2 }));
    }
    table.trim_fmt()
}

pub(crate) fn plural(n: usize, noun: &str) -> String {
    match (n, noun.strip_suffix('y')) {
        (1, _) => format!("1 {noun}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        (_, None) => format!("{n} {noun}s"),
    }
}

/// An incident's level is zero-based on the wire; people count from 1.
pub(crate) fn level_label(i: &pb::Incident) -> String {
    if i.r#loop == 0 {
        (i.level + 1).to_string()
    } else {
        format!("{} (pass {})", i.level + 1, i.r#loop + 1)
    }
}

/// An event's level is already 1-based on the wire, with 0 meaning "no level".
pub(crate) fn event_level(e: &pb::IncidentEvent) -> Option<u32> {
    (e.level > 0).then_some(e.level)
}

/// At most `max` characters, cut on a character boundary and marked with `…`.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some(_) => {
            let keep: String = s.chars().take(max.saturating_sub(1)).collect();
            format!("{}…", keep.trim_end())
        }
    }
}

/// Text from alert senders goes to a terminal: control characters (newlines, escape
/// sequences) would break the layout or restyle the screen, so they become spaces or `�`.
pub(crate) fn clean(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            c if c.is_control() => '\u{FFFD}',
            c => c,
        })
        .collect()
}

pub(crate) fn non_empty(s: String) -> String {
    if s.is_empty() { "-".to_owned() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nouns_are_counted_in_words() {
        assert_eq!(plural(1, "error"), "1 error");
        assert_eq!(plural(2, "error"), "2 errors");
        assert_eq!(plural(0, "escalation policy"), "0 escalation policies");
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("exactly10!", 10), "exactly10!");
        assert_eq!(truncate("ééééééééééé", 5), "éééé…");
        assert_eq!(truncate("🔥🔥🔥", 2), "🔥…");
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        assert_eq!(clean("a\nb\tc\x1b[31m"), "a b c\u{FFFD}[31m");
    }
}
