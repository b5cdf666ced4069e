//! What the dashboard costs trigger throughput: durable Events v2 saturation (closed-loop
//! clients, each alert committed before it is answered and paged to a loopback webhook) with
//! the dashboard switched off (`ui.enabled = false`) and with it on and `--dashboards`
//! browsers watching the incident list — each holds the live-update stream open and, like
//! the page's script, re-reads the list (`/ui/incidents?partial=1`) at most every 500 ms
//! while events arrive. Rounds alternate off/on on fresh daemons; medians and the ratio are
//! printed.
//!
//! ```sh
//! cargo build --release --bins --examples
//! target/release/examples/ui_cost --pagerd target/release/pagerd
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;

#[path = "../tests/kit/mod.rs"]
mod kit;
use kit::{AppDirs, DaemonProcess, ProcessSpec};

const KEY: &str = "UiCostKey0123456789abcdefABCDEFG";

const POLICIES: &str = r#"# Written by examples/ui_cost.rs.
[[person]]
name = "oncall"
time_zone = "UTC"

[[service]]
name = "bench"
escalation_policy = "slow"
integration_keys = ["UiCostKey0123456789abcdefABCDEFG"]

[[escalation_policy]]
name = "slow"
levels = [ { targets = ["oncall"], delay = "24h" } ]
"#;

#[derive(Parser)]
struct Args {
    /// The pagerd binary (a release build).
    #[arg(long, default_value = "target/release/pagerd")]
    pagerd: PathBuf,
    /// Rounds; each runs the dashboard off, then on.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Browsers watching the incident list while the dashboard is on.
    #[arg(long, default_value_t = 5)]
    dashboards: usize,
    /// Closed-loop senders.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Alerts per run.
    #[arg(long, default_value_t = 20_000)]
    alerts: u64,
}

/// A loopback webhook that only counts pages.
async fn start_sink(count: Arc<AtomicU64>) -> anyhow::Result<SocketAddr> {
    let app = axum::Router::new().route(
        "/page",
        axum::routing::post(move || {
            let count = count.clone();
            async move {
                count.fetch_add(1, Ordering::Relaxed);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

/// One browser on the incident list: signs in, follows `/ui/events`, re-reads the list at
/// most every 500 ms while events come. Returns how many list reads it made.
async fn dashboard(base: String, token: String, stop: tokio_util::sync::CancellationToken) -> u64 {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http
        .post(format!("{base}/ui/signin"))
        .header("origin", &base)
        .form(&[("token", token.as_str())])
        .send()
        .await
        .expect("sign-in");
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_string();
    let mut events = http
        .get(format!("{base}/ui/events"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("event stream");
    let mut reads = 0;
    let mut last_read = Instant::now() - Duration::from_secs(1);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return reads,
            chunk = events.chunk() => match chunk {
                Ok(Some(_)) if last_read.elapsed() >= Duration::from_millis(500) => {
                    last_read = Instant::now();
                    let page = http
                        .get(format!("{base}/ui/incidents?partial=1"))
                        .header("cookie", &cookie)
                        .send()
                        .await;
                    if let Ok(p) = page {
                        let _ = p.bytes().await;
                        reads += 1;
                    }
                }
                Ok(Some(_)) => {}
                _ => return reads,
            },
        }
    }
}

/// Closed-loop saturation: alerts/s accepted.
async fn saturate(url: &str, clients: usize, total: u64, prefix: &str) -> (f64, u64) {
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (next, errors, url, prefix) = (
            next.clone(),
            errors.clone(),
            url.to_string(),
            prefix.to_string(),
        );
        let client = reqwest::Client::new();
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return;
                }
                let body = json!({
                    "routing_key": KEY,
                    "event_action": "trigger",
                    "dedup_key": format!("{prefix}-{i}"),
                    "payload": {"summary": "load", "source": "ui_cost", "severity": "error"},
                });
                match client.post(&url).json(&body).send().await {
                    Ok(r) if r.status().is_success() => {}
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let errors = errors.load(Ordering::Relaxed);
    (
        (total - errors) as f64 / started.elapsed().as_secs_f64(),
        errors,
    )
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let pages = Arc::new(AtomicU64::new(0));
    let sink = start_sink(pages.clone()).await?;
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for round in 0..args.rounds {
        for ui in [false, true] {
            let dirs = AppDirs::new(POLICIES);
            let mut spec = ProcessSpec::new(&args.pagerd, &dirs);
            spec.webhook_url = Some(format!("http://{sink}/page"));
            spec.log_filter = "warn".into();
            spec.env.push(("PAGERD_UI__ENABLED".into(), ui.to_string()));
            let mut daemon = DaemonProcess::start(&spec).await?;
            let base = daemon.http_url();
            let stop = tokio_util::sync::CancellationToken::new();
            let mut watchers = tokio::task::JoinSet::new();
            if ui {
                let token = kit::admin_token(&dirs.data()).await;
                for _ in 0..args.dashboards {
                    watchers.spawn(dashboard(base.clone(), token.clone(), stop.clone()));
                }
                // Let every browser sign in and open its stream first.
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            let (rate, errors) = saturate(
                &format!("{base}/v2/enqueue"),
                args.clients,
                args.alerts,
                &format!("r{round}{ui}"),
            )
            .await;
            stop.cancel();
            let mut reads = 0;
            while let Some(r) = watchers.join_next().await {
                reads += r.unwrap_or(0);
            }
            if let Err(e) = daemon.terminate().await {
                let log = std::fs::read_to_string(&daemon.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                anyhow::bail!(
                    "{e:#}; log ends:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            println!(
                "round {round} dashboard {:<3}: {rate:>7.0} alerts/s, errors {errors}, list reads {reads}",
                if ui { "on" } else { "off" }
            );
            if ui {
                on.push(rate)
            } else {
                off.push(rate)
            };
        }
    }
    let (off_m, on_m) = (median(&mut off), median(&mut on));
    println!(
        "median: off {off_m:.0}/s, on ({} dashboards) {on_m:.0}/s, on/off {:.3}",
        args.dashboards,
        on_m / off_m
    );
    Ok(())
}
