//! Several real `pagerd` processes on one real PostgreSQL database (`store.url`): one node
//! runs time (the cluster lease), another takes over when it dies or stalls, and nothing
//! accepted is lost, nothing due is missed, nothing is sent twice except under one
//! idempotency key.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use pagerd::proto as pb;
use pagerd::store::pg_server::PgServer;
use tonic::transport::Channel;

use crate::kit::{
    AppDirs, AuthedChannel, DaemonProcess, HeldSink, ProcessSpec, ReceivedPage, WebhookSink,
    with_token,
};

const PAGERD: &str = env!("CARGO_BIN_EXE_pagerd");

/// The shortest TTL the settings allow: fast tests.
const TTL: Duration = Duration::from_secs(2);

/// alice now, bob 3 s later if nobody acknowledged.
const POLICIES: &str = r#"
[[person]]
name = "alice"
time_zone = "UTC"
[[person]]
name = "bob"
time_zone = "UTC"

[[service]]
name = "web"
escalation_policy = "fast"

[[escalation_policy]]
name = "fast"
ack_timeout = "1h"
levels = [
  { targets = ["alice"], delay = "3s" },
  { targets = ["bob"], delay = "1h" },
]
"#;

struct Node {
    daemon: DaemonProcess,
    _dirs: AppDirs,
}

/// Starts node `name` on the database `url`, paging to `webhook`.
async fn node(name: &str, url: &str, webhook: &str) -> Node {
    let dirs = AppDirs::new(POLICIES);
    let mut spec = ProcessSpec::new(PAGERD, &dirs);
    spec.webhook_url = Some(webhook.to_string());
    spec.log_filter = "warn,pagerd::app::cluster=info,pagerd::engine=info".into();
    spec.env = vec![
        ("PAGERD_STORE__URL".into(), url.into()),
        ("PAGERD_CLUSTER__LEASE_TTL".into(), "2s".into()),
        ("PAGERD_CLUSTER__NODE_NAME".into(), name.into()),
    ];
    let daemon = DaemonProcess::start(&spec)
        .await
        .expect("pagerd node starts");
    Node {
        daemon,
        _dirs: dirs,
    }
}

async fn channel(node: &Node, token: &str) -> AuthedChannel {
    let ch = Channel::from_shared(node.daemon.grpc_url())
        .unwrap()
        .connect_timeout(Duration::from_millis(300))
        .timeout(Duration::from_secs(5))
        .connect_lazy();
    with_token(ch, token)
}

async fn status(node: &Node, token: &str) -> Option<pb::StatusResponse> {
    let mut c = pb::daemon_service_client::DaemonServiceClient::new(channel(node, token).await);
    c.status(pb::StatusRequest {})
        .await
        .ok()
        .map(|r| r.into_inner())
}

/// The name of the node holding the lease, as `node` reports it (polled, bounded).
async fn leader_seen_by(node: &Node, token: &str, not: Option<&str>, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        if let Some(s) = status(node, token).await
            && let Some(l) = s.nodes.iter().find(|n| {
                n.leader
                    && not != Some(n.name.as_str())
                    && n.seen_at.as_ref().is_some_and(|t| {
                        chrono::Utc::now().timestamp() - t.seconds < TTL.as_secs() as i64
                    })
            })
        {
            return l.name.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no leader other than {not:?} within {within:?}\n{}",
            node.daemon.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn trigger(ch: AuthedChannel, key: &str) -> Result<pb::TriggerResponse, tonic::Status> {
    pb::alert_service_client::AlertServiceClient::new(ch)
        .trigger(pb::TriggerRequest {
            service: "web".into(),
            dedup_key: key.into(),
            severity: pb::Severity::High as i32,
            summary: format!("{key} failing"),
            source: "test".into(),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner())
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: a plain kill(2) on a child process we started.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, sig) }, 0);
}

