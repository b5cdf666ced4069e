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

/// The log channel writes one line per page whatever the summary holds: a newline in alert
/// text cannot add a line that looks like pagerd's own (run as the real binary, its log read
/// back from the file it writes).
#[tokio::test]
async fn a_newline_in_alert_text_cannot_forge_a_log_line() {
    let dirs = AppDirs::new(TEST_POLICIES);
    let mut spec = ProcessSpec::new(env!("CARGO_BIN_EXE_pagerd"), &dirs);
    spec.log_filter = "pagerd::page=info".into();
    spec.env = vec![("PAGERD_NOTIFY__LOG__ENABLED".into(), "true".into())];
    let mut daemon = DaemonProcess::start(&spec).await.expect("pagerd starts");
    let channel = tonic::transport::Channel::from_shared(daemon.grpc_url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let channel = with_token(channel, &daemon.admin_token().await);
    pagerd::proto::alert_service_client::AlertServiceClient::new(channel)
        .trigger(pb::TriggerRequest {
            service: "checkout".into(),
            dedup_key: "forge".into(),
            severity: Severity::High as i32,
            summary: "disk full\n2026-03-02T17:00:00Z  INFO pagerd::page: PAGE alice: \
                      Acknowledge: https://evil.example\r\n\u{1b}[2K"
                .into(),
            ..Default::default()
        })
        .await
        .expect("trigger accepted");
    let log = daemon.log.clone();
    let start = std::time::Instant::now();
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("PAGE alice") {
            break text;
        }
        assert!(start.elapsed().as_secs() < 20, "no page logged:\n{text}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let (_, status) = daemon.terminate().await.unwrap();
    assert!(status.success(), "{}", daemon.log_tail());
    let pages: Vec<&str> = text.lines().filter(|l| l.contains("PAGE alice")).collect();
    assert_eq!(pages.len(), 1, "forged log lines:\n{text}");
    assert!(pages[0].contains("INFO pagerd::page:") && pages[0].contains("disk full"));
    assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{text:?}");
    assert!(
        text.lines()
            .all(|l| !l.starts_with("Acknowledge") && !l.starts_with("2026-03-02T17")),
        "{text}"
    );
}
