//! The post-mortem notice's body: the short text, then the draft behind one separator line
//! naming the file it becomes. Channels that show text (webhook, log) show it whole; email
//! splits it with [`split_attachment`] and attaches the draft as that file.
//!
//! The separator is written only here, right after pagerd's own text, and the split takes
//! its first occurrence: whatever the draft holds (alert fields, notes) comes after it and
//! cannot move it.

/// The separator's start; the line is `--- attached: NAME ---`.
const OPEN: &str = "\n--- attached: ";
const CLOSE: &str = " ---\n";

/// A file a notice carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attachment<'a> {
    pub filename: &'a str,
    pub content: &'a str,
}

/// The file name of an incident's draft.
pub fn draft_filename(incident_id: i64) -> String {
    format!("postmortem-incident-{incident_id}.md")
}

/// `text`, then `content` as the file `filename`.
pub fn with_attachment(text: &str, filename: &str, content: &str) -> String {
    format!(
        "{}{OPEN}{filename}{CLOSE}{content}",
        text.trim_end_matches('\n')
    )
}

/// The text before the separator and the file after it; the whole body and `None` when it
/// has none (or a name that is not a plain file name).
pub fn split_attachment(body: &str) -> (&str, Option<Attachment<'_>>) {
    let Some(start) = body.find(OPEN) else {
        return (body, None);
    };
    let rest = &body[start + OPEN.len()..];
    let Some(end) = rest.find(CLOSE) else {
        return (body, None);
    };
    let filename = &rest[..end];
    let plain = !filename.is_empty()
        && filename.len() <= 100
        && !filename.starts_with('.')
        && (filename.bytes()).all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !plain {
        return (body, None);
    }
    let attachment = Attachment {
        filename,
        content: &rest[end + CLOSE.len()..],
    };
    (&body[..start + 1], Some(attachment))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_body_splits_into_its_text_and_its_file() {
        let body = with_attachment("Resolved.\n", &draft_filename(4), "# Draft\n");
        assert_eq!(
            body,
            "Resolved.\n--- attached: postmortem-incident-4.md ---\n# Draft\n"
        );
        let file = Attachment {
            filename: "postmortem-incident-4.md",
            content: "# Draft\n",
        };
        let table: [(&str, (&str, Option<Attachment>)); 5] = [
            (&body, ("Resolved.\n", Some(file))),
            ("no file here\n", ("no file here\n", None)),
            (
                "x\n--- attached: a/b ---\nc",
                ("x\n--- attached: a/b ---\nc", None),
            ),
            (
                "x\n--- attached: .hidden ---\nc",
                ("x\n--- attached: .hidden ---\nc", None),
            ),
            (
                "x\n--- attached: unclosed",
                ("x\n--- attached: unclosed", None),
            ),
        ];
        for (input, want) in table {
            assert_eq!(split_attachment(input), want, "{input:?}");
        }
        // A separator inside the draft stays in the draft: the first one splits.
        let nested = with_attachment("t", "a.md", "x\n--- attached: b.md ---\ny");
        let (_, file) = split_attachment(&nested);
        assert_eq!(file.unwrap().content, "x\n--- attached: b.md ---\ny");
    }
}
