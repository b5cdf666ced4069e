//! The dashboard's On call now and Schedule pages over plain HTTP: who is on call in the
//! viewer's zone and the schedule's, gaps on the timeline, taking a shift and adding overrides
//! with the same rules as the API, and refusals for viewers, other people and bad input.

use chrono::{DateTime, Utc};
use pagerd::engine::Clock;
use pagerd::proto::schedule_service_client::ScheduleServiceClient;
use pagerd::proto::{self as pb};
use reqwest::StatusCode;

use crate::helpers::*;

// Monday 19:00 in Los Angeles: sam's first evening (17:00-09:00 Pacific), until Tuesday
// 09:00 Pacific = 17:00 UTC = 18:00 in Berlin.
const MONDAY_EVENING: &str = "2026-03-03T03:00:00Z";
const SCHEDULE: &str = "/ui/schedules/evenings";

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

async fn app() -> (AppDirs, WebhookSink, TestApp) {
    let dirs = AppDirs::new(TEST_POLICIES);
    let sink = WebhookSink::start().await;
    let app = spawn_app(&dirs, &sink, Clock::anchored(at(MONDAY_EVENING))).await;
    (dirs, sink, app)
}

fn schedules(app: &TestApp) -> ScheduleServiceClient<Channel> {
    ScheduleServiceClient::new(app.channel.clone())
}

async fn on_call_now(app: &TestApp) -> String {
    schedules(app)
        .on_call(pb::OnCallRequest {
            schedule: "evenings".into(),
            at: None,
        })
        .await
        .expect("OnCall")
        .into_inner()
        .shift
        .map(|s| s.person)
        .unwrap_or_default()
}

async fn overrides(app: &TestApp) -> Vec<pb::Override> {
    schedules(app)
        .list_overrides(pb::ListOverridesRequest {
            schedule: "evenings".into(),
            ..Default::default()
        })
        .await
        .expect("ListOverrides")
        .into_inner()
        .overrides
}

/// GET with the session and a `pagerd_tz` cookie, as app.js sets it (URI-encoded).
async fn get_in_zone(ui: &UiClient, path: &str, zone: &str) -> (StatusCode, String) {
    let r = reqwest::Client::new()
        .get(format!("{}{path}", ui.base))
        .header(
            "cookie",
            format!("pagerd_session={}; pagerd_tz={zone}", ui.cookie().unwrap()),
        )
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

/// The page at `path` with the stylesheet and script it loads stays under 50 KB (the
/// dashboard's first-page budget).
async fn assert_within_budget(ui: &mut UiClient, path: &str) {
    let p = ui.get(path).await;
    let mut total = p.body.len();
    for asset in ["app.css", "app.js"] {
        let at = p.body.find(&format!("/ui/assets/{asset}?v=")).expect(asset);
        let url = &p.body[at..at + p.body[at..].find('"').unwrap()];
        total += ui.get(url).await.body.len();
    }
    eprintln!("{path} with its assets: {total} bytes");
    assert!(total < 50 * 1024, "{path}: {total} bytes");
}

/// The `<tr data-schedule="NAME">` row of a page.
fn row<'a>(body: &'a str, schedule: &str) -> &'a str {
    let at = body
        .find(&format!("<tr data-schedule=\"{schedule}\""))
        .unwrap_or_else(|| panic!("no row for {schedule}:\n{body}"));
    let rest = &body[at..];
    &rest[..rest.find("</tr>").unwrap()]
}

