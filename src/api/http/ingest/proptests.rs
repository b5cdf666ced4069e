//! Every intake parser (Events v2, Alertmanager, gRPC `Trigger`) against random bytes, huge
//! and odd fields, and deep JSON: none panics, and whatever one accepts is inside the limits
//! of [`crate::api::limits`], whichever way it came in.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::{AmAction, AmPayload, EventV2, parse_alertmanager, parse_event};
use crate::api::limits::*;
use crate::config::settings::AlertmanagerSettings;
use crate::domain::NewAlert;
use crate::proto as pb;

/// What every accepted alert satisfies.
fn within_limits(a: &NewAlert) -> Result<(), String> {
    let checks = [
        (
            a.summary.chars().count() <= MAX_SUMMARY_CHARS,
            "summary too long",
        ),
        (!a.summary.trim().is_empty(), "summary empty"),
        (
            a.dedup_key.len() <= MAX_DEDUP_KEY_BYTES,
            "dedup_key too long",
        ),
        (a.source.len() <= MAX_SOURCE_BYTES, "source too long"),
        (
            a.details
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
                <= MAX_DETAILS_BYTES,
            "details too big",
        ),
        (a.links.len() <= MAX_LINKS, "too many links"),
        (
            a.links
                .iter()
                .all(|l| check_href(&l.href).is_ok() && check_link_text(&l.text).is_ok()),
            "a link out of bounds or with a refused scheme",
        ),
    ];
    match checks.iter().find(|(ok, _)| !ok) {
        Some((_, why)) => Err(format!("{why}: {a:?}")),
        None => Ok(()),
    }
}

/// Strings that probe the limits: empty, short, around each limit, with control characters,
/// markup and hostile schemes.
fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,40}",
        Just(String::new()),
        "(javascript|data|file|https|mailto|ftp):[a-z/<>@!]{0,20}",
        (0usize..5000).prop_map(|n| "x".repeat(n)),
        (250usize..260).prop_map(|n| "k".repeat(n)),
        (1020usize..1030).prop_map(|n| "é".repeat(n)),
        Just("<!channel>\nAcknowledge: https://evil\r\n\u{1b}[31m".to_string()),
    ]
}

fn deep(depth: usize, open: &str, close: &str) -> Vec<u8> {
    let mut v = open.repeat(depth).into_bytes();
    v.extend(close.repeat(depth).into_bytes());
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn random_bytes_never_panic_a_parser(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        if let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(&bytes)
            && let Ok(EventV2::Trigger(a)) = parse_event(&obj, "svc")
        {
            within_limits(&a).map_err(TestCaseError::fail)?;
        }
        if let Ok(p) = serde_json::from_slice::<AmPayload>(&bytes) {
            let _ = parse_alertmanager(&p, "svc", &AlertmanagerSettings::default());
        }
    }

    #[test]
    fn deep_json_is_refused_not_a_stack_overflow(depth in 1usize..200_000) {
        for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
            let body = deep(depth, open, close);
            let _ = serde_json::from_slice::<Value>(&body);
            let _ = serde_json::from_slice::<AmPayload>(&body);
        }
    }

    #[test]
    fn an_accepted_events_v2_trigger_is_within_the_limits(
        summary in field(), source in field(), key in field(),
        href in field(), text in field(), client_url in field(),
        details in proptest::collection::btree_map(field(), field(), 0..4),
        links in 0usize..40,
    ) {
        let body = json!({
            "routing_key": "k", "event_action": "trigger", "dedup_key": key,
            "client_url": client_url,
            "payload": {"summary": summary, "source": source, "severity": "error",
                        "custom_details": details},
            "links": vec![json!({"href": href, "text": text}); links],
        });
        match parse_event(body.as_object().unwrap(), "svc") {
            Ok(EventV2::Trigger(a)) => within_limits(&a).map_err(TestCaseError::fail)?,
            Ok(other) => prop_assert!(false, "not a trigger: {other:?}"),
            Err(errors) => prop_assert!(!errors.is_empty()),
        }
    }

    #[test]
    fn an_accepted_alertmanager_alert_is_within_the_limits(
        name in field(), instance in field(), fingerprint in field(),
        annotation in field(), generator in field(), external in field(),
        labels in proptest::collection::btree_map(field(), field(), 0..4),
        alerts in 1usize..4,
    ) {
        let mut labels: BTreeMap<String, String> = labels;
        labels.insert("alertname".into(), name);
        labels.insert("instance".into(), instance);
        let alert = json!({"status": "firing", "labels": labels,
                           "annotations": {"summary": annotation},
                           "generatorURL": generator, "fingerprint": fingerprint});
        let body = json!({"version": "4", "status": "firing", "externalURL": external,
                          "groupKey": "g", "alerts": vec![alert; alerts]});
        let p: AmPayload = serde_json::from_value(body).unwrap();
        match parse_alertmanager(&p, "svc", &AlertmanagerSettings::default()) {
            Ok(actions) => {
                for action in actions {
                    if let AmAction::Trigger(a) = action {
                        within_limits(&a).map_err(TestCaseError::fail)?;
                    }
                }
            }
            // An error names the alert it is about.
            Err(e) => prop_assert!(e.starts_with("alerts[0]"), "{e}"),
        }
    }

    #[test]
    fn an_accepted_grpc_trigger_is_within_the_limits(
        summary in field(), source in field(), key in field(),
        href in field(), text in field(),
        details in proptest::collection::btree_map(field(), field(), 0..4),
        links in 0usize..40,
    ) {
        let r = pb::TriggerRequest {
            service: "svc".into(),
            dedup_key: key,
            severity: pb::Severity::High as i32,
            summary,
            source,
            details: details.into_iter().collect(),
            links: vec![pb::Link { href, text }; links],
            ..Default::default()
        };
        if let Ok(a) = crate::api::grpc::parse_trigger(r) {
            within_limits(&a).map_err(TestCaseError::fail)?;
        }
    }
}

#[test]
fn a_too_big_alertmanager_notification_is_refused_before_any_alert_is_read() {
    let alert = json!({"status": "firing", "labels": {}, "fingerprint": "f"});
    let body = json!({"status": "firing",
                      "alerts": vec![alert; MAX_ALERTMANAGER_ALERTS + 1]});
    let p: AmPayload = serde_json::from_value(body).unwrap();
    let e = parse_alertmanager(&p, "svc", &AlertmanagerSettings::default()).unwrap_err();
    assert!(e.starts_with("alerts: 1001 alerts; at most 1000"), "{e}");
}

#[test]
fn an_empty_alertname_or_instance_falls_back_to_a_named_summary_and_source() {
    // Found by the property above: an empty `alertname` made an empty summary.
    let body = json!({"status": "firing", "alerts": [
        {"status": "firing", "labels": {"alertname": " ", "instance": ""}, "fingerprint": "f"}
    ]});
    let p: AmPayload = serde_json::from_value(body).unwrap();
    let actions = parse_alertmanager(&p, "svc", &AlertmanagerSettings::default()).unwrap();
    let AmAction::Trigger(a) = &actions[0] else {
        panic!("{actions:?}")
    };
    assert_eq!(
        (a.summary.as_str(), a.source.as_str()),
        ("Alertmanager alert", "alertmanager")
    );
}
