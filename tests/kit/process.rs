//! The real `pagerd` binary as a separate process: a settings file with both listeners on
//! port 0, the addresses it bound read back from its "pagerd ready" log line, and SIGTERM to
//! stop it.

use std::fs::File;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use super::AppDirs;

/// What to start: the binary, its directories and what it logs.
pub struct ProcessSpec {
    pub binary: PathBuf,
    pub data_dir: PathBuf,
    pub schedules_dir: PathBuf,
    /// Where the settings file and the log go.
    pub run_dir: PathBuf,
    pub log_name: String,
    /// An EnvFilter; `pagerd::app=info` is always added, for the "pagerd ready" line.
    pub log_filter: String,
    pub webhook_url: Option<String>,
    /// Environment set after the settings file, so `PAGERD_*` entries override it.
    pub env: Vec<(String, String)>,
    /// For a daemon serving TLS: how the kit's health check connects (`https://`).
    pub grpc_tls: Option<tonic::transport::ClientTlsConfig>,
    /// The daemon's RLIMIT_NOFILE (soft, hard) at exec; `None` inherits this process's.
    pub nofile: Option<(u64, u64)>,
    /// `store.url` (`None`: SQLite in the data directory).
    pub store_url: Option<String>,
}

impl ProcessSpec {
    /// `binary` on the directories of `dirs`, logging warnings to `ROOT/pagerd.log`.
    pub fn new(binary: impl Into<PathBuf>, dirs: &AppDirs) -> Self {
        Self {
            binary: binary.into(),
            data_dir: dirs.data(),
            schedules_dir: dirs.schedules(),
            run_dir: dirs.root.path().to_path_buf(),
            log_name: "pagerd.log".into(),
            log_filter: "warn".into(),
            webhook_url: None,
            env: Vec::new(),
            grpc_tls: None,
            nofile: None,
            store_url: dirs.store_url.clone(),
        }
    }

    /// The settings file: these directories, loopback port 0, no log channel.
    fn settings_toml(&self) -> String {
        // A TOML string, quoted and escaped.
        let quoted = |s: &str| toml::Value::from(s).to_string();
        let mut text = format!(
            "data_dir = {}\nschedules_dir = {}\n\
             [grpc]\nlisten = \"127.0.0.1:0\"\n\
             [http]\nlisten = \"127.0.0.1:0\"\n\
             [log]\nfilter = {}\n\
             [notify.log]\nenabled = false\n",
            quoted(&self.data_dir.display().to_string()),
            quoted(&self.schedules_dir.display().to_string()),
            quoted(&format!("{},pagerd::app=info", self.log_filter)),
        );
        if let Some(url) = &self.webhook_url {
            text.push_str(&format!("[notify.webhook]\nurl = {}\n", quoted(url)));
        }
        if let Some(url) = &self.store_url {
            text.push_str(&format!("[store]\nurl = {}\n", quoted(url)));
        }
        text
    }
}

pub struct DaemonProcess {
    child: Child,
    pub pid: u32,
    pub log: PathBuf,
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    /// The "pagerd ready" log line (with `startup_ms`), ANSI colours removed.
    pub ready_line: String,
    /// From spawn to the first SERVING health answer.
    pub started_in: Duration,
    grpc_tls: Option<tonic::transport::ClientTlsConfig>,
    /// Its data directory (the database, `admin.token`).
    pub data_dir: PathBuf,
}

