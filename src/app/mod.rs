//! Wiring: open the store, build channels and the engine, start the supervised tasks, serve
//! until the shutdown token fires, then stop in order and drain the writer.

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::api::{self, grpc};
use crate::clock::Clock;
use crate::config::Settings;
use crate::domain::PolicySet;
use crate::domain::health::Loop;
use crate::engine::{Engine, OutboxWorker, TimerTask};
use crate::notify::slack::SlackApi;
use crate::notify::{
    Channel, EmailChannel, LinkSigner, LogChannel, SlackChannel, SmsChannel, WebhookChannel,
};
use crate::proto;
use crate::store::Store;

pub mod cluster;
pub mod conn;
mod health;
mod reload;
pub mod tls;
pub mod token_cache;
pub mod tokens;

/// Sockets the daemon serves on; bound by the caller (port 0 in tests).
pub struct Listeners {
    pub grpc: TcpListener,
    pub http: TcpListener,
}

impl Listeners {
    pub async fn bind(settings: &Settings) -> anyhow::Result<Self> {
        let grpc = TcpListener::bind(settings.grpc.listen)
            .await
            .with_context(|| format!("grpc.listen: cannot bind {}", settings.grpc.listen))?;
        let http = TcpListener::bind(settings.http.listen)
            .await
            .with_context(|| format!("http.listen: cannot bind {}", settings.http.listen))?;
        Ok(Self { grpc, http })
    }
}

/// What tests and benchmarks may change beyond the settings.
pub struct Options {
    pub clock: Clock,
    /// Channels added to those built from settings (a test sink, a benchmark probe).
    pub extra_channels: Vec<Arc<dyn Channel>>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            clock: Clock::System,
            extra_channels: Vec::new(),
        }
    }
}

/// The channels the settings enable, and what the HTTP endpoints that act on replies need.
pub struct Channels {
    pub channels: Vec<Arc<dyn Channel>>,
    pub links: LinkSigner,
    pub slack_api: Option<SlackApi>,
}

/// Builds the channels the settings enable.
pub fn channels_from_settings(settings: &Settings, clock: Clock) -> anyhow::Result<Channels> {
    let n = &settings.notify;
    let links = LinkSigner::from_settings(&settings.links, &settings.data_dir)?;
    let mut channels: Vec<Arc<dyn Channel>> = Vec::new();
    if n.log.enabled {
        channels.push(Arc::new(LogChannel));
    }
    if let Some(url) = &n.webhook.url {
        channels.push(Arc::new(
            WebhookChannel::new(url, &n.webhook).context("notify.webhook")?,
        ));
    }
    if n.email.smtp_host.is_some() {
        channels.push(Arc::new(EmailChannel::new(&n.email, links.clone(), clock)?));
    }
    if n.sms.url.is_some() {
        channels.push(Arc::new(SmsChannel::new(&n.sms)?));
    }
    let mut slack_api = None;
    if let Some(slack) = SlackChannel::new(&n.slack)? {
        slack_api = slack.api();
        channels.push(Arc::new(slack));
    }
    Ok(Channels {
        channels,
        links,
        slack_api,
    })
}

/// Runs the daemon until `shutdown` is cancelled or a task fails. Returns an error if any
/// long-lived task stopped on its own: the process must not keep running deaf.
/// Where URLs handed to admins (heartbeat pings, calendar feeds) point: `links.public_url`
/// when set to anything but its default, else the HTTP listener's own address.
fn public_base(settings: &Settings, http_addr: std::net::SocketAddr, tls: bool) -> String {
    let configured = &settings.links.public_url;
    if *configured != crate::config::settings::LinkSettings::default().public_url {
        return configured.clone();
    }
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{http_addr}")
}

