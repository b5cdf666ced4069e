//! Schedules at run time: API overrides, hot reload, member changes, handoff notifications.

use std::time::Duration;

use crate::helpers::Channel;
use chrono::{DateTime, Utc};
use pagerd::engine::Clock;
use pagerd::proto::daemon_service_client::DaemonServiceClient;
use pagerd::proto::schedule_service_client::ScheduleServiceClient;
use pagerd::proto::{self as pb, Severity};
use tonic::Code;

use crate::helpers::*;

fn ts(t: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn schedules(app: &TestApp) -> ScheduleServiceClient<Channel> {
    ScheduleServiceClient::new(app.channel.clone())
}

async fn on_call(app: &TestApp, schedule: &str, when: Option<DateTime<Utc>>) -> pb::OnCallResponse {
    schedules(app)
        .on_call(pb::OnCallRequest {
            schedule: schedule.into(),
            at: when.and_then(ts),
        })
        .await
        .expect("OnCall")
        .into_inner()
}

async fn person_on_call(app: &TestApp, when: DateTime<Utc>) -> Option<String> {
    on_call(app, "evenings", Some(when))
        .await
        .shift
        .map(|s| s.person)
}

async fn status(app: &TestApp) -> pb::StatusResponse {
    DaemonServiceClient::new(app.channel.clone())
        .status(pb::StatusRequest {})
        .await
        .expect("Status")
        .into_inner()
}

/// Waits (real time) until the daemon reports a reload attempt newer than `seen`.
async fn next_reload(app: &TestApp, previous: Option<&pb::ReloadResult>) -> pb::ReloadResult {
    // The status shows the last attempt only: wait until it is a different one than
    // `previous` (counting polls would return the old attempt when the new one is slow).
    within("a reload after the files changed", async {
        loop {
            let s = status(app).await;
            if let Some(r) = s.last_reload
                && Some(&r) != previous
            {
                return r;
            }
            real_timeout(Duration::from_millis(50), std::future::pending::<()>()).await;
        }
    })
    .await
}

// 2026-03-03T03:00Z is Monday 19:00 PST: sam's first evening.
const MONDAY_EVENING: &str = "2026-03-03T03:00:00Z";

#[tokio::test(start_paused = true)]
async fn overrides_made_through_the_api_win_are_listed_removed_and_survive_restarts() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(TEST_POLICIES);
    let mut sink = WebhookSink::start().await;
    let clock = Clock::anchored(t0());
    let mut app = spawn_app(&dirs, &sink, clock).await;
    let evening = at(MONDAY_EVENING);
    assert_eq!(person_on_call(&app, evening).await.as_deref(), Some("sam"));

    // Dana covers 18:00–22:00 Pacific tonight.
    let added = schedules(&app)
        .add_override(pb::AddOverrideRequest {
            schedule: "evenings".into(),
            person: "dana".into(),
            start: ts(at("2026-03-03T02:00:00Z")),
            end: ts(at("2026-03-03T06:00:00Z")),
            reason: "sam at a wedding".into(),
            by: "victor".into(),
        })
        .await
        .expect("AddOverride")
        .into_inner()
        .entry
        .unwrap();
    // The admin token acted; `by` is only a note.
    assert_eq!(added.created_by, "local-admin");
    assert_eq!(added.created_at.as_ref().unwrap().seconds, t0().timestamp());
    let shift = on_call(&app, "evenings", Some(evening))
        .await
        .shift
        .unwrap();
    assert_eq!(shift.person, "dana");
    assert_eq!(
        shift.source,
        format!("override (#{} by local-admin: sam at a wedding)", added.id)
    );
    assert_eq!(
        shift.end.unwrap().seconds,
        at("2026-03-03T06:00:00Z").timestamp()
    );

    // A page to the schedule in that window goes to dana.
    advance(Duration::from_secs(
        (evening - t0()).num_seconds().try_into().unwrap(),
    ))
    .await;
    app.trigger("web", Severity::High, "override").await;
    assert_eq!(app.page(&mut sink).await.person(), "dana");

    let listed = schedules(&app)
        .list_overrides(pb::ListOverridesRequest {
            schedule: "evenings".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .overrides;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].reason, "sam at a wedding");

    // Restart: the stored override still applies.
    app.stop().await;
    let app = spawn_app(&dirs, &sink, clock).await;
    assert_eq!(person_on_call(&app, evening).await.as_deref(), Some("dana"));

    let removed = schedules(&app)
        .remove_override(pb::RemoveOverrideRequest {
            id: added.id,
            by: "sam".into(),
        })
        .await
        .expect("RemoveOverride")
        .into_inner()
        .entry
        .unwrap();
    assert_eq!(removed.removed_by, "local-admin");
    assert_eq!(person_on_call(&app, evening).await.as_deref(), Some("sam"));
    let again = schedules(&app)
        .remove_override(pb::RemoveOverrideRequest {
            id: added.id,
            by: "sam".into(),
        })
        .await;
    let err = again.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message().contains("already removed by local-admin"),
        "{}",
        err.message()
    );
    let missing = schedules(&app)
        .remove_override(pb::RemoveOverrideRequest {
            id: 999,
            by: "sam".into(),
        })
        .await;
    assert_eq!(missing.unwrap_err().code(), Code::NotFound);
    // Removed overrides are kept, and listed when asked for.
    let all = schedules(&app)
        .list_overrides(pb::ListOverridesRequest {
            include_removed: true,
            since: ts(t0()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .overrides;
    assert_eq!(all.len(), 1);
    assert_eq!(
        all[0].removed_at.as_ref().unwrap().seconds,
        evening.timestamp()
    );
    app.stop().await;
}

#[tokio::test(start_paused = true)]
async fn bad_overrides_are_refused_naming_the_field() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(TEST_POLICIES);
    let sink = WebhookSink::start().await;
    let app = spawn_app(&dirs, &sink, Clock::anchored(t0())).await;
    let good = pb::AddOverrideRequest {
        schedule: "evenings".into(),
        person: "dana".into(),
        start: ts(at("2026-03-03T02:00:00Z")),
        end: ts(at("2026-03-03T06:00:00Z")),
        reason: String::new(),
        by: "victor".into(),
    };
    let table = [
        (
            pb::AddOverrideRequest {
                schedule: "nights".into(),
                ..good.clone()
            },
            Code::NotFound,
            "schedule: no schedule `nights`",
        ),
        (
            pb::AddOverrideRequest {
                person: "zed".into(),
                ..good.clone()
            },
            Code::InvalidArgument,
            "person: no person `zed`",
        ),
        (
            pb::AddOverrideRequest {
                end: ts(at("2026-03-03T01:00:00Z")),
                ..good.clone()
            },
            Code::InvalidArgument,
            "end: must be after start",
        ),
        (
            pb::AddOverrideRequest {
                start: ts(at("2026-03-01T00:00:00Z")),
                end: ts(at("2026-03-02T00:00:00Z")),
                ..good.clone()
            },
            Code::InvalidArgument,
            "end: the override would be over already",
        ),
        (
            pb::AddOverrideRequest {
                start: None,
                ..good.clone()
            },
            Code::InvalidArgument,
            "start: required",
        ),
        (
            pb::AddOverrideRequest {
                person: " ".into(),
                ..good.clone()
            },
            Code::InvalidArgument,
            "person: required",
        ),
    ];
    for (req, code, msg) in table {
        let err = schedules(&app).add_override(req).await.unwrap_err();
        assert_eq!(err.code(), code, "{}", err.message());
        assert!(err.message().starts_with(msg), "{}", err.message());
    }
    // Nothing was stored.
    let listed = schedules(&app)
        .list_overrides(pb::ListOverridesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .overrides;
    assert!(listed.is_empty());
    app.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_changed_set_is_applied_while_running_and_a_broken_one_refused() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(TEST_POLICIES);
    let mut sink = WebhookSink::start().await;
    let mut settings = test_settings(&dirs, &sink.url);
    settings.reload.debounce = Duration::from_millis(50);
    let mut app = spawn_app_with(settings, Clock::anchored(t0())).await;
    let s = status(&app).await;
    assert!(s.last_reload.is_none());
    assert!(s.policies_loaded_at.is_some());
    assert_eq!(s.schedules, 1);

    // A good change on disk: a second schedule and the web service's owner now carol.
    let changed = format!(
        "{}\n[[schedule]]\nname = \"days\"\ntime_zone = \"UTC\"\nowner = \"dana\"\n\
         handoff_notifications = \"off\"\n[[schedule.layer]]\nname = \"all\"\n\
         members = [\"erin\"]\nshift = \"1w\"\nstart = \"2026-03-02T00:00\"\n",
        TEST_POLICIES.replace("owner = \"victor\"", "owner = \"cora\"")
    );
    write_policies(&dirs, &changed);
    let r = next_reload(&app, None).await;
    assert!(r.applied, "{:?}", r.errors);
    assert_eq!(r.trigger, "file change");
    assert_eq!(status(&app).await.schedules, 2);
    assert_eq!(on_call(&app, "evenings", None).await.owner, "cora");
    // A page in the daytime gap now goes to the new owner.
    app.trigger("web", Severity::High, "after reload").await;
    assert_eq!(app.page(&mut sink).await.person(), "cora");

    // A broken set: refused with file:line, the last good one keeps serving.
    let broken = changed.replace("members = [\"erin\"]", "members = [\"nobody\"]");
    write_policies(&dirs, &broken);
    let first = r;
    let r = next_reload(&app, Some(&first)).await;
    assert!(!r.applied);
    assert!(
        r.errors
            .iter()
            .any(|e| e.contains("policies.toml:") && e.contains("unknown person \"nobody\"")),
        "{:?}",
        r.errors
    );
    let s = status(&app).await;
    assert_eq!(s.schedules, 2, "still the last good set");
    assert!(!s.last_reload.unwrap().applied);
    app.trigger("checkout", Severity::High, "still paging")
        .await;
    assert_eq!(app.page(&mut sink).await.person(), "alice");

    // The Reload RPC answers with the same refusal.
    let r = schedules(&app)
        .reload(pb::ReloadRequest {})
        .await
        .unwrap()
        .into_inner()
        .result
        .unwrap();
    assert!(!r.applied);
    assert_eq!(r.trigger, "Reload RPC");
    assert!(r.errors.iter().any(|e| e.contains("\"nobody\"")));
    app.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_member_change_keeps_the_person_on_shift_across_reload_and_restart() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(TEST_POLICIES);
    let sink = WebhookSink::start().await;
    let mut settings = test_settings(&dirs, &sink.url);
    settings.reload.watch = false;
    let clock = Clock::anchored(at(MONDAY_EVENING));
    let app = spawn_app_with(settings.clone(), clock).await;
    let next_week = at("2026-03-10T03:00:00Z");
    assert_eq!(
        person_on_call(&app, at(MONDAY_EVENING)).await.as_deref(),
        Some("sam")
    );
    assert_eq!(
        person_on_call(&app, next_week).await.as_deref(),
        Some("bob")
    );

    // New order with dana added in front: taken literally, dana would be on call now.
    write_policies(
        &dirs,
        &TEST_POLICIES.replace(
            r#"members = ["sam", "bob"]"#,
            r#"members = ["dana", "bob", "sam"]"#,
        ),
    );
    let r = schedules(&app)
        .reload(pb::ReloadRequest {})
        .await
        .unwrap()
        .into_inner()
        .result
        .unwrap();
    assert!(r.applied, "{:?}", r.errors);
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("layer evenings") && n.contains("on shift now: sam (was sam)")),
        "{:?}",
        r.notes
    );
    // Sam keeps this week; then the new order continues after him: dana, bob.
    assert_eq!(
        person_on_call(&app, at(MONDAY_EVENING)).await.as_deref(),
        Some("sam")
    );
    assert_eq!(
        person_on_call(&app, next_week).await.as_deref(),
        Some("dana")
    );
    assert_eq!(
        person_on_call(&app, at("2026-03-17T03:00:00Z"))
            .await
            .as_deref(),
        Some("bob")
    );
    app.stop().await;

    // A restart with the same files keeps the stored phase.
    let app = spawn_app_with(settings, clock).await;
    assert_eq!(
        person_on_call(&app, at(MONDAY_EVENING)).await.as_deref(),
        Some("sam")
    );
    assert_eq!(
        person_on_call(&app, next_week).await.as_deref(),
        Some("dana")
    );
    app.stop().await;
}

