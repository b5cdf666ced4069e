//! What a page says on each channel: email (text and HTML), SMS (160 GSM-7 characters) and
//! the one-line summaries Slack and coalesced messages use. Pure functions over the page.

use crate::domain::{Incident, Page, PageKind};

/// One line: "CRITICAL checkout-api: Payment errors above 5% (#12)". Alert text is put on
/// one line ([`one_line`]), so the headline is one line whatever the summary holds.
pub fn headline(inc: &Incident) -> String {
    format!(
        "{} {}: {} (#{})",
        inc.severity.as_str().to_uppercase(),
        one_line(&inc.service),
        one_line(&inc.summary),
        inc.id
    )
}

/// `s` on one line: every control character (newlines, carriage returns, tabs, escape
/// sequences) and Unicode line or paragraph separator becomes a space, so alert text cannot
/// start a line of its own in a text email, an email header or the log.
pub fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// What kind of message this is, for the first words of a subject.
fn lead(page: &Page) -> &'static str {
    match page.kind {
        PageKind::Page => "",
        PageKind::Unanswered => "UNANSWERED ",
        PageKind::Handoff | PageKind::Test => "",
    }
}

/// Email subject: a header, so one line whatever a notice's subject holds.
pub fn subject(pages: &[Page]) -> String {
    let subject = match pages {
        [one] => match (&one.incident, &one.notice) {
            (Some(inc), _) => format!("[pagerd] {}{}", lead(one), headline(inc)),
            (None, Some(n)) => format!("[pagerd] {}", n.subject),
            (None, None) => "[pagerd] notification".into(),
        },
        many => format!("[pagerd] {} incidents need you", many.len()),
    };
    one_line(&subject)
}

/// Acknowledge / resolve URLs of one incident for the person, if links are available.
pub struct ActionLinks {
    pub acknowledge: String,
    pub resolve: String,
}

/// The plain-text email body.
pub fn email_text(pages: &[Page], links: &dyn Fn(&Page) -> Option<ActionLinks>) -> String {
    let mut out = String::new();
    if pages.len() > 1 {
        out.push_str(&format!("{} incidents need you:\n\n", pages.len()));
    }
    for page in pages {
        let Some(inc) = &page.incident else {
            if let Some(n) = &page.notice {
                out.push_str(&n.body);
                out.push('\n');
            }
            continue;
        };
        out.push_str(&format!("{}{}\n", lead(page), headline(inc)));
        out.push_str(&format!(
            "Service: {}\nSeverity: {}\nState: {}\nEscalation level: {} (pass {})\n",
            one_line(&inc.service),
            inc.severity,
            inc.state.as_str(),
            page.pos.level + 1,
            page.pos.loop_no + 1
        ));
        if !inc.source.is_empty() {
            out.push_str(&format!("Source: {}\n", one_line(&inc.source)));
        }
        for (k, v) in &inc.details {
            out.push_str(&format!("{}: {}\n", one_line(k), one_line(v)));
        }
        for l in &inc.links {
            let text = if l.text.is_empty() { &l.href } else { &l.text };
            out.push_str(&format!(
                "Link: {} <{}>\n",
                one_line(text),
                one_line(&l.href)
            ));
        }
        if let Some(a) = links(page) {
            out.push_str(&format!(
                "\nAcknowledge: {}\nResolve: {}\n",
                a.acknowledge, a.resolve
            ));
        }
        out.push('\n');
    }
    out
}

