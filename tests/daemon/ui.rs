//! The dashboard over plain HTTP (the browser suite is `ui_browser.rs`): signing in with a
//! token or a mailed link, sessions that end with their token, CSRF and origin checks, roles,
//! the live-update stream resuming by sequence, the headers every page carries, the size of
//! the first page.

use pagerd::engine::Clock;
use pagerd::proto as pb;
use reqwest::StatusCode;

use crate::helpers::*;

async fn app_and_sink() -> (AppDirs, WebhookSink, TestApp) {
    let dirs = AppDirs::new(TEST_POLICIES);
    let sink = WebhookSink::start().await;
    let app = spawn_app(&dirs, &sink, Clock::System).await;
    (dirs, sink, app)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_signs_in_and_the_list_shows_open_incidents_first() {
    let (dirs, mut sink, mut app) = app_and_sink().await;
    let mut anon = UiClient::new(app.http_addr);
    let p = anon.get("/ui/incidents").await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(p.location.as_deref(), Some("/ui/signin"));
    let p = anon
        .post_form("/ui/signin", &[("token", "not-a-token")])
        .await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    assert!(p.body.contains("id=\"error\""), "{}", p.body);
    assert!(anon.cookie().is_none());

    let a = app
        .trigger("checkout", pb::Severity::High, "ui-1")
        .await
        .incident_id;
    let b = app
        .trigger("tools", pb::Severity::Critical, "ui-2")
        .await
        .incident_id;
    app.pages(&mut sink, 2).await;
    app.ack(a, "alice").await;
    let bob = create_token(&dirs, "bob-phone", "responder", "bob");
    let mut ui = UiClient::signed_in(app.http_addr, &bob).await;
    let p = ui.get("/ui/incidents").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("<title>(2) Incidents"), "{}", p.body);
    assert!(
        p.body.contains("id=\"whoami\">bob (responder)"),
        "{}",
        p.body
    );
    // Triggered before acknowledged.
    let (pos_b, pos_a) = (
        p.body.find(&format!("data-id=\"{b}\"")).unwrap(),
        p.body.find(&format!("data-id=\"{a}\"")).unwrap(),
    );
    assert!(pos_b < pos_a, "triggered first");
    // Filters: only the service asked for.
    let p = ui.get("/ui/incidents?service=tools").await;
    assert!(p.body.contains(&format!("data-id=\"{b}\"")));
    assert!(!p.body.contains(&format!("data-id=\"{a}\"")));
    let p = ui.get("/ui/incidents?severity=urgent").await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn actions_need_the_csrf_value_the_origin_and_the_role() {
    let (dirs, mut sink, mut app) = app_and_sink().await;
    let id = app
        .trigger("checkout", pb::Severity::High, "ui-csrf")
        .await
        .incident_id;
    app.page(&mut sink).await;
    let page = format!("/ui/incidents/{id}");
    let ack = format!("/ui/incidents/{id}/acknowledge");

    let viewer = create_token(&dirs, "vic-view", "viewer", "victor");
    let mut v = UiClient::signed_in(app.http_addr, &viewer).await;
    let p = v.get(&page).await;
    assert!(
        !p.body.contains("id=\"ack\""),
        "a viewer gets no Acknowledge button"
    );
    let p = v.act(&page, &ack, &[]).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.body);
    assert!(p.body.contains("needs role responder"), "{}", p.body);

    let bob = create_token(&dirs, "bob-phone", "responder", "bob");
    let mut ui = UiClient::signed_in(app.http_addr, &bob).await;
    assert!(ui.get(&page).await.body.contains("id=\"ack\""));
    let p = ui.post_form(&ack, &[]).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "no CSRF value");
    let p = ui.post_form(&ack, &[("csrf", "forged")]).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "a wrong CSRF value");
    let csrf = ui.get(&page).await.csrf();
    let cross = reqwest::Client::new()
        .post(format!("{}{ack}", ui.base))
        .header("cookie", format!("pagerd_session={}", ui.cookie().unwrap()))
        .header("origin", "http://evil.example")
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), StatusCode::FORBIDDEN, "another origin");
    assert_eq!(
        app.get(id).await.incident.unwrap().state,
        pb::IncidentState::Triggered as i32
    );

    let p = ui.act(&page, &ack, &[]).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let p = ui.get(p.location.as_deref().unwrap()).await;
    assert!(p.body.contains("id=\"flash\""), "{}", p.body);
    assert!(p.body.contains("Acknowledged by bob"), "{}", p.body);
    assert!(
        p.body.contains("bob (dashboard, token bob-phone)"),
        "the timeline names who: {}",
        p.body
    );
    let inc = app.get(id).await.incident.unwrap();
    assert_eq!(inc.acknowledged_by, "bob");

    let p = ui
        .act(
            &page,
            &format!("/ui/incidents/{id}/notes"),
            &[("text", "<b>rolled back</b>")],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let p = ui.get(&page).await;
    assert!(
        p.body.contains("&#60;b&#62;rolled back"),
        "notes are escaped: {}",
        p.body
    );
    let p = ui
        .act(
            &page,
            &format!("/ui/incidents/{id}/resolve"),
            &[("note", "fixed")],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.get(id).await.incident.unwrap().state,
        pb::IncidentState::Resolved as i32
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_token_or_a_sign_out_ends_the_session() {
    let (dirs, _sink, app) = app_and_sink().await;
    let bob = create_token(&dirs, "bob-phone", "responder", "bob");
    let mut ui = UiClient::signed_in(app.http_addr, &bob).await;
    assert_eq!(ui.get("/ui/incidents").await.status, StatusCode::OK);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pagerd"))
        .args(["token", "revoke", "bob-phone"])
        .env("PAGERD_DATA_DIR", dirs.data())
        .env("PAGERD_SCHEDULES_DIR", dirs.schedules())
        .output()
        .unwrap();
    assert!(out.status.success());
    let p = ui.get("/ui/incidents").await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "revoked: signed out");

    let admin = app.daemon.admin_token().await;
    let mut ui = UiClient::signed_in(app.http_addr, &admin).await;
    let cookie = ui.cookie().unwrap().to_string();
    let p = ui.act("/ui/incidents", "/ui/signout", &[]).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert!(ui.cookie().is_none(), "the cookie is cleared");
    let old = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/ui/incidents", ui.base))
        .header("cookie", format!("pagerd_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        old.status(),
        StatusCode::SEE_OTHER,
        "the old cookie no longer works"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mailed_sign_in_link_works_once_and_names_nobody_else() {
    let dirs = AppDirs::new(TEST_POLICIES);
    let sink = WebhookSink::start().await;
    let mut smtp = SmtpSink::start(None);
    let mut settings = test_settings(&dirs, &sink.url);
    settings.notify.email.smtp_host = Some("127.0.0.1".into());
    settings.notify.email.smtp_port = smtp.port;
    settings.notify.email.tls = pagerd::config::settings::SmtpTls::None;
    let app = spawn_app_with(settings, Clock::System).await;
    let mut anon = UiClient::new(app.http_addr);
    // Someone unknown, and someone without an email address: the same answer, no mail.
    for who in ["mallory@example.com", "bob"] {
        let p = anon.post_form("/ui/signin/link", &[("who", who)]).await;
        assert_eq!(p.status, StatusCode::OK);
        assert!(p.body.contains("id=\"link-sent\""));
    }
    let p = anon
        .post_form("/ui/signin/link", &[("who", "ALICE@example.com")])
        .await;
    assert!(p.body.contains("id=\"link-sent\""));
    let mail = smtp.next_mail().await;
    assert_eq!(
        mail.headers.get("to").map(String::as_str),
        Some("alice@example.com")
    );
    let link = mail
        .text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Sign in: "))
        .unwrap_or_else(|| panic!("no link in {}", mail.text))
        .to_string();
    let path = link
        .strip_prefix(&anon.base)
        .expect("the link points at this daemon");
    assert_eq!(smtp.count(), 1, "only alice got a mail");

    // Fetching the link (a mail scanner) signs nobody in.
    let p = anon.get(path).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("id=\"signin-link-confirm\""));
    assert!(anon.cookie().is_none());
    let p = anon.post_form(path, &[]).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let p = anon.get("/ui/incidents").await;
    assert!(
        p.body.contains("id=\"whoami\">alice (responder)"),
        "{}",
        p.body
    );
    // Twice: refused, from anyone.
    let mut other = UiClient::new(app.http_addr);
    let p = other.post_form(path, &[]).await;
    assert_eq!(p.status, StatusCode::GONE, "{}", p.body);
    assert!(other.cookie().is_none());
    // A changed link is refused.
    let mut forged = path.to_string();
    forged.push('x');
    assert_eq!(
        other.post_form(&forged, &[]).await.status,
        StatusCode::BAD_REQUEST
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_event_stream_resumes_after_the_last_event_id() {
    let (_dirs, mut sink, mut app) = app_and_sink().await;
    let id = app
        .trigger("checkout", pb::Severity::High, "ui-sse")
        .await
        .incident_id;
    app.page(&mut sink).await;
    let admin = app.daemon.admin_token().await;
    let ui = UiClient::signed_in(app.http_addr, &admin).await;
    let seqs: Vec<i64> = app.events.iter().map(|e| e.sequence).collect();
    assert!(seqs.len() >= 2, "{seqs:?}");
    let mut r = reqwest::Client::new()
        .get(format!("{}/ui/events", ui.base))
        .header("cookie", format!("pagerd_session={}", ui.cookie().unwrap()))
        .header("last-event-id", seqs[0].to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    // Events come coalesced: each message's id is the last sequence it covers, its data
    // the incidents that changed.
    let mut text = String::new();
    let last = seqs[seqs.len() - 1];
    while !text.contains(&format!("id: {last}\n")) {
        let chunk = within("the replayed events", r.chunk())
            .await
            .unwrap()
            .expect("the stream stays open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let ids: Vec<i64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(
        ids.iter().all(|s| *s > seqs[0]),
        "nothing before the resume point: {text}"
    );
    assert!(
        ids.len() < seqs.len() - 1 || seqs.len() == 2,
        "coalesced: {text}"
    );
    assert!(
        text.contains(&format!(
            "event: incidents\ndata: {{\"incidents\":[{id}],\"many\":false}}"
        )),
        "{text}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_carry_strict_headers_and_the_first_page_is_small() {
    let (_dirs, _sink, app) = app_and_sink().await;
    let admin = app.daemon.admin_token().await;
    let mut ui = UiClient::signed_in(app.http_addr, &admin).await;
    let http = reqwest::Client::new();
    let r = http
        .get(format!("{}/ui/incidents", ui.base))
        .header("cookie", format!("pagerd_session={}", ui.cookie().unwrap()))
        .send()
        .await
        .unwrap();
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(r.headers()["referrer-policy"], "same-origin");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    // The first page with everything it loads.
    let mut total = html.len();
    for asset in ["app.css", "app.js"] {
        let at = html.find(&format!("/ui/assets/{asset}?v=")).expect(asset);
        let url = &html[at..at + html[at..].find('"').unwrap()];
        let body = http.get(format!("{}{url}", ui.base)).send().await.unwrap();
        assert_eq!(body.status(), StatusCode::OK);
        total += body.bytes().await.unwrap().len();
    }
    assert!(total < 50 * 1024, "first page {total} bytes");
    assert_eq!(
        ui.get("/ui/nothing-here").await.status,
        StatusCode::NOT_FOUND
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_dashboard_off_there_is_no_ui_and_the_daemon_still_stops() {
    let dirs = AppDirs::new(TEST_POLICIES);
    let sink = WebhookSink::start().await;
    let mut settings = test_settings(&dirs, &sink.url);
    settings.ui.enabled = false;
    let app = spawn_app_with(settings, Clock::System).await;
    let mut anon = UiClient::new(app.http_addr);
    assert_eq!(anon.get("/ui/signin").await.status, StatusCode::NOT_FOUND);
    // The stop must finish: nothing of the dashboard may keep the store open.
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_input_gets_a_clean_refusal_and_the_daemon_stays_healthy() {
    let (_dirs, _sink, app) = app_and_sink().await;
    let admin = app.daemon.admin_token().await;
    let mut ui = UiClient::signed_in(app.http_addr, &admin).await;
    let huge = "x".repeat(100 * 1024);
    let p = ui
        .act("/ui/incidents/new", "/ui/incidents", &[("summary", &huge)])
        .await;
    assert_eq!(p.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", p.body);
    for (fields, status, says) in [
        (
            vec![("service", "nope"), ("severity", "high"), ("summary", "s")],
            StatusCode::NOT_FOUND,
            "unknown service",
        ),
        (
            vec![
                ("service", "checkout"),
                ("severity", "sev-9"),
                ("summary", "s"),
            ],
            StatusCode::BAD_REQUEST,
            "severity:",
        ),
        (
            vec![
                ("service", "checkout"),
                ("severity", "high"),
                ("summary", ""),
            ],
            StatusCode::BAD_REQUEST,
            "summary:",
        ),
    ] {
        let p = ui.act("/ui/incidents/new", "/ui/incidents", &fields).await;
        assert_eq!(p.status, status, "{fields:?}: {}", p.body);
        assert!(p.body.contains(says), "{fields:?}: {}", p.body);
    }
    assert_eq!(
        ui.get("/ui/incidents/999999").await.status,
        StatusCode::NOT_FOUND
    );
    let p = ui.act("/ui/incidents", "/ui/incidents/1/delete", &[]).await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    let p = ui
        .act("/ui/incidents", "/ui/incidents/1/notes", &[("text", "")])
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    let mut anon = UiClient::new(app.http_addr);
    let p = anon
        .post_form("/ui/signin", &[("token", &huge[..10_000])])
        .await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    let p = anon
        .get(&format!("/ui/signin/link/{}", &huge[..5000]))
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    let p = anon
        .post_form("/ui/signin/link", &[("who", &huge[..5000])])
        .await;
    assert_eq!(p.status, StatusCode::OK, "the same answer as always");
    let r = reqwest::Client::new()
        .get(format!("{}/ui/events", ui.base))
        .header("cookie", format!("pagerd_session={}", ui.cookie().unwrap()))
        .header("last-event-id", "abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let health = reqwest::get(format!("{}/healthz", ui.base)).await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_session_cannot_hold_every_live_update_stream() {
    let (_dirs, _sink, app) = app_and_sink().await;
    let admin = app.daemon.admin_token().await;
    let a = UiClient::signed_in(app.http_addr, &admin).await;
    let b = UiClient::signed_in(app.http_addr, &admin).await;
    let http = reqwest::Client::new();
    let open = |c: &UiClient| {
        http.get(format!("{}/ui/events", c.base))
            .header("cookie", format!("pagerd_session={}", c.cookie().unwrap()))
            .send()
    };
    let mut held = Vec::new();
    for _ in 0..8 {
        let r = open(&a).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        held.push(r);
    }
    assert_eq!(
        open(&a).await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        open(&b).await.unwrap().status(),
        StatusCode::OK,
        "another session still can"
    );
    // A closed stream frees its place (the server notices on its next write or keep-alive;
    // an ended request is enough here).
    drop(held.pop());
    let mut freed = false;
    for _ in 0..100 {
        let r = open(&a).await.unwrap();
        if r.status() == StatusCode::OK {
            freed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(freed, "the slot of a closed stream comes back");
    drop(held);
    app.stop().await;
}
