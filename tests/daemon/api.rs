//! The surfaces stock tools use: health, reflection, /healthz, List, Watch; the shipped example.

use pagerd::engine::Clock;
use pagerd::proto::schedule_service_client::ScheduleServiceClient;
use pagerd::proto::{self as pb, EventKind, IncidentState, Severity};
use tokio_stream::StreamExt;

use crate::helpers::*;

#[tokio::test(start_paused = true)]
async fn standard_health_and_reflection_services_answer() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(TEST_POLICIES);
    let sink = WebhookSink::start().await;
    let app = spawn_app(&dirs, &sink, Clock::anchored(t0())).await;

    let mut health = tonic_health::pb::health_client::HealthClient::new(app.channel.clone());
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "pagerd.v1.AlertService".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status();
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );

    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let mut reflection = ServerReflectionClient::new(app.channel.clone());
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = reflection
        .server_reflection_info(tokio_stream::iter([req]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        stream.next().await.unwrap().unwrap().message_response
    else {
        panic!("unexpected reflection answer");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    for want in [
        "pagerd.v1.AlertService",
        "pagerd.v1.IncidentService",
        "grpc.health.v1.Health",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }

    // The same through v1alpha, which older clients (grpcio-reflection, Postman) speak.
    {
        use tonic_reflection::pb::v1alpha::{
            ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
            server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        };
        let mut reflection = ServerReflectionClient::new(app.channel.clone());
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut stream = reflection
            .server_reflection_info(tokio_stream::iter([req]))
            .await
            .unwrap()
            .into_inner();
        let Some(MessageResponse::ListServicesResponse(list)) =
            stream.next().await.unwrap().unwrap().message_response
        else {
            panic!("unexpected v1alpha reflection answer");
        };
        let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
        assert!(
            names.contains(&"pagerd.v1.AlertService"),
            "AlertService missing from v1alpha {names:?}"
        );
    }

    let body = reqwest::get(format!("http://{}/healthz", app.http_addr))
        .await
        .unwrap();
    assert_eq!(body.status(), 200);
    assert!(body.text().await.unwrap().starts_with("ok"));
    app.stop().await;
}

#[tokio::test(start_paused = true)]
async fn list_filters_by_state_service_and_time_and_paginates() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(TEST_POLICIES);
    let sink = WebhookSink::start().await;
    let mut app = spawn_app(&dirs, &sink, Clock::anchored(t0())).await;

    let mut ids = vec![];
    for i in 0..7 {
        let svc = if i % 2 == 0 { "checkout" } else { "tools" };
        ids.push(
            app.trigger(svc, Severity::Low, &format!("k{i}"))
                .await
                .incident_id,
        );
        advance(mins(1)).await;
    }
    app.ack(ids[0], "alice").await;

    // Pages of 3, newest first, until the token runs out.
    let mut seen = vec![];
    let mut token = String::new();
    loop {
        let page = app
            .incidents
            .list(pb::ListIncidentsRequest {
                page_size: 3,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.incidents.iter().map(|i| i.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, ids.iter().rev().copied().collect::<Vec<_>>());

    let list = |req: pb::ListIncidentsRequest| {
        let mut client = app.incidents.clone();
        async move {
            client
                .list(req)
                .await
                .unwrap()
                .into_inner()
                .incidents
                .iter()
                .map(|i| i.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(pb::ListIncidentsRequest {
            service: "tools".into(),
            ..Default::default()
        })
        .await,
        [ids[5], ids[3], ids[1]]
    );
    assert_eq!(
        list(pb::ListIncidentsRequest {
            states: vec![IncidentState::Acknowledged as i32],
            ..Default::default()
        })
        .await,
        [ids[0]]
    );
    let at = |m: i64| {
        Some(prost_types::Timestamp {
            seconds: (t0() + chrono::Duration::minutes(m)).timestamp(),
            nanos: 0,
        })
    };
    assert_eq!(
        list(pb::ListIncidentsRequest {
            since: at(2),
            until: at(4),
            ..Default::default()
        })
        .await,
        [ids[3], ids[2]]
    );
    app.stop().await;
}

#[tokio::test(start_paused = true)]
async fn watch_streams_committed_events_for_the_chosen_incident() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(TEST_POLICIES);
    let mut sink = WebhookSink::start().await;
    let mut app = spawn_app(&dirs, &sink, Clock::anchored(t0())).await;

    let mut all = app
        .incidents
        .watch(pb::WatchRequest::default())
        .await
        .unwrap()
        .into_inner();
    let r = app.trigger("checkout", Severity::High, "watched").await;
    let mut only = app
        .incidents
        .watch(pb::WatchRequest {
            incident_id: r.incident_id,
            // Opened after the trigger committed: replays the incident from its start.
            after_sequence: Some(0),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    app.trigger("tools", Severity::High, "other").await;
    app.pages(&mut sink, 2).await;
    advance(mins(30)).await; // checkout escalates to bob
    app.page(&mut sink).await;
    app.ack(r.incident_id, "bob").await;
    app.incidents
        .resolve(pb::ResolveRequest {
            id: r.incident_id,
            by: "bob".into(),
            note: String::new(),
        })
        .await
        .unwrap();

    let mut kinds = vec![];
    while kinds.last() != Some(&EventKind::Resolved) {
        let ev = within("an event on the filtered watch", only.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ev.incident_id, r.incident_id);
        kinds.push(ev.kind());
    }
    // The replay, then live, joined without a gap or a duplicate.
    assert_eq!(
        kinds,
        [
            EventKind::Triggered,
            EventKind::Paged,
            EventKind::Delivered,
            EventKind::Escalated,
            EventKind::Paged,
            EventKind::Delivered,
            EventKind::Acknowledged,
            EventKind::Resolved
        ]
    );
    let first = within("an event on the full watch", all.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (first.kind(), first.incident_id),
        (EventKind::Triggered, r.incident_id)
    );
    let mut services = std::collections::BTreeSet::new();
    for _ in 0..6 {
        services.insert(
            within("an event on the full watch", all.next())
                .await
                .unwrap()
                .unwrap()
                .service,
        );
    }
    assert!(
        services.contains("tools"),
        "the unfiltered watch sees every service"
    );

    // Shutdown ends open watch streams instead of waiting for them.
    app.stop().await;
    assert!(
        within("an event on the filtered watch", only.next())
            .await
            .is_none_or(|r| r.is_err())
    );
}

#[tokio::test(start_paused = true)]
async fn the_shipped_example_set_runs_and_pages_the_critical_ladder() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(TEST_POLICIES);
    let mut sink = WebhookSink::start().await;
    let mut settings = test_settings(&dirs, &sink.url);
    settings.schedules_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/schedules").into();
    let mut app = spawn_app_with(settings, Clock::anchored(t0())).await;

    let r = app
        .trigger("checkout-api", Severity::Critical, "example")
        .await;
    assert_eq!(persons(&app.pages(&mut sink, 2).await), ["alice", "bob"]);
    advance(mins(15)).await;
    assert_eq!(app.page(&mut sink).await.person(), "dana");
    assert_eq!(
        app.get(r.incident_id)
            .await
            .incident
            .unwrap()
            .escalation_policy,
        "engineering"
    );
    app.stop().await;
}

#[tokio::test(start_paused = true)]
async fn calendar_feeds_list_each_shift_as_a_vevent_with_a_stable_uid() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(TEST_POLICIES);
    let sink = WebhookSink::start().await;
    let app = spawn_app(&dirs, &sink, Clock::anchored(t0())).await;
    let get = |path: &str| {
        let url = format!("http://{}{path}", app.http_addr);
        async move { within("the feed", reqwest::get(url)).await.unwrap() }
    };

    // The feeds' secret paths, as the FeedUrl RPC hands them out.
    let feed_path = |schedule: &str, person: &str| {
        let mut client = ScheduleServiceClient::new(app.channel.clone());
        let req = pb::FeedUrlRequest {
            schedule: schedule.into(),
            person: person.into(),
            rotate: false,
        };
        let base = format!("http://{}", app.http_addr);
        async move {
            let url = client.feed_url(req).await.unwrap().into_inner().url;
            url.strip_prefix(&base)
                .unwrap_or_else(|| panic!("{url} is not on {base}"))
                .to_string()
        }
    };
    let evenings = feed_path("evenings", "").await;
    let resp = get(&evenings).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/calendar")
    );
    let text = resp.text().await.unwrap();
    let cal: icalendar::Calendar = text.parse().expect("a valid RFC 5545 calendar");
    let events: Vec<_> = cal.components.iter().filter_map(|c| c.as_event()).collect();
    use icalendar::Component;
    // 17:00–09:00 Pacific every night: ~90 evenings ahead (t0 is before the first one).
    assert!((88..=92).contains(&events.len()), "{} events", events.len());
    let first = events[0];
    assert_eq!(first.get_summary(), Some("On call: sam (evenings)"));
    let start = first.get_start().unwrap();
    assert_eq!(
        start,
        icalendar::DatePerhapsTime::DateTime(icalendar::CalendarDateTime::Utc(
            "2026-03-03T01:00:00Z".parse().unwrap()
        ))
    );
    // The same request gives the same UIDs.
    let again = get(&evenings).await.text().await.unwrap();
    let uid = first.get_uid().unwrap();
    assert!(again.contains(uid), "UID {uid} changed between fetches");

    let bob = get(&feed_path("", "bob").await).await.text().await.unwrap();
    let bob: icalendar::Calendar = bob.parse().unwrap();
    let summaries: Vec<_> = bob
        .components
        .iter()
        .filter_map(|c| c.as_event())
        .map(|e| e.get_summary().unwrap().to_string())
        .collect();
    assert!(
        !summaries.is_empty() && summaries.iter().all(|s| s == "On call: bob (evenings)"),
        "{summaries:?}"
    );

    assert_eq!(get("/schedules/nope.ics").await.status(), 404);
    assert_eq!(get("/people/zoe.ics").await.status(), 404);
    assert_eq!(get("/schedules/evenings").await.status(), 404);
    let no_suffix = evenings.strip_suffix(".ics").unwrap();
    assert_eq!(get(no_suffix).await.status(), 404);
    app.stop().await;
}

#[tokio::test(start_paused = true)]
async fn schedule_service_answers_who_is_on_call_and_the_final_shifts() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(TEST_POLICIES);
    let sink = WebhookSink::start().await;
    let app = spawn_app(&dirs, &sink, Clock::anchored(t0())).await;
    let mut schedules = ScheduleServiceClient::new(app.channel.clone());
    let ts = |s: &str| {
        let t: chrono::DateTime<chrono::Utc> = s.parse().unwrap();
        Some(prost_types::Timestamp {
            seconds: t.timestamp(),
            nanos: 0,
        })
    };

    let list = schedules
        .list_schedules(pb::ListSchedulesRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.schedules.len(), 1);
    assert_eq!(
        (
            list.schedules[0].name.as_str(),
            list.schedules[0].owner.as_str()
        ),
        ("evenings", "victor")
    );

    // Now (t0, Monday 09:00 Pacific) is a gap: no shift, the owner is named.
    let now = schedules
        .on_call(pb::OnCallRequest {
            schedule: "evenings".into(),
            at: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((now.shift, now.owner.as_str()), (None, "victor"));
    let evening = schedules
        .on_call(pb::OnCallRequest {
            schedule: "evenings".into(),
            at: ts("2026-03-03T05:00:00Z"),
        })
        .await
        .unwrap()
        .into_inner()
        .shift
        .unwrap();
    assert_eq!(
        (evening.person.as_str(), evening.source.as_str()),
        ("sam", "layer evenings")
    );
    assert_eq!(evening.start, ts("2026-03-03T01:00:00Z"));
    assert_eq!(evening.end, ts("2026-03-03T17:00:00Z"));

    let week = schedules
        .shifts(pb::ShiftsRequest {
            schedule: "evenings".into(),
            from: ts("2026-03-02T00:00:00Z"),
            to: ts("2026-03-16T12:00:00Z"),
        })
        .await
        .unwrap()
        .into_inner()
        .shifts;
    // Two weeks of evenings from the first handoff (Monday 2 March 09:00 Pacific); the last
    // one is cut at `to`.
    assert_eq!(week.len(), 14, "one evening shift a night");
    assert_eq!(week[13].end, ts("2026-03-16T12:00:00Z"));
    assert_eq!(week.iter().filter(|s| s.person == "bob").count(), 7);

    let err = schedules
        .on_call(pb::OnCallRequest {
            schedule: "nope".into(),
            at: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    let err = schedules
        .shifts(pb::ShiftsRequest {
            schedule: "evenings".into(),
            from: ts("2026-03-02T00:00:00Z"),
            to: ts("2028-03-02T00:00:00Z"),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().starts_with("to:"), "{}", err.message());
    app.stop().await;
}
