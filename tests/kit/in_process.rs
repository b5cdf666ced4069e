//! The daemon in this process: `app::run` on port 0, as `pagerd` itself runs it, so tests can
//! give it a clock and settings and stop it gracefully.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use pagerd::app::{self, Listeners, Options};
use pagerd::config::{self, Settings};
use pagerd::domain::PolicySet;

use super::within;

pub struct InProcess {
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    /// The policy set the daemon started with.
    pub policies: PolicySet,
    /// The data directory (the database, `admin.token`).
    pub data_dir: std::path::PathBuf,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// An in-process daemon shares the test's tokio clock, which tests pause and jump by hours
/// to reach escalations; every connection timer (idle, header, keepalive, request) would
/// fire on such a jump and cut the test's own clients. So timers left at their defaults are
/// stretched here; they are tested against the real binary (`tests/daemon/connections.rs`).
fn stretch_connection_timers(settings: &mut Settings) {
    use std::time::Duration;
    let defaults = pagerd::config::connections::ConnectionSettings::default();
    let c = &mut settings.connections;
    let (far, farther) = (
        Duration::from_secs(5 * 365 * 24 * 3600),
        Duration::from_secs(10 * 365 * 24 * 3600),
    );
    let stretch = |value: &mut Duration, default: Duration, to: Duration| {
        if *value == default {
            *value = to;
        }
    };
    stretch(
        &mut c.http.header_timeout,
        defaults.http.header_timeout,
        farther,
    );
    stretch(
        &mut c.http.idle_timeout,
        defaults.http.idle_timeout,
        farther,
    );
    let h = defaults.http.tls_handshake_timeout;
    stretch(&mut c.http.tls_handshake_timeout, h, farther);
    stretch(
        &mut c.grpc.idle_timeout,
        defaults.grpc.idle_timeout,
        farther,
    );
    let k = defaults.grpc.keepalive_interval;
    stretch(&mut c.grpc.keepalive_interval, k, far);
    stretch(
        &mut c.grpc.keepalive_timeout,
        defaults.grpc.keepalive_timeout,
        far,
    );
    stretch(
        &mut c.grpc.request_timeout,
        defaults.grpc.request_timeout,
        farther,
    );
}

/// For the same reason, a jump makes the loops' last turns look old (and due work overdue)
/// until they run again: the health limits left at their defaults are stretched too. The
/// real binary's health is tested in `tests/daemon/health.rs`.
fn stretch_health_limits(settings: &mut Settings) {
    use std::time::Duration;
    let far = Duration::from_secs(10 * 365 * 24 * 3600);
    let defaults = pagerd::config::health::HealthSettings::default();
    let h = &mut settings.health;
    if h.stall_limit == defaults.stall_limit {
        h.stall_limit = far;
    }
    if h.behind_limit == defaults.behind_limit {
        h.behind_limit = far;
    }
}

impl InProcess {
    /// Loads the policy files of `settings.schedules_dir`, binds both listeners on port 0 of
    /// loopback and starts the daemon (it serves once this returns).
    pub async fn start(settings: Settings, options: Options) -> Self {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        Self::start_on(settings, options, any, any).await
    }

    /// Like [`InProcess::start`], on the given addresses (a restart on the same ports).
    pub async fn start_on(
        mut settings: Settings,
        options: Options,
        grpc: SocketAddr,
        http: SocketAddr,
    ) -> Self {
        stretch_connection_timers(&mut settings);
        stretch_health_limits(&mut settings);
        let policies = config::load_dir(&settings.schedules_dir).unwrap_or_else(|e| panic!("{e}"));
        let listeners = Listeners {
            grpc: TcpListener::bind(grpc).await.expect("bind grpc"),
            http: TcpListener::bind(http).await.expect("bind http"),
        };
        let grpc_addr = listeners.grpc.local_addr().expect("grpc addr");
        let http_addr = listeners.http.local_addr().expect("http addr");
        let shutdown = CancellationToken::new();
        let data_dir = settings.data_dir.clone();
        let task = tokio::spawn(app::run(
            settings,
            policies.clone(),
            listeners,
            options,
            shutdown.clone(),
        ));
        Self {
            grpc_addr,
            http_addr,
            policies,
            data_dir,
            shutdown,
            task,
        }
    }

    /// The admin token the daemon wrote on first start.
    pub async fn admin_token(&self) -> String {
        super::admin_token(&self.data_dir).await
    }

    /// Graceful shutdown; fails the test if the daemon panicked, reports an error, or does
    /// not stop within the real-time bound.
    pub async fn stop(self) {
        self.shutdown.cancel();
        // 60 s, not the kit's usual 20: on PostgreSQL a stop commits every in-flight write
        // over the network, and with the whole suite (three-node tests included) sharing
        // the server and two cores, one stop under a 200-trigger storm took over 20 s.
        let result = crate::kit::real_timeout(std::time::Duration::from_secs(60), self.task)
            .await
            .unwrap_or_else(|| panic!("timed out waiting for pagerd to stop"))
            .expect("pagerd task does not panic");
        if let Err(e) = result {
            panic!("pagerd failed: {e:#}");
        }
    }
}
