//! Load generator: measures the real `pagerd` binary, run as a separate process, against the
//! performance targets, and prints a summary table (recorded in `BENCHMARKS.md`).
//!
//! ```text
//! cargo build --release --bins --examples && target/release/examples/loadgen
//! ```
//!
//! Phases, all against one daemon on one fresh data directory:
//! - **A** — gRPC throughput: `grpc.health.v1.Health/Check` (the no-op) and then durable
//!   `AlertService/Trigger` calls, each from `--clients` closed-loop clients on separate
//!   connections. Every trigger has a unique dedup key, so each one opens an incident and
//!   commits incident + timeline + a page in the outbox + a due escalation before replying.
//! - **B** — timer lateness: with those incidents' escalations pending (due in 24 h), triggers
//!   on a service whose second level is due 10 s later, at a steady rate; a webhook sink in this
//!   process records, for every level-2 page, receive time − `due_at`.
//! - **C** — memory: VmRSS/VmHWM of the daemon from `/proc/PID/status`.
//! - **D** — restart: SIGTERM (time to exit), then a new daemon on the same data directory
//!   (time from spawn to the first SERVING health check, and the `startup_ms` it logs).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use clap::Parser;
use tokio::task::JoinSet;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Endpoint;

/// The kit's channel: every call carries the daemon's admin token.
type Channel = kit::AuthedChannel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use pagerd::proto::alert_service_client::AlertServiceClient;
use pagerd::proto::{Severity, TriggerRequest};

#[path = "../../tests/kit/mod.rs"]
mod kit;
mod measure;
mod report;
use kit::{AppDirs, DaemonProcess, ProcessSpec, Recorded, WebhookSink, log_field};
use measure::*;
use report::*;

const LOAD_SERVICE: &str = "bench-load";
const TIMER_SERVICE: &str = "bench-timer";
/// The `fast` policy's first delay: level 2 of a `bench-timer` incident is due this long
/// after its trigger.
const TIMER_ESCALATION: Duration = Duration::from_secs(10);

const POLICIES: &str = r#"# Written by examples/loadgen/.
[[person]]
name = "oncall"
time_zone = "UTC"

[[service]]
name = "bench-load"
escalation_policy = "slow"

[[service]]
name = "bench-timer"
escalation_policy = "fast"

[[escalation_policy]]
name = "slow"
levels = [ { targets = ["oncall"], delay = "24h" }, { targets = ["oncall"], delay = "24h" } ]

[[escalation_policy]]
name = "fast"
levels = [ { targets = ["oncall"], delay = "10s" }, { targets = ["oncall"], delay = "24h" } ]
"#;

// Targets, on a 2-core machine.
const TARGET_TRIGGERS_PER_SEC: f64 = 10_000.0;
const TARGET_NOOP_RATIO: f64 = 0.5;
const TARGET_LATENESS_P99_MS: f64 = 50.0;
const TARGET_RSS_MB: f64 = 100.0;
const TARGET_STARTUP: Duration = Duration::from_secs(2);
/// Above this much CPU taken by other processes during a phase, the run is flagged as noisy.
const NOISY_OTHERS_CORES: f64 = 0.2;

#[derive(Parser, Debug)]
#[command(about = "Measures a release pagerd binary against its performance targets")]
struct Args {
    /// The daemon binary (build it with `cargo build --release --bins`). Default: `pagerd`
    /// next to this example's directory, i.e. `target/release/pagerd`.
    #[arg(long)]
    pagerd: Option<PathBuf>,
    /// Durable triggers to send in phase A (one new incident each).
    #[arg(long, default_value_t = 100_000)]
    triggers: u64,
    /// Health checks to send in phase A (the no-op baseline).
    #[arg(long, default_value_t = 100_000)]
    noops: u64,
    /// Concurrent gRPC clients in phase A, each on its own connection.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Warm-up before the measured phase A, in seconds.
    #[arg(long, default_value_t = 2)]
    warmup_secs: u64,
    /// Give up on a phase-A run after this many seconds (the rate is still reported).
    #[arg(long, default_value_t = 120)]
    phase_timeout_secs: u64,
    /// Triggers per second on the fast-escalating service in phase B.
    #[arg(long, default_value_t = 200)]
    timer_rate: u32,
    /// Seconds of phase-B triggers.
    #[arg(long, default_value_t = 15)]
    timer_secs: u64,
    /// Connections the phase-B triggers are spread over.
    #[arg(long, default_value_t = 4)]
    timer_clients: usize,
    /// Parent of the temporary benchmark directory (must be on the disk being measured).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Keep the benchmark directory (database and daemon logs) instead of deleting it.
    #[arg(long)]
    keep: bool,
    /// Extra daemon environment, e.g. `PAGERD_STORE__SYNCHRONOUS=normal` (repeatable); set
    /// after the loadgen's own settings, so it can override them.
    #[arg(long = "daemon-env", value_name = "KEY=VALUE", value_parser = parse_env_pair)]
    daemon_env: Vec<(String, String)>,
}