impl DaemonProcess {
    /// Spawns the daemon and waits (30 s at most) for its first SERVING health answer. The
    /// process is killed when this value is dropped.
    pub async fn start(spec: &ProcessSpec) -> anyhow::Result<Self> {
        let config = spec.run_dir.join("pagerd.toml");
        std::fs::write(&config, spec.settings_toml())
            .with_context(|| format!("writing {}", config.display()))?;
        let log = spec.run_dir.join(&spec.log_name);
        let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        let mut cmd = Command::new(&spec.binary);
        // The caller's environment must not change the outcome.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PAGERD_") {
                cmd.env_remove(&key);
            }
        }
        cmd.env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .arg("--config")
            .arg(&config)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);

        if let Some((soft, hard)) = spec.nofile {
            let limit = libc::rlimit {
                rlim_cur: soft as libc::rlim_t,
                rlim_max: hard as libc::rlim_t,
            };
            // SAFETY: between fork and exec only setrlimit runs, which is async-signal-safe.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        let spawned = Instant::now();
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", spec.binary.display()))?;
        let pid = child.id().context("the daemon exited at once")?;
        let mut daemon = Self {
            child,
            pid,
            log,
            grpc: SocketAddr::from(([0, 0, 0, 0], 0)),
            http: SocketAddr::from(([0, 0, 0, 0], 0)),
            ready_line: String::new(),
            started_in: Duration::ZERO,
            grpc_tls: spec.grpc_tls.clone(),
            data_dir: spec.data_dir.clone(),
        };
        let limit = Duration::from_secs(30);
        daemon.wait_ready(spawned, limit).await?;
        daemon.started_in = daemon.wait_serving(spawned, limit).await?;
        Ok(daemon)
    }

    /// The admin token the daemon wrote on first start.
    pub async fn admin_token(&self) -> String {
        super::admin_token(&self.data_dir).await
    }

    pub fn grpc_url(&self) -> String {
        let scheme = if self.grpc_tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.grpc)
    }

    pub fn http_url(&self) -> String {
        format!("http://{}", self.http)
    }

    /// Waits for the "pagerd ready" line and reads the bound addresses from it.
    async fn wait_ready(&mut self, spawned: Instant, limit: Duration) -> anyhow::Result<()> {
        loop {
            self.check_running("logging ready")?;
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            if let Some(line) = log.lines().find(|l| l.contains("pagerd ready")) {
                let line = strip_ansi(line);
                let addr = |key| -> anyhow::Result<SocketAddr> {
                    let v =
                        log_field(&line, key).with_context(|| format!("no {key}= in {line}"))?;
                    v.parse().with_context(|| format!("{key}={v}"))
                };
                self.grpc = addr("grpc")?;
                self.http = addr("http")?;
                self.ready_line = line;
                return Ok(());
            }
            if spawned.elapsed() > limit {
                bail!(
                    "the daemon was not ready within {limit:?}\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
    }

    /// Polls the health check every few ms until it answers SERVING; returns the time from
    /// spawn to that answer.
    async fn wait_serving(
        &mut self,
        spawned: Instant,
        limit: Duration,
    ) -> anyhow::Result<Duration> {
        let mut endpoint = tonic::transport::Endpoint::from_shared(self.grpc_url())?
            .connect_timeout(Duration::from_millis(200))
            .timeout(Duration::from_secs(2));
        if let Some(tls) = &self.grpc_tls {
            endpoint = endpoint.tls_config(tls.clone())?;
        }
        loop {
            self.check_running("serving")?;
            if let Ok(channel) = endpoint.connect().await {
                let answer = HealthClient::new(channel)
                    .check(HealthCheckRequest {
                        service: String::new(),
                    })
                    .await;
                if answer.is_ok_and(|r| r.get_ref().status == ServingStatus::Serving as i32) {
                    return Ok(spawned.elapsed());
                }
            }
            if spawned.elapsed() > limit {
                bail!(
                    "the daemon did not serve within {limit:?}\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
    }

    fn check_running(&mut self, before: &str) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "the daemon exited with {status} before {before}\n{}",
                self.log_tail()
            );
        }
        Ok(())
    }

    /// SIGTERM, then waits (30 s at most) for the exit; how long that took, and the status.
    pub async fn terminate(&mut self) -> anyhow::Result<(Duration, ExitStatus)> {
        let asked = Instant::now();
        let status = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status()
            .context("running kill -TERM")?;
        if !status.success() {
            bail!("kill -TERM {} failed: {status}", self.pid);
        }
        let exit = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .context("the daemon did not exit within 30 s of SIGTERM")??;
        Ok((asked.elapsed(), exit))
    }

    /// The last 30 lines of the daemon's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        format!("--- last lines of {} ---\n{tail}", self.log.display())
    }
}

/// The value of `key=value` in a tracing fmt line, or of `"key":value` in a JSON one
/// (`log.format = "json"`).
pub fn log_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    if line.trim_start().starts_with('{') {
        let pattern = format!("\"{key}\":");
        let rest = &line[line.find(&pattern)? + pattern.len()..];
        return match rest.strip_prefix('"') {
            Some(text) => text.split('"').next(),
            None => rest.split([',', '}']).next(),
        };
    }
    line.split_whitespace()
        .find_map(|token| token.strip_prefix(key)?.strip_prefix('='))
}

/// Removes ANSI colour sequences (`ESC [ ... m`) in case the daemon logged with colours.
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
