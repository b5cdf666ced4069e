//! The gRPC services against requests with hostile values: times at the ends of time,
//! unbounded ranges and filters, unsafe links.

use pagerd::proto::daemon_service_client::DaemonServiceClient;
use pagerd::proto::incident_service_client::IncidentServiceClient;
use pagerd::proto::intake_service_client::IntakeServiceClient;
use pagerd::proto::report_service_client::ReportServiceClient;
use pagerd::proto::schedule_service_client::ScheduleServiceClient;
use pagerd::proto::{self as pb, Severity};
use tonic::Code;

use super::assert_healthy;
use crate::helpers::*;
use crate::ingest::heartbeat_policies;

fn ts(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

/// 2200-01-01, the latest time a request may name.
const LATEST: i64 = 7_258_118_400;

#[tokio::test(start_paused = true)]
async fn grpc_requests_with_hostile_values_are_invalid_arguments_never_panics() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(&heartbeat_policies());
    let mut sink = WebhookSink::start().await;
    let mut app = spawn_app(&dirs, &sink, pagerd::engine::Clock::anchored(t0())).await;
    let ch = app.channel.clone();
    let mut schedules = ScheduleServiceClient::new(ch.clone());
    let mut incidents = IncidentServiceClient::new(ch.clone());
    let mut intake = IntakeServiceClient::new(ch.clone());
    let mut reports = ReportServiceClient::new(ch.clone());
    let mut daemon = DaemonServiceClient::new(ch.clone());
    let now = t0().timestamp();
    let year = 366 * 86_400;
    let big = |n: usize| "x".repeat(n);

    let mut results: Vec<(&str, Result<(), tonic::Status>, &str)> = Vec::new();
    macro_rules! case {
        ($what:expr, $call:expr, $field:expr) => {
            results.push(($what, $call.await.map(|_| ()), $field));
        };
    }
    for (what, at) in [
        ("OnCall at the end of time", i64::MAX),
        ("OnCall in year 9999", 253_402_300_799),
        ("OnCall after 2200", LATEST + 1),
        ("OnCall before 1970", -1),
    ] {
        case!(
            what,
            schedules.on_call(pb::OnCallRequest {
                schedule: "evenings".into(),
                at: ts(at),
            }),
            "at"
        );
    }
    case!(
        "OnCall with nanos out of range",
        schedules.on_call(pb::OnCallRequest {
            schedule: "evenings".into(),
            at: Some(prost_types::Timestamp {
                seconds: now,
                nanos: i32::MAX,
            }),
        }),
        "at"
    );
    case!(
        "Shifts to the end of time",
        schedules.shifts(pb::ShiftsRequest {
            schedule: "evenings".into(),
            from: ts(now),
            to: ts(i64::MAX),
        }),
        "to"
    );
    case!(
        "Shifts over ten years",
        schedules.shifts(pb::ShiftsRequest {
            schedule: "evenings".into(),
            from: ts(now),
            to: ts(now + 10 * year),
        }),
        "to"
    );
    case!(
        "AddOverride for ten years",
        schedules.add_override(pb::AddOverrideRequest {
            schedule: "evenings".into(),
            person: "bob".into(),
            start: ts(now),
            end: ts(now + 10 * year),
            ..Default::default()
        }),
        "end"
    );
    case!(
        "AddOverride ending at the end of time",
        schedules.add_override(pb::AddOverrideRequest {
            schedule: "evenings".into(),
            person: "bob".into(),
            start: ts(now),
            end: ts(i64::MAX),
            ..Default::default()
        }),
        "end"
    );
    case!(
        "AddMaintenance for two years",
        intake.add_maintenance(pb::AddMaintenanceRequest {
            service: "payments".into(),
            start: ts(now),
            end: ts(now + 2 * year),
            ..Default::default()
        }),
        "end"
    );
    case!(
        "ListOverrides since the end of time",
        schedules.list_overrides(pb::ListOverridesRequest {
            since: ts(i64::MAX),
            ..Default::default()
        }),
        "since"
    );
    case!(
        "ListOverrides for a 10 KiB schedule name",
        schedules.list_overrides(pb::ListOverridesRequest {
            schedule: big(10_240),
            ..Default::default()
        }),
        "schedule"
    );
    case!(
        "List with a billion per page",
        incidents.list(pb::ListIncidentsRequest {
            page_size: 1_000_000_000,
            ..Default::default()
        }),
        "page_size"
    );
    case!(
        "List with a thousand states",
        incidents.list(pb::ListIncidentsRequest {
            states: vec![1; 1000],
            ..Default::default()
        }),
        "states"
    );
    case!(
        "List for a 10 KiB service name",
        incidents.list(pb::ListIncidentsRequest {
            service: big(10_240),
            ..Default::default()
        }),
        "service"
    );
    case!(
        "List since before 1970",
        incidents.list(pb::ListIncidentsRequest {
            since: ts(i64::MIN),
            ..Default::default()
        }),
        "since"
    );
    case!(
        "List with a forged page token",
        incidents.list(pb::ListIncidentsRequest {
            page_token: "-1; DROP TABLE incidents".into(),
            ..Default::default()
        }),
        "page_token"
    );
    case!(
        "ListMaintenance for a 10 KiB service name",
        intake.list_maintenance(pb::ListMaintenanceRequest {
            service: big(10_240),
            ..Default::default()
        }),
        "service"
    );
    case!(
        "OnCallLoad over the whole range",
        reports.on_call_load(pb::OnCallLoadRequest {
            from: ts(0),
            to: ts(LATEST),
            schedule: String::new(),
        }),
        "to"
    );
    case!(
        "ListAudit with the largest limit",
        daemon.list_audit(pb::ListAuditRequest {
            since: None,
            limit: u32::MAX,
        }),
        "limit"
    );
    case!(
        "Trigger with a javascript: link",
        app.alerts.trigger(pb::TriggerRequest {
            service: "checkout".into(),
            severity: Severity::High as i32,
            summary: "s".into(),
            links: vec![pb::Link {
                href: "javascript:alert(1)".into(),
                text: "Acknowledge".into(),
            }],
            ..Default::default()
        }),
        "links[0].href"
    );
    case!(
        "Trigger with a 1 KiB link text",
        app.alerts.trigger(pb::TriggerRequest {
            service: "checkout".into(),
            severity: Severity::High as i32,
            summary: "s".into(),
            links: vec![pb::Link {
                href: "https://x.example/".into(),
                text: big(1024),
            }],
            ..Default::default()
        }),
        "links[0].text"
    );
    let mut failures = Vec::new();
    for (what, result, field) in results {
        match result {
            Err(s) if s.code() == Code::InvalidArgument && s.message().contains(field) => {}
            other => failures.push(format!(
                "{what}: {other:?}, want INVALID_ARGUMENT naming `{field}`"
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The edges of the range still answer.
    for at in [0, LATEST] {
        schedules
            .on_call(pb::OnCallRequest {
                schedule: "evenings".into(),
                at: ts(at),
            })
            .await
            .unwrap_or_else(|e| panic!("OnCall at {at}: {e}"));
    }
    schedules
        .shifts(pb::ShiftsRequest {
            schedule: "evenings".into(),
            from: ts(LATEST - year),
            to: ts(LATEST),
        })
        .await
        .expect("Shifts in the last year of the range");
    schedules
        .add_override(pb::AddOverrideRequest {
            schedule: "evenings".into(),
            person: "bob".into(),
            start: ts(now),
            end: ts(now + 366 * 86_400),
            ..Default::default()
        })
        .await
        .expect("an override of 366 days");
    assert_healthy(&mut app, &mut sink, "after-grpc-corpus").await;
    app.stop().await;
}
