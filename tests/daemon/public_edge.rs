//! The public HTTP edge gives nothing away: heartbeat pings need the heartbeat's token (in the
//! path or as a Bearer header) and calendar feeds their secret URL; a missing or wrong token
//! and an unknown name get one identical answer, and rotating a secret revokes the old URL.
//! The URLs come from the real `pagerctl` where an admin would get them.

use pagerd::engine::Clock;
use pagerd::proto::intake_service_client::IntakeServiceClient;
use pagerd::proto::schedule_service_client::ScheduleServiceClient;
use pagerd::proto::{self as pb, IncidentState};
use tonic::Code;

use crate::helpers::*;
use crate::ingest::heartbeat_policies;

const PAGERCTL: &str = env!("CARGO_BIN_EXE_pagerctl");

/// An HTTP answer as a client sees it.
#[derive(Debug, PartialEq)]
struct Answer {
    status: u16,
    body: String,
}

async fn send(req: reqwest::RequestBuilder) -> Answer {
    let resp = within("an HTTP answer", req.send()).await.unwrap();
    let status = resp.status().as_u16();
    let body = within("an HTTP body", resp.text()).await.unwrap();
    Answer { status, body }
}

/// Runs `pagerctl --addr ADDR ARGS…`; returns (exit code, stdout, stderr).
async fn pagerctl(app: &TestApp, args: &[&str]) -> (Option<i32>, String, String) {
    let token = app.daemon.admin_token().await;
    let out = within(
        "pagerctl",
        tokio::process::Command::new(PAGERCTL)
            .arg("--addr")
            .arg(app.grpc_addr.to_string())
            .args(args)
            .env_remove("PAGERD_ADDR")
            .env_remove("PAGERD_TOKEN_FILE")
            .env("PAGERD_TOKEN", token)
            .output(),
    )
    .await
    .expect("pagerctl runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every request in `refused` gets the same answer, a 404.
async fn all_refused_alike(refused: Vec<(&str, reqwest::RequestBuilder)>) -> Answer {
    let mut first: Option<Answer> = None;
    for (what, req) in refused {
        let a = send(req).await;
        assert_eq!(a.status, 404, "{what}: {a:?}");
        match &first {
            None => first = Some(a),
            Some(f) => assert_eq!(&a, f, "{what} answers differently"),
        }
    }
    first.expect("at least one request")
}

#[tokio::test(start_paused = true)]
async fn a_heartbeat_ping_needs_its_token_and_refusals_look_alike_and_resolve_nothing() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(&heartbeat_policies());
    let mut sink = WebhookSink::start().await;
    let mut app = spawn_app(&dirs, &sink, Clock::anchored(t0())).await;
    let mut intake = IntakeServiceClient::new(app.channel.clone());
    let http = reqwest::Client::new();
    let base = format!("http://{}", app.http_addr);

    // The heartbeat expires: its incident is open.
    advance(mins(60)).await;
    let id = app.page(&mut sink).await.incident_id();

    let listed = intake
        .list_heartbeats(pb::ListHeartbeatsRequest {})
        .await
        .unwrap()
        .into_inner();
    let token = listed.heartbeats[0].token.clone();
    assert!(token.len() >= 22, "at least 128 bits: {token}");
    assert_eq!(
        listed.heartbeats[0].ping_url,
        format!("{base}/heartbeats/backup/{token}")
    );
    let wrong = format!("{}x", &token[..token.len() - 1]);

    let refused = all_refused_alike(vec![
        (
            "GET without a token",
            http.get(format!("{base}/heartbeats/backup")),
        ),
        (
            "POST without a token",
            http.post(format!("{base}/heartbeats/backup")),
        ),
        (
            "GET with a wrong path token",
            http.get(format!("{base}/heartbeats/backup/{wrong}")),
        ),
        (
            "POST with a wrong Bearer token",
            http.post(format!("{base}/heartbeats/backup"))
                .bearer_auth(&wrong),
        ),
        (
            "the right token in a Basic header",
            http.post(format!("{base}/heartbeats/backup"))
                .header("authorization", format!("Basic {token}")),
        ),
        (
            "an unknown name with a real token",
            http.get(format!("{base}/heartbeats/nope/{token}")),
        ),
        (
            "an unknown name with a Bearer token",
            http.post(format!("{base}/heartbeats/nope"))
                .bearer_auth(&token),
        ),
        (
            "an unknown name without a token",
            http.get(format!("{base}/heartbeats/nope")),
        ),
    ])
    .await;
    assert!(!refused.body.contains("backup"), "{refused:?}");
    assert_eq!(
        app.get(id).await.incident.unwrap().state(),
        IncidentState::Triggered,
        "no refused ping resolved the expiry's incident"
    );

    // The Bearer header: accepted, and it resolves the incident.
    let ok = send(
        http.post(format!("{base}/heartbeats/backup"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert!(
        ok.body.contains(&format!("\"resolved_incident\":{id}")),
        "{ok:?}"
    );
    assert_eq!(
        app.get(id).await.incident.unwrap().state(),
        IncidentState::Resolved
    );
    // The path token, by GET as from cron.
    let ok = send(http.get(&listed.heartbeats[0].ping_url)).await;
    assert_eq!(ok.status, 200, "{ok:?}");

    // Rotation: the old token is refused like any wrong one, the new one works.
    let rotated = intake
        .rotate_heartbeat_token(pb::RotateHeartbeatTokenRequest {
            name: "backup".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .heartbeat
        .unwrap();
    assert_ne!(rotated.token, token);
    assert_eq!(
        send(http.get(&listed.heartbeats[0].ping_url)).await,
        refused
    );
    assert_eq!(
        send(
            http.post(format!("{base}/heartbeats/backup"))
                .bearer_auth(&token)
        )
        .await,
        refused
    );
    assert_eq!(send(http.get(&rotated.ping_url)).await.status, 200);
    let relisted = intake
        .list_heartbeats(pb::ListHeartbeatsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(relisted.heartbeats[0].token, rotated.token);
    let err = intake
        .rotate_heartbeat_token(pb::RotateHeartbeatTokenRequest {
            name: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    app.stop().await;
}

#[tokio::test]
async fn heartbeat_tokens_survive_a_restart_and_pagerctl_lists_and_rotates_them() {
    let dirs = AppDirs::new(&heartbeat_policies());
    let sink = WebhookSink::start().await;
    let app = spawn_app(&dirs, &sink, Clock::System).await;
    let http = reqwest::Client::new();

    let (code, out, err) = pagerctl(&app, &["--json", "heartbeat", "list"]).await;
    assert_eq!(code, Some(0), "{err}");
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    let url = listed["heartbeats"][0]["ping_url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(url.starts_with(&format!("http://{}/heartbeats/backup/", app.http_addr)));
    let (code, table, _) = pagerctl(&app, &["heartbeat", "list"]).await;
    assert_eq!(code, Some(0));
    assert!(table.contains(&url), "{table}");
    assert_eq!(send(http.get(&url)).await.status, 200);

    app.stop().await;
    let app = spawn_app(&dirs, &sink, Clock::System).await;
    let (_, again, _) = pagerctl(&app, &["--json", "heartbeat", "list"]).await;
    let again: serde_json::Value = serde_json::from_str(&again).unwrap();
    let token = listed["heartbeats"][0]["token"].as_str().unwrap();
    assert_eq!(
        again["heartbeats"][0]["token"], token,
        "kept across a restart"
    );
    let url = url.replace(
        &url[..url.find("/heartbeats").unwrap()],
        &format!("http://{}", app.http_addr),
    );
    assert_eq!(send(http.get(&url)).await.status, 200);

    let (code, out, err) = pagerctl(&app, &["heartbeat", "rotate", "backup"]).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("no longer works"), "{out}");
    let new_url = out
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_string();
    assert_ne!(new_url, url);
    assert_eq!(send(http.get(&url)).await.status, 404);
    assert_eq!(send(http.get(&new_url)).await.status, 200);
    let (code, _, err) = pagerctl(&app, &["heartbeat", "rotate", "nope"]).await;
    assert_eq!(code, Some(1), "{err}");
    app.stop().await;
}

#[tokio::test]
async fn calendar_feeds_need_their_secret_url_from_pagerctl_and_rotating_revokes_it() {
    let dirs = AppDirs::new(TEST_POLICIES);
    let sink = WebhookSink::start().await;
    let app = spawn_app(&dirs, &sink, Clock::System).await;
    let http = reqwest::Client::new();
    let base = format!("http://{}", app.http_addr);

    // The URL pagerctl prints fetches a valid calendar.
    let (code, out, err) = pagerctl(&app, &["feed-url", "schedule", "evenings"]).await;
    assert_eq!(code, Some(0), "{err}");
    let url = out.trim().to_string();
    assert!(
        url.starts_with(&format!("{base}/schedules/evenings/")),
        "{url}"
    );
    assert!(url.ends_with(".ics"), "{url}");
    let resp = within("the feed", http.get(&url).send()).await.unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    let cal: icalendar::Calendar = text.parse().expect("a valid RFC 5545 calendar");
    assert!(!cal.components.is_empty());
    // Asked again: the same URL (subscriptions keep working).
    let (_, again, _) = pagerctl(&app, &["feed-url", "schedule", "evenings"]).await;
    assert_eq!(again.trim(), url);
    let token = url
        .rsplit('/')
        .next()
        .unwrap()
        .strip_suffix(".ics")
        .unwrap()
        .to_string();

    let (code, person, err) = pagerctl(&app, &["feed-url", "person", "bob"]).await;
    assert_eq!(code, Some(0), "{err}");
    let person = person.trim().to_string();
    assert!(
        person.starts_with(&format!("{base}/people/bob/")),
        "{person}"
    );
    let resp = within("the feed", http.get(&person).send()).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("On call: bob"));

    let refused = all_refused_alike(vec![
        (
            "the old token-less path",
            http.get(format!("{base}/schedules/evenings.ics")),
        ),
        (
            "a wrong token",
            http.get(format!("{base}/schedules/evenings/{}x.ics", &token[1..])),
        ),
        (
            "an unknown schedule with a real token",
            http.get(format!("{base}/schedules/nope/{token}.ics")),
        ),
        (
            "another feed's token",
            http.get(format!("{base}/people/bob/{token}.ics")),
        ),
        (
            "the token without .ics",
            http.get(format!("{base}/schedules/evenings/{token}")),
        ),
        (
            "an unknown person",
            http.get(format!("{base}/people/zoe/{token}.ics")),
        ),
        (
            "a person's old path",
            http.get(format!("{base}/people/bob.ics")),
        ),
        (
            "the right token as a Bearer header on the old path",
            http.get(format!("{base}/schedules/evenings.ics"))
                .bearer_auth(&token),
        ),
    ])
    .await;
    assert!(!refused.body.contains("evenings"), "{refused:?}");

    // Rotating revokes the old URL: it now answers like any wrong one.
    let (code, out, err) = pagerctl(&app, &["feed-url", "schedule", "evenings", "--rotate"]).await;
    assert_eq!(code, Some(0), "{err}");
    let rotated = out.trim().to_string();
    assert_ne!(rotated, url);
    assert_eq!(send(http.get(&url)).await, refused);
    assert_eq!(send(http.get(&rotated)).await.status, 200);
    assert_eq!(
        send(http.get(&person)).await.status,
        200,
        "other feeds keep theirs"
    );

    // An unknown name is an error for the admin (over gRPC, not on the public listener).
    let (code, _, err) = pagerctl(&app, &["feed-url", "schedule", "nope"]).await;
    assert_eq!(code, Some(1), "{err}");
    let mut schedules = ScheduleServiceClient::new(app.channel.clone());
    for (schedule, person) in [("", ""), ("evenings", "bob")] {
        let err = schedules
            .feed_url(pb::FeedUrlRequest {
                schedule: schedule.into(),
                person: person.into(),
                rotate: false,
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn urls_handed_out_start_with_links_public_url_when_it_is_set() {
    let dirs = AppDirs::new(&heartbeat_policies());
    let sink = WebhookSink::start().await;
    let mut settings = test_settings(&dirs, &sink.url);
    settings.links.public_url = "https://pagerd.example.com/".into();
    let app = spawn_app_with(settings, Clock::System).await;
    let (code, out, err) = pagerctl(&app, &["feed-url", "person", "bob"]).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.trim()
            .starts_with("https://pagerd.example.com/people/bob/"),
        "{out}"
    );
    let listed = IntakeServiceClient::new(app.channel.clone())
        .list_heartbeats(pb::ListHeartbeatsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(
        listed.heartbeats[0]
            .ping_url
            .starts_with("https://pagerd.example.com/heartbeats/backup/"),
        "{:?}",
        listed.heartbeats[0]
    );
    app.stop().await;
}
