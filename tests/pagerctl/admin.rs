//! pagerctl's operator commands end to end: reload and status, test pages, maintenance and
//! heartbeats, integration keys, and where it finds its token.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_schedules_dir_is_refused_by_reload_and_shown_as_refused_by_status() {
    let pagerd = Daemon::start().await;
    let addr = pagerd.addr.as_str();
    let set = &pagerd.policies;
    let counts = format!(
        "{} schedules, {} escalation policies, {} services, {} people",
        set.schedules.len(),
        set.policies.len(),
        set.services.len(),
        set.people.len()
    );

    // Status before any reload.
    let run = pagerctl(addr, &["status"]).await.success();
    let dir = pagerd.dirs.schedules().display().to_string();
    assert!(run.stdout.starts_with("pagerd "), "{}", run.stdout);
    for expected in [
        format!("policy set:  {counts}"),
        format!(" from {dir}"),
        "incidents:   0 open".to_owned(),
        "channels:    log".to_owned(),
        "last reload: none since start".to_owned(),
        "(up ".to_owned(),
    ] {
        assert!(
            run.stdout.contains(&expected),
            "{expected} missing:\n{}",
            run.stdout
        );
    }
    let status = pagerctl(addr, &["--json", "status"]).await.success().json();
    assert_eq!(status["schedules"], set.schedules.len());
    assert_eq!(status["people"], set.people.len());
    assert_eq!(status["open_incidents"], 0);
    assert_eq!(status["schedules_dir"], dir);
    assert_eq!(status["last_reload"], Value::Null);
    assert!(status["started_at"].is_string());

    // An incident is counted.
    pagerctl(
        addr,
        &["trigger", "--service", "checkout-api", "--summary", "down"],
    )
    .await
    .success();
    let run = pagerctl(addr, &["status"]).await.success();
    assert!(run.stdout.contains("incidents:   1 open"), "{}", run.stdout);

    // A good reload.
    let run = pagerctl(addr, &["reload"]).await.success();
    assert!(
        run.stdout
            .starts_with(&format!("reloaded: {counts} from {dir}")),
        "{}",
        run.stdout
    );

    // A schedule owned by someone who is not in the people file: refused, exit 1.
    let broken = pagerd.schedule_file("weekend.toml");
    std::fs::write(
        &broken,
        "[[schedule]]\nname = \"weekend\"\ntime_zone = \"UTC\"\nowner = \"nobody\"\n\n\
         [[schedule.layer]]\nname = \"all\"\nmembers = [\"alice\"]\nshift = \"1w\"\n\
         start = \"2026-03-07T00:00\"\n",
    )
    .expect("write a broken policy file");
    let run = pagerctl(addr, &["reload"]).await;
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"refused: 1 error"), "{}", run.stdout);
    let error = lines.get(1).copied().unwrap_or_default();
    let location = format!("  {}:4: ", broken.display());
    assert!(
        error.starts_with(&location) && error.contains("\"nobody\""),
        "expected {location}…\"nobody\"…:\n{}",
        run.stdout
    );
    assert_eq!(
        run.stderr.trim(),
        "pagerctl: reload refused; pagerd keeps serving the policy set it had"
    );
    let refused = pagerctl(addr, &["--json", "reload"]).await;
    assert_eq!(refused.code, Some(1));
    let refused = refused.json();
    assert_eq!(refused["applied"], false);
    assert_eq!(refused["trigger"], "Reload RPC");
    assert_eq!(refused["errors"][0], error.trim());

    // Status says so (exit 0), lists the error, and still counts the last good set.
    let run = pagerctl(addr, &["status"]).await.success();
    let lines: Vec<&str> = run.stdout.lines().collect();
    let last = lines
        .iter()
        .position(|l| l.starts_with("  last reload: REFUSED at "))
        .unwrap_or_else(|| panic!("no REFUSED line:\n{}", run.stdout));
    assert!(
        lines[last].contains("(Reload RPC): 1 error"),
        "{}",
        run.stdout
    );
    assert_eq!(
        lines.get(last + 1).map(|l| l.trim()),
        Some(error.trim()),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!("policy set:  {counts}")),
        "{}",
        run.stdout
    );
    let status = pagerctl(addr, &["--json", "status"]).await.success().json();
    assert_eq!(status["last_reload"]["applied"], false);
    assert_eq!(status["last_reload"]["errors"][0], error.trim());

    // Fixed: applied again.
    std::fs::remove_file(&broken).expect("remove the broken file");
    pagerctl(addr, &["reload"]).await.success();
    let run = pagerctl(addr, &["status"]).await.success();
    assert!(
        run.stdout.contains("last reload: applied at "),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("REFUSED"), "{}", run.stdout);
    pagerd.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_test_page_goes_through_the_real_path_and_reports_each_answer() {
    let pagerd = Daemon::start().await;
    let addr = pagerd.addr.as_str();
    let run = pagerctl(addr, &["test-page", "alice", "--channel", "log"])
        .await
        .success();
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("log"))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(line.contains("sent"), "{line}");
    let json = pagerctl(addr, &["--json", "test-page", "alice", "--channel", "log"])
        .await
        .success()
        .json();
    assert_eq!(json["results"][0]["status"], "sent");
    // No contact-method channel is enabled in this daemon: nothing to test on.
    let run = pagerctl(addr, &["test-page", "alice"]).await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("no contact method"), "{}", run.stderr);
    let run = pagerctl(addr, &["test-page", "zed"]).await;
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("no person `zed`"), "{}", run.stderr);
    let run = pagerctl(addr, &["test-page", "alice", "--channel", "fax"]).await;
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains("`fax` is not enabled"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_adds_lists_and_removes_maintenance_windows_and_pings_heartbeats() {
    let pagerd = Daemon::start().await;
    let addr = pagerd.addr.as_str();

    let run = pagerctl(
        addr,
        &[
            "--json",
            "maintenance",
            "add",
            "search",
            "--until",
            "2h",
            "--reason",
            "reindex",
            "--by",
            "alice",
        ],
    )
    .await
    .success();
    let added = run.json();
    assert_eq!(added["service"], "search");
    assert_eq!(added["page_after"], true);
    let id = added["id"].as_i64().unwrap().to_string();

    // The table lists the shipped file window and the new one.
    let run = pagerctl(addr, &["maintenance", "list"]).await.success();
    assert!(run.stdout.contains("reindex"), "{}", run.stdout);
    assert!(run.stdout.contains("file"), "{}", run.stdout);

    let run = pagerctl(addr, &["maintenance", "remove", &id, "--by", "bob"])
        .await
        .success();
    assert!(
        run.stdout.contains("ended by local-admin"),
        "{}",
        run.stdout
    );
    let again = pagerctl(addr, &["maintenance", "remove", &id]).await;
    assert_eq!(again.code, Some(1), "{}", again.stderr);
    assert!(again.stderr.contains("already removed"), "{}", again.stderr);
    let bad = pagerctl(addr, &["maintenance", "add", "nope", "--until", "1h"]).await;
    assert_eq!(bad.code, Some(1));
    assert!(bad.stderr.contains("not found"), "{}", bad.stderr);

    // The shipped nightly-backup heartbeat.
    let run = pagerctl(addr, &["heartbeat", "ping", "nightly-backup"])
        .await
        .success();
    assert!(run.stdout.contains("next ping due by"), "{}", run.stdout);
    let run = pagerctl(addr, &["--json", "heartbeat", "list"])
        .await
        .success();
    let hb = &run.json()["heartbeats"][0];
    assert_eq!(hb["name"], "nightly-backup");
    assert_eq!(hb["interval_seconds"], 25 * 3600);
    assert!(hb["last_ping_at"].is_string());
    let unknown = pagerctl(addr, &["heartbeat", "ping", "nope"]).await;
    assert_eq!(unknown.code, Some(1));
    pagerd.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trigger_may_name_the_service_by_its_integration_key() {
    let pagerd = Daemon::start().await;
    let addr = pagerd.addr.as_str();
    let json = pagerctl(
        addr,
        &[
            "--json",
            "trigger",
            "--integration-key",
            "YvZeRlPUhgyzAIACKVQMC9gDA7783EyM",
            "--summary",
            "by key",
        ],
    )
    .await
    .success()
    .json();
    let id = json["incident_id"].as_i64().unwrap();
    let shown = pagerctl(addr, &["--json", "show", &id.to_string()])
        .await
        .success()
        .json();
    assert_eq!(shown["service"], "checkout-api");
    let run = pagerctl(
        addr,
        &["trigger", "--integration-key", "nope", "--summary", "x"],
    )
    .await;
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("integration_key"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_no_token_configured_pagerctl_uses_pagerd_data_admin_token_of_its_directory() {
    let pagerd = Daemon::start().await;
    let token = pagerd.daemon.admin_token().await;
    let run_in = |dir: &Path, extra_env: Option<(&str, &str)>| {
        // `command` would add PAGERD_TOKEN_FILE for a known --addr: build it by hand.
        let mut cmd = std::process::Command::new(PAGERCTL);
        cmd.args(["--addr", &pagerd.addr, "list"])
            .current_dir(dir)
            .env_remove("PAGERD_ADDR")
            .env_remove("PAGERD_TOKEN")
            .env_remove("PAGERD_TOKEN_FILE")
            .env("TZ", "UTC");
        if let Some((k, v)) = extra_env {
            cmd.env(k, v);
        }
        Run::from(cmd.output().expect("pagerctl runs"))
    };

    // The walkthrough's layout: pagerd's default data_dir beside where pagerctl runs.
    let cwd = tempfile::tempdir().unwrap();
    let run = run_in(cwd.path(), None);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("unauthenticated"), "{}", run.stderr);
    std::fs::create_dir(cwd.path().join("pagerd-data")).unwrap();
    std::fs::write(
        cwd.path().join("pagerd-data/admin.token"),
        format!("{token}\n"),
    )
    .unwrap();
    run_in(cwd.path(), None).success();

    // The environment wins over the file: a wrong token is refused, not replaced.
    let run = run_in(cwd.path(), Some(("PAGERD_TOKEN", "pgd_wrong")));
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("unauthenticated: unknown token"),
        "{}",
        run.stderr
    );
    let run = run_in(
        cwd.path(),
        Some(("PAGERD_TOKEN_FILE", "/nonexistent/token")),
    );
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("PAGERD_TOKEN_FILE: cannot read /nonexistent/token"),
        "{}",
        run.stderr
    );
    pagerd.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_creates_lists_and_revokes_tokens_with_pagerctl_and_the_audit_says_so() {
    let pagerd = Daemon::start().await;
    let addr = pagerd.addr.as_str();
    let person = pagerd
        .policies
        .people
        .keys()
        .next()
        .expect("a person")
        .clone();

    let run = pagerctl(
        addr,
        &[
            "token",
            "create",
            "ci-bot",
            "--role",
            "viewer",
            "--person",
            &person,
            "--expires",
            "90d",
        ],
    )
    .await
    .success();
    let secret = run.stdout.trim().to_string();
    assert!(
        secret.starts_with("pgd_") && secret.len() == 47,
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("shown only now"), "{}", run.stderr);

    // The new token works at once, with its role's limits.
    let as_bot = |args: &'static [&'static str]| {
        let secret = secret.clone();
        async move {
            let mut all = vec!["--token", secret.as_str()];
            all.extend_from_slice(args);
            pagerctl(addr, &all).await
        }
    };
    as_bot(&["list"]).await.success();
    let run = as_bot(&["token", "list"]).await;
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr
            .contains("needs role admin; token `ci-bot` has role viewer"),
        "{}",
        run.stderr
    );

    // Bad requests name their field; a name is never reused.
    for (args, want) in [
        (
            vec!["token", "create", "ci-bot", "--role", "viewer"],
            "name: a token named `ci-bot` exists already",
        ),
        (
            vec!["token", "create", "x", "--role", "root"],
            "role: `root` is not a role",
        ),
        (
            vec![
                "token", "create", "x", "--role", "viewer", "--person", "nobody",
            ],
            "person: no person `nobody` in the policy files",
        ),
        (
            vec!["token", "create", "a b", "--role", "viewer"],
            "name: token name `a b`",
        ),
        (
            vec!["token", "revoke", "nope"],
            "name: no live token named `nope`",
        ),
    ] {
        let run = pagerctl(addr, &args).await;
        assert_eq!(run.code, Some(1), "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(want), "{args:?}: {}", run.stderr);
    }

    // Listed by name, never with a secret.
    let run = pagerctl(addr, &["--json", "token", "list"]).await.success();
    assert!(!run.stdout.contains(&secret));
    let list = run.json();
    let bot = list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "ci-bot")
        .expect("ci-bot listed")
        .clone();
    assert_eq!(bot["role"], "viewer");
    assert_eq!(bot["person"], person.as_str());
    assert_eq!(bot["state"], "active");
    assert!(bot["expires_at"].is_string());
    let run = pagerctl(addr, &["token", "list"]).await.success();
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("ci-bot ") && l.ends_with("active")),
        "{}",
        run.stdout
    );

    // Revoked: refused from the very next call.
    let run = pagerctl(addr, &["token", "revoke", "ci-bot"])
        .await
        .success();
    assert!(
        run.stderr.contains("revoked token `ci-bot`"),
        "{}",
        run.stderr
    );
    let run = as_bot(&["list"]).await;
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("unauthenticated"), "{}", run.stderr);
    let list = pagerctl(addr, &["--json", "token", "list"])
        .await
        .success()
        .json();
    assert!(
        list["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "ci-bot" && t["state"] == "revoked")
    );

    // The audit trail names the admin token that did both.
    let audit = pagerctl(addr, &["--json", "audit"]).await.success().json();
    let rows: Vec<(String, String, String)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().ends_with(" token"))
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["target"].as_str().unwrap().to_string(),
                e["actor"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                "create token".to_string(),
                format!("token ci-bot (role viewer, person {person})"),
                "local-admin".to_string()
            ),
            (
                "revoke token".to_string(),
                "token ci-bot".to_string(),
                "local-admin".to_string()
            ),
        ]
    );
    pagerd.stop().await;
}