pub async fn run(
    settings: Settings,
    policies: PolicySet,
    listeners: Listeners,
    options: Options,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let started = tokio::time::Instant::now();
    // First, so a bad certificate stops start-up before anything else happens.
    let tls = tls::Tls::from_settings(&settings.tls)?;
    let grpc_addr = listeners.grpc.local_addr()?;
    let http_addr = listeners.http.local_addr()?;
    // The data directory holds more than a SQLite file (the admin token, link secrets), so
    // it must exist whatever the store.
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating data directory {}", settings.data_dir.display()))?;
    let db = settings.store_url()?;
    let (store, writer) = Store::open_url(&db, &settings.store).await?;
    // Access control: the local admin token, written once so the walkthrough needs no setup.
    match tokens::ensure_local_admin(&store, &settings.data_dir, options.clock.now()).await? {
        Some(path) => tracing::info!(
            path = %path.display(),
            "wrote the local admin token (mode 0600); pagerctl reads it from there"
        ),
        None => tracing::info!(
            token = tokens::LOCAL_ADMIN,
            "access control: gRPC calls need a token (see README, Access control)"
        ),
    }
    let token_cache = token_cache::TokenCache::new(&settings.data_dir);
    {
        // Several nodes: a token revoked through another node is dropped here at once.
        let cache = token_cache.clone();
        store.on_tokens_changed(Arc::new(move || cache.invalidate()));
    }
    let auth = grpc::auth::AuthLayer::new(store.clone(), options.clock, token_cache.clone());

    let Channels {
        mut channels,
        links,
        slack_api,
    } = channels_from_settings(&settings, options.clock)?;
    channels.extend(options.extra_channels);
    let ui_links = links.clone();
    let http_state = api::http::HttpDeps::new(
        links,
        slack_api,
        crate::notify::slack::signing_secret(&settings.notify.slack)?,
        api::http::SmsInbound::from_settings(&settings.notify.sms)?,
    );
    let names: Vec<String> = channels.iter().map(|c| c.name().to_string()).collect();
    if names.is_empty() {
        tracing::warn!("no notification channel is enabled: pages will be recorded but not sent");
    }
    let engine = Engine::new(store, policies.clone(), options.clock, names.clone());
    // Several nodes on PostgreSQL: time runs on the lease holder only.
    let lease = cluster::prepare(&engine, &db, &settings, grpc_addr)?;
    engine.loop_beats().configure(
        settings.health.limits(),
        settings.health.wedge_timer_file.clone(),
    );
    engine.set_public_base(&public_base(&settings, http_addr, tls.is_some()));
    engine.set_rebalance_multiple(settings.report.rebalance_multiple);
    engine.set_rebalance_notice(settings.report.weekly_notice);
    engine.set_postmortem_required_for(settings.postmortem.severities());
    engine.set_policy_source(
        settings.schedules_dir.clone(),
        reload::dir_source(settings.schedules_dir.clone()),
    );
    // Applies stored rotation phases and API overrides, and schedules handoffs.
    engine.install(policies).await?;
    let open = engine.open_incident_count().await?;

    let stop = shutdown.child_token();
    let mut tasks: Tasks = JoinSet::new();
    if let Some(lease) = lease {
        let (engine, stop) = (engine.clone(), stop.clone());
        tasks.spawn(async move { ("cluster lease", lease.run(engine, stop).await) });
    }
    // Time (the timer and the outbox) runs only while this node holds the lease; a single
    // node always does.
    {
        let (e, stop) = (engine.clone(), stop.clone());
        let (lead, beats) = (e.leadership().clone(), e.loop_beats().clone());
        let batch = settings.store.max_batch;
        tasks.spawn(async move {
            let r = lead
                .run_while_leader(beats, Loop::Timer, stop, |term| {
                    TimerTask::new(e.clone(), batch).run(term)
                })
                .await;
            ("timer task", r)
        });
    }
    {
        let (e, stop) = (engine.clone(), stop.clone());
        let (lead, beats) = (e.leadership().clone(), e.loop_beats().clone());
        let outbox_settings = settings.outbox.clone();
        tasks.spawn(async move {
            let r = lead
                .run_while_leader(beats, Loop::Outbox, stop, |term| {
                    OutboxWorker::new(e.clone(), channels.clone(), outbox_settings.clone())
                        .run(term)
                })
                .await;
            ("outbox worker", r)
        });
    }
    {
        let reloader = reload::Reloader::new(engine.clone(), &settings);
        let stop = stop.clone();
        tasks.spawn(async move { ("schedule reloader", reloader.run(stop).await) });
    }
    let token_admin = tokens::TokenAdmin {
        store: engine.store().clone(),
        data_dir: settings.data_dir.clone(),
        cache: token_cache,
    };
    let watch_cap =
        grpc::watch_cap::WatchCapLayer::new(settings.connections.grpc.max_watch_streams);
    // Built only when enabled: whatever holds the store (the auth layer does) must be gone
    // by the end of `run`, or the writer never finishes and the stop waits forever.
    let ui = settings.ui.enabled.then(|| {
        api::ui::UiState::new(
            engine.clone(),
            auth.clone(),
            &ui_links,
            settings.ui.clone(),
            tls.is_some(),
            stop.clone(),
        )
    });
    drop(ui_links);
    let metrics = api::http::metrics::MetricsState {
        engine: engine.clone(),
        auth: auth.clone(),
        watch: watch_cap.clone(),
    };
    let (server, health_reporter) = grpc_server(
        engine.clone(),
        (auth, watch_cap),
        token_admin,
        &settings,
        stop.clone(),
    )
    .await?;
    // Health: gRPC health follows readiness; the systemd watchdog follows the loops.
    {
        let (engine, stop) = (engine.clone(), stop.clone());
        let services = grpc_service_names();
        tasks.spawn(async move {
            let r = health::monitor(engine, health_reporter, services, stop).await;
            ("readiness monitor", r)
        });
    }
    if let Some(period) = health::watchdog_from_env() {
        let (engine, stop) = (engine.clone(), stop.clone());
        tasks.spawn(async move {
            (
                "systemd watchdog",
                health::watchdog(engine, period, stop).await,
            )
        });
    }
    let mut router = api::http::router(engine.clone(), http_state, settings.integrations.clone())
        .merge(api::http::metrics::routes(metrics));
    if let Some(ui) = ui {
        router = router.merge(api::ui::routes(ui));
    }
    spawn_servers(
        &mut tasks,
        &settings,
        tls.as_ref(),
        server,
        router,
        listeners,
        &stop,
    )?;
    drop(engine);
    tracing::info!(
        grpc = %grpc_addr,
        http = %http_addr,
        db = %db.display(),
        open_incidents = open,
        tls = tls::Tls::mode(tls.as_ref()),
        channels = ?names,
        startup_ms = started.elapsed().as_millis() as u64,
        "pagerd ready"
    );
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);

    // The first task to end, before shutdown was asked for, is a failure.
    let mut failure: Option<anyhow::Error> = None;
    tokio::select! {
        biased;
        _ = stop.cancelled() => {}
        Some(joined) = tasks.join_next() => {
            if !stop.is_cancelled() {
                failure = Some(task_failure(joined));
                stop.cancel();
            }
        }
    }
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    tracing::info!("shutting down: finishing in-flight requests");
    // Bounded: a client that stops reading (a Watch stream it never drains) would otherwise
    // hold a graceful HTTP/2 shutdown open until the idle timeout. Deliveries get their
    // drain_timeout first; what is still running after the slack is cut off (a page cut off
    // mid-send goes again after restart, with its idempotency key).
    let grace = settings.outbox.drain_timeout + SHUTDOWN_SLACK;
    let drained = real_time_bound(grace, async {
        while let Some(joined) = tasks.join_next().await {
            if let Ok((name, Err(e))) = &joined {
                tracing::error!(
                    task = name,
                    error = format!("{e:#}"),
                    "task failed during shutdown"
                );
            }
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            grace_ms = grace.as_millis() as u64,
            tasks = tasks.len(),
            "shutdown: tasks still running after the grace period (a client not reading its \
             stream?); stopping them"
        );
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
    // Every engine clone is gone with its task; the writer commits what is queued and stops.
    // After a cut-off, connection tasks the servers spawned may still hold clones: close it.
    if drained.is_err() {
        writer.close().await;
    } else {
        writer.wait().await;
    }
    tracing::info!("pagerd stopped");
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

type Tasks = JoinSet<(&'static str, anyhow::Result<()>)>;

/// `f` bounded by `limit` of real time. The same as `tokio::time::timeout` in a daemon; under
/// a test's frozen tokio clock the stop's grace period must still end.
async fn real_time_bound<F: std::future::Future>(
    limit: std::time::Duration,
    f: F,
) -> Result<F::Output, ()> {
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let timer = tokio::task::spawn_blocking(move || {
        let _ = wait.recv_timeout(limit);
    });
    let out = tokio::select! {
        v = f => Ok(v),
        _ = timer => Err(()),
    };
    drop(done);
    out
}

/// How long past `outbox.drain_timeout` a stop waits for servers and loops to finish.
const SHUTDOWN_SLACK: std::time::Duration = std::time::Duration::from_secs(5);

/// Both servers, behind their connection limits ([`conn`]), over TLS when it is on (with
/// the certificate reload on SIGHUP).
fn spawn_servers(
    tasks: &mut Tasks,
    settings: &Settings,
    tls: Option<&tls::Tls>,
    grpc: GrpcRouter,
    http: axum::Router,
    listeners: Listeners,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    let c = &settings.connections;
    let nofile = conn::fds::raise_nofile_limit().context("reading RLIMIT_NOFILE")?;
    let budget = conn::fds::fit(
        nofile,
        c.fd_reserve,
        c.http.max_connections,
        c.grpc.max_connections,
    );
    if (budget.http, budget.grpc) != (c.http.max_connections, c.grpc.max_connections) {
        tracing::warn!(
            nofile,
            http_max_connections = budget.http,
            grpc_max_connections = budget.grpc,
            "connection limits lowered to fit the open-file limit (raise LimitNOFILE=)"
        );
    }
    let handshake = c.http.tls_handshake_timeout;
    let http_gate = conn::Gate::new(
        "http",
        budget.http,
        c.http.idle_timeout,
        conn::Refusal::Busy {
            tls: tls.map(|t| (t.http_acceptor(), handshake)),
        },
    );
    let grpc_gate = conn::Gate::new(
        "grpc",
        budget.grpc,
        c.grpc.idle_timeout,
        conn::Refusal::Unavailable {
            tls: tls.map(|t| (t.grpc_acceptor(), handshake)),
        },
    );
    let grpc_stop = stop.clone();
    match tls {
        None => {
            let incoming = conn::grpc_incoming(listeners.grpc, grpc_gate, stop.clone());
            tasks.spawn(async move {
                let r = grpc
                    .serve_with_incoming_shutdown(incoming, grpc_stop.cancelled_owned())
                    .await
                    .context("gRPC server failed");
                ("gRPC server", r)
            });
        }
        Some(tls) => {
            // Listening before start-up is announced, so a SIGHUP sent after "ready" is not missed.
            let reloader = tls::sighup_reloader(tls.reloader.clone(), stop.clone())?;
            tasks.spawn(async move { ("TLS certificate reloader", reloader.await) });
            let incoming = conn::grpc_incoming_tls(
                listeners.grpc,
                grpc_gate,
                tls.grpc_acceptors(),
                handshake,
                stop.clone(),
            );
            tasks.spawn(async move {
                let r = grpc
                    .serve_with_incoming_shutdown(incoming, grpc_stop.cancelled_owned())
                    .await
                    .context("gRPC server failed");
                ("gRPC server", r)
            });
        }
    }
    let serve = conn::serve_http(
        listeners.http,
        http_gate,
        tls.map(|t| (t.http_acceptor(), handshake)),
        http,
        c.http.header_timeout,
        stop.clone(),
    );
    tasks.spawn(async move { ("HTTP server", serve.await.context("HTTP server failed")) });
    Ok(())
}

fn task_failure(
    joined: Result<(&'static str, anyhow::Result<()>), tokio::task::JoinError>,
) -> anyhow::Error {
    match joined {
        Ok((name, Ok(()))) => anyhow::anyhow!("{name} stopped unexpectedly"),
        Ok((name, Err(e))) => e.context(format!("{name} failed")),
        Err(e) => anyhow::anyhow!("a daemon task panicked: {e}"),
    }
}

/// The gRPC services behind the token check and the Watch cap.
type GrpcRouter = tonic::transport::server::Router<
    tower::layer::util::Stack<
        grpc::watch_cap::WatchCapLayer,
        tower::layer::util::Stack<grpc::auth::AuthLayer, tower::layer::util::Identity>,
    >,
>;

async fn grpc_server(
    engine: Engine,
    (auth, watch_cap): (grpc::auth::AuthLayer, grpc::watch_cap::WatchCapLayer),
    token_admin: tokens::TokenAdmin,
    settings: &Settings,
    stop: CancellationToken,
) -> anyhow::Result<(GrpcRouter, tonic_health::server::HealthReporter)> {
    use proto::alert_service_server::AlertServiceServer;
    use proto::daemon_service_server::DaemonServiceServer;
    use proto::incident_service_server::IncidentServiceServer;
    use proto::intake_service_server::IntakeServiceServer;
    use proto::report_service_server::ReportServiceServer;
    use proto::schedule_service_server::ScheduleServiceServer;

    let (health, health_service) = tonic_health::server::health_reporter();
    for name in grpc_service_names() {
        health
            .set_service_status(name, tonic_health::ServingStatus::Serving)
            .await;
    }
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("building gRPC reflection service")?;
    // v1alpha too: Python's grpcio-reflection, Postman and older grpcurl speak only that.
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .context("building gRPC reflection service (v1alpha)")?;
    let c = &settings.connections.grpc;
    let router = tonic::transport::Server::builder()
        .concurrency_limit_per_connection(c.concurrency_per_connection)
        .timeout(c.request_timeout)
        .max_concurrent_streams(c.max_concurrent_streams)
        .http2_keepalive_interval(Some(c.keepalive_interval))
        .http2_keepalive_timeout(Some(c.keepalive_timeout))
        // Every request passes the token check; health and reflection are open in its table.
        .layer(auth)
        .layer(watch_cap)
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_v1alpha)
        .add_service(AlertServiceServer::new(grpc::AlertApi {
            engine: engine.clone(),
        }))
        .add_service(ScheduleServiceServer::new(grpc::ScheduleApi {
            engine: engine.clone(),
        }))
        .add_service(DaemonServiceServer::new(grpc::DaemonApi {
            engine: engine.clone(),
            tokens: token_admin,
        }))
        .add_service(IntakeServiceServer::new(grpc::IntakeApi {
            engine: engine.clone(),
        }))
        .add_service(ReportServiceServer::new(grpc::ReportApi {
            engine: engine.clone(),
        }))
        .add_service(IncidentServiceServer::new(grpc::IncidentApi {
            engine,
            shutdown: stop,
        }));
    Ok((router, health))
}

/// The pagerd services gRPC health reports on (each, besides the overall `""`).
fn grpc_service_names() -> Vec<&'static str> {
    use proto::alert_service_server::AlertServiceServer as Alert;
    use proto::daemon_service_server::DaemonServiceServer as Daemon;
    use proto::incident_service_server::IncidentServiceServer as Incident;
    use proto::intake_service_server::IntakeServiceServer as Intake;
    use proto::report_service_server::ReportServiceServer as Report;
    use proto::schedule_service_server::ScheduleServiceServer as Schedule;
    use tonic::server::NamedService;
    vec![
        <Alert<grpc::AlertApi> as NamedService>::NAME,
        <Incident<grpc::IncidentApi> as NamedService>::NAME,
        <Schedule<grpc::ScheduleApi> as NamedService>::NAME,
        <Daemon<grpc::DaemonApi> as NamedService>::NAME,
        <Intake<grpc::IntakeApi> as NamedService>::NAME,
        <Report<grpc::ReportApi> as NamedService>::NAME,
    ]
}
