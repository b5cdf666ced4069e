//! `GET /metrics` on the real daemon: a known scenario (triggers, a retried page, an
//! escalation, an ack, a resolve, a refused reload) on the paused clock, then the exposition
//! parsed by real parsers — Python's `prometheus_client` OpenMetrics parser (strict) and
//! `promtool check metrics` — with values matching what the test did. Without a live token
//! the endpoint answers 401 and nothing else. `examples/prometheus-rules.yml` passes
//! `promtool check rules` and its unit tests (`tests/support/prometheus-rules.test.yml`,
//! `promtool test rules`): each alert fires on the series that should raise it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Once;
use std::time::Duration;

use axum::http::StatusCode;
use pagerd::proto::daemon_service_client::DaemonServiceClient;
use pagerd::proto::schedule_service_client::ScheduleServiceClient;
use pagerd::proto::{self as pb, Severity};

use crate::helpers::*;

/// `promtool` (Debian's `prometheus` package), installed by `.ci/install-promtool` when
/// missing. `None` (the caller skips, saying so) only outside CI: on CI a missing promtool
/// fails the test.
fn promtool() -> Option<PathBuf> {
    let find = || {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("promtool"))
                .find(|p| p.is_file())
        })
    };
    if let Some(bin) = find() {
        return Some(bin);
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci/install-promtool");
    let status = Command::new(&script).status();
    if let Some(bin) = find() {
        return Some(bin);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "promtool is not installed and {} could not install it ({status:?}); \
         install the Debian package prometheus",
        script.display()
    );
    eprintln!(
        "SKIPPED the promtool checks: promtool is not installed ({status:?} from {}); \
         install the Debian package prometheus",
        script.display()
    );
    None
}

static PROMETHEUS_CLIENT: Once = Once::new();

/// Installs Python's prometheus_client from PyPI when missing (`.ci/run` does it too).
fn ensure_prometheus_client() {
    PROMETHEUS_CLIENT.call_once(|| {
        let have = Command::new("python3")
            .args(["-c", "import prometheus_client"])
            .status()
            .is_ok_and(|s| s.success());
        if !have {
            let ok = Command::new("python3")
                .args(["-m", "pip", "install", "--quiet", "prometheus_client"])
                .status()
                .is_ok_and(|s| s.success());
            assert!(
                ok,
                "cannot install prometheus_client (python3 -m pip install prometheus_client)"
            );
        }
    });
}

/// One sample: its name and labels (rendered `name{k="v",…}`, keys sorted).
type Samples = BTreeMap<String, f64>;

const PARSE: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join(
            f'{k}="{float(v) if k == "le" else v}"' for k, v in sorted(s.labels.items()))
        out[f"{s.name}{{{labels}}}"] = s.value
print(json.dumps(out))
"#;

/// Parses an exposition with Python's prometheus_client (OpenMetrics parser, which
/// refuses anything malformed).
fn parse(text: &str) -> Samples {
    ensure_prometheus_client();
    let mut child = Command::new("python3")
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client refused the exposition: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the parser's JSON")
}

