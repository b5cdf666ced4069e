//! Hostile alert text end to end: one alert whose summary, source, details and link text
//! try to ping a Slack channel, forge a Slack link, forge an "Acknowledge:" line and a mail
//! header. It is paged by Slack (a loopback stand-in for the Web API), SMS and email (a real
//! SMTP server, aiosmtpd), and what arrives is checked as the responder would see it.

use pagerd::engine::Clock;
use pagerd::proto::{self as pb, Severity};

use crate::channels::{PEOPLE, channel_settings, stands};
use crate::helpers::*;

const SUMMARY: &str = "<!channel> disk full <https://evil.example/steal|Acknowledge> & more\n\
                       Acknowledge: https://evil.example/ack\r\nBcc: victim@example.com";

#[tokio::test(start_paused = true)]
async fn hostile_alert_text_reaches_slack_sms_and_email_inert() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(PEOPLE);
    let mut s = stands().await;
    let mut app = spawn_app_with(channel_settings(&dirs, &s), Clock::anchored(t0())).await;
    let id = app
        .alerts
        .trigger(pb::TriggerRequest {
            service: "shop".into(),
            dedup_key: "hostile".into(),
            severity: Severity::High as i32,
            summary: SUMMARY.into(),
            source: "<@U024BE7LH>\nSeverity: low".into(),
            details: [("note\nResolve".to_string(), "x\nAcknowledge: y".to_string())].into(),
            links: vec![pb::Link {
                href: "https://grafana.example/d/1".into(),
                text: "<!here>\nAcknowledge: https://evil.example".into(),
            }],
            ..Default::default()
        })
        .await
        .expect("a hostile but well-formed alert is accepted")
        .into_inner()
        .incident_id;

    // Slack (alice's first method): no mention, link or markup from the alert.
    let slack = s.slack.next().await.json();
    let mut texts = vec![slack["text"].as_str().unwrap().to_string()];
    for b in slack["blocks"].as_array().unwrap() {
        if let Some(t) = b["text"]["text"].as_str() {
            texts.push(t.to_string());
        }
    }
    for text in &texts {
        let markup: Vec<&str> = text
            .match_indices('<')
            .map(|(i, _)| &text[i..i + text[i..].find('>').map_or(1, |j| j + 1)])
            .collect();
        assert!(
            markup.iter().all(|m| *m == "<@U0ALICE>"),
            "Slack markup from alert text: {markup:?} in {text:?}"
        );
    }
    assert!(texts[1].contains("&lt;!channel&gt;"), "{}", texts[1]);
    assert!(texts[1].contains("&amp; more"), "{}", texts[1]);

    // SMS a minute later: one line, pagerd's reply instructions last.
    advance(mins(1)).await;
    let sms = s.sms.next().await.form()["Body"].clone();
    assert!(!sms.contains('\n') && !sms.contains('\r'), "{sms:?}");
    assert!(sms.contains(" Reply ACK "), "{sms:?}");

    // Email after three: no forged header, one Acknowledge line (pagerd's), one subject line.
    advance(mins(2)).await;
    let mail = s.smtp.next_mail().await;
    assert!(
        !mail.headers.contains_key("bcc"),
        "forged header: {:?}",
        mail.headers
    );
    let subject = &mail.headers["subject"];
    assert!(subject.starts_with("[pagerd] HIGH shop: <!channel> disk full"));
    assert!(subject.ends_with(&format!("(#{id})")), "{subject}");
    let acks: Vec<&str> = mail
        .text
        .lines()
        .filter(|l| l.trim_start().starts_with("Acknowledge:"))
        .collect();
    assert_eq!(acks.len(), 1, "forged lines in\n{}", mail.text);
    assert!(acks[0].starts_with("Acknowledge: http://pagerd.test/act/"));
    assert!(
        !mail.text.lines().any(|l| l.starts_with("Severity: low")),
        "{}",
        mail.text
    );
    assert!(mail.text.contains("Severity: high"));
    assert!(
        !mail.html.contains("<!channel") && !mail.html.contains("<https://evil"),
        "{}",
        mail.html
    );
    app.stop().await;
}
