//! pagerd side by side with Prometheus Alertmanager: one loader, one sink, the same alerts.
//!
//! Both get alerts over HTTP (pagerd: Events v2 `POST /v2/enqueue`, answered after the alert
//! is committed; Alertmanager: `POST /api/v2/alerts`, answered from memory) and both deliver
//! to the same loopback webhook sink (pagerd: its webhook channel; Alertmanager: a
//! `webhook_configs` receiver with `group_by: [id]` and `group_wait: 0s`, so each alert is
//! its own notification at once). Measured per system, in one run:
//!
//! - open loop at `--rate` alerts/s for `--secs`: alert → first delivery at the sink
//!   (p50/p99/max), the HTTP answer time (p99/max) and the most requests in flight — a
//!   stall shows as a long answer and a growing in-flight count — after `--warmup` seconds
//!   of the same load that are not counted. Each phase also lists its slowest deliveries
//!   with how late a 1 ms sleeper thread of the loader woke meanwhile, and the CPU time
//!   the host took from the machine (steal): a stall the sleeper saw too was the machine's;
//! - saturation: `--clients` closed-loop clients sending `--saturation` alerts as fast as
//!   they are answered (alerts/s), in `--rounds` rounds that alternate which system goes
//!   first; the summary gives each round's ratio and the medians, since on a shared machine
//!   one phase can be slowed by a neighbour that the other phase never meets.
//!
//! ```sh
//! cargo build --release --bins --examples
//! target/release/examples/am_compare --pagerd target/release/pagerd
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::body::Bytes;
use axum::extract::State;
use clap::Parser;
use http_body_util::BodyExt;

#[path = "../tests/kit/mod.rs"]
mod kit;
use kit::{AppDirs, DaemonProcess, ProcessSpec};

const KEY: &str = "AmCompareKey0123456789abcdefABCD";

const POLICIES: &str = r#"# Written by examples/am_compare.rs.
[[person]]
name = "oncall"
time_zone = "UTC"

[[service]]
name = "compare"
escalation_policy = "slow"
integration_keys = ["AmCompareKey0123456789abcdefABCD"]

[[escalation_policy]]
name = "slow"
levels = [ { targets = ["oncall"], delay = "24h" } ]
"#;

#[derive(Parser)]
struct Args {
    /// The pagerd binary (a release build).
    #[arg(long, default_value = "target/release/pagerd")]
    pagerd: PathBuf,
    /// The Alertmanager binary; default: `prometheus-alertmanager` or `alertmanager` on PATH.
    #[arg(long)]
    alertmanager: Option<PathBuf>,
    /// Alerts per second in the open-loop phase.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Seconds of the open-loop phase.
    #[arg(long, default_value_t = 20)]
    secs: u64,
    /// Seconds of open loop at `--rate` before each system's measured phase, not counted:
    /// the first alerts after a start compile statements and open connections.
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    /// Closed-loop clients in the saturation phase.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Alerts sent in each saturation phase.
    #[arg(long, default_value_t = 30_000)]
    saturation: u64,
    /// Saturation rounds; each runs both systems, alternating which goes first.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// The daemon's log filter, e.g. `pagerd::store=trace` for each write batch's timings
    /// (`exec_us`, `commit_us`); the log is kept in `--keep-log`.
    #[arg(long, default_value = "warn")]
    log_filter: String,
    /// Copy the daemon's log here when done.
    #[arg(long)]
    keep_log: Option<PathBuf>,
}

/// First delivery time of each alert id, per system.
#[derive(Default)]
struct SinkState {
    received: Mutex<HashMap<String, Instant>>,
    /// Ids delivered more than once (pagerd sends each page once unless it restarts).
    repeated: Mutex<Vec<String>>,
}

impl SinkState {
    fn record(&self, ids: impl IntoIterator<Item = String>) {
        let now = Instant::now();
        let mut r = self.received.lock().expect("sink lock");
        for id in ids {
            match r.entry(id) {
                std::collections::hash_map::Entry::Occupied(e) => self
                    .repeated
                    .lock()
                    .expect("sink lock")
                    .push(e.key().clone()),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(now);
                }
            }
        }
    }
}