const HANDOFF_POLICIES_EDIT: (&str, &str) = (
    "handoff_notifications = \"off\"",
    "handoff_notifications = \"both\"",
);

#[tokio::test(start_paused = true)]
async fn the_incoming_and_outgoing_people_get_a_handoff_summary_with_open_incidents() {
    let _frozen = freeze_time();
    let dirs =
        AppDirs::new(&TEST_POLICIES.replace(HANDOFF_POLICIES_EDIT.0, HANDOFF_POLICIES_EDIT.1));
    let mut sink = WebhookSink::start().await;
    let mut app = spawn_app(&dirs, &sink, Clock::anchored(t0())).await;
    // An open incident on web (covered by the schedule): victor is paged in the daytime gap.
    let open = app.trigger("web", Severity::High, "before handoff").await;
    assert_eq!(app.page(&mut sink).await.person(), "victor");
    // By the admin token: `victor` is only a note.
    app.ack(open.incident_id, "victor").await;

    // 17:00 PST (01:00Z): sam's evening starts; nobody was on call before.
    advance(mins(8 * 60 - 1)).await;
    sink.expect_quiet("no handoff before 17:00").await;
    advance(mins(1)).await;
    let n = sink.next().await;
    assert_eq!((n.kind(), n.person()), ("handoff", "sam"));
    assert!(n.body["incident"].is_null());
    let subject = n.body["notice"]["subject"].as_str().unwrap();
    assert_eq!(
        subject,
        "You are on call for evenings until Tue 2026-03-03 09:00 PST"
    );
    let text = n.body["notice"]["text"].as_str().unwrap();
    assert!(text.contains("Nobody was on call before you"), "{text}");
    assert!(
        text.contains(&format!(
            "#{} [high] web: web is down (acknowledged by local-admin",
            open.incident_id
        )),
        "{text}"
    );
    sink.expect_quiet("one notice per handoff").await;

    // Dana covers 20:00-22:00 tonight: two more handoffs, each telling both people.
    schedules(&app)
        .add_override(pb::AddOverrideRequest {
            schedule: "evenings".into(),
            person: "dana".into(),
            start: ts(at("2026-03-03T04:00:00Z")),
            end: ts(at("2026-03-03T06:00:00Z")),
            reason: String::new(),
            by: "sam".into(),
        })
        .await
        .expect("AddOverride");
    advance(mins(3 * 60)).await;
    let mut pair = [sink.next().await, sink.next().await];
    pair.sort_by(|a, b| a.person().cmp(b.person()));
    assert_eq!((pair[0].person(), pair[1].person()), ("dana", "sam"));
    let dana = pair[0].body["notice"]["text"].as_str().unwrap();
    assert!(dana.contains("You take over from sam"), "{dana}");
    assert!(dana.contains("until Mon 2026-03-02 22:00 PST"), "{dana}");
    let sam = pair[1].body["notice"]["subject"].as_str().unwrap();
    assert_eq!(sam, "Your shift on evenings has ended");
    advance(mins(2 * 60)).await;
    let mut pair = [sink.next().await, sink.next().await];
    pair.sort_by(|a, b| a.person().cmp(b.person()));
    assert!(
        pair[1].body["notice"]["text"]
            .as_str()
            .unwrap()
            .contains("You take over from dana")
    );

    // Each evening is a shift start of its own (the day between is a gap).
    advance(mins(19 * 60)).await;
    let n = sink.next().await;
    assert_eq!((n.kind(), n.person()), ("handoff", "sam"));
    app.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_handoff_due_while_the_daemon_was_down_is_sent_at_start() {
    let _frozen = freeze_time();
    let dirs =
        AppDirs::new(&TEST_POLICIES.replace(HANDOFF_POLICIES_EDIT.0, HANDOFF_POLICIES_EDIT.1));
    let mut sink = WebhookSink::start().await;
    let clock = Clock::anchored(t0());
    let app = spawn_app(&dirs, &sink, clock).await;
    app.stop().await;

    // Down across 17:00 PST; back at 17:30 while sam's evening runs.
    advance(mins(8 * 60 + 30)).await;
    let app = spawn_app(&dirs, &sink, clock).await;
    let n = sink.next().await;
    assert_eq!((n.kind(), n.person()), ("handoff", "sam"));
    app.stop().await;
}

#[tokio::test(start_paused = true)]
async fn open_incidents_follow_the_reloaded_policy_at_their_next_step() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(TEST_POLICIES);
    let mut sink = WebhookSink::start().await;
    let mut settings = test_settings(&dirs, &sink.url);
    settings.reload.watch = false;
    let mut app = spawn_app_with(settings, Clock::anchored(t0())).await;
    // eng's default ladder: alice, then bob after 30 minutes.
    app.trigger("checkout", Severity::High, "before reload")
        .await;
    assert_eq!(app.page(&mut sink).await.person(), "alice");

    write_policies(
        &dirs,
        &TEST_POLICIES.replace(
            "  { targets = [\"bob\"], delay = \"1h\" },",
            "  { targets = [\"dana\"], delay = \"1h\" },",
        ),
    );
    let r = schedules(&app)
        .reload(pb::ReloadRequest {})
        .await
        .unwrap()
        .into_inner()
        .result
        .unwrap();
    assert!(r.applied, "{:?}", r.errors);
    advance(mins(30)).await;
    assert_eq!(app.page(&mut sink).await.person(), "dana");
    app.stop().await;
}

