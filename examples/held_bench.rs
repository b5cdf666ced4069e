//! Head-of-line benchmark: how long unrelated pages wait behind one webhook request the
//! receiver holds. Runs the real `pagerd` binary with its webhook pointed at a receiver in
//! this process that holds the page of one incident (`held`) for `--hold-secs` and answers
//! every other page at once; then triggers `--pages` unrelated incidents and reports, per page,
//! the time from the trigger's answer to the page's arrival.
//!
//! ```text
//! cargo build --release --bins --examples && target/release/examples/held_bench
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::extract::{Request, State};
use clap::Parser;
use tokio::sync::mpsc;

use pagerd::proto::alert_service_client::AlertServiceClient;
use pagerd::proto::{Severity, TriggerRequest};

#[path = "../tests/kit/mod.rs"]
mod kit;
use kit::{AppDirs, DaemonProcess, ProcessSpec};

const POLICIES: &str = r#"# Written by examples/held_bench.rs.
[[person]]
name = "oncall"
time_zone = "UTC"

[[service]]
name = "bench"
escalation_policy = "p"

[[escalation_policy]]
name = "p"
levels = [ { targets = ["oncall"], delay = "24h" } ]
"#;

#[derive(Parser, Debug)]
#[command(about = "Delay of unrelated pages behind one held webhook request")]
struct Args {
    /// The daemon binary. Default: `pagerd` next to this example's directory.
    #[arg(long)]
    pagerd: Option<PathBuf>,
    /// Unrelated pages triggered while one is held.
    #[arg(long, default_value_t = 50)]
    pages: usize,
    /// How long the receiver holds the one page.
    #[arg(long, default_value_t = 8)]
    hold_secs: u64,
}

#[derive(Clone)]
struct Sink {
    arrivals: mpsc::UnboundedSender<(String, Instant)>,
    hold: Duration,
}

async fn receive(State(s): State<Arc<Sink>>, req: Request) -> &'static str {
    let body = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let key = v["incident"]["dedup_key"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let _ = s.arrivals.send((key.clone(), Instant::now()));
    if key == "held" {
        tokio::time::sleep(s.hold).await;
    }
    "ok"
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let pagerd = match args.pagerd {
        Some(p) => p,
        None => std::env::current_exe()?
            .parent()
            .and_then(|d| d.parent())
            .context("no target directory")?
            .join("pagerd"),
    };
    let (tx, mut arrivals) = mpsc::unbounded_channel();
    let sink = Arc::new(Sink {
        arrivals: tx,
        hold: Duration::from_secs(args.hold_secs),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/pages", listener.local_addr()?);
    let router = Router::new().fallback(receive).with_state(sink);
    tokio::spawn(async move { axum::serve(listener, router).await });

    let dirs = AppDirs::new(POLICIES);
    let mut spec = ProcessSpec::new(&pagerd, &dirs);
    spec.webhook_url = Some(url);
    let daemon = DaemonProcess::start(&spec).await?;
    let channel = tonic::transport::Channel::from_shared(daemon.grpc_url())?
        .connect()
        .await?;
    let mut alerts = AlertServiceClient::new(kit::with_token(channel, &daemon.admin_token().await));
    let trigger = |key: String| TriggerRequest {
        service: "bench".into(),
        dedup_key: key,
        severity: Severity::High as i32,
        summary: "bench".into(),
        ..Default::default()
    };

    alerts.trigger(trigger("held".into())).await?;
    let (key, _) = arrivals.recv().await.context("sink closed")?;
    anyhow::ensure!(key == "held", "first page was {key}");
    let mut sent = std::collections::HashMap::new();
    for i in 0..args.pages {
        let key = format!("unrelated-{i}");
        alerts.trigger(trigger(key.clone())).await?;
        sent.insert(key, Instant::now());
    }
    let mut delays = Vec::new();
    while delays.len() < args.pages {
        let (key, at) = tokio::time::timeout(Duration::from_secs(60), arrivals.recv())
            .await
            .context("pages stopped arriving")?
            .context("sink closed")?;
        if let Some(t) = sent.get(&key) {
            delays.push(at.saturating_duration_since(*t).as_secs_f64() * 1000.0);
        }
    }
    delays.sort_by(f64::total_cmp);
    let pct = |p: f64| delays[((delays.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "{} unrelated pages behind one webhook request held {} s: delay median {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        args.pages,
        args.hold_secs,
        pct(0.5),
        pct(0.9),
        pct(1.0)
    );
    Ok(())
}