/// `target/<profile>/pagerd` for a loadgen at `target/<profile>/examples/loadgen`.
fn default_pagerd() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("pagerd")))
        .unwrap_or_else(|| PathBuf::from("target/release/pagerd"))
}

fn parse_env_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.clients == 0 || args.timer_clients == 0 || args.timer_rate == 0 {
        bail!("--clients, --timer-clients and --timer-rate must be at least 1");
    }
    let pagerd = args.pagerd.clone().unwrap_or_else(default_pagerd);
    if !pagerd.is_file() {
        bail!(
            "{} not found: build it first with\n  cargo build --release --bins --examples && target/release/examples/loadgen",
            pagerd.display()
        );
    }
    let parent = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let tmp = tempfile::Builder::new()
        .prefix("pagerd-loadgen-")
        .tempdir_in(&parent)
        .with_context(|| format!("creating a temporary directory in {}", parent.display()))?;
    println!("benchmark directory: {}", tmp.path().display());
    let bench = BenchDir {
        pagerd,
        dirs: AppDirs::with_root(tmp, POLICIES),
    };

    let sink = Sink::start().await;
    let result = run(&args, &bench, &sink).await;
    if args.keep {
        let kept = bench.dirs.root.keep();
        println!("kept {}", kept.display());
    }
    let report = result?;
    report.print(&args);
    Ok(())
}

/// Runs every phase; the daemon is killed on any error (`kill_on_drop`).
async fn run(args: &Args, bench: &BenchDir, sink: &Sink) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let cpu = CpuClock::new();
    let (mut daemon, startup) = start_daemon(args, bench, sink, "warn", "pagerd-1.log").await?;
    report.empty_startup = startup;
    println!("daemon pid {} up in {}", daemon.pid, ms(startup));

    throughput_phase(args, &daemon, &cpu, &mut report).await?;
    drain_outbox(sink, &mut report).await?;
    timer_phase(args, &daemon, sink, &cpu, &mut report).await?;

    // Phase C: memory with the incidents open.
    report.open_incidents = open_incidents(&daemon).await?;
    report.memory_loaded = proc_memory(daemon.pid)?;
    println!(
        "phase C: {} open incidents; {}; on disk: {}",
        report.open_incidents,
        report.memory_loaded,
        disk_usage(&bench.dirs.data())
    );

    restart_phase(args, bench, sink, &mut daemon, &mut report).await?;
    report.sink_malformed = sink.malformed();
    Ok(report)
}

/// Phase A: the no-op and the durable trigger rate from `--clients` connections.
async fn throughput_phase(
    args: &Args,
    daemon: &DaemonProcess,
    cpu: &CpuClock,
    report: &mut Report,
) -> anyhow::Result<()> {
    let channels = connect_many(daemon, args.clients).await?;
    let health: Vec<_> = channels.iter().cloned().map(HealthClient::new).collect();
    let alerts: Vec<_> = channels.into_iter().map(AlertServiceClient::new).collect();
    let limit = Duration::from_secs(args.phase_timeout_secs);

    println!("phase A: warm-up {} s", args.warmup_secs);
    let warmup = Duration::from_secs(args.warmup_secs);
    closed_loop(&health, u64::MAX, warmup, health_check).await;

    println!(
        "phase A: {} health checks from {} clients",
        args.noops, args.clients
    );
    let mark = cpu.mark(daemon.pid);
    report.noop = closed_loop(&health, args.noops, limit, health_check).await;
    report.noop_cpu = cpu.since(&mark, daemon.pid);
    println!("  {}", report.noop.line());

    println!(
        "phase A: {} triggers from {} clients",
        args.triggers, args.clients
    );
    let key_prefix = format!("load-{}", uuid::Uuid::new_v4().simple());
    let mark = cpu.mark(daemon.pid);
    report.trigger = closed_loop(&alerts, args.triggers, limit, move |client, i| {
        let request = trigger_request(LOAD_SERVICE, format!("{key_prefix}-{i}"));
        Box::pin(async move { client.trigger(request).await.map(drop) })
    })
    .await;
    report.trigger_cpu = cpu.since(&mark, daemon.pid);
    println!("  {}", report.trigger.line());
    Ok(())
}

