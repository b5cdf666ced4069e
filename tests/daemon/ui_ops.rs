//! The dashboard's maintenance and reports pages over plain HTTP: an admin adds a window
//! through the form (one service, then every service) and ends it, checked through gRPC;
//! a responder sees no form and a forged POST is refused; bad input names its field; times
//! show in the viewer's zone; the reports page shows a person's load and the response times
//! after an incident was paged and acknowledged, with charts drawn as inline SVG.

use pagerd::engine::Clock;
use pagerd::proto as pb;
use pb::intake_service_client::IntakeServiceClient;
use reqwest::StatusCode;

use crate::helpers::*;

async fn app_and_sink() -> (AppDirs, WebhookSink, TestApp) {
    let dirs = AppDirs::new(TEST_POLICIES);
    let sink = WebhookSink::start().await;
    let app = spawn_app(&dirs, &sink, Clock::System).await;
    (dirs, sink, app)
}

async fn windows(app: &TestApp, include_removed: bool) -> Vec<pb::MaintenanceWindow> {
    IntakeServiceClient::new(app.channel.clone())
        .list_maintenance(pb::ListMaintenanceRequest {
            service: String::new(),
            include_removed,
        })
        .await
        .expect("ListMaintenance")
        .into_inner()
        .windows
}

const PAGE: &str = "/ui/maintenance";

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_adds_a_window_through_the_form_and_ends_it() {
    let (dirs, _sink, app) = app_and_sink().await;
    let admin = create_token(&dirs, "alice-admin", "admin", "alice");
    let mut ui = UiClient::signed_in(app.http_addr, &admin).await;
    let p = ui.get(PAGE).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("id=\"maintenance\""), "{}", p.body);
    assert!(
        p.body.contains("id=\"maintenance-add\""),
        "an admin gets the form"
    );
    assert!(p.body.contains("No maintenance now or coming."));

    let before = std::time::SystemTime::now();
    let p = ui
        .act(
            PAGE,
            PAGE,
            &[
                ("service", "checkout"),
                ("start", ""),
                ("end", ""),
                ("duration", "2h"),
                ("reason", "db <upgrade>"),
                ("tz", "UTC"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(p.location.as_deref(), Some("/ui/maintenance?done=added"));
    let w = windows(&app, false).await;
    assert_eq!(w.len(), 1, "{w:?}");
    let (start, end) = (
        w[0].start.as_ref().unwrap().seconds,
        w[0].end.as_ref().unwrap().seconds,
    );
    let asked = before
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((asked - 5..=asked + 60).contains(&start), "starts now");
    assert_eq!(end - start, 2 * 3600);
    assert_eq!(
        (
            w[0].service.as_str(),
            w[0].reason.as_str(),
            w[0].created_by.as_str()
        ),
        ("checkout", "db <upgrade>", "alice"),
        "made as the session's person"
    );
    let id = w[0].id;
    let p = ui.get("/ui/maintenance?done=added").await;
    assert!(p.body.contains("id=\"flash\""), "{}", p.body);
    let row = format!("data-id=\"{id}\" data-state=\"active\" data-service=\"checkout\"");
    assert!(p.body.contains(&row), "{}", p.body);
    assert!(p.body.contains("db &#60;upgrade&#62;"), "escaped");
    assert!(p.body.contains(&format!("id=\"end-{id}\"")));

    // Times show in the viewer's zone (the cookie app.js sets).
    let r = reqwest::Client::new()
        .get(format!("{}{PAGE}", ui.base))
        .header(
            "cookie",
            format!(
                "pagerd_session={}; pagerd_tz=America%2FLos_Angeles",
                ui.cookie().unwrap()
            ),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(r.contains("Times in America/Los_Angeles"), "{r}");
    assert!(r.contains(" PST<") || r.contains(" PDT<"), "{r}");
    assert!(r.contains("name=\"tz\" value=\"America/Los_Angeles\""));

    // Every service, later, in the viewer's zone: upcoming windows, one per service.
    let p = ui
        .act(
            PAGE,
            PAGE,
            &[
                ("service", "*"),
                ("start", "2199-01-01T10:00"),
                ("end", "2199-01-02T10:00"),
                ("duration", ""),
                ("reason", "datacentre move"),
                ("tz", "Europe/Berlin"),
            ],
        )
        .await;
    assert_eq!(
        p.location.as_deref(),
        Some("/ui/maintenance?done=added-all"),
        "{}",
        p.body
    );
    let all: Vec<_> = windows(&app, false)
        .await
        .into_iter()
        .filter(|w| w.reason == "datacentre move")
        .collect();
    let mut services: Vec<&str> = all.iter().map(|w| w.service.as_str()).collect();
    services.sort();
    assert_eq!(services, ["batch", "checkout", "tools", "web"]);
    // 10:00 in Berlin in January is 09:00 UTC.
    assert!(
        all.iter()
            .all(|w| w.start.as_ref().unwrap().seconds % 86400 == 9 * 3600)
    );
    let p = ui.get(PAGE).await;
    assert_eq!(p.body.matches("data-state=\"upcoming\"").count(), 4);

    // End now: gone from the active list, removed by the session's person.
    let end_path = format!("/ui/maintenance/{id}/end");
    let p = ui.act(PAGE, &end_path, &[]).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(p.location.as_deref(), Some("/ui/maintenance?done=ended"));
    assert!(windows(&app, false).await.iter().all(|w| w.id != id));
    let removed = windows(&app, true).await;
    let gone = removed
        .iter()
        .find(|w| w.id == id)
        .expect("listed as removed");
    assert_eq!(gone.removed_by, "alice");
    assert!(!ui.get(PAGE).await.body.contains(&row));
    let again = ui.act(PAGE, &end_path, &[]).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert!(
        again.body.contains("already removed by alice"),
        "{}",
        again.body
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_maintenance_input_gets_a_400_naming_the_field() {
    let (dirs, _sink, app) = app_and_sink().await;
    let admin = create_token(&dirs, "alice-admin", "admin", "alice");
    let mut ui = UiClient::signed_in(app.http_addr, &admin).await;
    let long_reason = "r".repeat(5000);
    let table: [(&[(&str, &str)], &str); 6] = [
        (
            &[("service", "checkout"), ("duration", "367d")],
            "duration: at most 366 days",
        ),
        (
            &[
                ("service", "checkout"),
                ("start", "2030-01-02T10:00"),
                ("end", "2030-01-01T10:00"),
            ],
            "end: must be after start",
        ),
        (
            &[("service", "nope"), ("duration", "1h")],
            "service: no service `nope`",
        ),
        (&[("service", "checkout")], "end: give an end or a duration"),
        (
            &[
                ("service", "checkout"),
                ("start", "soon"),
                ("duration", "1h"),
            ],
            "start: `soon` is not a date",
        ),
        (
            &[
                ("service", "checkout"),
                ("duration", "1h"),
                ("reason", &long_reason),
            ],
            "reason: at most 4096 bytes",
        ),
    ];
    for (fields, want) in table {
        let p = ui.act(PAGE, PAGE, fields).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST, "{fields:?}: {}", p.body);
        assert!(p.body.contains(want), "{want}: {}", p.body);
    }
    assert!(windows(&app, true).await.is_empty(), "nothing was added");
    let p = ui.act(PAGE, "/ui/maintenance/999/end", &[]).await;
    assert_eq!(p.status, StatusCode::NOT_FOUND, "{}", p.body);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_responder_sees_no_maintenance_form_and_a_forged_post_is_refused() {
    let (dirs, _sink, app) = app_and_sink().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let added = IntakeServiceClient::new(app.channel.clone())
        .add_maintenance(pb::AddMaintenanceRequest {
            service: "tools".into(),
            end: Some(prost_types::Timestamp {
                seconds: now + 3 * 86400,
                nanos: 0,
            }),
            reason: "rebuild".into(),
            ..Default::default()
        })
        .await
        .expect("AddMaintenance")
        .into_inner()
        .window
        .unwrap();
    let bob = create_token(&dirs, "bob-phone", "responder", "bob");
    let victor = create_token(&dirs, "vic-view", "viewer", "victor");
    for token in [bob, victor] {
        let mut ui = UiClient::signed_in(app.http_addr, &token).await;
        let p = ui.get(PAGE).await;
        assert_eq!(p.status, StatusCode::OK);
        assert!(
            p.body.contains(&format!("data-id=\"{}\"", added.id)),
            "{}",
            p.body
        );
        assert!(p.body.contains("rebuild"));
        assert!(!p.body.contains("id=\"maintenance-add\""), "no add form");
        assert!(!p.body.contains("end-window"), "no End now button");
        // Forged: the right CSRF value and origin, the wrong role.
        let p = ui
            .act(PAGE, PAGE, &[("service", "checkout"), ("duration", "1h")])
            .await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.body);
        assert!(p.body.contains("needs role admin"), "{}", p.body);
        let p = ui
            .act(PAGE, &format!("/ui/maintenance/{}/end", added.id), &[])
            .await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.body);
    }
    let w = windows(&app, true).await;
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].removed_by.is_empty(), "still active");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_reports_page_shows_the_load_and_response_times_of_a_page_acknowledged() {
    let (dirs, mut sink, mut app) = app_and_sink().await;
    let id = app
        .trigger("checkout", pb::Severity::High, "rep-1")
        .await
        .incident_id;
    assert_eq!(app.page(&mut sink).await.person(), "alice");
    app.ack(id, "alice").await;
    let victor = create_token(&dirs, "vic-view", "viewer", "victor");
    let mut ui = UiClient::signed_in(app.http_addr, &victor).await;

    let p = ui.get("/ui/reports").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    for id in [
        "id=\"load\"",
        "id=\"response\"",
        "id=\"load-table\"",
        "id=\"response-table\"",
    ] {
        assert!(p.body.contains(id), "{id}: {}", p.body);
    }
    // alice: one incident, one page, an hour called in (a call-in counts at least one).
    let at = p.body.find("data-person=\"alice\"").expect("alice's row");
    let row = &p.body[at..at + p.body[at..].find("</tr>").unwrap()];
    assert!(row.contains("<td class=\"hours\">1</td>"), "{row}");
    assert!(row.contains("<td class=\"incidents\">1</td>"), "{row}");
    assert!(row.contains("<td class=\"pages\">1</td>"), "{row}");
    // The charts: inline SVG with a title and the person's bar; the numbers in the table.
    assert!(
        p.body.contains("<svg class=\"chart\" id=\"chart-hours\""),
        "{}",
        p.body
    );
    assert!(p.body.contains("<title id=\"chart-hours-t\">"));
    assert!(p.body.contains("class=\"lbl\""));
    assert!(p.body.contains(">alice</text>"), "{}", p.body);
    // Response: the high incident, acknowledged within its hour.
    let at = p.body.find("data-severity=\"high\"").expect("the high row");
    let row = &p.body[at..at + p.body[at..].find("</tr>").unwrap()];
    assert!(row.contains("<td class=\"met\">1</td>"), "{row}");
    assert!(row.contains("<td class=\"breached\">0</td>"), "{row}");
    assert!(p.body.contains("id=\"chart-response\""));
    assert!(!p.body.contains(" style="), "no inline styles (CSP)");

    // A range without it.
    let p = ui.get("/ui/reports?from=2020-01-01&to=2020-01-28").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(!p.body.contains("data-person=\"alice\""));
    assert!(p.body.contains("No incident opened in this range."));

    for (query, want) in [
        ("from=yesterday", "from: `yesterday` is not a date"),
        (
            "from=2026-03-10&to=2026-03-01",
            "to: must not be before from",
        ),
        ("from=2025-01-01&to=2026-03-01", "to: at most 366 days"),
        ("to=2026-02-30", "to: `2026-02-30` is not a date"),
    ] {
        let p = ui.get(&format!("/ui/reports?{query}")).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(p.body.contains(want), "{query}: {}", p.body);
    }
    app.stop().await;
}
