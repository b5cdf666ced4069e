//! Paging by email, SMS and Slack against real servers on loopback — a real SMTP server
//! (Python's aiosmtpd) and HTTP servers standing in for the SMS provider and Slack — and
//! acknowledging from each channel.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use axum::http::StatusCode;
use pagerd::config::Settings;
use pagerd::config::settings::{Secret, SmtpTls};
use pagerd::engine::Clock;
use pagerd::proto::{EventKind, IncidentState, Severity};

use crate::helpers::*;

pub(crate) const PEOPLE: &str = r#"
[[person]]
name = "alice"
time_zone = "Europe/Berlin"
email = "alice@example.com"
sms = "+15550000001"
slack = "U0ALICE"
contact_rules = [
  { method = "slack", after = "0m" },
  { method = "sms", after = "1m" },
  { method = "email", after = "3m" },
]

[[person]]
name = "bob"
time_zone = "UTC"
email = "bob@example.com"
sms = "+15550000002"

[[service]]
name = "shop"
escalation_policy = "shop"

[[escalation_policy]]
name = "shop"
levels = [{ targets = ["alice"], delay = "30m" }, { targets = ["bob"], delay = "30m" }]

[[person]]
name = "carol"
time_zone = "UTC"
email = "carol@example.com"
sms = "+15550000003"
contact_rules = [{ method = "sms", after = "0m" }]

[[service]]
name = "ops"
escalation_policy = "ops"

[[escalation_policy]]
name = "ops"
levels = [{ targets = ["carol"], delay = "30m" }]

[[service]]
name = "mail"
escalation_policy = "mail"

[[escalation_policy]]
name = "mail"
levels = [{ targets = ["bob"], delay = "30m" }]
"#;

// ---- the daemon -----------------------------------------------------------------------------

pub(crate) struct Stands {
    pub(crate) smtp: SmtpSink,
    pub(crate) sms: Recorder,
    pub(crate) slack: Recorder,
    pub(crate) sink: WebhookSink,
}