/// `promtool check metrics` on an exposition: no error, no lint problem.
fn promtool_check_metrics(text: &str) {
    let Some(promtool) = promtool() else {
        return;
    };
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What Prometheus sends: OpenMetrics preferred, the classic text format as a fallback.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0;q=0.9,\
                                 text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// `GET /metrics` with `auth` as the `authorization` header; OpenMetrics when `open_metrics`,
/// else (no `Accept`) the classic text format.
async fn fetch(app: &TestApp, auth: Option<&str>, open_metrics: bool) -> (StatusCode, String) {
    let mut req = reqwest::Client::new().get(format!("http://{}/metrics", app.http_addr));
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    if open_metrics {
        req = req.header("accept", PROMETHEUS_ACCEPT);
    }
    let resp = within("GET /metrics", req.send()).await.expect("answered");
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
    if status == StatusCode::OK {
        let want = if open_metrics {
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        } else {
            "text/plain; version=0.0.4; charset=utf-8"
        };
        assert_eq!(resp.headers()["content-type"], want);
    }
    (status, within("the body", resp.text()).await.unwrap())
}

async fn get_metrics(app: &TestApp, auth: Option<&str>) -> (StatusCode, String) {
    fetch(app, auth, true).await
}

/// Scrapes (with `token`) until `done` holds of the parsed samples, bounded in real time:
/// delivery outcomes are counted just after their commit, which the test sees first.
async fn scrape_until(
    app: &TestApp,
    token: &str,
    what: &str,
    done: impl Fn(&Samples) -> bool,
) -> (String, Samples) {
    let auth = format!("Bearer {token}");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, text) = get_metrics(app, Some(&auth)).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let samples = tokio::task::spawn_blocking({
            let text = text.clone();
            move || parse(&text)
        })
        .await
        .unwrap();
        if done(&samples) {
            return (text, samples);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}; last scrape:\n{text}"
        );
        real_timeout(Duration::from_millis(50), std::future::pending::<()>()).await;
    }
}