// The sink reads only the ids, into typed structs: serde skips the rest without building a
// `serde_json::Value`, so the sink costs both systems little and about the same.
#[derive(serde::Deserialize)]
struct PagerdPage {
    incident: Option<PagerdIncident>,
}

#[derive(serde::Deserialize)]
struct PagerdIncident {
    dedup_key: String,
}

#[derive(serde::Deserialize)]
struct AmNotification {
    alerts: Vec<AmAlert>,
}

#[derive(serde::Deserialize)]
struct AmAlert {
    labels: AmLabels,
}

#[derive(serde::Deserialize)]
struct AmLabels {
    id: Option<String>,
}

/// pagerd's webhook page: `incident.dedup_key` is the alert id.
async fn pagerd_page(State(s): State<Arc<SinkState>>, body: Bytes) -> &'static str {
    if let Ok(PagerdPage {
        incident: Some(inc),
    }) = serde_json::from_slice(&body)
    {
        s.record([inc.dedup_key]);
    }
    "ok"
}

/// Alertmanager's webhook notification: every alert's `id` label.
async fn am_notification(State(s): State<Arc<SinkState>>, body: Bytes) -> &'static str {
    if let Ok(n) = serde_json::from_slice::<AmNotification>(&body) {
        s.record(n.alerts.into_iter().filter_map(|a| a.labels.id));
    }
    "ok"
}

impl SinkState {
    /// How many ids starting with `prefix` were delivered more than once.
    fn repeated(&self, prefix: &str) -> usize {
        let r = self.repeated.lock().expect("sink lock");
        r.iter().filter(|k| k.starts_with(prefix)).count()
    }

    /// How many ids starting with `prefix` were delivered.
    fn delivered(&self, prefix: &str) -> usize {
        let r = self.received.lock().expect("sink lock");
        r.keys().filter(|k| k.starts_with(prefix)).count()
    }