/// The level-1 pages of phase A go out through the outbox; wait until the sink has them all,
/// so phase B measures the timer and not a delivery backlog.
async fn drain_outbox(sink: &Sink, report: &mut Report) -> anyhow::Result<()> {
    let started = Instant::now();
    let want = report.trigger.ok;
    report.outbox_backlog = want.saturating_sub(sink.count(LOAD_SERVICE, 1));
    let limit = Duration::from_secs(120);
    let reached = sink.wait_for(LOAD_SERVICE, 1, want, limit).await;
    report.outbox_drain = started.elapsed();
    println!(
        "  outbox: {} level-1 pages still queued when the triggers ended; drained in {}",
        report.outbox_backlog,
        ms(report.outbox_drain)
    );
    if reached < want {
        bail!("only {reached} of {want} level-1 pages reached the webhook sink within {limit:?}");
    }
    Ok(())
}

/// Phase B: steady triggers on the fast service while phase A's escalations stay pending;
/// the lateness of every level-2 page they lead to.
async fn timer_phase(
    args: &Args,
    daemon: &DaemonProcess,
    sink: &Sink,
    cpu: &CpuClock,
    report: &mut Report,
) -> anyhow::Result<()> {
    println!(
        "phase B: {} triggers/s on {TIMER_SERVICE} for {} s ({} escalations pending for 24 h)",
        args.timer_rate, args.timer_secs, report.trigger.ok
    );
    let clients: Vec<_> = connect_many(daemon, args.timer_clients)
        .await?
        .into_iter()
        .map(AlertServiceClient::new)
        .collect();
    let mark = cpu.mark(daemon.pid);
    report.timer_triggers = steady_triggers(&clients, args.timer_rate, args.timer_secs).await;
    println!("  {}", report.timer_triggers.line());
    let want = report.timer_triggers.ok;
    let limit = TIMER_ESCALATION + Duration::from_secs(30);
    let got = sink.wait_for(TIMER_SERVICE, 2, want, limit).await;
    report.timer_cpu = cpu.since(&mark, daemon.pid);
    report.lateness = sink.lateness_ms();
    report.lateness_expected = want;
    println!("  {got} of {want} level-2 pages received");
    Ok(())
}