pub(crate) async fn stands() -> Stands {
    Stands {
        smtp: SmtpSink::start(None),
        sms: Recorder::start(r#"{"sid":"SM1"}"#).await,
        slack: Recorder::start(r#"{"ok":true,"ts":"1700000000.000100","channel":"D1"}"#).await,
        sink: WebhookSink::start().await,
    }
}

const SIGNING_SECRET: &str = "slack-signing-secret";

pub(crate) fn channel_settings(dirs: &AppDirs, s: &Stands) -> Settings {
    let mut settings = test_settings(dirs, &s.sink.url);
    settings.reload.watch = false;
    let n = &mut settings.notify;
    n.email.smtp_host = Some("127.0.0.1".into());
    n.email.smtp_port = s.smtp.port;
    n.email.tls = SmtpTls::None;
    n.email.from = "pagerd <pagerd@example.com>".into();
    n.sms.url = Some(format!("{}/2010-04-01/Messages.json", s.sms.base));
    n.sms.from = "+15559990000".into();
    n.sms
        .headers
        .insert("Authorization".into(), Secret::new("Basic c2lkOnRva2Vu"));
    n.sms.inbound.secret = Some(Secret::new("inbound-token"));
    n.sms.deadline = Duration::from_secs(120);
    n.slack.bot_token = Some(Secret::new("xoxb-test"));
    n.slack.api_url = s.slack.base.clone();
    n.slack.signing_secret = Some(Secret::new(SIGNING_SECRET));
    settings.links.public_url = "http://pagerd.test".into();
    settings
}

pub(crate) async fn trigger(
    app: &mut TestApp,
    service: &str,
    severity: Severity,
    key: &str,
) -> i64 {
    app.trigger(service, severity, key).await.incident_id
}

pub(crate) async fn state(app: &mut TestApp, id: i64) -> (IncidentState, String) {
    let inc = app.get(id).await.incident.unwrap();
    (inc.state(), inc.acknowledged_by.clone())
}

pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// The daemon's URL for a link made for http://pagerd.test.
fn local(app: &TestApp, link: &str) -> String {
    link.replace("http://pagerd.test", &format!("http://{}", app.http_addr))
}

#[tokio::test(start_paused = true)]
async fn an_email_page_has_signed_links_that_act_on_post_only_and_refuse_forgery_and_age() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(PEOPLE);
    let mut s = stands().await;
    let mut app = spawn_app_with(channel_settings(&dirs, &s), Clock::anchored(t0())).await;
    // Bob's default rules: SMS now, email a minute later.
    let id = trigger(&mut app, "mail", Severity::High, "disk").await;
    let sms = s.sms.next().await;
    assert_eq!(sms.form()["To"], "+15550000002");
    advance(mins(1)).await;
    let mail = s.smtp.next_mail().await;
    assert_eq!(mail.headers["x-envelope-to"], "bob@example.com");
    assert_eq!(
        mail.headers["subject"],
        format!("[pagerd] HIGH mail: mail is down (#{id})")
    );
    assert!(
        mail.headers["message-id"].contains("@pagerd"),
        "{:?}",
        mail.headers
    );
    assert!(mail.text.contains("Service: mail") && mail.text.contains("Severity: high"));
    assert!(mail.html.contains("<b>Acknowledge</b>"), "{}", mail.html);
    let ack = local(&app, &mail.link("Acknowledge"));

    // A GET (what a mail scanner does) only shows a confirmation page.
    let page = http().get(&ack).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&format!("Acknowledge incident #{id}?")),
        "{html}"
    );
    assert!(html.contains("Acknowledge as bob"));
    assert_eq!(state(&mut app, id).await.0, IncidentState::Triggered);

    // A forged link (another incident, same signature) is refused and changes nothing.
    let (payload, sig) = ack.rsplit('/').next().unwrap().split_once('.').unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let forged_payload = String::from_utf8(b64.decode(payload).unwrap())
        .unwrap()
        .replace(&format!(":{id}:"), ":999:");
    let forged = format!(
        "http://{}/act/{}.{sig}",
        app.http_addr,
        b64.encode(forged_payload)
    );
    let r = http().post(&forged).send().await.unwrap();
    assert_eq!(r.status(), 403);

    // The POST acknowledges as bob.
    let r = http().post(&ack).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("acknowledged"));
    assert_eq!(
        state(&mut app, id).await,
        (IncidentState::Acknowledged, "bob".to_string())
    );
    // The audit trail: bob, as the signed link authenticated him.
    assert_eq!(
        audit_of(&app, &format!("incident {id}")).await,
        [(
            "acknowledge".to_string(),
            "bob".to_string(),
            "via email link".to_string()
        )]
    );

    // Links expire (24 h by default): the resolve link no longer works a day later.
    let resolve = local(&app, &mail.link("Resolve"));
    advance(mins(24 * 60 + 1)).await;
    let r = http().post(&resolve).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("expired"));
    assert_eq!(state(&mut app, id).await.0, IncidentState::Acknowledged);
    app.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_sms_page_goes_to_the_provider_and_a_reply_acknowledges() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(PEOPLE);
    let mut s = stands().await;
    let mut app = spawn_app_with(channel_settings(&dirs, &s), Clock::anchored(t0())).await;
    let id = trigger(&mut app, "mail", Severity::Critical, "db").await;
    let req = s.sms.next().await;
    assert_eq!(req.path, "/2010-04-01/Messages.json");
    assert_eq!(req.header("authorization"), "Basic c2lkOnRva2Vu");
    assert_eq!(
        req.header("content-type"),
        "application/x-www-form-urlencoded"
    );
    assert!(!req.header("idempotency-key").is_empty());
    let form = req.form();
    assert_eq!(form["To"], "+15550000002");
    assert_eq!(form["From"], "+15559990000");
    let body = &form["Body"];
    assert!(body.chars().count() <= 160, "{body}");
    assert!(
        body.starts_with(&format!("[pagerd] CRITICAL mail: mail is down (#{id})")),
        "{body}"
    );
    let code = body.rsplit(' ').next().unwrap().to_string();
    assert!(
        code.len() == 6
            && code
                .bytes()
                .all(|b| b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789".contains(&b)),
        "{code}"
    );
    assert!(
        body.ends_with(&format!("Reply ACK {code} or RES {code}")),
        "{body}"
    );
    let delivered = app
        .event_where("the SMS delivery", |e| {
            e.kind() == EventKind::Delivered && e.channel == "sms"
        })
        .await;
    assert!(
        delivered.message.contains("(+15550000002): HTTP 200"),
        "{}",
        delivered.message
    );

    let addr = app.http_addr;
    let inbound = |from: &str, text: &str, token: &str| {
        let url = format!("http://{addr}/integrations/sms/inbound?token={token}");
        let form = [("From", from.to_string()), ("Body", text.to_string())];
        async move { http().post(url).form(&form).send().await.unwrap() }
    };
    // Refused: a wrong token, an unknown number, an unknown code.
    assert_eq!(
        inbound("+15550000002", &format!("ACK {code}"), "nope")
            .await
            .status(),
        403
    );
    assert_eq!(
        inbound("+15557777777", &format!("ACK {code}"), "inbound-token")
            .await
            .status(),
        403
    );
    assert_eq!(
        inbound(
            "+15550000002",
            &format!("ACK {}", other_code(&code)),
            "inbound-token"
        )
        .await
        .status(),
        404
    );
    assert_eq!(state(&mut app, id).await.0, IncidentState::Triggered);
    // The paged person's reply acknowledges, case-insensitively.
    let r = inbound(
        "+15550000002",
        &format!("ack {}", code.to_lowercase()),
        "inbound-token",
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        state(&mut app, id).await,
        (IncidentState::Acknowledged, "bob".to_string())
    );
    let r = inbound("+15550000002", &format!("RES {code}"), "inbound-token").await;
    assert_eq!(r.status(), 200);
    assert_eq!(state(&mut app, id).await.0, IncidentState::Resolved);
    // The audit trail: bob, known by his number (masked), never the refused senders.
    assert_eq!(
        audit_of(&app, &format!("incident {id}")).await,
        [
            (
                "acknowledge".to_string(),
                "bob".to_string(),
                "via SMS +155******02".to_string()
            ),
            (
                "resolve".to_string(),
                "bob".to_string(),
                "via SMS +155******02".to_string()
            ),
        ]
    );
    app.stop().await;
}

