//! The dashboard (issue 15) in a real browser: headless Chromium over WebDriver against the
//! daemon on port 0 with the example policy files (`schedules/`), following the dashboard's
//! URL and HTML contract (ids and names the pages promise). Each test signs in through the
//! forms, acts as a person would, and checks the result both on the page and through gRPC.

use std::collections::HashMap;
use std::path::Path;

use pagerd::config::settings::SmtpTls;
use pagerd::engine::Clock;
use pagerd::proto::{self as pb, IncidentState, Severity};
use pb::daemon_service_client::DaemonServiceClient;
use serde_json::json;

use crate::helpers::*;

/// A daemon with the example policies, a browser, and (for sign-in links) a mail server.
struct Ui {
    app: TestApp,
    browser: Browser,
    smtp: Option<SmtpSink>,
    _sink: WebhookSink,
    _dirs: AppDirs,
}

impl Ui {
    async fn start() -> Self {
        Self::start_with(false).await
    }

    async fn start_with(mail: bool) -> Self {
        let dirs = AppDirs::copy_of(&Path::new(env!("CARGO_MANIFEST_DIR")).join("schedules"));
        let sink = WebhookSink::start().await;
        let mut settings = test_settings(&dirs, &sink.url);
        settings.reload.watch = false;
        settings.links.public_url = "http://pagerd.test".into();
        let smtp = mail.then(|| SmtpSink::start(None));
        if let Some(smtp) = &smtp {
            let e = &mut settings.notify.email;
            e.smtp_host = Some("127.0.0.1".into());
            e.smtp_port = smtp.port;
            e.tls = SmtpTls::None;
            e.from = "pagerd <pagerd@example.com>".into();
        }
        let app = spawn_app_with(settings, Clock::System).await;
        let browser = Browser::start().await;
        Self {
            app,
            browser,
            smtp,
            _sink: sink,
            _dirs: dirs,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.app.http_addr)
    }

    /// A new API token made by the admin through gRPC (`person` empty: a service token).
    async fn token(&self, name: &str, role: &str, person: &str) -> String {
        DaemonServiceClient::new(self.app.channel.clone())
            .create_token(pb::CreateTokenRequest {
                name: name.into(),
                role: role.into(),
                person: person.into(),
                ..Default::default()
            })
            .await
            .expect("the admin creates a token")
            .into_inner()
            .secret
    }

    /// Signs in through the sign-in form; ends on the incident list.
    async fn sign_in(&self, token: &str) {
        let b = &self.browser;
        b.goto(&self.url("/ui/signin")).await;
        b.fill("#signin-token-form #token", token).await;
        b.click("#signin-submit").await;
        self.wait_path("/ui/incidents").await;
    }

    async fn wait_path(&self, path: &str) {
        self.browser
            .wait_until(
                &format!("the browser at {path}"),
                &format!("location.pathname === '{path}' && document.readyState === 'complete'"),
                BROWSER_WAIT,
            )
            .await;
    }

    /// The HTTP status of the page the browser shows (Navigation Timing).
    async fn status(&self) -> u64 {
        self.browser
            .js(
                "return performance.getEntriesByType('navigation')[0].responseStatus;",
                vec![],
            )
            .await
            .as_u64()
            .expect("a response status")
    }

    async fn trigger(&mut self, service: &str, severity: Severity, summary: &str) -> i64 {
        self.app
            .alerts
            .trigger(pb::TriggerRequest {
                service: service.into(),
                dedup_key: summary.into(),
                severity: severity as i32,
                summary: summary.into(),
                source: "browser-test".into(),
                details: HashMap::from([("region".to_string(), "eu-west-1".to_string())]),
                ..Default::default()
            })
            .await
            .expect("trigger accepted")
            .into_inner()
            .incident_id
    }

    async fn state(&mut self, id: i64) -> (IncidentState, String) {
        let inc = self.app.get(id).await.incident.expect("the incident");
        (inc.state(), inc.acknowledged_by.clone())
    }

    /// N from the list's title "(N) …" (no count: none open).
    async fn title_count(&self) -> u64 {
        let title = self.browser.title().await;
        match title.strip_prefix('(') {
            None => 0,
            Some(t) => t
                .split_once(") ")
                .and_then(|(n, _)| n.parse().ok())
                .unwrap_or_else(|| panic!("the title {title:?} does not start with \"(N) \"")),
        }
    }