/// Phase D: SIGTERM (time to exit), then a new daemon on the same data directory.
async fn restart_phase(
    args: &Args,
    bench: &BenchDir,
    sink: &Sink,
    daemon: &mut DaemonProcess,
    report: &mut Report,
) -> anyhow::Result<()> {
    report.shutdown = terminate(daemon).await?;
    println!("phase D: stopped in {}", ms(report.shutdown));
    // The whole start-up in this log (the kit logs the "pagerd ready" line at any filter).
    let (mut restarted, startup) = start_daemon(args, bench, sink, "info", "pagerd-2.log").await?;
    report.startup = startup;
    report.startup_logged_ms = logged_startup_ms(&restarted);
    report.restart_open_incidents = open_incidents(&restarted).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    report.memory_restarted = proc_memory(restarted.pid)?;
    println!(
        "  restarted in {} (daemon logged startup_ms={}); {} open incidents; {}",
        ms(startup),
        report
            .startup_logged_ms
            .map_or("?".into(), |v| v.to_string()),
        report.restart_open_incidents,
        report.memory_restarted
    );
    terminate(&mut restarted).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The daemon process
// ---------------------------------------------------------------------------------------------

/// What one benchmark run uses: the daemon binary; policy files, database, settings and
/// daemon logs in one directory.
struct BenchDir {
    pagerd: PathBuf,
    dirs: AppDirs,
}

/// Starts the daemon (the kit binds port 0 and reads the addresses back); returns it and the
/// time from spawn to its first SERVING health answer.
async fn start_daemon(
    args: &Args,
    bench: &BenchDir,
    sink: &Sink,
    log_filter: &str,
    log_name: &str,
) -> anyhow::Result<(DaemonProcess, Duration)> {
    let mut spec = ProcessSpec::new(&bench.pagerd, &bench.dirs);
    spec.log_filter = log_filter.to_string();
    spec.log_name = log_name.to_string();
    spec.webhook_url = Some(sink.url.clone());
    spec.env = args.daemon_env.clone();
    let daemon = DaemonProcess::start(&spec).await?;
    let ready = daemon.started_in;
    Ok((daemon, ready))
}

/// The count from `GET /healthz` (`ok: N open incidents`).
async fn open_incidents(daemon: &DaemonProcess) -> anyhow::Result<u64> {
    let url = format!("{}/healthz", daemon.http_url());
    let body = reqwest::get(&url)
        .await
        .with_context(|| format!("GET {url}"))?
        .error_for_status()?
        .text()
        .await?;
    body.trim()
        .strip_prefix("ok: ")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("unexpected /healthz answer `{}`", body.trim()))
}

/// SIGTERM, then waits for a clean exit; returns how long that took.
async fn terminate(daemon: &mut DaemonProcess) -> anyhow::Result<Duration> {
    let (took, exit) = daemon.terminate().await?;
    if !exit.success() {
        bail!(
            "the daemon exited with {exit} after SIGTERM\n{}",
            daemon.log_tail()
        );
    }
    Ok(took)
}

/// `startup_ms` from the daemon's "pagerd ready" log line.
fn logged_startup_ms(daemon: &DaemonProcess) -> Option<u64> {
    log_field(&daemon.ready_line, "startup_ms")?.parse().ok()
}

/// One connection per client: `Endpoint::connect` opens its own HTTP/2 connection. Every
/// call carries the daemon's admin token (the token check is part of what is measured). A
/// daemon that wrote no token file by the time it answers health checks predates access
/// control (`--pagerd` pointed at an older build for a side-by-side run): its calls go
/// without one.
async fn connect_many(daemon: &DaemonProcess, n: usize) -> anyhow::Result<Vec<Channel>> {
    let url = daemon.grpc_url();
    let bearer = if daemon.data_dir.join("admin.token").exists() {
        kit::Bearer::new(&daemon.admin_token().await)
    } else {
        println!(
            "no admin.token in the data directory: sending no token (pre-access-control daemon)"
        );
        kit::Bearer(None)
    };
    let endpoint = Endpoint::from_shared(url.to_string())?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30));
    let mut channels = Vec::with_capacity(n);
    for _ in 0..n {
        channels.push(
            endpoint
                .connect()
                .await
                .map(|c| InterceptedService::new(c, bearer.clone()))
                .with_context(|| format!("connecting to {url}"))?,
        );
    }
    Ok(channels)
}

type RpcFuture<'a> = Pin<Box<dyn Future<Output = Result<(), tonic::Status>> + Send + 'a>>;

fn health_check(client: &mut HealthClient<Channel>, _: u64) -> RpcFuture<'_> {
    Box::pin(async move {
        let answer = client
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await?;
        if answer.get_ref().status == ServingStatus::Serving as i32 {
            Ok(())
        } else {
            Err(tonic::Status::unavailable(
                "health check answered NOT_SERVING",
            ))
        }
    })
}

fn trigger_request(service: &str, dedup_key: String) -> TriggerRequest {
    TriggerRequest {
        service: service.to_string(),
        summary: format!("loadgen: {dedup_key}"),
        dedup_key,
        severity: Severity::High as i32,
        source: "loadgen".to_string(),
        ..Default::default()
    }
}

/// Outcome of one load phase.
#[derive(Debug, Default)]
struct LoadResult {
    ok: u64,
    errors: BTreeMap<String, u64>,
    first_error: Option<String>,
    elapsed: Duration,
    /// Latency of each successful call, in microseconds.
    latencies_us: Vec<u32>,
    timed_out: bool,
}

