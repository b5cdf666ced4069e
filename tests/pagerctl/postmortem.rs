//! `pagerctl note` and `pagerctl postmortem` end to end, against a daemon (shipped schedules)
//! that requires post-mortems for critical incidents.

use std::path::Path;

use pagerd::app::Options;

use super::kit::{AppDirs, InProcess};
use super::{TOKEN_FILES, pagerctl};

#[tokio::test(flavor = "multi_thread")]
async fn a_responder_notes_resolves_drafts_and_records_a_post_mortem() {
    let shipped = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/schedules"));
    let dirs = AppDirs::copy_of(shipped);
    let mut settings = dirs.settings();
    settings.reload.watch = false;
    settings.postmortem.required_for = vec!["P0".into()];
    let daemon = InProcess::start(settings, Options::default()).await;
    daemon.admin_token().await;
    let addr = daemon.grpc_addr.to_string();
    TOKEN_FILES
        .lock()
        .unwrap()
        .push((addr.clone(), dirs.data().join("admin.token")));
    let addr = addr.as_str();

    let trigger = [
        "trigger",
        "--service",
        "checkout-api",
        "--summary",
        "Payments fail",
        "--severity",
        "critical",
        "--detail",
        "impact=no orders",
    ];
    pagerctl(addr, &trigger).await.success();
    let run = pagerctl(addr, &["note", "1", "rolled back | deploy 7"])
        .await
        .success();
    assert!(
        run.stdout
            .starts_with("incident 1: note added; triggered at level 1"),
        "{}",
        run.stdout
    );
    pagerctl(addr, &["ack", "1"]).await.success();
    pagerctl(addr, &["resolve", "1", "--note", "fixed"])
        .await
        .success();

    let run = pagerctl(addr, &["list"]).await.success();
    assert!(
        run.stdout.contains("resolved (post-mortem pending)"),
        "{}",
        run.stdout
    );
    let run = pagerctl(addr, &["show", "1"]).await.success();
    assert!(
        run.stdout
            .starts_with("incident 1: resolved (post-mortem pending), critical\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("pending (draft: pagerctl postmortem 1;"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("rolled back | deploy 7"),
        "{}",
        run.stdout
    );

    let run = pagerctl(addr, &["postmortem", "1"]).await.success();
    let text = &run.stdout;
    assert!(
        text.starts_with("# Post-mortem: incident 1 — Payments fail\n"),
        "{text}"
    );
    for want in [
        "- **Severity:** critical",
        "- **impact:** no orders",
        "- **Resolution note:** fixed",
        "- **Post-mortem:** pending",
        "| note |",
        "rolled back \\| deploy 7",
        "## Root cause",
        "## Action items",
    ] {
        assert!(text.contains(want), "{want} missing from\n{text}");
    }
    let json = pagerctl(addr, &["postmortem", "1", "--format", "json"])
        .await
        .success()
        .json();
    assert_eq!(json["incident_id"], 1);
    assert_eq!(json["postmortem_pending"], true);
    assert_eq!(json["impact"]["impact"], "no orders");

    let run = pagerctl(addr, &["postmortem", "1", "--done", "wiki/pm/1"]).await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("url: `wiki/pm/1` is not a URL"),
        "{}",
        run.stderr
    );
    let run = pagerctl(
        addr,
        &["postmortem", "1", "--done", "https://wiki.example/pm/1"],
    )
    .await
    .success();
    assert!(
        run.stdout.starts_with(
            "incident 1: post-mortem recorded at https://wiki.example/pm/1; resolved by"
        ),
        "{}",
        run.stdout
    );
    let shown = pagerctl(addr, &["--json", "show", "1"])
        .await
        .success()
        .json();
    assert_eq!(shown["postmortem_pending"], false);
    assert_eq!(shown["postmortem_url"], "https://wiki.example/pm/1");
    let run = pagerctl(addr, &["list"]).await.success();
    assert!(
        !run.stdout.contains("post-mortem pending"),
        "{}",
        run.stdout
    );
    daemon.stop().await;
}
