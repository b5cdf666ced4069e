//! Several `pagerd` nodes on one PostgreSQL (Debian's package, durable defaults, started
//! here on a temporary directory): durable triggers/s with `--nodes` nodes (the clients
//! spread over them), and failover time (leader killed with SIGKILL → the first page that was
//! due meanwhile arrives), median and max over `--kills` kills. Figures in BENCHMARKS.md.
//!
//! ```text
//! cargo build --release --bins --examples
//! target/release/examples/cluster_bench --nodes 1 --secs 20
//! target/release/examples/cluster_bench --nodes 3 --secs 20
//! target/release/examples/cluster_bench --nodes 3 --kills 10
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use pagerd::proto as pb;
use pagerd::store::pg_server::{PgOptions, PgServer};
use tonic::transport::Channel;

#[path = "../tests/kit/mod.rs"]
mod kit;
use kit::{AppDirs, AuthedChannel, DaemonProcess, ProcessSpec, WebhookSink, with_token};

const POLICIES: &str = r#"# Written by examples/cluster_bench.
[[person]]
name = "oncall"
time_zone = "UTC"

[[service]]
name = "bench"
escalation_policy = "one"

[[escalation_policy]]
name = "one"
ack_timeout = "24h"
levels = [{ targets = ["oncall"], delay = "24h" }]
"#;

#[derive(Parser)]
struct Args {
    /// The pagerd binary.
    #[arg(long, default_value = "target/release/pagerd")]
    pagerd: PathBuf,
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Closed-loop trigger clients, spread over the nodes (0: skip the throughput phase).
    #[arg(long, default_value_t = 64)]
    clients: usize,
    #[arg(long, default_value_t = 20)]
    secs: u64,
    /// Leader kills for the failover phase (0: skip it).
    #[arg(long, default_value_t = 0)]
    kills: usize,
    /// `cluster.lease_ttl`.
    #[arg(long, default_value = "10s")]
    lease_ttl: String,
}

struct Node {
    name: String,
    dirs: AppDirs,
    daemon: Option<DaemonProcess>,
}

async fn start(bin: &PathBuf, node: &mut Node, url: &str, webhook: &str, ttl: &str) {
    let mut spec = ProcessSpec::new(bin, &node.dirs);
    spec.webhook_url = Some(webhook.to_string());
    spec.log_filter = "warn,pagerd::app::cluster=info".into();
    spec.log_name = format!("pagerd-{}.log", node.name);
    spec.env = vec![
        ("PAGERD_STORE__URL".into(), url.into()),
        ("PAGERD_CLUSTER__LEASE_TTL".into(), ttl.into()),
        ("PAGERD_CLUSTER__NODE_NAME".into(), node.name.clone()),
    ];
    node.daemon = Some(
        DaemonProcess::start(&spec)
            .await
            .expect("pagerd node starts"),
    );
}

fn channel(d: &DaemonProcess, token: &str) -> AuthedChannel {
    let ch = Channel::from_shared(d.grpc_url())
        .unwrap()
        .connect_timeout(Duration::from_millis(300))
        .timeout(Duration::from_secs(10))
        .connect_lazy();
    with_token(ch, token)
}

async fn trigger(ch: AuthedChannel, key: String) -> bool {
    pb::alert_service_client::AlertServiceClient::new(ch)
        .trigger(pb::TriggerRequest {
            service: "bench".into(),
            dedup_key: key,
            severity: pb::Severity::High as i32,
            summary: "bench".into(),
            source: "cluster_bench".into(),
            ..Default::default()
        })
        .await
        .is_ok()
}