/// The leader is killed with SIGKILL while triggers arrive at every node: a follower takes
/// over within the lease TTL, every accepted trigger has its incident, every escalation that
/// came due is paged, and a page is repeated only under its idempotency key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_is_replaced_within_the_ttl_and_nothing_accepted_is_lost() {
    let url = PgServer::shared().fresh_database();
    let mut sink = WebhookSink::start().await;
    let a = node("a", &url, &sink.url).await;
    let token = a.daemon.admin_token().await;
    assert_eq!(leader_seen_by(&a, &token, None, TTL * 3).await, "a");
    let b = node("b", &url, &sink.url).await;
    let c = node("c", &url, &sink.url).await;

    // Load on all three nodes; `a` is killed a second in.
    let channels = [
        channel(&a, &token).await,
        channel(&b, &token).await,
        channel(&c, &token).await,
    ];
    let load = {
        let channels = channels.clone();
        tokio::spawn(async move {
            let mut accepted = BTreeMap::new();
            let started = Instant::now();
            let mut i = 0u32;
            while started.elapsed() < Duration::from_secs(4) {
                let mut round = Vec::new();
                for ch in channels.iter().cloned() {
                    i += 1;
                    let key = format!("k{i}");
                    round.push(tokio::spawn(async move {
                        (key.clone(), trigger(ch, &key).await)
                    }));
                }
                for r in round {
                    let (key, answer) = r.await.unwrap();
                    if let Ok(resp) = answer {
                        accepted.insert(key, resp.incident_id);
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            accepted
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let killed_at = Instant::now();
    signal(a.daemon.pid, libc::SIGKILL);
    let new_leader = leader_seen_by(&b, &token, Some("a"), TTL * 3).await;
    let failover = killed_at.elapsed();
    assert!(
        failover <= TTL + Duration::from_millis(500),
        "{new_leader} took over {failover:?} after the kill (lease_ttl {TTL:?})"
    );
    let accepted = load.await.unwrap();
    assert!(accepted.len() > 50, "load too small: {}", accepted.len());

    // Every accepted trigger has its incident.
    let mut incidents =
        pb::incident_service_client::IncidentServiceClient::new(channel(&b, &token).await);
    let mut listed = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = incidents
            .list(pb::ListIncidentsRequest {
                page_size: 500,
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        listed.extend(page.incidents);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let stored: BTreeMap<String, i64> =
        listed.iter().map(|i| (i.dedup_key.clone(), i.id)).collect();
    for (key, id) in &accepted {
        assert_eq!(stored.get(key), Some(id), "accepted trigger {key} lost");
    }

    // Every incident pages alice, then bob 3 s later: 2 pages each, all due by now + 3 s.
    let want: BTreeSet<(i64, &str)> = stored
        .values()
        .flat_map(|id| [(*id, "alice"), (*id, "bob")])
        .collect();
    let mut seen: BTreeMap<(i64, String), Vec<ReceivedPage>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while want
        .iter()
        .any(|(id, p)| !seen.contains_key(&(*id, p.to_string())))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(page) = tokio::time::timeout(left, sink.next()).await else {
            let missing: Vec<_> = want
                .iter()
                .filter(|(id, p)| !seen.contains_key(&(*id, p.to_string())))
                .take(10)
                .collect();
            panic!(
                "pages missing (first 10): {missing:?}\n{}",
                b.daemon.log_tail()
            );
        };
        seen.entry((page.incident_id(), page.person().to_string()))
            .or_default()
            .push(page);
    }
    // A repeat (a send cut off by the kill, sent again by the new leader) keeps its key.
    for ((id, person), pages) in &seen {
        let keys: BTreeSet<&str> = pages.iter().map(|p| p.idempotency_key.as_str()).collect();
        assert_eq!(
            keys.len(),
            1,
            "incident {id} paged {person} under several keys: {keys:?}"
        );
    }
    drop((b, c));
}

/// A leader stopped (SIGSTOP) past its lease sends nothing once it runs again, although
/// pages it would have sent are still pending: the new leader holds them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leader_sends_nothing_after_it_wakes() {
    let url = PgServer::shared().fresh_database();
    let mut sink_a = WebhookSink::start().await;
    let mut sink_b = HeldSink::start().await;
    let a = node("a", &url, &sink_a.url).await;
    let token = a.daemon.admin_token().await;
    assert_eq!(leader_seen_by(&a, &token, None, TTL * 3).await, "a");
    let b = node("b", &url, &sink_b.url).await;

    // An incident paged by a: alice now (through a), bob due 3 s later.
    let first = trigger(channel(&a, &token).await, "before").await.unwrap();
    let page = sink_a.next().await;
    assert_eq!(
        (page.incident_id(), page.person()),
        (first.incident_id, "alice")
    );

    signal(a.daemon.pid, libc::SIGSTOP);
    assert_eq!(leader_seen_by(&b, &token, Some("a"), TTL * 3).await, "b");
    // b sends now, into a receiver that holds every request: its pages stay pending. It
    // pages alice for a new incident, and bob for the first once that escalation comes due.
    // (A page a sent but had not recorded when it stopped goes again, under its key.)
    let second = trigger(channel(&b, &token).await, "during").await.unwrap();
    let want = [(second.incident_id, "alice"), (first.incident_id, "bob")];
    let mut got = BTreeMap::new();
    while !want
        .iter()
        .all(|w| got.contains_key(&(w.0, w.1.to_string())))
    {
        let p = sink_b.next().await;
        got.insert((p.incident_id(), p.person().to_string()), p.idempotency_key);
    }
    if let Some(key) = got.remove(&(first.incident_id, "alice".to_string())) {
        assert_eq!(
            key, page.idempotency_key,
            "a repeat keeps its idempotency key"
        );
    }
    assert_eq!(got.len(), 2, "{got:?}");
    signal(a.daemon.pid, libc::SIGCONT);
    // Three seconds: an old leader acting on its lapsed lease would send at once.
    for _ in 0..10 {
        sink_a
            .expect_quiet("the old leader sent a page after it woke")
            .await;
    }
    sink_b.open();
    drop((a, b));
}

/// Two nodes take alerts with the same dedup key at the same moment: one incident. A Watch on
/// either node sees every event, whichever node committed it, in sequence order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_racing_on_one_dedup_key_open_one_incident_and_both_watch_it_all() {
    let url = PgServer::shared().fresh_database();
    let sink = WebhookSink::start().await;
    let a = node("a", &url, &sink.url).await;
    let token = a.daemon.admin_token().await;
    let b = node("b", &url, &sink.url).await;
    let (ca, cb) = (channel(&a, &token).await, channel(&b, &token).await);
    // A watcher on each node, from the start of the sequence.
    let mut watchers = Vec::new();
    for ch in [ca.clone(), cb.clone()] {
        let stream = pb::incident_service_client::IncidentServiceClient::new(ch)
            .watch(pb::WatchRequest {
                after_sequence: Some(0),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        watchers.push(stream);
    }
    for i in 0..20 {
        let key = format!("race{i}");
        let (ra, rb) = tokio::join!(trigger(ca.clone(), &key), trigger(cb.clone(), &key));
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert_eq!(ra.incident_id, rb.incident_id, "{key}: two incidents");
        assert!(ra.deduplicated != rb.deduplicated, "{key}: {ra:?} {rb:?}");
    }
    // Both watchers see the same events, whichever node committed them, in sequence order:
    // 20 incidents opened (one node each) and 20 repeats recorded (the other).
    let mut seen = Vec::new();
    for mut w in watchers {
        let mut ids = Vec::new();
        let mut incidents = BTreeSet::new();
        while incidents.len() < 20 || ids.len() < 40 {
            let ev = tokio::time::timeout(Duration::from_secs(10), w.message())
                .await
                .expect("events within 10 s")
                .unwrap()
                .expect("stream open");
            incidents.insert(ev.incident_id);
            ids.push(ev.id);
        }
        assert!(
            ids.windows(2).all(|p| p[0] < p[1]),
            "in sequence order: {ids:?}"
        );
        seen.push(ids[..40].to_vec());
    }
    assert_eq!(seen[0], seen[1], "both nodes deliver the same sequence");
    drop((a, b));
}

/// A token revoked through one node is refused by the others at once (not after their
/// token caches' maximum age).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_on_one_node_is_refused_by_the_others_at_once() {
    let url = PgServer::shared().fresh_database();
    let sink = WebhookSink::start().await;
    let a = node("a", &url, &sink.url).await;
    let token = a.daemon.admin_token().await;
    let b = node("b", &url, &sink.url).await;
    let mut admin = pb::daemon_service_client::DaemonServiceClient::new(channel(&a, &token).await);
    let secret = admin
        .create_token(pb::CreateTokenRequest {
            name: "grafana".into(),
            role: "viewer".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .secret;
    // Used on b: verified and cached there.
    assert!(
        status(&b, &secret).await.is_some(),
        "the new token works on b"
    );
    admin
        .revoke_token(pb::RevokeTokenRequest {
            name: "grafana".into(),
        })
        .await
        .unwrap();
    let revoked = Instant::now();
    while status(&b, &secret).await.is_some() {
        assert!(
            revoked.elapsed() < Duration::from_secs(2),
            "b still takes a token revoked on a {:?} ago",
            revoked.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop((a, b));
}

/// alice is always on call for `rota`; an override puts bob on it.
const ROTA_POLICIES: &str = r#"
[[person]]
name = "alice"
time_zone = "UTC"
[[person]]
name = "bob"
time_zone = "UTC"

[[schedule]]
name = "rota"
time_zone = "UTC"
owner = "alice"
handoff_notifications = "off"
[[schedule.layer]]
name = "all"
members = ["alice"]
shift = "1w"
start = "2026-01-05T00:00"

[[service]]
name = "web"
escalation_policy = "rota"

[[escalation_policy]]
name = "rota"
ack_timeout = "1h"
levels = [{ schedules = ["rota"], delay = "1h" }]
"#;

/// An override made through a follower is in force on the other nodes at once: the leader
/// pages the person it names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_override_made_on_a_follower_is_paged_by_the_leader() {
    let url = PgServer::shared().fresh_database();
    let mut sink = WebhookSink::start().await;
    let start = |name: &'static str| {
        let (url, webhook) = (url.clone(), sink.url.clone());
        async move {
            let dirs = AppDirs::new(ROTA_POLICIES);
            let mut spec = ProcessSpec::new(PAGERD, &dirs);
            spec.webhook_url = Some(webhook);
            spec.env = vec![
                ("PAGERD_STORE__URL".into(), url),
                ("PAGERD_CLUSTER__LEASE_TTL".into(), "2s".into()),
                ("PAGERD_CLUSTER__NODE_NAME".into(), name.into()),
            ];
            Node {
                daemon: DaemonProcess::start(&spec)
                    .await
                    .expect("pagerd node starts"),
                _dirs: dirs,
            }
        }
    };
    let a = start("a").await;
    let token = a.daemon.admin_token().await;
    assert_eq!(leader_seen_by(&a, &token, None, TTL * 3).await, "a");
    let b = start("b").await;

    let now = chrono::Utc::now();
    let ts = |t: chrono::DateTime<chrono::Utc>| prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    };
    pb::schedule_service_client::ScheduleServiceClient::new(channel(&b, &token).await)
        .add_override(pb::AddOverrideRequest {
            schedule: "rota".into(),
            person: "bob".into(),
            start: Some(ts(now - chrono::Duration::minutes(1))),
            end: Some(ts(now + chrono::Duration::hours(1))),
            reason: "swap".into(),
            by: String::new(),
        })
        .await
        .unwrap();
    // The leader re-reads it on the follower's notification (polled through its OnCall), and
    // decides whom to page for what it takes (a trigger here; escalations likewise).
    let mut schedules =
        pb::schedule_service_client::ScheduleServiceClient::new(channel(&a, &token).await);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let on_call = schedules
            .on_call(pb::OnCallRequest {
                schedule: "rota".into(),
                at: None,
            })
            .await
            .unwrap()
            .into_inner();
        if on_call.shift.is_some_and(|s| s.person == "bob") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the leader never saw the override"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let opened = trigger(channel(&a, &token).await, "db").await.unwrap();
    let page = sink.next().await;
    assert_eq!(
        (page.incident_id(), page.person()),
        (opened.incident_id, "bob"),
        "the leader pages whom the override names"
    );
    drop((a, b));
}
