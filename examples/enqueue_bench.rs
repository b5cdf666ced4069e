//! Load generator for the PagerDuty Events v2 endpoint: durable `POST /v2/enqueue` events/s
//! against the real `pagerd` binary, run as a separate process.
//!
//! ```text
//! cargo build --release --bins --examples && target/release/examples/enqueue_bench
//! ```
//!
//! One daemon on a fresh temporary data directory (`synchronous = full`), one service with an
//! integration key, a webhook sink in this process receiving the level-1 pages. `--clients`
//! closed-loop HTTP/1.1 clients, each on its own connection, send one trigger per request,
//! each with a unique dedup key: every 202 means incident + timeline + an outbox page + a due
//! escalation were committed. A warm-up, then `--runs` measured runs of `--events` each;
//! prints each run and the median.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::http::StatusCode;
use clap::Parser;
use tokio::process::Command;

const KEY: &str = "BenchKey000000000000000000000001";

const POLICIES: &str = r#"# Written by examples/enqueue_bench.rs.
[[person]]
name = "oncall"
time_zone = "UTC"

[[service]]
name = "bench-enqueue"
escalation_policy = "slow"
integration_keys = ["BenchKey000000000000000000000001"]

[[escalation_policy]]
name = "slow"
levels = [ { targets = ["oncall"], delay = "24h" }, { targets = ["oncall"], delay = "24h" } ]
"#;

#[derive(Parser)]
#[command(about = "Durable /v2/enqueue events per second against the real pagerd binary")]
struct Args {
    /// The daemon binary.
    #[arg(long, default_value = "target/release/pagerd")]
    pagerd: PathBuf,
    /// Concurrent HTTP connections, one closed-loop client each.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Events per measured run.
    #[arg(long, default_value_t = 50_000)]
    events: u64,
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Warm-up before the runs.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    warmup: Duration,
}

fn free_addr() -> anyhow::Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// Receives the pages and answers 200, like a webhook receiver.
async fn start_sink() -> anyhow::Result<SocketAddr> {
    let router = axum::Router::new().route(
        "/pages",
        axum::routing::post(|_: axum::body::Bytes| async { StatusCode::OK }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(addr)
}

/// Sends `total` events from `clients` connections; returns events/s and the errors seen.
async fn run(url: &str, clients: usize, total: u64, run_id: &str) -> anyhow::Result<(f64, u64)> {
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        // One client per connection: its pool keeps one keep-alive connection.
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()?;
        let (url, next, errors, run_id) = (
            url.to_string(),
            next.clone(),
            errors.clone(),
            run_id.to_string(),
        );
        tasks.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    return;
                }
                let body = serde_json::json!({
                    "routing_key": KEY,
                    "event_action": "trigger",
                    "dedup_key": format!("{run_id}-{n}"),
                    "payload": {"summary": format!("bench event {n}"), "source": "enqueue_bench",
                                "severity": "error"},
                });
                let ok = match http.post(&url).json(&body).send().await {
                    Ok(r) => r.status() == StatusCode::ACCEPTED && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if !ok {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let secs = started.elapsed().as_secs_f64();
    Ok((total as f64 / secs, errors.load(Ordering::Relaxed)))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.pagerd.is_file() {
        bail!(
            "{} not found; build it with `cargo build --release --bins --examples`",
            args.pagerd.display()
        );
    }
    let dir = tempfile::tempdir()?;
    let schedules = dir.path().join("schedules");
    std::fs::create_dir_all(&schedules)?;
    std::fs::write(schedules.join("bench.toml"), POLICIES)?;
    let sink = start_sink().await?;
    let (grpc, http) = (free_addr()?, free_addr()?);
    let mut cmd = Command::new(&args.pagerd);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PAGERD_") {
            cmd.env_remove(&key);
        }
    }
    let _daemon = cmd
        .env_remove("RUST_LOG")
        .env("PAGERD_DATA_DIR", dir.path().join("data"))
        .env("PAGERD_SCHEDULES_DIR", &schedules)
        .env("PAGERD_GRPC__LISTEN", grpc.to_string())
        .env("PAGERD_HTTP__LISTEN", http.to_string())
        .env("PAGERD_NOTIFY__LOG__ENABLED", "false")
        .env(
            "PAGERD_NOTIFY__WEBHOOK__URL",
            format!("http://{sink}/pages"),
        )
        .env("PAGERD_RELOAD__WATCH", "false")
        .env("PAGERD_LOG__FILTER", "warn")
        // The per-key limit (default 1,000/s) would cap the figure; measure the endpoint.
        .env("PAGERD_INTEGRATIONS__EVENTS_PER_MINUTE", "1000000000")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("starting pagerd")?;

    let health = format!("http://{http}/healthz");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !reqwest::get(&health)
        .await
        .is_ok_and(|r| r.status() == StatusCode::OK)
    {
        if Instant::now() > deadline {
            bail!("pagerd did not answer {health} within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let url = format!("http://{http}/v2/enqueue");
    println!(
        "pagerd {}: {} clients, {} events per run; load average before: {}",
        args.pagerd.display(),
        args.clients,
        args.events,
        load_average()
    );
    let warm_until = Instant::now() + args.warmup;
    let mut w = 0;
    while Instant::now() < warm_until {
        run(&url, args.clients, 2_000, &format!("warm{w}")).await?;
        w += 1;
    }
    let mut rates = Vec::new();
    for i in 0..args.runs {
        let (rate, errors) = run(&url, args.clients, args.events, &format!("run{i}")).await?;
        println!(
            "run {}: {rate:.0} events/s ({errors} errors); load average {}",
            i + 1,
            load_average()
        );
        if errors > 0 {
            bail!("{errors} events were not accepted");
        }
        rates.push(rate);
    }
    rates.sort_by(|a, b| a.total_cmp(b));
    println!(
        "median: {:.0} durable /v2/enqueue events/s with {} connections",
        rates[rates.len() / 2],
        args.clients
    );
    Ok(())
}