impl LoadResult {
    fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    fn merge(&mut self, other: LoadResult) {
        self.ok += other.ok;
        for (code, n) in other.errors {
            *self.errors.entry(code).or_default() += n;
        }
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.latencies_us.extend(other.latencies_us);
    }

    fn record(&mut self, latency: Duration, result: Result<(), tonic::Status>) {
        match result {
            Ok(()) => {
                self.ok += 1;
                let us = latency.as_micros();
                self.latencies_us
                    .push(u32::try_from(us).unwrap_or(u32::MAX));
            }
            Err(status) => {
                *self
                    .errors
                    .entry(format!("{:?}", status.code()))
                    .or_default() += 1;
                if self.first_error.is_none() {
                    self.first_error = Some(status.to_string());
                }
            }
        }
    }

    fn line(&self) -> String {
        let mut sorted = self.latencies_us.clone();
        sorted.sort_unstable();
        let pct =
            |p: f64| percentile(&sorted, p).map_or("-".into(), |&us| ms_f(f64::from(us) / 1000.0));
        let mut line = format!(
            "{} ok in {:.2} s = {:.0}/s; latency p50 {} p99 {} max {}",
            self.ok,
            self.elapsed.as_secs_f64(),
            self.rate(),
            pct(50.0),
            pct(99.0),
            pct(100.0)
        );
        if self.error_count() > 0 {
            line.push_str(&format!(
                "; {} errors {:?} (first: {})",
                self.error_count(),
                self.errors,
                self.first_error.as_deref().unwrap_or("?")
            ));
        }
        if self.timed_out {
            line.push_str("; stopped at the phase timeout");
        }
        line
    }
}

/// Closed loop: every client sends its next call as soon as the previous one answered, until
/// `total` calls were made or `limit` has passed.
async fn closed_loop<C, F>(clients: &[C], total: u64, limit: Duration, call: F) -> LoadResult
where
    C: Clone + Send + 'static,
    F: for<'a> Fn(&'a mut C, u64) -> RpcFuture<'a> + Clone + Send + Sync + 'static,
{
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + limit;
    let mut workers = JoinSet::new();
    for client in clients {
        let mut client = client.clone();
        let next = next.clone();
        let call = call.clone();
        workers.spawn(async move {
            let mut result = LoadResult::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                if Instant::now() >= deadline {
                    result.timed_out = total != u64::MAX;
                    break;
                }
                let t = Instant::now();
                let answer = call(&mut client, i).await;
                result.record(t.elapsed(), answer);
            }
            result
        });
    }
    let mut all = LoadResult::default();
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok(r) => {
                all.timed_out |= r.timed_out;
                all.merge(r);
            }
            Err(e) => {
                *all.errors.entry("worker panicked".into()).or_default() += 1;
                all.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    all.elapsed = started.elapsed();
    all
}