/// The real binary reloads on SIGHUP and keeps serving.
#[test]
fn the_daemon_process_reloads_on_sighup() {
    use std::process::{Command, Stdio};
    let dirs = AppDirs::new(TEST_POLICIES);
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
    };
    let (grpc, http) = (free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_pagerd"))
        .env("PAGERD_GRPC__LISTEN", grpc.to_string())
        .env("PAGERD_HTTP__LISTEN", http.to_string())
        .env("PAGERD_DATA_DIR", dirs.data())
        .env("PAGERD_SCHEDULES_DIR", dirs.schedules())
        .env("PAGERD_RELOAD__WATCH", "false")
        .env("PAGERD_NOTIFY__LOG__ENABLED", "false")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pagerd starts");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let result = rt.block_on(async {
        let endpoint = format!("http://{grpc}");
        let channel = loop {
            match tonic::transport::Endpoint::from_shared(endpoint.clone())
                .unwrap()
                .connect()
                .await
            {
                Ok(c) => break c,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        let channel = with_token(channel, &admin_token(&dirs.data()).await);
        let mut daemon = DaemonServiceClient::new(channel);
        let before = daemon.status(pb::StatusRequest {}).await?.into_inner();
        assert!(before.last_reload.is_none());
        write_policies(
            &dirs,
            &TEST_POLICIES.replace("owner = \"victor\"", "owner = \"zoe\""),
        );
        let pid = child.id().to_string();
        let killed = Command::new("kill").args(["-HUP", &pid]).status().unwrap();
        assert!(killed.success());
        for _ in 0..200 {
            let s = daemon.status(pb::StatusRequest {}).await?.into_inner();
            if let Some(r) = s.last_reload {
                assert_eq!(r.trigger, "SIGHUP");
                assert!(!r.applied);
                assert!(
                    r.errors.iter().any(|e| e.contains("\"zoe\"")),
                    "{:?}",
                    r.errors
                );
                return Ok::<_, tonic::Status>(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no reload after SIGHUP");
    });
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    result.expect("status RPC");
    assert!(status.success(), "pagerd exited with {status}");
}
