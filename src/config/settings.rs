//! Daemon settings: built-in defaults, then an optional TOML file, then `PAGERD_*` environment
//! overrides, layered by the `config` crate and checked by [`Settings::validate`].
//!
//! Every struct denies unknown keys, so a typo is an error that names the key rather than a
//! silently ignored setting. Durations are humantime strings (`"10s"`, `"5m"`, `"1h"`).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use config::{Config, Environment, File, FileFormat};
use serde::{Deserialize, Deserializer};

pub use super::channels::{
    BodyFormat, EmailSettings, LinkSettings, Secret, SlackSettings, SmsInboundProvider,
    SmsInboundSettings, SmsSettings, SmtpTls,
};

/// The built-in defaults, written as a settings file. Layered first by [`Settings::load`] and
/// kept equal to `Settings::default()` by a test, so it doubles as reference documentation.
pub const DEFAULT_TOML: &str = include_str!("default_settings.toml");

/// Environment variables with the `PAGERD_` prefix that belong to the command line, not to
/// the settings tree.
const CLI_ENV_VARS: [&str; 2] = ["PAGERD_ADDR", "PAGERD_CONFIG"];
/// pagerctl's TLS variables, ignored by the daemon for the same reason.
const CLI_TLS_ENV_VARS: [&str; 3] = ["PAGERD_CA_FILE", "PAGERD_CERT_FILE", "PAGERD_KEY_FILE"];
/// pagerctl's token variables (access control): a shell that exports them for pagerctl
/// must still start pagerd.
const CLI_TOKEN_ENV_VARS: [&str; 2] = ["PAGERD_TOKEN", "PAGERD_TOKEN_FILE"];

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub grpc: GrpcSettings,
    pub http: HttpSettings,
    pub data_dir: PathBuf,
    pub schedules_dir: PathBuf,
    pub reload: ReloadSettings,
    pub links: LinkSettings,
    pub log: LogSettings,
    pub notify: NotifySettings,
    pub outbox: OutboxSettings,
    pub store: StoreSettings,
    pub integrations: IntegrationSettings,
    pub tls: TlsSettings,
    pub connections: super::connections::ConnectionSettings,
    pub report: ReportSettings,
    pub postmortem: super::postmortem::PostmortemSettings,
    pub health: super::health::HealthSettings,
    pub cluster: super::cluster::ClusterSettings,
    pub ui: super::ui::UiSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            grpc: GrpcSettings::default(),
            http: HttpSettings::default(),
            data_dir: PathBuf::from("./pagerd-data"),
            schedules_dir: PathBuf::from("./schedules"),
            reload: ReloadSettings::default(),
            links: LinkSettings::default(),
            log: LogSettings::default(),
            notify: NotifySettings::default(),
            outbox: OutboxSettings::default(),
            store: StoreSettings::default(),
            integrations: IntegrationSettings::default(),
            tls: TlsSettings::default(),
            connections: Default::default(),
            report: ReportSettings::default(),
            postmortem: Default::default(),
            health: Default::default(),
            cluster: Default::default(),
            ui: Default::default(),
        }
    }
}

/// `[report]`: the load report's rebalance signal (`domain::rebalance`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportSettings {
    /// Flag a person over this multiple of the schedule's median (1–100).
    pub rebalance_multiple: f64,
    /// Tell each schedule's owner weekly whom the signal flags.
    pub weekly_notice: bool,
}