    /// Waits (up to `limit`) until `total` ids of `prefix` were delivered; how long it took
    /// from `since`, or `None` on the limit.
    async fn all_delivered(
        &self,
        prefix: &str,
        total: usize,
        since: Instant,
        limit: Duration,
    ) -> Option<Duration> {
        let give_up = Instant::now() + limit;
        while Instant::now() < give_up {
            if self.delivered(prefix) >= total {
                return Some(since.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

async fn start_sink(state: Arc<SinkState>) -> anyhow::Result<SocketAddr> {
    let app = axum::Router::new()
        .route("/page", axum::routing::post(pagerd_page))
        .route("/am", axum::routing::post(am_notification))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

/// The system under test: where alerts go and how one is written.
#[derive(Clone, Copy, PartialEq)]
enum System {
    Pagerd,
    Alertmanager,
}

impl System {
    fn name(self) -> &'static str {
        match self {
            System::Pagerd => "pagerd (Events v2, durable)",
            System::Alertmanager => "Alertmanager (/api/v2/alerts)",
        }
    }

    /// The JSON body of one alert, written directly: the loader shares the machine with the
    /// systems, so it builds no `serde_json::Value` per request (ids are plain ASCII).
    fn body(self, id: &str) -> String {
        match self {
            System::Pagerd => format!(
                r#"{{"routing_key":"{KEY}","event_action":"trigger","dedup_key":"{id}","payload":{{"summary":"load","source":"am_compare","severity":"critical"}}}}"#
            ),
            System::Alertmanager => {
                let now = chrono::Utc::now();
                format!(
                    r#"[{{"labels":{{"alertname":"Load","id":"{id}"}},"annotations":{{"summary":"load"}},"startsAt":"{}","endsAt":"{}"}}]"#,
                    now.to_rfc3339(),
                    (now + chrono::Duration::hours(1)).to_rfc3339()
                )
            }
        }
    }

    fn request(self, client: &reqwest::Client, url: &str, id: &str) -> reqwest::RequestBuilder {
        client
            .post(url)
            .header("content-type", "application/json")
            .body(self.body(id))
    }
}

/// Nearest-rank percentile of sorted milliseconds.
fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

struct OpenLoop {
    delivered: usize,
    sent: usize,
    deliver_ms: Vec<f64>,
    answer_ms: Vec<f64>,
    errors: u64,
    peak_in_flight: i64,
    /// The slowest deliveries over 10 ms, one per stall: (offset into the phase, ms,
    /// the probe's worst lateness meanwhile).
    stalls: Vec<(f64, f64, f64)>,
    /// CPU time the host took from this machine during the phase (`steal` in /proc/stat).
    steal_ms: f64,
    /// When the phase began, in seconds since the epoch: places the stalls in the daemon's
    /// log and in a `perf` trace.
    started_unix: f64,
}

/// A thread of the loader that sleeps 1 ms at a time and notes each wake-up more than 2 ms
/// late. A stall it saw too was the machine's (the host or another process held the CPU),
/// not only the system's under test.
struct Probe {
    late: Arc<Mutex<Vec<(Instant, f64)>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Probe {
    fn start() -> Self {
        let late: Arc<Mutex<Vec<(Instant, f64)>>> = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (l, s) = (late.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let t = Instant::now();
                std::thread::sleep(Duration::from_millis(1));
                let over = t.elapsed().as_secs_f64() * 1e3 - 1.0;
                if over > 2.0 {
                    l.lock().expect("probe lock").push((Instant::now(), over));
                }
            }
        });
        Self { late, stop }
    }

    /// The worst lateness of a wake-up within `from..=to`, in ms (0 if none).
    fn worst(&self, from: Instant, to: Instant) -> f64 {
        let late = self.late.lock().expect("probe lock");
        late.iter()
            .filter(|(at, ms)| {
                *at >= from
                    && at
                        .checked_sub(Duration::from_secs_f64(ms / 1e3))
                        .is_some_and(|s| s <= to)
            })
            .map(|(_, ms)| *ms)
            .fold(0.0, f64::max)
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The machine's steal time so far, in ms (/proc/stat's eighth `cpu` column).
fn steal_ms() -> f64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()?
                .split_whitespace()
                .nth(8)?
                .parse::<f64>()
                .ok()
        })
        .map_or(0.0, |ticks| ticks * 10.0)
}

/// The slowest deliveries over 10 ms, at most five, one per stall (a delivery sent while an
/// earlier-listed one waited belongs to that stall).
fn stalls(
    phase_start: Instant,
    deliveries: &[(Instant, f64)],
    probe: &Probe,
) -> Vec<(f64, f64, f64)> {
    let mut slow: Vec<&(Instant, f64)> = deliveries.iter().filter(|d| d.1 > 10.0).collect();
    slow.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut out: Vec<(Instant, f64)> = Vec::new();
    for &(t0, ms) in slow {
        let within = |(s, m): &(Instant, f64)| {
            t0 + Duration::from_millis(100) >= *s && t0 <= *s + Duration::from_secs_f64(m / 1e3)
        };
        if !out.iter().any(within) {
            out.push((t0, ms));
        }
        if out.len() == 5 {
            break;
        }
    }
    out.iter()
        .map(|&(t0, ms)| {
            let end = t0 + Duration::from_secs_f64(ms / 1e3);
            (
                t0.duration_since(phase_start).as_secs_f64(),
                ms,
                probe.worst(t0, end),
            )
        })
        .collect()
}

/// Sends `rate` alerts/s for `secs`, each in its own task (so a stall piles up requests in
/// flight rather than slowing the sender), then waits up to 30 s for every delivery.
async fn open_loop(
    system: System,
    url: &str,
    sink: &SinkState,
    prefix: &str,
    rate: u64,
    secs: u64,
) -> anyhow::Result<OpenLoop> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let total = rate * secs;
    // Sized up front: growing a map of thousands of entries mid-phase would pause the
    // loader and show as the system's latency.
    let sent_at = Arc::new(Mutex::new(HashMap::with_capacity(total as usize)));
    let answers = Arc::new(Mutex::new(Vec::with_capacity(total as usize)));
    let errors = Arc::new(AtomicU64::new(0));
    let in_flight = Arc::new(AtomicI64::new(0));
    let peak = Arc::new(AtomicI64::new(0));
    let probe = Probe::start();
    let steal_before = steal_ms();
    let phase_start = Instant::now();
    let started_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        tick.tick().await;
        let id = format!("{prefix}-{i}");
        let req = system.request(&client, url, &id);
        let (sent_at, answers, errors, in_flight, peak) = (
            sent_at.clone(),
            answers.clone(),
            errors.clone(),
            in_flight.clone(),
            peak.clone(),
        );
        tasks.spawn(async move {
            let now = in_flight.fetch_add(1, Ordering::Relaxed) + 1;
            peak.fetch_max(now, Ordering::Relaxed);
            let t0 = Instant::now();
            sent_at.lock().expect("lock").insert(id, t0);
            match req.send().await {
                Ok(r) if r.status().is_success() => {}
                _ => {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            answers
                .lock()
                .expect("lock")
                .push(t0.elapsed().as_secs_f64() * 1e3);
            in_flight.fetch_sub(1, Ordering::Relaxed);
        });
    }
    while tasks.join_next().await.is_some() {}
    let sent_at = std::mem::take(&mut *sent_at.lock().expect("lock"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = {
            let r = sink.received.lock().expect("sink lock");
            sent_at.keys().filter(|id| r.contains_key(*id)).count()
        };
        if got == sent_at.len() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let steal_ms = steal_ms() - steal_before;
    let received = sink.received.lock().expect("sink lock");
    let deliveries: Vec<(Instant, f64)> = sent_at
        .iter()
        .filter_map(|(id, t0)| {
            received
                .get(id)
                .map(|t| (*t0, t.duration_since(*t0).as_secs_f64() * 1e3))
        })
        .collect();
    let stalls = stalls(phase_start, &deliveries, &probe);
    let mut deliver_ms: Vec<f64> = deliveries.iter().map(|d| d.1).collect();
    deliver_ms.sort_by(f64::total_cmp);
    let mut answer_ms = std::mem::take(&mut *answers.lock().expect("lock"));
    answer_ms.sort_by(f64::total_cmp);
    Ok(OpenLoop {
        delivered: deliver_ms.len(),
        sent: sent_at.len(),
        deliver_ms,
        answer_ms,
        errors: errors.load(Ordering::Relaxed),
        peak_in_flight: peak.load(Ordering::Relaxed),
        stalls,
        steal_ms,
        started_unix,
    })
}

/// `clients` closed-loop senders, `total` alerts in all: accepted alerts per second.
async fn saturation(
    system: System,
    url: &str,
    prefix: &str,
    clients: usize,
    total: u64,
) -> anyhow::Result<(f64, u64)> {
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let uri: hyper::Uri = url.parse()?;
    let authority = uri.authority().context("the URL's host")?.clone();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (next, errors) = (next.clone(), errors.clone());
        let (uri, authority, prefix) = (uri.clone(), authority.clone(), prefix.to_string());
        // One keep-alive connection per sender, as separate senders would have. Plain hyper,
        // not reqwest: the loader's own CPU per request is part of what bounds both systems'
        // figures on a shared machine, so it should be as small as an HTTP client's can be.
        tasks.spawn(async move {
            let stream = tokio::net::TcpStream::connect(authority.as_str()).await?;
            stream.set_nodelay(true)?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return anyhow::Ok(());
                }
                let body = system.body(&format!("{prefix}{i}"));
                let req = hyper::Request::post(uri.clone())
                    .header(hyper::header::HOST, authority.as_str())
                    .header(hyper::header::CONTENT_TYPE, "application/json")
                    .body(http_body_util::Full::new(Bytes::from(body)))?;
                sender.ready().await?;
                let resp = sender.send_request(req).await?;
                let status = resp.status();
                let answer = resp.into_body().collect().await?.to_bytes();
                // The first failure is printed: an error count alone hides its cause.
                if !status.is_success() && errors.fetch_add(1, Ordering::Relaxed) == 0 {
                    eprintln!(
                        "  first error: {status} {}",
                        String::from_utf8_lossy(&answer)
                    );
                }
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let errors = errors.load(Ordering::Relaxed);
    Ok((
        (total - errors) as f64 / started.elapsed().as_secs_f64(),
        errors,
    ))
}

/// User and system CPU seconds a process has used (Linux `/proc`).
fn cpu_secs(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    // USER_HZ is 100 on Linux.
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / 100.0;
    (ticks(11), ticks(12))
}

fn alertmanager_binary(arg: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(p) = arg {
        return Ok(p);
    }
    for name in ["prometheus-alertmanager", "alertmanager"] {
        for dir in std::env::var("PATH").unwrap_or_default().split(':') {
            let p = PathBuf::from(dir).join(name);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    bail!(
        "no Alertmanager binary: install Debian's prometheus-alertmanager (.ci/install-alertmanager) or pass --alertmanager"
    )
}

/// Starts Alertmanager with one webhook receiver at `sink`; kills it on drop.
async fn start_alertmanager(
    bin: &PathBuf,
    dir: &std::path::Path,
    sink: SocketAddr,
) -> anyhow::Result<(tokio::process::Child, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let config = dir.join("alertmanager.yml");
    std::fs::write(
        &config,
        format!(
            "route:\n  receiver: sink\n  group_by: ['id']\n  group_wait: 0s\n  \
             group_interval: 5m\n  repeat_interval: 4h\nreceivers:\n  - name: sink\n    \
             webhook_configs:\n      - url: http://{sink}/am\n        send_resolved: false\n"
        ),
    )?;
    let child = tokio::process::Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.join("am-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = reqwest::get(format!("{base}/-/ready")).await
            && r.status().is_success()
        {
            return Ok((child, base));
        }
        if Instant::now() > deadline {
            bail!("Alertmanager did not become ready at {base}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn print_open(system: System, r: &OpenLoop) {
    println!(
        "  {:<32} delivered {}/{}; alert -> page p50 {:.2} ms p99 {:.2} ms max {:.1} ms; \
         HTTP answer p99 {:.2} ms max {:.1} ms; peak in flight {}; errors {}",
        system.name(),
        r.delivered,
        r.sent,
        pct(&r.deliver_ms, 50.0),
        pct(&r.deliver_ms, 99.0),
        r.deliver_ms.last().copied().unwrap_or(f64::NAN),
        pct(&r.answer_ms, 99.0),
        r.answer_ms.last().copied().unwrap_or(f64::NAN),
        r.peak_in_flight,
        r.errors,
    );
    let stalls: Vec<String> = r
        .stalls
        .iter()
        .map(|(at, ms, probe)| format!("+{at:.3} s {ms:.1} ms (probe {probe:.1})"))
        .collect();
    println!(
        "  {:<32} deliveries over 10 ms, one per stall: {}; steal {:.0} ms; phase from unix {:.3}",
        "",
        if stalls.is_empty() {
            "none".to_string()
        } else {
            stalls.join(", ")
        },
        r.steal_ms,
        r.started_unix
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let am_bin = alertmanager_binary(args.alertmanager.clone())?;
    let sink = Arc::new(SinkState::default());
    // Every id of the run, so the sink's map never grows (and pauses) during a phase.
    let ids = 2 * (args.rate * (args.secs + args.warmup) + args.saturation * args.rounds as u64);
    sink.received
        .lock()
        .expect("sink lock")
        .reserve(ids as usize);
    let sink_addr = start_sink(sink.clone()).await?;

    let dirs = AppDirs::new(POLICIES);
    let mut spec = ProcessSpec::new(&args.pagerd, &dirs);
    spec.webhook_url = Some(format!("http://{sink_addr}/page"));
    spec.log_filter = args.log_filter.clone();
    // One integration key sends every alert of every phase, beyond the default 60,000 a
    // minute (Alertmanager has no such limit).
    spec.env.push((
        "PAGERD_INTEGRATIONS__EVENTS_PER_MINUTE".into(),
        "100000000".into(),
    ));
    let daemon: DaemonProcess = DaemonProcess::start(&spec).await?;
    let pagerd_url = format!("{}/v2/enqueue", daemon.http_url());
    let am_dir = tempfile::tempdir()?;
    let (am, am_base) = start_alertmanager(&am_bin, am_dir.path(), sink_addr).await?;
    let pids = [daemon.pid, am.id().context("Alertmanager's pid")?];
    let am_url = format!("{am_base}/api/v2/alerts");
    let systems = [
        (System::Pagerd, pagerd_url.as_str()),
        (System::Alertmanager, am_url.as_str()),
    ];

    println!(
        "open loop: {} alerts/s for {} s after {} s not counted, each alert its own page",
        args.rate, args.secs, args.warmup
    );
    for (i, (system, url)) in systems.iter().enumerate() {
        if args.warmup > 0 {
            open_loop(
                *system,
                url,
                &sink,
                &format!("warm{i}"),
                args.rate,
                args.warmup,
            )
            .await?;
        }
        let r = open_loop(
            *system,
            url,
            &sink,
            &format!("open{i}"),
            args.rate,
            args.secs,
        )
        .await?;
        print_open(*system, &r);
    }
    println!(
        "saturation: {} closed-loop clients, {} alerts, {} round(s)",
        args.clients, args.saturation, args.rounds
    );
    // (alerts/s, CPU µs per alert) of each system, per round.
    let mut results: [Vec<(f64, f64)>; 2] = [Vec::new(), Vec::new()];
    for round in 0..args.rounds {
        // Round 1 pagerd first, round 2 Alertmanager first, and so on.
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let (system, url) = systems[i];
            let prefix = format!("sat{round}-{i}-");
            let r = saturation_phase(&args, &sink, system, url, &prefix, pids[i]).await?;
            results[i].push(r);
        }
    }
    let ratios: Vec<f64> = (0..args.rounds)
        .map(|r| results[0][r].0 / results[1][r].0)
        .collect();
    let cpu_ratios: Vec<f64> = (0..args.rounds)
        .map(|r| results[1][r].1 / results[0][r].1)
        .collect();
    let show = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.2}"))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    println!(
        "  saturation ratio pagerd / Alertmanager: median {:.2} (rounds {}); CPU per alert, Alertmanager / pagerd: median {:.2} (rounds {})",
        median(&ratios),
        show(&ratios),
        median(&cpu_ratios),
        show(&cpu_ratios)
    );
    if let Some(to) = &args.keep_log {
        std::fs::copy(&daemon.log, to).context("copying the daemon's log")?;
    }
    Ok(())
}

/// One system's saturation phase: its rate and CPU per alert, printed with the rest.
async fn saturation_phase(
    args: &Args,
    sink: &Arc<SinkState>,
    system: System,
    url: &str,
    prefix: &str,
    pid: u32,
) -> anyhow::Result<(f64, f64)> {
    let started = Instant::now();
    let cpu_before = cpu_secs(pid);
    let own_before = cpu_secs(std::process::id());
    let (rate, errors) = saturation(system, url, prefix, args.clients, args.saturation).await?;
    // The next phase starts only once this one's deliveries are done, so neither system is
    // measured beside the other's backlog.
    let done = sink
        .all_delivered(
            prefix,
            (args.saturation - errors) as usize,
            started,
            Duration::from_secs(120),
        )
        .await;
    let done = done.map_or("not all within 120 s".to_string(), |d| {
        format!("all delivered {:.1} s after the first", d.as_secs_f64())
    });
    let repeated = sink.repeated(prefix);
    // CPU time the system spent on the phase, accepting and delivering: less noisy than
    // throughput on a shared machine.
    let per_alert = |(u1, s1): (f64, f64), (u0, s0): (f64, f64)| {
        let n = args.saturation as f64;
        ((u1 - u0 + s1 - s0) * 1e6 / n, (s1 - s0) * 1e6 / n)
    };
    let (cpu_us, sys_us) = per_alert(cpu_secs(pid), cpu_before);
    // The loader and sink share the machine: their cost is part of what bounds the rate.
    let (own_us, _) = per_alert(cpu_secs(std::process::id()), own_before);
    println!(
        "  {:<32} {rate:.0} alerts/s accepted; errors {errors}; {done}, {repeated} twice; CPU {cpu_us:.0} us/alert ({sys_us:.0} in the kernel; loader and sink {own_us:.0})",
        system.name()
    );
    Ok((rate, cpu_us))
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}