/// Open loop: `rate` triggers per second for `secs` seconds on the timer service, spread over
/// `clients`, whatever the answer times.
async fn steady_triggers(
    clients: &[AlertServiceClient<Channel>],
    rate: u32,
    secs: u64,
) -> LoadResult {
    let total = u64::from(rate) * secs;
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    let key_prefix = format!("timer-{}", uuid::Uuid::new_v4().simple());
    let started = Instant::now();
    let mut calls = JoinSet::new();
    for i in 0..total {
        ticker.tick().await;
        let mut client = clients[i as usize % clients.len()].clone();
        let request = trigger_request(TIMER_SERVICE, format!("{key_prefix}-{i}"));
        calls.spawn(async move {
            let t = Instant::now();
            let answer = client.trigger(request).await.map(drop);
            (t.elapsed(), answer)
        });
    }
    let mut result = LoadResult::default();
    while let Some(joined) = calls.join_next().await {
        match joined {
            Ok((latency, answer)) => result.record(latency, answer),
            Err(e) => {
                *result.errors.entry("call panicked".into()).or_default() += 1;
                result.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    result.elapsed = started.elapsed();
    result
}

// ---------------------------------------------------------------------------------------------
// The webhook sink
// ---------------------------------------------------------------------------------------------

/// Receives the daemon's webhook pages (the kit's sink, which answers 200, so the daemon
/// never retries); counts them per (service, level) and records the lateness of every level-2
/// page of the timer service.
struct Sink {
    url: String,
    state: Arc<SinkState>,
}

#[derive(Default)]
struct SinkState {
    pages: Mutex<SinkPages>,
    malformed: AtomicU64,
}

#[derive(Default)]
struct SinkPages {
    counts: HashMap<(String, u64), u64>,
    lateness_ms: Vec<f64>,
}

impl Sink {
    async fn start() -> Self {
        let mut sink = WebhookSink::start().await;
        let url = sink.url.clone();
        let state = Arc::new(SinkState::default());
        let tally = state.clone();
        tokio::spawn(async move {
            while let Some(request) = sink.recv().await {
                tally.record(&request);
            }
        });
        Self { url, state }
    }

    fn count(&self, service: &str, level: u64) -> u64 {
        let pages = self.state.pages.lock().unwrap_or_else(|p| p.into_inner());
        pages
            .counts
            .get(&(service.to_string(), level))
            .copied()
            .unwrap_or(0)
    }

    /// Waits until `want` pages of (service, level) arrived or `limit` passed; returns the count.
    async fn wait_for(&self, service: &str, level: u64, want: u64, limit: Duration) -> u64 {
        let deadline = Instant::now() + limit;
        loop {
            let got = self.count(service, level);
            if got >= want || Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn lateness_ms(&self) -> Vec<f64> {
        let pages = self.state.pages.lock().unwrap_or_else(|p| p.into_inner());
        pages.lateness_ms.clone()
    }

    fn malformed(&self) -> u64 {
        self.state.malformed.load(Ordering::Relaxed)
    }
}

impl SinkState {
    /// Counts one page; a body it cannot read is only counted as malformed.
    fn record(&self, request: &Recorded) {
        match parse_page(&request.body) {
            Some((service, level, due_at)) => {
                let mut pages = self.pages.lock().unwrap_or_else(|p| p.into_inner());
                if service == TIMER_SERVICE && level == 2 {
                    let late = (request.received_at - due_at)
                        .num_microseconds()
                        .unwrap_or(i64::MAX);
                    pages.lateness_ms.push(late as f64 / 1000.0);
                }
                *pages.counts.entry((service, level)).or_default() += 1;
            }
            None => {
                self.malformed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// `(incident.service, level, due_at)` of a page body.
fn parse_page(body: &[u8]) -> Option<(String, u64, DateTime<Utc>)> {
    let page: serde_json::Value = serde_json::from_slice(body).ok()?;
    let service = page.get("incident")?.get("service")?.as_str()?.to_string();
    let level = page.get("level")?.as_u64()?;
    let due_at = DateTime::parse_from_rfc3339(page.get("due_at")?.as_str()?).ok()?;
    Some((service, level, due_at.with_timezone(&Utc)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kit::strip_ansi;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(&50));
        assert_eq!(percentile(&v, 99.0), Some(&99));
        assert_eq!(percentile(&v, 100.0), Some(&100));
        assert_eq!(percentile(&[7u32], 0.0), Some(&7));
        assert_eq!(percentile::<u32>(&[], 50.0), None);
    }

    #[test]
    fn ready_line_fields_are_found_with_or_without_colours() {
        let line = "2026-11-02T10:00:00Z  INFO pagerd::app: pagerd ready \u{1b}[3mopen_incidents\u{1b}[0m\u{1b}[2m=\u{1b}[0m103000 startup_ms=41";
        let plain = strip_ansi(line);
        assert_eq!(log_field(&plain, "open_incidents"), Some("103000"));
        assert_eq!(log_field(&plain, "startup_ms"), Some("41"));
    }

    #[test]
    fn page_bodies_give_service_level_and_due_time() {
        let body = br#"{"level": 2, "kind": "page", "due_at": "2026-11-02T10:00:00.5+00:00",
                        "incident": {"service": "bench-timer"}}"#;
        let (service, level, due) = parse_page(body).expect("parsed");
        assert_eq!((service.as_str(), level), ("bench-timer", 2));
        assert_eq!(due.timestamp_millis() % 1000, 500);
        assert!(parse_page(b"{}").is_none());
    }
}