impl Default for ReportSettings {
    fn default() -> Self {
        Self {
            rebalance_multiple: crate::domain::rebalance::DEFAULT_MULTIPLE,
            weekly_notice: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReloadSettings {
    /// Watch `schedules_dir` and reload when its files change.
    pub watch: bool,
    /// Quiet time after the last change before reloading (editors write in several steps).
    #[serde(deserialize_with = "de_duration")]
    pub debounce: Duration,
}

impl Default for ReloadSettings {
    fn default() -> Self {
        Self {
            watch: true,
            debounce: Duration::from_millis(500),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcSettings {
    pub listen: SocketAddr,
}

impl Default for GrpcSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    pub listen: SocketAddr,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        }
    }
}

/// TLS on both listeners; all unset = plaintext. Built by `app::tls::Tls::from_settings`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSettings {
    /// PEM certificate chain, leaf first.
    pub cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// With it, gRPC clients must present a certificate signed by this CA.
    pub client_ca_file: Option<PathBuf>,
}

impl TlsSettings {
    fn validate(&self) -> anyhow::Result<()> {
        match (&self.cert_file, &self.key_file) {
            (Some(_), None) => bail!("tls.key_file: required when tls.cert_file is set"),
            (None, Some(_)) => bail!("tls.cert_file: required when tls.key_file is set"),
            (None, None) if self.client_ca_file.is_some() => {
                bail!("tls.client_ca_file: needs tls.cert_file and tls.key_file (mTLS is TLS)")
            }
            _ => Ok(()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `tracing_subscriber::EnvFilter` directives.
    pub filter: String,
    pub format: LogFormat,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            filter: "info".to_owned(),
            format: LogFormat::Text,
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable; ANSI colours only when the output is a terminal.
    #[default]
    Text,
    /// One JSON object a line (`timestamp`, `level`, `message`, fields, `target`).
    Json,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifySettings {
    pub log: LogChannelSettings,
    pub webhook: WebhookSettings,
    pub email: EmailSettings,
    pub sms: SmsSettings,
    pub slack: SlackSettings,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogChannelSettings {
    pub enabled: bool,
}

impl Default for LogChannelSettings {
    fn default() -> Self {
        Self { enabled: true }
    }
}

#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookSettings {
    /// `None` disables the webhook channel.
    pub url: Option<String>,
    #[serde(deserialize_with = "de_duration")]
    pub timeout: Duration,
    /// Extra request headers; the values are secrets (tokens) and never printed.
    pub headers: BTreeMap<String, String>,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            url: None,
            timeout: Duration::from_secs(10),
            headers: BTreeMap::new(),
        }
    }
}

impl fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: BTreeMap<&str, &str> =
            self.headers.keys().map(|k| (k.as_str(), "***")).collect();
        f.debug_struct("WebhookSettings")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("timeout", &self.timeout)
            .field("headers", &headers)
            .finish()
    }
}

/// Webhook URLs often carry a token in the path or query (Slack-style hooks): keep the
/// scheme, host and port, hide the rest.
fn redact_url(raw: &str) -> String {
    let Ok(url) = reqwest::Url::parse(raw) else {
        return "***".to_owned();
    };
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let hidden = url.path() != "/" || url.query().is_some() || !url.username().is_empty();
    format!(
        "{}://{}{port}/{}",
        url.scheme(),
        url.host_str().unwrap_or_default(),
        if hidden { "***" } else { "" }
    )
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxSettings {
    /// Deliveries in flight at once (started, outcome not yet recorded).
    pub concurrency: usize,
    /// Sends in flight on one channel.
    pub per_channel: usize,
    /// Sends in flight to one provider host (webhook).
    pub per_host: usize,
    /// On a graceful stop, how long deliveries in flight may take to finish and be recorded.
    #[serde(deserialize_with = "de_duration")]
    pub drain_timeout: Duration,
    /// First retry delay; doubles on each failure up to `retry_max`.
    #[serde(deserialize_with = "de_duration")]
    pub retry_initial: Duration,
    #[serde(deserialize_with = "de_duration")]
    pub retry_max: Duration,
    /// A delivery still failing this long after it was queued is marked failed.
    #[serde(deserialize_with = "de_duration")]
    pub give_up_after: Duration,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self {
            concurrency: 64,
            per_channel: 32,
            per_host: 16,
            drain_timeout: Duration::from_secs(15),
            retry_initial: Duration::from_secs(5),
            retry_max: Duration::from_secs(5 * 60),
            give_up_after: Duration::from_secs(60 * 60),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    pub synchronous: Synchronous,
    #[serde(deserialize_with = "de_duration")]
    pub busy_timeout: Duration,
    /// Most rows written in one transaction.
    pub max_batch: usize,
    /// Committed events buffered for live `Watch` streams; one further behind is told where
    /// to resume.
    pub event_buffer: usize,
    /// Where the store lives (issue 13): unset or `sqlite://PATH` is SQLite (unset:
    /// `data_dir/pagerd.db`), `postgres://…` is PostgreSQL (see `store::url`).
    pub url: Option<String>,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            synchronous: Synchronous::Full,
            busy_timeout: Duration::from_secs(5),
            max_batch: 1024,
            event_buffer: 4096,
            url: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntegrationSettings {
    /// Events v2 events a minute per routing key; bursts up to the same number.
    pub events_per_minute: u32,
    pub alertmanager: AlertmanagerSettings,
}

impl Default for IntegrationSettings {
    fn default() -> Self {
        Self {
            events_per_minute: 60_000,
            alertmanager: AlertmanagerSettings::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertmanagerSettings {
    /// For alerts without a `severity` label, or with a value not in `severities`.
    pub default_severity: String,
    /// `severity` label value (compared case-insensitively) → pagerd severity.
    pub severities: BTreeMap<String, String>,
}

impl Default for AlertmanagerSettings {
    fn default() -> Self {
        let pairs = [
            ("critical", "critical"),
            ("error", "high"),
            ("warning", "medium"),
            ("info", "low"),
        ];
        Self {
            default_severity: "high".into(),
            severities: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }
}

impl AlertmanagerSettings {
    /// The pagerd severity of an alert with this `severity` label (validated settings).
    pub fn severity_for(&self, label: Option<&str>) -> crate::domain::Severity {
        let mapped = label.and_then(|l| {
            self.severities
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(l.trim()))
                .map(|(_, v)| v.as_str())
        });
        crate::domain::Severity::parse(mapped.unwrap_or(&self.default_severity))
            .unwrap_or(crate::domain::Severity::High)
    }
}

/// SQLite `PRAGMA synchronous` level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// Durable across power loss.
    #[default]
    Full,
    /// With WAL: durable across process crashes; the last commits may be lost on power loss.
    Normal,
}

impl Synchronous {
    /// The value for `PRAGMA synchronous = …`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "FULL",
            Self::Normal => "NORMAL",
        }
    }
}

/// Deserializes a humantime duration string (`"10s"`, `"5m"`, `"1h 30m"`).
///
/// Zero is rejected: every duration in the settings is a timeout or a retry interval, where
/// zero would mean "fail at once" or "spin".
pub fn de_duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    use serde::de::Error;
    let text = String::deserialize(deserializer)?;
    let duration = humantime::parse_duration(text.trim())
        .map_err(|e| D::Error::custom(format!("invalid duration {text:?}: {e}")))?;
    if duration.is_zero() {
        return Err(D::Error::custom(format!(
            "duration {text:?} must be greater than zero"
        )));
    }
    Ok(duration)
}

impl Settings {
    /// Defaults, then `file` (which must exist if given), then `PAGERD_*` environment variables.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Settings> {
        Self::load_from(file, std::env::vars().collect())
    }

    /// Like [`Settings::load`], with the environment passed in (tests use this). Variables
    /// without the `PAGERD_` prefix, and the CLI's own `PAGERD_ADDR` / `PAGERD_CONFIG`, are
    /// ignored.
    pub fn load_from(
        file: Option<&Path>,
        env: HashMap<String, String>,
    ) -> anyhow::Result<Settings> {
        let env: HashMap<String, String> = env
            .into_iter()
            .filter(|(key, _)| {
                let upper = key.to_ascii_uppercase();
                upper.starts_with("PAGERD_")
                    && !CLI_ENV_VARS.contains(&upper.as_str())
                    && !CLI_TLS_ENV_VARS.contains(&upper.as_str())
                    && !CLI_TOKEN_ENV_VARS.contains(&upper.as_str())
            })
            .collect();

        let mut builder =
            Config::builder().add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml));
        if let Some(path) = file {
            builder = builder.add_source(File::from(path).format(FileFormat::Toml).required(true));
        }
        let builder = builder.add_source(
            Environment::with_prefix("PAGERD")
                .prefix_separator("_")
                .separator("__")
                .source(Some(env)),
        );

        let settings = builder
            .build()
            .and_then(Config::try_deserialize::<Settings>)
            .map_err(anyhow::Error::from)
            .and_then(|settings| settings.validate().map(|()| settings));
        match file {
            Some(path) => {
                settings.with_context(|| format!("invalid configuration in {}", path.display()))
            }
            None => settings.context("invalid configuration"),
        }
    }

    /// Checks the rules serde cannot express. Messages name the offending key.
    pub fn validate(&self) -> anyhow::Result<()> {
        crate::domain::rebalance::parse_multiple(self.report.rebalance_multiple)
            .map_err(|e| anyhow::anyhow!("report.rebalance_multiple: {e}"))?;
        let webhook = &self.notify.webhook;
        if let Some(raw) = &webhook.url {
            match reqwest::Url::parse(raw) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {}
                Ok(_) => bail!("notify.webhook.url: {raw:?} is not an http(s) URL"),
                Err(e) => bail!("notify.webhook.url: {raw:?} is not an http(s) URL: {e}"),
            }
        }
        for (name, value) in &webhook.headers {
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                bail!("notify.webhook.headers: {name:?} is not a valid HTTP header name");
            }
            // Never echo the value: it is a secret.
            if reqwest::header::HeaderValue::from_str(value).is_err() {
                bail!("notify.webhook.headers.{name}: value is not a valid HTTP header value");
            }
        }
        let outbox = &self.outbox;
        if outbox.concurrency == 0 {
            bail!("outbox.concurrency: must be at least 1");
        }
        if outbox.per_channel == 0 {
            bail!("outbox.per_channel: must be at least 1");
        }
        if outbox.per_host == 0 {
            bail!("outbox.per_host: must be at least 1");
        }
        if outbox.retry_initial > outbox.retry_max {
            bail!(
                "outbox.retry_initial: {} is longer than outbox.retry_max ({})",
                humantime::format_duration(outbox.retry_initial),
                humantime::format_duration(outbox.retry_max)
            );
        }
        if self.store.max_batch == 0 {
            bail!("store.max_batch: must be at least 1");
        }
        if !(16..=1 << 20).contains(&self.store.event_buffer) {
            bail!("store.event_buffer: must be between 16 and 1048576");
        }
        if self.integrations.events_per_minute == 0 {
            bail!("integrations.events_per_minute: must be at least 1");
        }
        self.notify.sms.validate_inbound()?;
        let am = &self.integrations.alertmanager;
        if let Err(e) = crate::domain::Severity::parse(&am.default_severity) {
            bail!("integrations.alertmanager.default_severity: {e}");
        }
        for (label, severity) in &am.severities {
            if let Err(e) = crate::domain::Severity::parse(severity) {
                bail!("integrations.alertmanager.severities.{label}: {e}");
            }
        }
        self.tls.validate()?;
        self.connections.validate()?;
        self.postmortem.validate()?;
        self.health.validate()?;
        self.cluster.validate()?;
        self.ui.validate()?;
        self.store_url()?;
        Ok(())
    }

    /// The SQLite database file inside `data_dir`.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("pagerd.db")
    }

    /// Where the store lives: `store.url`, or the SQLite file in `data_dir` when unset.
    pub fn store_url(&self) -> anyhow::Result<crate::store::url::StoreUrl> {
        crate::store::url::parse(self.store.url.as_deref(), &self.database_path())
            .map_err(anyhow::Error::msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn write_file(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::Builder::new()
            .suffix(".toml")
            .tempfile()
            .expect("temp file");
        std::io::Write::write_all(&mut file, text.as_bytes()).expect("write temp file");
        file
    }

    /// The whole error chain, as the binary logs it.
    fn load_err(file: Option<&str>, vars: &[(&str, &str)]) -> String {
        let file = file.map(write_file);
        let err = Settings::load_from(file.as_ref().map(|f| f.path()), env(vars))
            .expect_err("settings should be rejected");
        format!("{err:#}")
    }

    #[test]
    fn defaults_equal_the_embedded_default_file() {
        let loaded = Settings::load_from(None, HashMap::new()).expect("defaults load");
        assert_eq!(loaded, Settings::default());
        assert_eq!(loaded.grpc.listen.to_string(), "127.0.0.1:50051");
        assert_eq!(loaded.http.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(loaded.notify.webhook.url, None);
        assert_eq!(loaded.store.synchronous, Synchronous::Full);
        assert_eq!(loaded.database_path(), Path::new("./pagerd-data/pagerd.db"));
        let bare: Settings = toml::from_str("").expect("empty file");
        assert_eq!(bare, Settings::default());
    }

    #[test]
    fn file_overrides_defaults_and_keeps_the_rest() {
        let file = write_file(
            r#"
            data_dir = "/var/lib/pagerd"
            [grpc]
            listen = "0.0.0.0:6000"
            [notify.webhook]
            url = "https://hooks.example.com/pagerd"
            timeout = "3s"
            headers = { Authorization = "Bearer s3cret" }
            [outbox]
            retry_max = "10m"
            [store]
            synchronous = "normal"
            "#,
        );
        let s = Settings::load_from(Some(file.path()), HashMap::new()).expect("loads");
        assert_eq!(s.grpc.listen.to_string(), "0.0.0.0:6000");
        assert_eq!(s.http, HttpSettings::default());
        assert_eq!(s.database_path(), Path::new("/var/lib/pagerd/pagerd.db"));
        assert_eq!(
            s.notify.webhook.url.as_deref(),
            Some("https://hooks.example.com/pagerd")
        );
        assert_eq!(s.notify.webhook.timeout, Duration::from_secs(3));
        assert_eq!(s.notify.webhook.headers["Authorization"], "Bearer s3cret");
        assert_eq!(s.outbox.retry_max, Duration::from_secs(600));
        assert_eq!(s.outbox.retry_initial, Duration::from_secs(5));
        assert_eq!(s.store.synchronous, Synchronous::Normal);
    }

    #[test]
    fn environment_overrides_beat_the_file() {
        let file = write_file("[grpc]\nlisten = \"0.0.0.0:6000\"\n[outbox]\nconcurrency = 4\n");
        let vars = env(&[
            ("PAGERD_GRPC__LISTEN", "127.0.0.1:7000"),
            ("PAGERD_DATA_DIR", "/srv/pagerd"),
            ("PAGERD_NOTIFY__WEBHOOK__URL", "http://localhost:9000/hook"),
            ("PAGERD_NOTIFY__LOG__ENABLED", "false"),
            ("PAGERD_OUTBOX__CONCURRENCY", "8"),
            ("PAGERD_STORE__BUSY_TIMEOUT", "250ms"),
            ("HOME", "/root"),
        ]);
        let s = Settings::load_from(Some(file.path()), vars).expect("loads");
        assert_eq!(s.grpc.listen.to_string(), "127.0.0.1:7000");
        assert_eq!(s.data_dir, Path::new("/srv/pagerd"));
        assert_eq!(
            s.notify.webhook.url.as_deref(),
            Some("http://localhost:9000/hook")
        );
        assert!(!s.notify.log.enabled);
        assert_eq!(s.outbox.concurrency, 8);
        assert_eq!(s.store.busy_timeout, Duration::from_millis(250));
    }

    #[test]
    fn cli_variables_are_not_settings() {
        let vars = env(&[
            ("PAGERD_ADDR", "http://127.0.0.1:1"),
            ("PAGERD_CONFIG", "/etc/x.toml"),
        ]);
        assert_eq!(
            Settings::load_from(None, vars).expect("loads"),
            Settings::default()
        );
    }

    #[test]
    fn tls_files_come_in_pairs_and_mtls_needs_tls() {
        let cases: [(&[(&str, &str)], &str); 3] = [
            (&[("PAGERD_TLS__CERT_FILE", "/c.pem")], "tls.key_file"),
            (&[("PAGERD_TLS__KEY_FILE", "/k.pem")], "tls.cert_file"),
            (
                &[("PAGERD_TLS__CLIENT_CA_FILE", "/ca.pem")],
                "tls.client_ca_file",
            ),
        ];
        for (vars, wanted) in cases {
            let err = load_err(None, vars);
            assert!(err.contains(wanted), "{vars:?}: {err}");
        }
        let both = env(&[
            ("PAGERD_TLS__CERT_FILE", "/c.pem"),
            ("PAGERD_TLS__KEY_FILE", "/k.pem"),
            ("PAGERD_CA_FILE", "/pagerctl-ca.pem"),
        ]);
        let s =
            Settings::load_from(None, both).expect("a pair loads; PAGERD_CA_FILE is pagerctl's");
        assert_eq!(s.tls.cert_file, Some(PathBuf::from("/c.pem")));
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let err = Settings::load_from(Some(Path::new("/nonexistent/pagerd.toml")), HashMap::new())
            .expect_err("missing file");
        assert!(
            format!("{err:#}").contains("/nonexistent/pagerd.toml"),
            "{err:#}"
        );
    }

    #[test]
    fn bad_settings_are_errors_naming_the_key() {
        // (file contents, environment, fragments the error chain must contain)
        type Case<'a> = (Option<&'a str>, &'a [(&'a str, &'a str)], &'a [&'a str]);
        let table: [Case; 17] = [
            (
                Some("grpcc = 1\n"),
                &[],
                &["invalid configuration in", "grpcc"],
            ),
            (Some("[notify.webhook]\nurll = \"x\"\n"), &[], &["urll"]),
            (None, &[("PAGERD_GRPC__LISTN", "127.0.0.1:1")], &["listn"]),
            (None, &[("PAGERD_BOGUS", "1")], &["bogus"]),
            (
                Some("[outbox]\nretry_max = \"5 parsecs\"\n"),
                &[],
                &["outbox.retry_max", "5 parsecs"],
            ),
            (
                None,
                &[("PAGERD_NOTIFY__WEBHOOK__TIMEOUT", "0s")],
                &["notify.webhook.timeout", "zero"],
            ),
            (
                Some("[grpc]\nlisten = \"localhost\"\n"),
                &[],
                &["grpc.listen"],
            ),
            (
                Some("[store]\nsynchronous = \"off\"\n"),
                &[],
                &["store.synchronous", "off"],
            ),
            (
                None,
                &[("PAGERD_NOTIFY__WEBHOOK__URL", "ftp://x")],
                &[r#"notify.webhook.url: "ftp://x" is not an http(s) URL"#],
            ),
            (
                Some("[outbox]\nretry_initial = \"10m\"\nretry_max = \"1m\"\n"),
                &[],
                &["outbox.retry_initial"],
            ),
            (Some("[store]\nmax_batch = 0\n"), &[], &["store.max_batch"]),
            (
                Some("[store]\nevent_buffer = 1\n"),
                &[],
                &["store.event_buffer"],
            ),
            (
                Some("[integrations.alertmanager.severities]\npage = \"urgent\"\n"),
                &[],
                &["integrations.alertmanager.severities.page", "urgent"],
            ),
            (
                None,
                &[("PAGERD_INTEGRATIONS__EVENTS_PER_MINUTE", "0")],
                &["integrations.events_per_minute"],
            ),
            // SMS replies without a secret would trust any `From`.
            (
                Some("[notify.sms]\nurl = \"https://sms.example.com/send\"\n"),
                &[],
                &[
                    "notify.sms.inbound.secret: required",
                    "notify.sms.inbound.enabled = false",
                ],
            ),
            (
                Some(
                    "[notify.sms]\nurl = \"https://sms.example.com/send\"\n\
                     [notify.sms.inbound]\nsecret = \"s\"\nprovider = \"twilio\"\n",
                ),
                &[],
                &["notify.sms.inbound.public_url: required"],
            ),
            (
                Some("[notify.sms.inbound]\nprovider = \"nexmo\"\n"),
                &[],
                &["provider", "nexmo"],
            ),
        ];
        for (file, vars, wanted) in table {
            let message = load_err(file, vars);
            for want in wanted {
                assert!(
                    message.contains(want),
                    "{file:?} {vars:?}: {message:?} lacks {want:?}"
                );
            }
        }
    }

    #[test]
    fn sms_inbound_is_off_without_the_sms_channel_or_when_disabled_and_needs_no_secret_then() {
        let load = |text: &str| {
            let file = write_file(text);
            Settings::load_from(Some(file.path()), HashMap::new()).expect("loads")
        };
        assert!(!load("").notify.sms.inbound_enabled());
        let off = load(
            "[notify.sms]\nurl = \"https://sms.example.com/send\"\n\
             [notify.sms.inbound]\nenabled = false\n",
        );
        assert!(!off.notify.sms.inbound_enabled());
        let on = load(
            "[notify.sms]\nurl = \"https://sms.example.com/send\"\n\
             [notify.sms.inbound]\nsecret = \"s\"\n",
        );
        assert!(on.notify.sms.inbound_enabled());
    }

    #[test]
    fn alertmanager_severity_labels_map_with_a_default() {
        use crate::domain::Severity;
        let file = write_file(
            "[integrations.alertmanager]\ndefault_severity = \"low\"\n[integrations.alertmanager.severities]\npage = \"P0\"\n",
        );
        let s = Settings::load_from(Some(file.path()), HashMap::new()).expect("loads");
        let am = &s.integrations.alertmanager;
        let table = [
            (Some("critical"), Severity::Critical),
            (Some("Warning"), Severity::Medium),
            (Some("page"), Severity::Critical),
            (Some("info"), Severity::Low),
            (Some("whatever"), Severity::Low),
            (None, Severity::Low),
        ];
        for (label, want) in table {
            assert_eq!(am.severity_for(label), want, "{label:?}");
        }
    }

    #[test]
    fn debug_output_masks_secrets() {
        let mut s = Settings::default();
        s.notify.webhook.url = Some("https://hooks.example.com/services/T0/B0/tok3n?k=v".into());
        s.notify
            .webhook
            .headers
            .insert("Authorization".into(), "Bearer s3cret".into());
        s.notify.email.password = Some(Secret::new("smtp-s3cret"));
        s.notify
            .sms
            .headers
            .insert("Authorization".into(), Secret::new("Basic s3cret"));
        s.notify.sms.inbound.secret = Some(Secret::new("inbound-s3cret"));
        s.notify.slack.bot_token = Some(Secret::new("xoxb-s3cret"));
        s.notify.slack.signing_secret = Some(Secret::new("signing-s3cret"));
        s.notify.slack.webhook_url = Some(Secret::new("https://hooks.slack.com/tok3n"));
        s.links.secret = Some(Secret::new("link-s3cret"));
        let debug = format!("{s:?}");
        assert!(
            !debug.contains("s3cret") && !debug.contains("tok3n"),
            "{debug}"
        );
        assert!(
            debug.contains("Authorization") && debug.contains("***"),
            "{debug}"
        );
        assert!(debug.contains("https://hooks.example.com/***"), "{debug}");
    }

    #[test]
    fn the_rebalance_multiple_must_be_between_1_and_100() {
        for (value, ok) in [("2.0", true), ("1", true), ("0.5", false), ("101", false)] {
            let file = write_file(&format!("[report]\nrebalance_multiple = {value}\n"));
            let loaded = Settings::load_from(Some(file.path()), HashMap::new());
            match loaded {
                Ok(s) => {
                    assert!(ok, "{value} accepted");
                    assert_eq!(s.report.rebalance_multiple, value.parse::<f64>().unwrap());
                }
                Err(e) => {
                    assert!(!ok, "{value}: {e:#}");
                    assert!(
                        format!("{e:#}").contains("report.rebalance_multiple"),
                        "{e:#}"
                    );
                }
            }
        }
    }
}