/// A well-formed reply code that is not `code`.
pub(crate) fn other_code(code: &str) -> String {
    let first = if code.starts_with('Z') { 'Y' } else { 'Z' };
    format!("{first}{}", &code[1..])
}

fn slack_signature(ts: i64, body: &str) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SIGNING_SECRET.as_bytes()).unwrap();
    mac.update(format!("v0:{ts}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test(start_paused = true)]
async fn slack_buttons_acknowledge_after_the_signature_is_checked_and_the_message_is_updated() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(PEOPLE);
    let mut s = stands().await;
    let mut app = spawn_app_with(channel_settings(&dirs, &s), Clock::anchored(t0())).await;
    let id = trigger(&mut app, "shop", Severity::High, "cart").await;
    let post = s.slack.next().await;
    assert_eq!(post.path, "/chat.postMessage");
    assert_eq!(post.header("authorization"), "Bearer xoxb-test");
    let msg = post.json();
    assert_eq!(msg["channel"], "U0ALICE");
    assert!(
        msg["text"]
            .as_str()
            .unwrap()
            .contains("HIGH shop: shop is down")
    );
    let buttons = &msg["blocks"][1]["elements"];
    assert_eq!(buttons[0]["action_id"], "ack");
    assert_eq!(buttons[0]["value"], id.to_string());
    assert_eq!(buttons[1]["action_id"], "resolve");

    let payload = serde_json::json!({
        "type": "block_actions",
        "user": {"id": "U0ALICE"},
        "channel": {"id": "D1"},
        "container": {"message_ts": "1700000000.000100"},
        "actions": [{"action_id": "ack", "value": id.to_string()}],
    });
    let body = format!(
        "payload={}",
        form_urlencoded::byte_serialize(payload.to_string().as_bytes()).collect::<String>()
    );
    let url = format!("http://{}/integrations/slack/actions", app.http_addr);
    let click = |ts: i64, sig: String| {
        let (url, body) = (url.clone(), body.clone());
        async move {
            http()
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("x-slack-request-timestamp", ts.to_string())
                .header("x-slack-signature", sig)
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    let now = t0().timestamp();
    // Wrong secret, stale timestamp: refused.
    let wrong = slack_signature(now, "payload=other");
    assert_eq!(click(now, wrong).await.status(), 401);
    let stale = now - 6 * 60;
    assert_eq!(
        click(stale, slack_signature(stale, &body)).await.status(),
        401
    );
    assert_eq!(state(&mut app, id).await.0, IncidentState::Triggered);
    // A good click acknowledges as alice and updates the message.
    let good = slack_signature(now, &body);
    assert_eq!(click(now, good.clone()).await.status(), 200);
    assert_eq!(
        state(&mut app, id).await,
        (IncidentState::Acknowledged, "alice".to_string())
    );
    let update = s.slack.next().await;
    assert_eq!(update.path, "/chat.update");
    let u = update.json();
    assert_eq!(
        (u["channel"].as_str(), u["ts"].as_str()),
        (Some("D1"), Some("1700000000.000100"))
    );
    assert!(
        u["text"]
            .as_str()
            .unwrap()
            .ends_with("Acknowledged by alice at 17:00 UTC"),
        "{u}"
    );
    // The same request again is a replay, however its signature is spelled: upper-cased hex
    // verifies like lower-cased, so the cache must not key on the raw header.
    assert_eq!(
        click(now, good.to_uppercase().replace("V0=", "v0="))
            .await
            .status(),
        401
    );
    assert_eq!(click(now, good).await.status(), 401);
    // The audit trail: alice, as Slack's signed request named her, once.
    assert_eq!(
        audit_of(&app, &format!("incident {id}")).await,
        [(
            "acknowledge".to_string(),
            "alice".to_string(),
            "via Slack user U0ALICE".to_string()
        )]
    );
    app.stop().await;
}

on_both_backends! {
    #[tokio::test(start_paused = true)]
    async fn contact_rules_step_through_methods_until_someone_acknowledges(backend) {
        let _frozen = freeze_time();
        let dirs = AppDirs::on(backend, PEOPLE);
        let mut s = stands().await;
        let mut app = spawn_app_with(channel_settings(&dirs, &s), Clock::anchored(t0())).await;
        // Alice: Slack at once, SMS after 1 minute, email after 3.
        let id = trigger(&mut app, "shop", Severity::High, "rules").await;
        assert_eq!(s.slack.next().await.path, "/chat.postMessage");
        s.sms.expect_quiet("SMS before its minute").await;
        advance(mins(1)).await;
        assert_eq!(s.sms.next().await.form()["To"], "+15550000001");
        // Acknowledged before the email step: no email.
        app.ack(id, "alice").await;
        advance(mins(5)).await;
        real_timeout(Duration::from_millis(300), std::future::pending::<()>()).await;
        assert_eq!(s.smtp.count(), 0, "no email after the acknowledgement");
        app.stop().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_method_is_retried_then_falls_over_to_the_next_and_429_waits_retry_after() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(PEOPLE);
    let mut s = stands().await;
    let mut app = spawn_app_with(channel_settings(&dirs, &s), Clock::anchored(t0())).await;

    // 429 with Retry-After: 30 → the next try waits at least 30 s, then succeeds.
    s.sms
        .answer(StatusCode::TOO_MANY_REQUESTS, &[("retry-after", "30")]);
    let first = trigger(&mut app, "mail", Severity::High, "busy").await;
    s.sms.next().await;
    let failed = app
        .event_where("the 429", |e| e.kind() == EventKind::DeliveryFailed)
        .await;
    assert!(failed.message.contains("HTTP 429"), "{}", failed.message);
    advance(Duration::from_secs(29)).await;
    s.sms.expect_quiet("retried before Retry-After").await;
    advance(Duration::from_secs(5)).await;
    s.sms.next().await;
    app.event_where("the retry delivered", |e| {
        e.kind() == EventKind::Delivered && e.channel == "sms" && e.incident_id == first
    })
    .await;
    // Bob's email step (1 minute) for that incident.
    advance(mins(1)).await;
    s.smtp.next_mail().await;
    app.ack(first, "bob").await;

    // Carol's rules say SMS only. 500s until the SMS deadline (2 minutes here): then her
    // email at once, and the fall-over is on the timeline.
    for _ in 0..30 {
        s.sms.answer(StatusCode::INTERNAL_SERVER_ERROR, &[]);
    }
    let mails_before = s.smtp.count();
    let id = trigger(&mut app, "ops", Severity::High, "down").await;
    s.sms.next().await;
    let mut waited = 0;
    while s.smtp.count() == mails_before {
        assert!(waited < 40, "no fall-over to email");
        advance(Duration::from_secs(10)).await;
        real_timeout(Duration::from_millis(150), std::future::pending::<()>()).await;
        waited += 1;
    }
    let gave_up = app
        .event_where("the SMS giving up", |e| {
            e.incident_id == id && e.message.contains("failed for good")
        })
        .await;
    assert!(gave_up.message.contains("HTTP 500"), "{}", gave_up.message);
    let over = app
        .event_where("the fall-over", |e| {
            e.incident_id == id && e.message.contains("trying email")
        })
        .await;
    assert_eq!(over.channel, "email");
    let mail = s.smtp.next_mail().await;
    assert_eq!(mail.headers["x-envelope-to"], "carol@example.com");
    assert!(mail.headers["subject"].contains(&format!("(#{id})")));
    app.stop().await;
}

#[tokio::test(start_paused = true)]
async fn over_the_rate_limit_pages_are_held_visibly_then_sent_as_one_message() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(PEOPLE);
    let mut s = stands().await;
    let mut settings = channel_settings(&dirs, &s);
    settings.notify.sms.rate_limit = 1;
    let mut app = spawn_app_with(settings, Clock::anchored(t0())).await;
    let a = trigger(&mut app, "mail", Severity::High, "a").await;
    assert!(s.sms.next().await.form()["Body"].contains(&format!("(#{a})")));
    app.event_where("first SMS delivered", |e| {
        e.kind() == EventKind::Delivered && e.channel == "sms"
    })
    .await;
    let b = trigger(&mut app, "mail", Severity::High, "b").await;
    let c = trigger(&mut app, "mail", Severity::High, "c").await;
    let held = app
        .event_where("a hold", |e| e.kind() == EventKind::DeliveryHeld)
        .await;
    assert!(
        held.message.contains("at most 1 a minute"),
        "{}",
        held.message
    );
    s.sms.expect_quiet("held pages wait for the minute").await;
    advance(mins(1)).await;
    let together = s.sms.next().await.form()["Body"].clone();
    assert!(
        together.starts_with("[pagerd] 2 incidents need you:")
            && together.contains(&format!("#{b}"))
            && together.contains(&format!("#{c}")),
        "{together}"
    );
    let ev = app
        .event_where("the coalesced delivery", |e| {
            e.kind() == EventKind::Delivered && e.message.contains("in one message with 1 other")
        })
        .await;
    assert_eq!(ev.channel, "sms");
    s.sms
        .expect_quiet("nothing dropped, nothing sent twice")
        .await;
    app.stop().await;
}

/// A private CA and a server certificate for `localhost` it signed (rustls refuses a CA as
/// the server's own certificate): (dir, ca.pem, cert.pem, key.pem).
fn test_certificates() -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let ext = dir.path().join("ext.cnf");
    std::fs::write(
        &ext,
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let openssl = |args: &[&str]| {
        let ok = Command::new("openssl")
            .current_dir(dir.path())
            .args(args)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "openssl {args:?}");
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=pagerd test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "key.pem",
        "-out",
        "leaf.csr",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "cert.pem",
    ]);
    let p = |f: &str| dir.path().join(f);
    let (ca, cert, key) = (p("ca.pem"), p("cert.pem"), p("key.pem"));
    (dir, ca, cert, key)
}

/// Sends one low page (email only) through `smtp` with these TLS settings; returns the mail.
async fn mail_through(
    smtp: &mut SmtpSink,
    tls: SmtpTls,
    ca: &std::path::Path,
    login: Option<(&str, &str)>,
) -> Mail {
    let dirs = AppDirs::new(PEOPLE);
    let sink = WebhookSink::start().await;
    let mut settings = test_settings(&dirs, &sink.url);
    settings.reload.watch = false;
    let e = &mut settings.notify.email;
    e.smtp_host = Some("localhost".into());
    e.smtp_port = smtp.port;
    e.tls = tls;
    e.ca_file = Some(ca.to_path_buf());
    if let Some((user, password)) = login {
        e.username = Some(user.into());
        e.password = Some(Secret::new(password));
    }
    let mut app = spawn_app_with(settings, Clock::System).await;
    app.trigger("mail", Severity::Low, "tls").await;
    let mail = smtp.next_mail().await;
    app.stop().await;
    mail
}

#[tokio::test]
async fn email_goes_over_starttls_to_a_relay_with_its_own_ca() {
    let (_dir, ca, cert, key) = test_certificates();
    let mut smtp = SmtpSink::start(Some((&cert, &key)));
    let mail = mail_through(&mut smtp, SmtpTls::Starttls, &ca, None).await;
    assert_eq!(mail.headers["x-tls"], "yes");
    assert_eq!(mail.headers["x-envelope-to"], "bob@example.com");
}

#[tokio::test]
async fn email_goes_over_implicit_tls_with_a_login() {
    let (_dir, ca, cert, key) = test_certificates();
    let mut smtp =
        SmtpSink::start_with(Some(("--implicit-tls", &cert, &key)), Some("pagerd:s3cret"));
    let mail = mail_through(&mut smtp, SmtpTls::Tls, &ca, Some(("pagerd", "s3cret"))).await;
    assert_eq!(mail.headers["x-tls"], "yes");
    assert_eq!(mail.headers["x-auth"], "True");
}

on_both_backends! {
    #[tokio::test(start_paused = true)]
    async fn a_contact_step_due_while_the_daemon_was_down_runs_at_start(backend) {
        let _frozen = freeze_time();
        let dirs = AppDirs::on(backend, PEOPLE);
        let mut s = stands().await;
        let settings = channel_settings(&dirs, &s);
        let clock = Clock::anchored(t0());
        let mut app = spawn_app_with(settings.clone(), clock).await;
        trigger(&mut app, "shop", Severity::High, "restart").await;
        assert_eq!(s.slack.next().await.path, "/chat.postMessage");
        app.stop().await;
        // Alice's SMS step (1 minute) came due while the daemon was down.
        advance(mins(2)).await;
        let app = spawn_app_with(settings, clock).await;
        let sms = s.sms.next().await;
        assert_eq!(sms.form()["To"], "+15550000001");
        s.slack
            .expect_quiet("the Slack page is not sent twice")
            .await;
        app.stop().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_test_page_reaches_each_contact_method_and_reports_the_answers() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(PEOPLE);
    let mut s = stands().await;
    s.sms.answer(StatusCode::BAD_REQUEST, &[]);
    let app = spawn_app_with(channel_settings(&dirs, &s), Clock::anchored(t0())).await;
    let mut daemon =
        pagerd::proto::daemon_service_client::DaemonServiceClient::new(app.channel.clone());
    let r = daemon
        .test_page(pagerd::proto::TestPageRequest {
            person: "alice".into(),
            channel: String::new(),
            by: "victor".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let by_channel: HashMap<&str, &pagerd::proto::TestPageResult> =
        r.results.iter().map(|x| (x.channel.as_str(), x)).collect();
    assert_eq!(by_channel.len(), 3);
    assert_eq!(by_channel["email"].status, "sent");
    assert_eq!(by_channel["email"].address, "alice@example.com");
    assert!(
        by_channel["email"].response.starts_with("250"),
        "{:?}",
        by_channel["email"]
    );
    assert_eq!(by_channel["slack"].status, "sent");
    assert_eq!(by_channel["sms"].status, "failed");
    assert!(
        by_channel["sms"].error.contains("HTTP 400"),
        "{:?}",
        by_channel["sms"]
    );
    let mail = s.smtp.next_mail().await;
    assert_eq!(mail.headers["subject"], "[pagerd] Test page from pagerd");
    assert!(mail.text.contains("sent by victor"), "{}", mail.text);
    assert!(s.sms.next().await.form()["Body"].contains("Test page"));
    app.stop().await;
}

#[tokio::test(start_paused = true)]
async fn json_sms_providers_and_slack_incoming_webhooks_work_by_configuration() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(PEOPLE);
    let mut s = stands().await;
    let mut settings = channel_settings(&dirs, &s);
    let sms = &mut settings.notify.sms;
    sms.format = pagerd::config::settings::BodyFormat::Json;
    sms.fields = [("to", "{to}"), ("message", "{text}"), ("sender", "{from}")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let slack = &mut settings.notify.slack;
    slack.bot_token = None;
    slack.webhook_url = Some(Secret::new(format!("{}/services/T0/B0/x", s.slack.base)));
    let mut app = spawn_app_with(settings, Clock::anchored(t0())).await;
    let id = trigger(&mut app, "shop", Severity::High, "hooks").await;
    let hook = s.slack.next().await;
    assert_eq!(hook.path, "/services/T0/B0/x");
    let body = hook.json();
    assert!(body["text"].as_str().unwrap().contains(&format!("(#{id})")));
    assert!(
        !body.to_string().contains("\"actions\""),
        "no buttons without a bot: {body}"
    );
    advance(mins(1)).await;
    let req = s.sms.next().await;
    assert_eq!(req.header("content-type"), "application/json");
    let j = req.json();
    assert_eq!(j["to"], "+15550000001");
    assert_eq!(j["sender"], "+15559990000");
    assert!(j["message"].as_str().unwrap().contains(&format!("(#{id})")));
    app.stop().await;
}
