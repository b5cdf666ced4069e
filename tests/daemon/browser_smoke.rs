//! The browser kit against HTML the daemon serves: a mailed acknowledge link opened and
//! pressed in headless Chromium, and the kit's sizes and screenshots checked.

use std::time::Duration;

use pagerd::config::Settings;
use pagerd::config::settings::SmtpTls;
use pagerd::engine::Clock;
use pagerd::proto::{IncidentState, Severity};

use crate::helpers::*;

const POLICIES: &str = r#"
[[person]]
name = "dana"
time_zone = "UTC"
email = "dana@example.com"
contact_rules = [{ method = "email", after = "0m" }]

[[service]]
name = "web"
escalation_policy = "web"

[[escalation_policy]]
name = "web"
levels = [{ targets = ["dana"], delay = "30m" }]
"#;

fn mail_settings(dirs: &AppDirs, smtp: &SmtpSink, sink: &WebhookSink) -> Settings {
    let mut settings = test_settings(dirs, &sink.url);
    settings.reload.watch = false;
    let e = &mut settings.notify.email;
    e.smtp_host = Some("127.0.0.1".into());
    e.smtp_port = smtp.port;
    e.tls = SmtpTls::None;
    e.from = "pagerd <pagerd@example.com>".into();
    settings.links.public_url = "http://pagerd.test".into();
    settings
}

#[tokio::test]
async fn the_browser_opens_a_mailed_link_and_acknowledges_with_its_button() {
    let dirs = AppDirs::new(POLICIES);
    let mut smtp = SmtpSink::start(None);
    let sink = WebhookSink::start().await;
    let mut app = spawn_app_with(mail_settings(&dirs, &smtp, &sink), Clock::System).await;
    let id = app
        .trigger("web", Severity::High, "smoke")
        .await
        .incident_id;
    let mail = smtp.next_mail().await;
    let link = mail
        .link("Acknowledge")
        .replace("http://pagerd.test", &format!("http://{}", app.http_addr));

    let browser = Browser::start().await;
    browser.goto(&link).await;
    // The confirmation page, as Chromium rendered it (so the browser really loaded it).
    let h1 = browser.text("h1").await;
    assert_eq!(h1, format!("Acknowledge incident #{id}?"));
    assert_eq!(browser.title().await, h1);
    let shot = browser.screenshot("smoke-act-confirm").await;
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(png_size(&png), (1280, 800), "{}", shot.display());
    // Nothing happened on the GET.
    assert_eq!(
        app.get(id).await.incident.unwrap().state(),
        IncidentState::Triggered
    );

    // The phone size is the viewport's, and so is the screenshot's.
    browser.set_size(360, 740).await;
    assert_eq!(browser.viewport().await, (360, 740));
    let png = std::fs::read(browser.screenshot("smoke-act-confirm-phone").await).unwrap();
    assert_eq!(png_size(&png), (360, 740));

    browser.click("form button[type=submit]").await;
    browser
        .wait_until(
            "the page after pressing the button",
            &format!("document.title === 'Incident #{id} acknowledged'"),
            BROWSER_WAIT,
        )
        .await;
    assert!(browser.text("body").await.contains("By dana."));
    let inc = app.get(id).await.incident.unwrap();
    assert_eq!(
        (inc.state(), inc.acknowledged_by.as_str()),
        (IncidentState::Acknowledged, "dana")
    );
    browser.close().await;
    app.stop().await;
}

#[tokio::test]
async fn a_wait_for_what_never_appears_fails_in_bounded_time() {
    let browser = Browser::start().await;
    browser
        .goto("data:text/html,<title>t</title><p id=here>here</p>")
        .await;
    assert_eq!(browser.text("#here").await, "here");
    let started = std::time::Instant::now();
    let waiting = browser.wait_for("#never", Duration::from_millis(300));
    let failed = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(waiting)).await;
    let message = failed.expect_err("waiting for a missing element fails");
    let message = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("no \"#never\""), "{message}");
    assert!(started.elapsed() < Duration::from_secs(10));
    browser.close().await;
}
