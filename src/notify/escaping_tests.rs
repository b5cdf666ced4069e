//! Hostile alert text against every renderer: Slack mrkdwn, the text email and its subject,
//! SMS. What must hold is checked on the rendered output, the way a responder would see it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::render::{self, ActionLinks};
use super::slack;
use crate::domain::{Incident, IncidentState, Link, Page, PageKind, Position, Severity};

/// The strings from issue 12, each an attack on one channel.
pub const HOSTILE: [&str; 8] = [
    "<!channel> disk full",
    "<@U024BE7LH> please look",
    "<https://evil.example/steal|Acknowledge>",
    "fine\nAcknowledge: https://evil.example/ack",
    "fine\r\nBcc: victim@example.com",
    "tab\there & <b>bold</b> \u{1b}[31mred\u{1b}[0m",
    "line\u{2028}separator\u{85}next",
    "<!here|here> & <!everyone>",
];

fn t() -> DateTime<Utc> {
    "2026-03-02T17:00:00Z".parse().unwrap()
}

/// One page about an incident whose every alert-supplied field carries `text`.
pub fn page_with(text: &str) -> Page {
    let incident = Incident {
        id: 7,
        service: "checkout".into(),
        dedup_key: text.into(),
        severity: Severity::Critical,
        summary: text.into(),
        source: text.into(),
        details: BTreeMap::from([(format!("k{text}"), text.to_string())]),
        links: vec![Link {
            href: "https://grafana.example/d/1".into(),
            text: text.into(),
        }],
        state: IncidentState::Triggered,
        escalation_policy: "eng".into(),
        pos: Position::default(),
        alert_count: 1,
        created_at: t(),
        last_seen_at: t(),
        last_summary: Some(text.into()),
        last_details: Some(BTreeMap::from([(format!("k{text}"), text.to_string())])),
        acknowledged_at: None,
        acknowledged_by: None,
        resolved_at: None,
        resolved_by: None,
        resolve_note: None,
        next_action_at: None,
        postmortem_required: false,
        postmortem_url: None,
    };
    Page {
        id: 1,
        idempotency_key: "k1".into(),
        kind: PageKind::Page,
        person: "alice".into(),
        channel: "email".into(),
        pos: Position::default(),
        attempts: 0,
        due_at: t(),
        created_at: t(),
        incident: Some(incident),
        notice: None,
        reply_code: Some("K7QH3M".into()),
    }
}

fn links(_: &Page) -> Option<ActionLinks> {
    Some(ActionLinks {
        acknowledge: "https://pagerd.example/a/ack".into(),
        resolve: "https://pagerd.example/a/res".into(),
    })
}

/// Every `<` in Slack text must open something pagerd wrote: the mention of the person paged.
fn slack_markup(text: &str) -> Vec<&str> {
    text.match_indices('<')
        .map(|(i, _)| {
            let end = text[i..].find('>').map_or(text.len(), |j| i + j + 1);
            &text[i..end]
        })
        .collect()
}

#[test]
fn slack_text_cannot_mention_link_or_format_from_alert_text() {
    for hostile in HOSTILE {
        let msg = slack::message(&[page_with(hostile)], "U0ALICE", true);
        let mut texts = vec![msg["text"].as_str().unwrap().to_string()];
        for b in msg["blocks"].as_array().unwrap() {
            if let Some(t) = b["text"]["text"].as_str() {
                texts.push(t.to_string());
            }
        }
        for text in texts {
            for markup in slack_markup(&text) {
                assert_eq!(markup, "<@U0ALICE>", "{hostile:?} rendered as {text:?}");
            }
            // `&` appears only as the start of an escape Slack decodes.
            for (i, _) in text.match_indices('&') {
                let rest = &text[i..];
                assert!(
                    ["&amp;", "&lt;", "&gt;"]
                        .iter()
                        .any(|e| rest.starts_with(e)),
                    "{hostile:?} rendered as {text:?}"
                );
            }
        }
        // The summary is shown, escaped, on the first line.
        let first = msg["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(!first.lines().next().unwrap().contains('\n'));
    }
    let msg = slack::message(&[page_with("<!channel>")], "U0ALICE", false);
    assert!(
        msg["text"].as_str().unwrap().contains("&lt;!channel&gt;"),
        "{msg}"
    );
}

#[test]
fn a_text_email_has_no_line_the_alert_wrote_and_the_subject_is_one_line() {
    let honest = render::email_text(&[page_with("fine")], &links);
    let honest_lines = honest.lines().count();
    for hostile in HOSTILE {
        let page = page_with(hostile);
        let text = render::email_text(std::slice::from_ref(&page), &links);
        // The same number of lines as an honest alert: nothing started a line of its own.
        assert_eq!(text.lines().count(), honest_lines, "{hostile:?}:\n{text}");
        let forged: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("Acknowledge:") || l.starts_with("Bcc:"))
            .collect();
        assert_eq!(
            forged,
            ["Acknowledge: https://pagerd.example/a/ack"],
            "{hostile:?}:\n{text}"
        );
        assert!(!text.contains('\u{1b}'), "{hostile:?}");
        let subject = render::subject(&[page]);
        assert!(
            !subject.chars().any(|c| c.is_control() || c == '\u{2028}'),
            "{subject:?}"
        );
    }
}

#[test]
fn the_html_email_escapes_alert_text() {
    for hostile in HOSTILE {
        let html = render::email_html(&[page_with(hostile)], &links);
        assert!(!html.contains("<b>bold"), "{hostile:?}");
        assert!(!html.contains("<https://evil"), "{hostile:?}");
        assert!(!html.contains("<!channel"), "{hostile:?}");
    }
}

#[test]
fn an_sms_is_one_line_and_its_reply_instructions_are_pagerds() {
    for hostile in HOSTILE {
        let sms = render::sms_text(&[page_with(hostile)]);
        assert!(!sms.chars().any(|c| c.is_control()), "{sms:?}");
        assert!(sms.ends_with(" Reply ACK K7QH3M or RES K7QH3M"), "{sms:?}");
    }
}

#[test]
fn one_line_leaves_ordinary_text_alone() {
    assert_eq!(
        render::one_line("Payment errors > 5% — café"),
        "Payment errors > 5% — café"
    );
    assert_eq!(render::one_line("a\nb\r\nc\td\u{2028}e"), "a b  c d e");
}