#[tokio::test(flavor = "multi_thread")]
async fn the_on_call_page_shows_who_until_when_in_both_zones_and_my_shifts() {
    let (dirs, _sink, app) = app().await;
    let bob = create_token(&dirs, "bob-phone", "responder", "bob");
    let ui = UiClient::signed_in(app.http_addr, &bob).await;

    let (status, body) = get_in_zone(&ui, "/ui/oncall", "Europe%2FBerlin").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("<table id=\"oncall\""), "{body}");
    let evenings = row(&body, "evenings");
    assert!(evenings.contains("<strong>sam</strong>"), "{evenings}");
    // Until Tuesday 09:00 Pacific: 18:00 in the viewer's zone, 09:00 in the schedule's.
    assert!(evenings.contains("Tue 3 Mar 18:00"), "{evenings}");
    assert!(
        evenings.contains("Tue 3 Mar 09:00 America/Los_Angeles"),
        "{evenings}"
    );
    // Next: sam again at 17:00 Pacific (Wednesday 02:00 in Berlin), after the daytime gap.
    assert!(evenings.contains("Wed 4 Mar 02:00"), "{evenings}");
    assert!(body.contains("Times in your zone, Europe/Berlin"), "{body}");
    // Bob's week starts on Monday 9 March, 17:00 Pacific.
    let mine = &body[body.find("id=\"my-shifts\"").unwrap()..];
    assert!(mine.contains("My shifts (bob)"), "{mine}");
    assert!(mine.contains("class=\"my-shift\""), "{mine}");
    assert!(
        mine.contains("Mon 9 Mar 17:00 America/Los_Angeles"),
        "{mine}"
    );

    // Without the cookie (or with one naming no zone) the page speaks UTC.
    let (_, body) = get_in_zone(&ui, "/ui/oncall", "Mars%2FOlympus").await;
    assert!(body.contains("Times in your zone, UTC"), "{body}");
    assert!(row(&body, "evenings").contains("Tue 3 Mar 17:00"));

    // Sam has no shift of his own beyond this week's: a person with none is told so.
    let dana = create_token(&dirs, "dana-phone", "responder", "dana");
    let mut ui = UiClient::signed_in(app.http_addr, &dana).await;
    let p = ui.get("/ui/oncall").await;
    assert!(
        p.body.contains("You have no shifts in the next 4 weeks."),
        "{}",
        p.body
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_schedule_page_draws_layers_and_marks_gaps_in_red_and_in_words() {
    let (dirs, _sink, app) = app().await;
    let vic = create_token(&dirs, "vic-view", "viewer", "victor");
    let mut ui = UiClient::signed_in(app.http_addr, &vic).await;
    let p = ui.get(SCHEDULE).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.contains("id=\"schedule\""), "{}", p.body);
    assert!(p.body.contains("layer evenings"), "{}", p.body);
    // The daytime gap: a red segment on the final line and a sentence in the list.
    assert!(p.body.contains("<svg class=\"gap\""), "{}", p.body);
    assert!(p.body.contains("gap: nobody on call from"), "{}", p.body);
    assert!(p.body.contains("pages go to victor"), "{}", p.body);
    assert!(!p.body.contains("style="), "the CSP forbids inline styles");
    // Two weeks from the start of the viewer's day (Tuesday 3 March in UTC) by default.
    assert!(p.body.contains(">Tue 3 Mar<"), "{}", p.body);
    assert!(p.body.contains(">Mon 16<"), "{}", p.body);
    assert!(!p.body.contains(">Tue 17<"), "{}", p.body);
    let p = ui.get(&format!("{SCHEDULE}?weeks=4")).await;
    assert!(p.body.contains(">Mon 30<"), "{}", p.body);
    // Four weeks of a schedule with a gap every day still loads within the first-page budget.
    assert_within_budget(&mut ui, &format!("{SCHEDULE}?weeks=4")).await;
    assert!(!p.body.contains(">Tue 31<"), "{}", p.body);
    let p = ui.get(&format!("{SCHEDULE}?weeks=5")).await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.body.contains("weeks: 2, 3 or 4"), "{}", p.body);
    let p = ui.get("/ui/schedules/nights").await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_responder_takes_a_shift_and_adds_and_removes_overrides_for_themselves_only() {
    let (dirs, _sink, app) = app().await;
    let bob = create_token(&dirs, "bob-phone", "responder", "bob");
    let mut ui = UiClient::signed_in(app.http_addr, &bob).await;
    let p = ui.get(SCHEDULE).await;
    assert!(p.body.contains("Take this shift"), "{}", p.body);
    assert!(p.body.contains("id=\"add-override\""), "{}", p.body);
    assert_eq!(on_call_now(&app).await, "sam");
    // With a button on every shift, four weeks still fit the budget.
    assert_within_budget(&mut ui, &format!("{SCHEDULE}?weeks=4")).await;
    assert_within_budget(&mut ui, "/ui/oncall").await;

    // Sam's evening in progress: bob takes the rest of it.
    let (start, end) = (at("2026-03-03T01:00:00Z"), at("2026-03-03T17:00:00Z"));
    let shift = format!("{}-{}-sam", start.timestamp(), end.timestamp());
    assert!(
        p.body
            .contains(&format!("value=\"{shift}\">Take this shift")),
        "{}",
        p.body
    );
    let take = format!("{SCHEDULE}/take");
    let p = ui.act(SCHEDULE, &take, &[("shift", &shift)]).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(on_call_now(&app).await, "bob");
    let listed = overrides(&app).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].person, "bob");
    assert_eq!(listed[0].end.as_ref().unwrap().seconds, end.timestamp());
    assert_eq!(listed[0].reason, "taken from sam on the dashboard");
    let p = ui.get(p.location.as_deref().unwrap()).await;
    assert!(p.body.contains("id=\"flash\""), "{}", p.body);
    let remove = format!("{SCHEDULE}/overrides/{}/remove", listed[0].id);
    assert!(
        p.body.contains(&remove),
        "bob may remove his own: {}",
        p.body
    );

    // An override for someone else needs an admin.
    let add = format!("{SCHEDULE}/overrides");
    let form = |person: &'static str, start: &'static str, end: &'static str| {
        vec![
            ("person", person),
            ("start", start),
            ("end", end),
            ("reason", "cover"),
            ("zone", "America/Los_Angeles"),
        ]
    };
    let p = ui
        .act(
            SCHEDULE,
            &add,
            &form("sam", "2026-03-05T18:00", "2026-03-05T22:00"),
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.body);
    assert!(p.body.contains("needs role admin"), "{}", p.body);

    // Bad input: a 400 page naming the field.
    for (f, field) in [
        (
            form("bob", "2026-03-05T22:00", "2026-03-05T18:00"),
            "end: must be after start",
        ),
        (
            form("bob", "2026-03-05T18:00", "2027-03-08T18:00"),
            "end: at most 366 days",
        ),
        (
            form("zed", "2026-03-05T18:00", "2026-03-05T22:00"),
            "person: no person `zed`",
        ),
        (
            form("bob", "Thursday", "2026-03-05T22:00"),
            "start: `Thursday` is not a date and time",
        ),
    ] {
        let p = ui.act(SCHEDULE, &add, &f).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST, "{field}: {}", p.body);
        assert!(p.body.contains("id=\"error\""), "{}", p.body);
        assert!(
            p.body.contains(&field.replace('`', "&#96;")) || p.body.contains(field),
            "{field}: {}",
            p.body
        );
    }
    let over = format!(
        "{}-{}-sam",
        start.timestamp() - 86400,
        end.timestamp() - 86400
    );
    let p = ui.act(SCHEDULE, &take, &[("shift", &over)]).await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST, "{}", p.body);
    assert!(
        p.body.contains("shift: that shift is over already"),
        "{}",
        p.body
    );
    assert_eq!(overrides(&app).await.len(), 1, "nothing was added");

    // For himself, in the schedule's zone: Thursday 18:00-22:00 Pacific.
    let p = ui
        .act(
            SCHEDULE,
            &add,
            &form("bob", "2026-03-05T18:00", "2026-03-05T22:00"),
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let listed = overrides(&app).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    let added = listed
        .iter()
        .find(|o| o.id != listed[0].id || o.reason == "cover")
        .unwrap();
    assert_eq!(
        added.start.as_ref().unwrap().seconds,
        at("2026-03-06T02:00:00Z").timestamp()
    );

    // Removing the taken shift gives it back to sam.
    let p = ui.act(SCHEDULE, &remove, &[]).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(on_call_now(&app).await, "sam");

    // An admin may cover anyone.
    let admin = create_token(&dirs, "vic-admin", "admin", "victor");
    let mut boss = UiClient::signed_in(app.http_addr, &admin).await;
    let p = boss
        .act(
            SCHEDULE,
            &add,
            &form("sam", "2026-03-07T18:00", "2026-03-07T22:00"),
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert!(overrides(&app).await.iter().any(|o| o.person == "sam"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_viewer_sees_no_schedule_actions_and_a_forged_post_is_refused() {
    let (dirs, _sink, app) = app().await;
    let vic = create_token(&dirs, "vic-view", "viewer", "victor");
    let mut ui = UiClient::signed_in(app.http_addr, &vic).await;
    let p = ui.get(SCHEDULE).await;
    assert!(!p.body.contains("Take this shift"), "{}", p.body);
    assert!(!p.body.contains("id=\"add-override\""), "{}", p.body);
    let now = at(MONDAY_EVENING).timestamp();
    let shift = format!("{now}-{}-sam", now + 3600);
    let take = format!("{SCHEDULE}/take");
    let p = ui.act(SCHEDULE, &take, &[("shift", &shift)]).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.body);
    assert!(p.body.contains("needs role responder"), "{}", p.body);
    let p = ui
        .act(
            SCHEDULE,
            &format!("{SCHEDULE}/overrides"),
            &[
                ("person", "victor"),
                ("start", "2026-03-05T18:00"),
                ("end", "2026-03-05T22:00"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.body);
    // And a responder's form without the session's CSRF value is refused too.
    let bob = create_token(&dirs, "bob-phone", "responder", "bob");
    let mut bob = UiClient::signed_in(app.http_addr, &bob).await;
    let p = bob.post_form(&take, &[("shift", &shift)]).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.body);
    assert!(overrides(&app).await.is_empty());
    assert_eq!(on_call_now(&app).await, "sam");
    app.stop().await;
}

/// Weekly 24/7 with a limit of two weeks a quarter: with three people, the fourth week's
/// turn is ann's third in the quarter and moves.
const LIMITED: &str = r#"
[[person]]
name = "ann"
time_zone = "UTC"
[[person]]
name = "bob"
time_zone = "UTC"
[[person]]
name = "cat"
time_zone = "UTC"
[[service]]
name = "api"
escalation_policy = "rota"
[[escalation_policy]]
name = "rota"
levels = [{ schedules = ["rota"], delay = "8h" }]
[[schedule]]
name = "rota"
time_zone = "UTC"
owner = "cat"
handoff_notifications = "off"
[schedule.burnout]
max_weeks_per_quarter = 1
[[schedule.layer]]
name = "weekly"
members = ["ann", "bob", "cat"]
shift = "1w"
start = "2026-01-05T09:00"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn the_schedule_page_shows_burnout_decisions_with_their_reason() {
    let dirs = AppDirs::new(LIMITED);
    let sink = WebhookSink::start().await;
    let app = spawn_app(&dirs, &sink, Clock::anchored(at("2026-01-05T10:00:00Z"))).await;
    let ann = create_token(&dirs, "ann-phone", "viewer", "ann");
    let mut ui = UiClient::signed_in(app.http_addr, &ann).await;
    let p = ui.get("/ui/schedules/rota?weeks=4").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    // The fourth week: nobody is eligible, so the least loaded takes it, and the page says why.
    let decisions = &p.body[p
        .body
        .find("<ul id=\"decisions\"")
        .unwrap_or_else(|| panic!("{}", p.body))..];
    let decisions = &decisions[..decisions.find("</ul>").unwrap()];
    assert_eq!(
        decisions.matches("<li class=\"decision\">").count(),
        1,
        "{decisions}"
    );
    assert!(
        decisions.contains("<strong>ann</strong>, Mon 26 Jan 09:00"),
        "{decisions}"
    );
    assert!(
        decisions.contains(
            "(projected) nobody eligible (ann skipped: 1 on-call weeks in 2026-Q1 already (limit 1)"
        ),
        "{decisions}"
    );
    assert_eq!(p.body.matches("class=\"shift decided\"").count(), 1);
    assert_eq!(
        p.body.matches("<svg class=\"dec\"").count(),
        1,
        "marked on the final line"
    );
    assert!(p.body.contains("ann (limit)"), "{}", p.body);
    // The plain turns are not decisions; ann's first week is hers.
    let (_, body) = get_in_zone(&ui, "/ui/oncall", "UTC").await;
    assert!(
        row(&body, "rota").contains("<strong>ann</strong>"),
        "{body}"
    );
    app.stop().await;
}
