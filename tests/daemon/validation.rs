//! Bad input gets a clear status naming the field, and nothing is written.

use pagerd::proto::{self as pb, Severity};
use tonic::Code;

use crate::helpers::*;

fn trigger(service: &str, summary: &str) -> pb::TriggerRequest {
    pb::TriggerRequest {
        service: service.into(),
        severity: Severity::High as i32,
        summary: summary.into(),
        ..Default::default()
    }
}

#[tokio::test(start_paused = true)]
async fn invalid_triggers_are_refused_with_the_field_named_and_nothing_written() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(TEST_POLICIES);
    let mut sink = WebhookSink::start().await;
    let mut app = spawn_app(&dirs, &sink, pagerd::engine::Clock::anchored(t0())).await;

    let long = |n: usize| "x".repeat(n);
    let cases: Vec<(&str, pb::TriggerRequest, Code, &str)> = vec![
        (
            "empty service",
            trigger("", "down"),
            Code::NotFound,
            "service",
        ),
        (
            "unknown service",
            trigger("nope", "down"),
            Code::NotFound,
            "nope",
        ),
        (
            "missing summary",
            trigger("checkout", " "),
            Code::InvalidArgument,
            "summary",
        ),
        (
            "summary too long",
            trigger("checkout", &long(1025)),
            Code::InvalidArgument,
            "summary",
        ),
        (
            "dedup key too long",
            pb::TriggerRequest {
                dedup_key: long(256),
                ..trigger("checkout", "down")
            },
            Code::InvalidArgument,
            "dedup_key",
        ),
        (
            "unknown severity",
            pb::TriggerRequest {
                severity: 42,
                ..trigger("checkout", "down")
            },
            Code::InvalidArgument,
            "severity",
        ),
        (
            "missing severity",
            pb::TriggerRequest {
                severity: 0,
                ..trigger("checkout", "down")
            },
            Code::InvalidArgument,
            "severity",
        ),
        (
            "details over 64 KiB",
            pb::TriggerRequest {
                details: [("log".to_string(), long(64 * 1024))].into(),
                ..trigger("checkout", "down")
            },
            Code::InvalidArgument,
            "details",
        ),
        (
            "bad link",
            pb::TriggerRequest {
                links: vec![pb::Link {
                    href: "not a url".into(),
                    text: String::new(),
                }],
                ..trigger("checkout", "down")
            },
            Code::InvalidArgument,
            "links[0].href",
        ),
    ];
    for (name, req, code, field) in cases {
        let err = app.alerts.trigger(req).await.expect_err(name);
        assert_eq!(err.code(), code, "{name}: {err:?}");
        assert!(
            err.message().contains(field),
            "{name}: `{}` does not name {field}",
            err.message()
        );
    }
    // The limits themselves are accepted.
    let ok = pb::TriggerRequest {
        dedup_key: long(255),
        ..trigger("checkout", &"é".repeat(1024))
    };
    app.alerts.trigger(ok).await.expect("limits are inclusive");

    let listed = app
        .incidents
        .list(pb::ListIncidentsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.incidents.len(), 1, "refused triggers wrote nothing");
    assert_eq!(app.page(&mut sink).await.person(), "alice");
    sink.expect_quiet("a refused trigger paged someone").await;
    app.stop().await;
}

#[tokio::test(start_paused = true)]
async fn incident_rpcs_validate_ids_states_and_tokens() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(TEST_POLICIES);
    let sink = WebhookSink::start().await;
    let mut app = spawn_app(&dirs, &sink, pagerd::engine::Clock::anchored(t0())).await;

    let err = app
        .incidents
        .get(pb::GetIncidentRequest {
            id: 0,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("id:"));
    let err = app
        .incidents
        .get(pb::GetIncidentRequest {
            id: 99,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = app
        .incidents
        .acknowledge(pb::AcknowledgeRequest {
            id: 99,
            by: "x".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = app
        .incidents
        .list(pb::ListIncidentsRequest {
            page_size: 501,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(err.message().contains("page_size"));
    let err = app
        .incidents
        .list(pb::ListIncidentsRequest {
            page_token: "garbage".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(err.message().contains("page_token"));
    let err = app
        .incidents
        .list(pb::ListIncidentsRequest {
            states: vec![7],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(err.message().contains("states[0]"));
    let err = app
        .alerts
        .resolve(pb::AlertResolveRequest {
            service: "checkout".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("dedup_key"));

    // Acknowledging a resolved incident is refused; resolving it again is a reported no-op.
    let r = app.trigger("checkout", Severity::Low, "done").await;
    let res = pb::ResolveRequest {
        id: r.incident_id,
        by: "alice".into(),
        note: String::new(),
    };
    assert!(
        app.incidents
            .resolve(res.clone())
            .await
            .unwrap()
            .into_inner()
            .changed
    );
    assert!(
        !app.incidents
            .resolve(res)
            .await
            .unwrap()
            .into_inner()
            .changed
    );
    let err = app
        .incidents
        .acknowledge(pb::AcknowledgeRequest {
            id: r.incident_id,
            by: "alice".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    app.stop().await;
}