/// Whether a link may be clickable: `http`, `https` or `mailto`.
pub fn safe_href(href: &str) -> bool {
    let lower = href.trim_start().to_ascii_lowercase();
    ["http://", "https://", "mailto:"]
        .iter()
        .any(|p| lower.starts_with(p))
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The HTML email body (same content as the text).
pub fn email_html(pages: &[Page], links: &dyn Fn(&Page) -> Option<ActionLinks>) -> String {
    let mut out = String::from("<!doctype html><html><body style=\"font-family:sans-serif\">");
    if pages.len() > 1 {
        out.push_str(&format!("<p>{} incidents need you:</p>", pages.len()));
    }
    for page in pages {
        let Some(inc) = &page.incident else {
            if let Some(n) = &page.notice {
                out.push_str(&format!("<pre>{}</pre>", esc(&n.body)));
            }
            continue;
        };
        out.push_str(&format!(
            "<h2>{}{}</h2><table>",
            lead(page),
            esc(&headline(inc))
        ));
        let mut row = |k: &str, v: &str| {
            out.push_str(&format!(
                "<tr><th align=left>{}</th><td>{}</td></tr>",
                esc(k),
                esc(v)
            ))
        };
        row("Service", &inc.service);
        row("Severity", inc.severity.as_str());
        row("State", inc.state.as_str());
        row(
            "Escalation level",
            &format!("{} (pass {})", page.pos.level + 1, page.pos.loop_no + 1),
        );
        if !inc.source.is_empty() {
            row("Source", &inc.source);
        }
        for (k, v) in &inc.details {
            row(k, v);
        }
        out.push_str("</table>");
        for l in &inc.links {
            let text = if l.text.is_empty() { &l.href } else { &l.text };
            // Intake refuses other schemes; an incident stored before that rule shows its
            // link as text, never as a clickable `javascript:` one.
            if safe_href(&l.href) {
                out.push_str(&format!(
                    "<p><a href=\"{}\">{}</a></p>",
                    esc(&l.href),
                    esc(text)
                ));
            } else {
                out.push_str(&format!("<p>{} ({})</p>", esc(text), esc(&l.href)));
            }
        }
        if let Some(a) = links(page) {
            out.push_str(&format!(
                "<p><a href=\"{}\"><b>Acknowledge</b></a> &nbsp; <a href=\"{}\">Resolve</a></p>",
                esc(&a.acknowledge),
                esc(&a.resolve)
            ));
        }
    }
    out.push_str("</body></html>");
    out
}

/// Longest SMS, in GSM-7 septets (one segment).
pub const SMS_SEPTETS: usize = 160;

const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM7_EXTENDED: &str = "^{}\\[~]|€";

/// Septets a character takes in GSM-7, `None` if it has no GSM-7 form.
fn septets(c: char) -> Option<usize> {
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENDED.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// `text` in GSM-7 (other characters become '?', whitespace a space) cut to `max` septets on
/// a character boundary, ending in "..." when cut.
pub fn gsm7_fit(text: &str, max: usize) -> String {
    let clean: Vec<char> = text
        .chars()
        .map(|c| {
            if c.is_whitespace() {
                ' '
            } else if septets(c).is_some() {
                c
            } else {
                '?'
            }
        })
        .collect();
    let total: usize = clean.iter().map(|c| septets(*c).unwrap_or(1)).sum();
    if total <= max {
        return clean.into_iter().collect();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in clean {
        let n = septets(c).unwrap_or(1);
        if used + n + 3 > max {
            break;
        }
        used += n;
        out.push(c);
    }
    out.push_str("...");
    out
}

/// One SMS: the headline(s) cut to fit, then the reply instructions (always whole).
pub fn sms_text(pages: &[Page]) -> String {
    let (head, code) = match pages {
        [one] => match &one.incident {
            Some(inc) => (
                format!("{}{}", lead(one), headline(inc)),
                one.reply_code.clone(),
            ),
            None => (
                one.notice
                    .as_ref()
                    .map_or(String::new(), |n| n.subject.clone()),
                None,
            ),
        },
        many => {
            let list: Vec<String> = many
                .iter()
                .filter_map(|p| p.incident.as_ref())
                .map(|i| format!("#{} {}", i.id, i.summary))
                .collect();
            (
                format!("{} incidents need you: {}", many.len(), list.join("; ")),
                None,
            )
        }
    };
    let tail = match &code {
        Some(code) => format!(" Reply ACK {code} or RES {code}"),
        None => String::new(),
    };
    let room = SMS_SEPTETS - tail.len();
    format!("{}{tail}", gsm7_fit(&format!("[pagerd] {head}"), room))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn count(s: &str) -> usize {
        s.chars().map(|c| septets(c).unwrap_or(100)).sum()
    }

    #[test]
    fn gsm7_fit_cuts_on_characters_and_replaces_the_rest() {
        let table = [
            ("short", 10, "short"),
            ("0123456789abc", 10, "0123456..."),
            ("naïve café", 20, "na?ve café"),
            ("emoji 🔥 fire", 20, "emoji ? fire"),
            ("tab\tand\nnewline", 30, "tab and newline"),
            // `{` takes two septets.
            ("{{{{{{", 8, "{{..."),
        ];
        for (text, max, want) in table {
            let got = gsm7_fit(text, max);
            assert_eq!(got, want, "{text:?}");
            assert!(count(&got) <= max);
        }
    }

    proptest! {
        #[test]
        fn any_text_fits_one_segment(text in ".{0,400}", max in 10usize..200) {
            let got = gsm7_fit(&text, max);
            prop_assert!(count(&got) <= max, "{got:?}");
        }
    }
}