/// The leader's name as `d` reports it (polled).
async fn leader(d: &DaemonProcess, token: &str, not: Option<&str>) -> String {
    loop {
        let mut c = pb::daemon_service_client::DaemonServiceClient::new(channel(d, token));
        if let Ok(s) = c.status(pb::StatusRequest {}).await {
            let now = chrono::Utc::now().timestamp();
            if let Some(n) = s.into_inner().nodes.iter().find(|n| {
                n.leader
                    && Some(n.name.as_str()) != not
                    && n.seen_at.as_ref().is_some_and(|t| now - t.seconds < 5)
            }) {
                return n.name.clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let server = tokio::task::spawn_blocking(|| PgServer::start(PgOptions::durable())).await??;
    let url = server.fresh_database();
    let mut sink = WebhookSink::start().await;
    let mut nodes: Vec<Node> = (0..args.nodes)
        .map(|i| Node {
            name: format!("node{i}"),
            dirs: AppDirs::new(POLICIES),
            daemon: None,
        })
        .collect();
    for n in nodes.iter_mut() {
        start(&args.pagerd, n, &url, &sink.url, &args.lease_ttl).await;
    }
    let token = nodes[0].daemon.as_ref().unwrap().admin_token().await;
    let first = leader(nodes[0].daemon.as_ref().unwrap(), &token, None).await;
    println!(
        "{} node(s) on PostgreSQL (durable); leader {first}",
        args.nodes
    );

    if args.clients > 0 {
        let done = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let until = Instant::now() + Duration::from_secs(args.secs);
        let mut clients = Vec::new();
        for c in 0..args.clients {
            let ch = channel(nodes[c % nodes.len()].daemon.as_ref().unwrap(), &token);
            let (done, failed) = (done.clone(), failed.clone());
            clients.push(tokio::spawn(async move {
                let mut i = 0u64;
                while Instant::now() < until {
                    i += 1;
                    if trigger(ch.clone(), format!("c{c}-{i}")).await {
                        done.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        let t0 = Instant::now();
        for c in clients {
            c.await?;
        }
        let secs = t0.elapsed().as_secs_f64();
        let n = done.load(Ordering::Relaxed);
        println!(
            "throughput: {} clients over {} node(s): {n} durable triggers in {secs:.1} s = {:.0}/s ({} failed)",
            args.clients,
            args.nodes,
            n as f64 / secs,
            failed.load(Ordering::Relaxed)
        );
        // The pages of those incidents are not this phase's business.
        while tokio::time::timeout(Duration::from_millis(200), sink.next())
            .await
            .is_ok()
        {}
    }

    let mut times = Vec::new();
    for k in 0..args.kills {
        let any = nodes.iter().find_map(|n| n.daemon.as_ref()).unwrap();
        let name = leader(any, &token, None).await;
        let idx = nodes.iter().position(|n| n.name == name).unwrap();
        let survivor = (idx + 1) % nodes.len();
        // Drain what is in flight so the first page after the kill is ours.
        while tokio::time::timeout(Duration::from_millis(300), sink.next())
            .await
            .is_ok()
        {}
        let pid = nodes[idx].daemon.as_ref().unwrap().pid;
        let killed = Instant::now();
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        // Accepted by a follower at once; due now, paged only once a leader runs.
        let ch = channel(nodes[survivor].daemon.as_ref().unwrap(), &token);
        let key = format!("failover-{k}");
        while !trigger(ch.clone(), key.clone()).await {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let page: kit::ReceivedPage = tokio::time::timeout(Duration::from_secs(120), sink.recv())
            .await?
            .expect("sink open")
            .into();
        let took = killed.elapsed();
        println!(
            "kill {}: {name} killed; first overdue page (incident {}) after {:.2} s",
            k + 1,
            page.incident_id(),
            took.as_secs_f64()
        );
        times.push(took);
        nodes[idx].daemon = None;
        start(
            &args.pagerd,
            &mut nodes[idx],
            &url,
            &sink.url,
            &args.lease_ttl,
        )
        .await;
    }
    if !times.is_empty() {
        times.sort();
        println!(
            "failover over {} kills (lease_ttl {}): median {:.2} s, max {:.2} s",
            times.len(),
            args.lease_ttl,
            (times[(times.len() - 1) / 2] + times[times.len() / 2]).as_secs_f64() / 2.0,
            times.last().unwrap().as_secs_f64()
        );
    }
    drop(nodes);
    Ok(())
}