/// The `pagerd_…` metric names a rules file uses.
fn metric_names(rules: &str) -> Vec<String> {
    let mut names: Vec<String> = rules
        .match_indices("pagerd_")
        .map(|(at, _)| {
            rules[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect();
    names.sort();
    names.dedup();
    assert!(!names.is_empty(), "the rules use no pagerd metric");
    names
}

fn value(s: &Samples, key: &str) -> f64 {
    *s.get(key)
        .unwrap_or_else(|| panic!("no sample {key} in {:#?}", s.keys().collect::<Vec<_>>()))
}

#[tokio::test(start_paused = true)]
async fn metrics_count_what_the_daemon_did_and_parse_with_real_parsers() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(TEST_POLICIES);
    let mut sink = WebhookSink::start().await;
    // The first page's first attempt fails: one retry.
    sink.fail_next(&[StatusCode::SERVICE_UNAVAILABLE]);
    let mut settings = test_settings(&dirs, &sink.url);
    // Reloads only through the RPC, so the test knows how many there were.
    settings.reload.watch = false;
    let mut app = spawn_app_with(settings, pagerd::engine::Clock::anchored(t0())).await;
    let mut daemon = DaemonServiceClient::new(app.channel.clone());
    let viewer = daemon
        .create_token(pb::CreateTokenRequest {
            name: "prometheus".into(),
            role: "viewer".into(),
            ..Default::default()
        })
        .await
        .expect("an admin creates a viewer token")
        .into_inner()
        .secret;

    // checkout/high: alice's first attempt fails, the retry (8-12 s later) is delivered.
    let first = app.trigger("checkout", Severity::High, "disk").await;
    app.page(&mut sink).await;
    advance(Duration::from_secs(12)).await;
    assert_eq!(app.page(&mut sink).await.person(), "alice");
    app.incidents
        .resolve(pb::ResolveRequest {
            id: first.incident_id,
            by: "alice".into(),
            note: String::new(),
        })
        .await
        .unwrap();
    // tools/critical: sam, then (10 minutes on, a due escalation) alice; then acknowledged.
    let second = app.trigger("tools", Severity::Critical, "cpu").await;
    assert_eq!(app.page(&mut sink).await.person(), "sam");
    let (_, before) = scrape_until(&app, &viewer, "the first pages", |s| {
        s.get(r#"pagerd_pages_total{channel="webhook",outcome="sent"}"#) == Some(&2.0)
    })
    .await;
    let late = |s: &Samples, b: &str| value(s, &format!("pagerd_due_lateness_seconds_{b}"));
    advance(mins(10)).await;
    assert_eq!(app.page(&mut sink).await.person(), "alice");
    app.ack(second.incident_id, "alice").await;
    // batch/medium stays triggered.
    app.trigger("batch", Severity::Medium, "queue").await;
    assert_eq!(app.page(&mut sink).await.person(), "sam");
    // A refused reload: the policy files are broken.
    write_policies(&dirs, "[[service]]\nname = \"orphan\"\n");
    let refused = ScheduleServiceClient::new(app.channel.clone())
        .reload(pb::ReloadRequest {})
        .await
        .unwrap()
        .into_inner()
        .result
        .unwrap();
    assert!(!refused.applied);

    let (text, s) = scrape_until(&app, &viewer, "every page counted", |s| {
        s.get(r#"pagerd_pages_total{channel="webhook",outcome="sent"}"#) == Some(&4.0)
    })
    .await;
    let v = |k: &str| value(&s, k);
    let opened = "pagerd_incidents_opened_total";
    assert_eq!(
        v(&format!(
            r#"{opened}{{service="checkout",severity="high"}}"#
        )),
        1.0
    );
    assert_eq!(
        v(&format!(
            r#"{opened}{{service="tools",severity="critical"}}"#
        )),
        1.0
    );
    assert_eq!(
        v(&format!(r#"{opened}{{service="batch",severity="medium"}}"#)),
        1.0
    );
    assert_eq!(
        v(r#"pagerd_incidents_acknowledged_total{service="tools",severity="critical"}"#),
        1.0
    );
    assert_eq!(
        v(r#"pagerd_incidents_resolved_total{service="checkout",severity="high"}"#),
        1.0
    );
    let counted = |prefix: &str| s.keys().filter(|k| k.starts_with(prefix)).count();
    assert_eq!(counted("pagerd_incidents_opened_total{"), 3, "{text}");
    assert_eq!(counted("pagerd_incidents_acknowledged_total{"), 1);
    assert_eq!(counted("pagerd_incidents_resolved_total{"), 1);
    assert_eq!(v(r#"pagerd_incidents_open{state="triggered"}"#), 1.0);
    assert_eq!(v(r#"pagerd_incidents_open{state="acknowledged"}"#), 1.0);
    // Pages: four delivered, one retried, nothing failed or held.
    assert_eq!(
        v(r#"pagerd_pages_total{channel="webhook",outcome="retried"}"#),
        1.0
    );
    assert_eq!(counted("pagerd_pages_total{"), 2, "{text}");
    // Delivery latency: three sent at once (0 s on the paused clock), one after its retry.
    let d = |b: &str| v(&format!(r#"pagerd_page_delivery_seconds_{b}"#));
    assert_eq!(d(r#"count{channel="webhook"}"#), 4.0);
    assert_eq!(d(r#"bucket{channel="webhook",le="0.01"}"#), 3.0);
    assert_eq!(d(r#"bucket{channel="webhook",le="5.0"}"#), 3.0);
    assert_eq!(d(r#"bucket{channel="webhook",le="30.0"}"#), 4.0);
    let retry_latency = d(r#"sum{channel="webhook"}"#);
    assert!((8.0..=12.0).contains(&retry_latency), "{retry_latency}");
    // The escalation ran as a due action, on time (the paused clock wakes the timer exactly).
    let ran = late(&s, "count{}") - late(&before, "count{}");
    assert!(ran >= 1.0, "the escalation was not counted: {text}");
    assert_eq!(
        late(&s, r#"bucket{le="0.01"}"#) - late(&before, r#"bucket{le="0.01"}"#),
        ran
    );
    // The outbox is empty; nothing is due.
    assert_eq!(v("pagerd_outbox_pending_pages{}"), 0.0);
    assert_eq!(v("pagerd_outbox_oldest_due_seconds{}"), 0.0);
    // The store committed batches.
    assert!(v("pagerd_store_commit_seconds_count{}") > 0.0);
    assert!(v("pagerd_store_batch_size_count{}") > 0.0);
    assert!(v("pagerd_store_batch_size_sum{}") >= v("pagerd_store_batch_size_count{}"));
    // One refused reload; the set installed at start keeps serving, 10 min 12 s old.
    assert_eq!(v(r#"pagerd_reloads_total{outcome="refused"}"#), 1.0);
    assert!(!s.contains_key(r#"pagerd_reloads_total{outcome="applied"}"#));
    assert_eq!(v("pagerd_reload_last_refused{}"), 1.0);
    let age = v("pagerd_policy_set_age_seconds{}");
    assert!((612.0..620.0).contains(&age), "{age}");
    // The test's own Watch stream.
    assert_eq!(v("pagerd_watch_streams{}"), 1.0);
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        v(&format!(r#"pagerd_build_info{{version="{version}"}}"#)),
        1.0
    );
    // Never an incident id or a person as a label.
    for key in s.keys() {
        let labels = key.split_once('{').map_or("", |(_, l)| l);
        for banned in ["alice", "sam", "disk", "cpu", "id="] {
            assert!(!labels.contains(banned), "{key}");
        }
    }
    // Every metric the example rules use exists.
    let rules = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/prometheus-rules.yml"),
    )
    .unwrap();
    for used in metric_names(&rules) {
        assert!(
            s.keys().any(|k| k.starts_with(&used)),
            "examples/prometheus-rules.yml uses {used}, which /metrics does not have:\n{text}"
        );
    }
    // The classic text format (what curl and promtool get) passes promtool's checks.
    let (status, classic) = fetch(&app, Some(&format!("Bearer {viewer}")), false).await;
    assert_eq!(status, StatusCode::OK);
    assert!(classic.contains(r#"pagerd_pages_total{channel="webhook",outcome="sent"} 4"#));
    tokio::task::spawn_blocking(move || promtool_check_metrics(&classic))
        .await
        .unwrap();
    app.stop().await;
}

#[tokio::test(start_paused = true)]
async fn metrics_need_a_live_token_and_reveal_nothing_without_one() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(TEST_POLICIES);
    let sink = WebhookSink::start().await;
    let app = spawn_app(&dirs, &sink, pagerd::engine::Clock::anchored(t0())).await;
    let mut daemon = DaemonServiceClient::new(app.channel.clone());
    let viewer = daemon
        .create_token(pb::CreateTokenRequest {
            name: "scraper".into(),
            role: "viewer".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .secret;
    let good = format!("Bearer {viewer}");
    assert_eq!(get_metrics(&app, Some(&good)).await.0, StatusCode::OK);

    daemon
        .revoke_token(pb::RevokeTokenRequest {
            name: "scraper".into(),
        })
        .await
        .unwrap();
    let forged = format!("Bearer {viewer}x");
    let refused = [
        None,
        Some("Bearer"),
        Some("Basic dXNlcjpwYXNz"),
        Some("Bearer pgd_unknown"),
        Some(forged.as_str()),
        // Revoked: refused from the next request on, as on gRPC.
        Some(good.as_str()),
    ];
    for auth in refused {
        let (status, body) = get_metrics(&app, auth).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth:?}: {body}");
        assert!(
            !body.contains("pagerd_"),
            "{auth:?} revealed metrics: {body}"
        );
    }
    // The admin token works too (any role may read metrics).
    let admin = format!("Bearer {}", app.daemon.admin_token().await);
    assert_eq!(get_metrics(&app, Some(&admin)).await.0, StatusCode::OK);
    app.stop().await;
}

#[test]
fn the_example_alerting_rules_pass_promtool() {
    let rules = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/prometheus-rules.yml");
    let text = std::fs::read_to_string(&rules).unwrap();
    for alert in [
        "PagerdOutboxStuck",
        "PagerdPagesFailing",
        "PagerdDueActionsLate",
        "PagerdReloadRefused",
    ] {
        assert!(text.contains(&format!("alert: {alert}")), "{alert} missing");
    }
    let Some(promtool) = promtool() else {
        return;
    };
    let unit_tests =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/prometheus-rules.test.yml");
    for (what, file) in [("check", &rules), ("test", &unit_tests)] {
        let out = Command::new(&promtool)
            .args([what, "rules"])
            .arg(file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {what} rules {}: {}{}",
            file.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