    async fn stop(self) {
        self.browser.close().await;
        self.app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_signs_in_through_the_form_into_an_http_only_strict_session() {
    let ui = Ui::start().await;
    let alice = ui.token("alice-laptop", "responder", "alice").await;
    let b = &ui.browser;

    // Signed out, the dashboard sends the browser to the sign-in page.
    b.goto(&ui.url("/ui/")).await;
    ui.wait_path("/ui/signin").await;

    // A wrong token: 401 and an error, no session.
    b.fill("#token", "pgd_not-a-token").await;
    b.click("#signin-submit").await;
    b.wait_for("#error", BROWSER_WAIT).await;
    assert_eq!(ui.status().await, 401);

    ui.sign_in(&alice).await;
    assert_eq!(b.text("#whoami").await, "alice (responder)");
    b.wait_for("table#incidents", BROWSER_WAIT).await;
    // The session cookie is out of the page's scripts' reach, and not sent cross-site.
    let cookies = b.client().get_all_cookies().await.expect("cookies");
    let session = cookies
        .iter()
        .find(|c| c.name() == "pagerd_session")
        .expect("a pagerd_session cookie");
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(session.path(), Some("/ui"));
    // (The cookie crate's SameSite is not re-exported by fantoccini.)
    assert_eq!(format!("{:?}", session.same_site()), "Some(Strict)");
    let visible = b.js("return document.cookie;", vec![]).await;
    assert!(!visible.as_str().unwrap().contains("pagerd_session"));

    // Signing out ends the session: the list sends back to the sign-in page.
    b.click("#signout button").await;
    ui.wait_path("/ui/signin").await;
    b.goto(&ui.url("/ui/incidents")).await;
    ui.wait_path("/ui/signin").await;
    ui.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_incident_triggered_through_grpc_appears_in_the_open_list_without_a_reload() {
    let mut ui = Ui::start().await;
    let alice = ui.token("alice-phone", "responder", "alice").await;
    ui.sign_in(&alice).await;
    let b = &ui.browser;
    b.wait_for("table#incidents", BROWSER_WAIT).await;
    let before = ui.title_count().await;
    // A reload would drop this mark.
    b.js("window.pagerdTestMark = 'still here';", vec![]).await;

    let id = ui
        .trigger("checkout-api", Severity::Critical, "payments failing")
        .await;
    let row = format!("tr.incident[data-id='{id}']");
    let b = &ui.browser;
    b.wait_for(&row, BROWSER_WAIT).await;
    b.wait_until(
        "the title's count to go up",
        &format!("document.title.startsWith('({}) ')", before + 1),
        BROWSER_WAIT,
    )
    .await;
    let el = b.wait_for(&row, BROWSER_WAIT).await;
    assert_eq!(
        el.attr("data-state").await.unwrap().as_deref(),
        Some("triggered")
    );
    assert_eq!(
        el.attr("data-severity").await.unwrap().as_deref(),
        Some("critical")
    );
    assert!(el.text().await.unwrap().contains("payments failing"));
    let mark = b.js("return window.pagerdTestMark || null;", vec![]).await;
    assert_eq!(mark, json!("still here"), "the page was reloaded");
    ui.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledging_on_the_incident_page_shows_who_in_the_timeline() {
    let mut ui = Ui::start().await;
    let alice = ui.token("alice-phone", "responder", "alice").await;
    let id = ui.trigger("search", Severity::High, "search latency").await;
    ui.sign_in(&alice).await;
    let b = &ui.browser;
    b.goto(&ui.url(&format!("/ui/incidents/{id}"))).await;
    assert!(b.text("h1").await.contains("search latency"));
    b.click("#ack button").await;
    b.wait_for("#flash", BROWSER_WAIT).await;
    assert_eq!(
        ui.state(id).await,
        (IncidentState::Acknowledged, "alice".into())
    );
    // Back on the incident's page, whose timeline names the session's person.
    ui.wait_path(&format!("/ui/incidents/{id}")).await;
    let events = ui.browser.find_all("ol#timeline > li.event").await;
    let mut texts = Vec::new();
    for e in events {
        texts.push(e.text().await.unwrap());
    }
    assert!(
        texts
            .iter()
            .any(|t| t.to_lowercase().contains("acknowledg") && t.contains("alice")),
        "{texts:#?}"
    );
    ui.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mailed_sign_in_link_signs_in_once_and_is_refused_the_second_time() {
    let mut ui = Ui::start_with(true).await;
    let b = &ui.browser;
    // Someone unknown gets the same answer (no enumeration) and no mail.
    b.goto(&ui.url("/ui/signin")).await;
    b.fill("#who", "nobody@example.com").await;
    b.click("#signin-link-submit").await;
    b.wait_for("#link-sent", BROWSER_WAIT).await;
    let unknown_answer = b.text("#link-sent").await;

    b.goto(&ui.url("/ui/signin")).await;
    b.fill("#who", "alice").await;
    b.click("#signin-link-submit").await;
    b.wait_for("#link-sent", BROWSER_WAIT).await;
    assert_eq!(b.text("#link-sent").await, unknown_answer);

    // The sign-in mail (a schedule's hand-off notice may come first), to alice only.
    let smtp = ui.smtp.as_mut().expect("a mail server");
    let mut link = None;
    for _ in 0..5 {
        let mail = smtp.next_mail().await;
        let found = mail
            .text
            .split_whitespace()
            .find(|w| w.contains("/ui/signin/link/"));
        if let Some(found) = found {
            assert_eq!(mail.headers["x-envelope-to"], "alice@example.com");
            link = Some(found.replace("http://pagerd.test", &ui.url("")));
            break;
        }
    }
    let link = link.expect("a mail with a sign-in link among the first five");

    // Opening the link (as a mail scanner would) only shows the confirmation.
    let b = &ui.browser;
    b.goto(&link).await;
    b.wait_for("#signin-link-confirm", BROWSER_WAIT).await;
    b.click("#signin-link-confirm-submit").await;
    ui.wait_path("/ui/incidents").await;
    assert!(b.text("#whoami").await.starts_with("alice ("));

    // Signed out, the same link is spent.
    b.click("#signout button").await;
    ui.wait_path("/ui/signin").await;
    b.goto(&link).await;
    b.click("#signin-link-confirm-submit").await;
    b.wait_for("#error", BROWSER_WAIT).await;
    assert_eq!(ui.status().await, 410);
    b.goto(&ui.url("/ui/incidents")).await;
    ui.wait_path("/ui/signin").await;
    ui.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_post_without_the_csrf_token_is_refused() {
    let mut ui = Ui::start().await;
    let alice = ui.token("alice-phone", "responder", "alice").await;
    let id = ui
        .trigger("checkout-api", Severity::High, "cart errors")
        .await;
    ui.sign_in(&alice).await;
    let b = &ui.browser;
    b.goto(&ui.url(&format!("/ui/incidents/{id}"))).await;
    b.wait_for("#ack button", BROWSER_WAIT).await;
    let removed = b
        .js(
            "const i = document.querySelector('#ack input[name=csrf]'); \
             if (i) { i.remove(); } return !!i;",
            vec![],
        )
        .await;
    assert_eq!(removed, json!(true), "the form carries a csrf field");
    b.click("#ack button").await;
    b.wait_for("#error", BROWSER_WAIT).await;
    assert_eq!(ui.status().await, 403);
    assert_eq!(ui.state(id).await.0, IncidentState::Triggered);
    ui.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_viewer_sees_no_acknowledge_button_and_a_forged_post_is_refused() {
    let mut ui = Ui::start().await;
    let viewer = ui.token("wallboard", "viewer", "").await;
    let id = ui.trigger("search", Severity::Medium, "slow index").await;
    ui.sign_in(&viewer).await;
    let b = &ui.browser;
    assert_eq!(b.text("#whoami").await, "wallboard (viewer)");
    b.goto(&ui.url(&format!("/ui/incidents/{id}"))).await;
    b.wait_for("#details", BROWSER_WAIT).await;
    assert!(b.find("#ack").await.is_none());
    let any_ack = b
        .js(
            "return [...document.querySelectorAll('button, input[type=submit]')]\
             .some(e => /acknowledge/i.test(e.textContent + ' ' + (e.value || '')));",
            vec![],
        )
        .await;
    assert_eq!(any_ack, json!(false));

    // A form made by script, with the viewer's own valid CSRF token, same origin.
    let forged = b
        .js(
            "const csrf = document.querySelector('input[name=csrf]'); \
             if (!csrf) { return false; } \
             const f = document.createElement('form'); \
             f.method = 'post'; f.action = arguments[0]; \
             const i = document.createElement('input'); \
             i.type = 'hidden'; i.name = 'csrf'; i.value = csrf.value; \
             f.appendChild(i); document.body.appendChild(f); f.submit(); return true;",
            vec![json!(format!("/ui/incidents/{id}/acknowledge"))],
        )
        .await;
    assert_eq!(forged, json!(true), "the page carries the session's csrf");
    b.wait_for("#error", BROWSER_WAIT).await;
    assert_eq!(ui.status().await, 403);
    assert_eq!(ui.state(id).await.0, IncidentState::Triggered);
    ui.stop().await;
}

/// Fails when the page is wider than the viewport (a phone would scroll sideways).
async fn assert_fits(ui: &Ui, page: &str) {
    let fits = ui
        .browser
        .js(
            "return document.documentElement.scrollWidth <= window.innerWidth;",
            vec![],
        )
        .await;
    let size = ui.browser.viewport().await;
    assert_eq!(fits, json!(true), "{page} is wider than {size:?}");
}

/// A realistic list: three open incidents of different severities, one acknowledged.
async fn some_incidents(ui: &mut Ui) {
    ui.trigger("checkout-api", Severity::Critical, "Payments failing in EU")
        .await;
    let acked = ui
        .trigger("search", Severity::High, "Search p99 latency above 2 s")
        .await;
    ui.trigger("internal-tools", Severity::Low, "Wiki backups late")
        .await;
    ui.app.ack(acked, "alice").await;
}

const SIZES: [(u32, u32, &str); 2] = [(360, 740, "phone"), (1280, 800, "desktop")];

#[tokio::test(flavor = "multi_thread")]
async fn the_incident_list_and_an_incident_at_phone_and_desktop_sizes() {
    let mut ui = Ui::start().await;
    let alice = ui.token("alice-phone", "responder", "alice").await;
    some_incidents(&mut ui).await;
    ui.sign_in(&alice).await;
    for (w, h, size) in SIZES {
        ui.browser.set_size(w, h).await;
        ui.browser.goto(&ui.url("/ui/incidents")).await;
        ui.browser.wait_for("table#incidents", BROWSER_WAIT).await;
        let rows = ui.browser.find_all("tr.incident").await;
        assert_eq!(rows.len(), 3, "{size}");
        // Open first: triggered, then acknowledged.
        let last = rows[2].attr("data-state").await.unwrap();
        assert_eq!(last.as_deref(), Some("acknowledged"), "{size}");
        assert_fits(&ui, "/ui/incidents").await;
        let png = std::fs::read(ui.browser.screenshot(&format!("incidents-{size}")).await).unwrap();
        assert_eq!(png_size(&png), (w, h));

        ui.browser.click("tr.incident a").await;
        ui.browser.wait_for("ol#timeline", BROWSER_WAIT).await;
        assert_fits(&ui, "an incident's page").await;
        ui.browser.screenshot(&format!("incident-{size}")).await;
    }
    ui.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_on_call_page_at_phone_and_desktop_sizes() {
    let mut ui = Ui::start().await;
    let alice = ui.token("alice-phone", "responder", "alice").await;
    some_incidents(&mut ui).await;
    ui.sign_in(&alice).await;
    for (w, h, size) in SIZES {
        ui.browser.set_size(w, h).await;
        ui.browser.goto(&ui.url("/ui/oncall")).await;
        ui.browser.wait_for("table#oncall", BROWSER_WAIT).await;
        // Every schedule of the example policy files.
        for schedule in [
            "support-evenings",
            "engineering",
            "vp",
            "sre-follow-the-sun",
            "platform",
        ] {
            let row = format!("tr[data-schedule='{schedule}']");
            assert!(ui.browser.find(&row).await.is_some(), "no {row} ({size})");
        }
        assert_fits(&ui, "/ui/oncall").await;
        let png = std::fs::read(ui.browser.screenshot(&format!("oncall-{size}")).await).unwrap();
        assert_eq!(png_size(&png), (w, h));
    }
    ui.stop().await;
}
