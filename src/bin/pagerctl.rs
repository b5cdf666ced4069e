//! pagerctl: the command-line client of pagerd, for responders and monitoring scripts.
//!
//! Every command is one function that calls the gRPC API and hands the reply to a small
//! render helper (a line, a table, or JSON with `--json`).
//!
//! Exit codes: 0 success (including "nothing to do", and a `status` that reports a refused
//! reload); 1 the request failed (a gRPC error, a timeout, a watch stream that ended in an
//! error, a `reload` that was refused); 2 a usage error or pagerd not reachable.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow};
use chrono::{DateTime, Local, Offset, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use comfy_table::{ContentArrangement, Table, presets};
use serde_json::{Value, json};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use pagerd::proto::{self as pb, EventKind, IncidentState, Severity};
use pb::alert_service_client::AlertServiceClient;
use pb::daemon_service_client::DaemonServiceClient;
use pb::incident_service_client::IncidentServiceClient;
use pb::intake_service_client::IntakeServiceClient;
use pb::report_service_client::ReportServiceClient;
use pb::schedule_service_client::ScheduleServiceClient;

const DEFAULT_ADDR: &str = "http://127.0.0.1:50051";
const GLOBAL: &str = "Global options";
/// Longest summary shown in `list`, in characters.
const LIST_SUMMARY_CHARS: usize = 60;
/// Longest reason shown in `override list`, in characters.
const OVERRIDE_REASON_CHARS: usize = 40;
/// Most incidents the server returns per page.
const MAX_PAGE_SIZE: u32 = 500;

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------

#[derive(Parser)]
#[command(
    name = "pagerctl",
    version,
    about = "Trigger, acknowledge, resolve and follow pagerd incidents",
    after_help = "Exit status: 0 success, 1 the request failed (or `reload` was refused), 2 usage error or pagerd not reachable."
)]
struct Cli {
    /// pagerd gRPC address: http://host:port or host:port.
    #[arg(
        long,
        global = true,
        env = "PAGERD_ADDR",
        default_value = DEFAULT_ADDR,
        help_heading = GLOBAL,
        value_parser = parse_addr
    )]
    addr: String,

    /// Machine-readable output: one JSON object (JSON lines for `watch`). Times are RFC 3339
    /// UTC, enums lowercase words, levels and passes 1-based.
    #[arg(long, global = true, help_heading = GLOBAL)]
    json: bool,

    /// How long to wait for pagerd to answer a request (10s, 500ms, 1m; a bare number is
    /// seconds). `watch` uses it only to connect.
    #[arg(long, global = true, help_heading = GLOBAL, default_value = "10s", value_parser = parse_timeout)]
    timeout: Duration,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Raise an alert: opens an incident, or adds to the open one with the same dedup key.
    Trigger(TriggerArgs),
    /// Acknowledge an incident (stops escalation).
    Ack(AckArgs),
    /// Resolve an incident.
    Resolve(ResolveArgs),
    /// Page the next escalation level now (re-triggers an acknowledged incident).
    Escalate(EscalateArgs),
    /// List incidents, newest first.
    List(ListArgs),
    /// Show one incident and its timeline.
    Show {
        #[arg(value_name = "ID", value_parser = incident_id())]
        id: i64,
    },
    /// Print incident events as they happen, until Ctrl-C.
    Watch(WatchArgs),
    /// Who is on call now (or at --at), for one schedule or every schedule.
    Oncall(OncallArgs),
    /// A schedule's final shifts (after layers, restrictions and overrides).
    Shifts(ShiftsArgs),
    /// Put someone on call for a while (over every layer), take it back, list overrides.
    #[command(subcommand)]
    Override(OverrideCommand),
    /// The daemon: version, uptime, policy set, open incidents, channels, last reload.
    ///
    /// A refused last reload is shown as REFUSED with its FILE:LINE errors (exit status 0).
    Status,
    /// Load the schedules directory again; a set with errors is refused.
    ///
    /// A refused set is reported with its FILE:LINE errors and exit status 1; the current set
    /// keeps serving.
    Reload,
    /// Send a test page to a person through the real path, on each of their contact methods
    /// (or one channel), and show what each provider answered. Exit status 1 unless every
    /// one was sent.
    TestPage(TestPageArgs),
    /// Maintenance windows: alerts of a service during one page nobody.
    #[command(subcommand)]
    Maintenance(MaintenanceCommand),
    /// Heartbeats (dead-man's switches): ping one, or list them.
    #[command(subcommand)]
    Heartbeat(HeartbeatCommand),
    /// On-call load per person: weeks on call, shifts, incidents and pages, off-hours pages,
    /// hours called in and time off in lieu owed, limit skips and flagged overrides.
    Report(ReportArgs),
}

#[derive(Args)]
struct ReportArgs {
    /// From: an RFC 3339 time or a duration ago.
    #[arg(long, value_parser = parse_time)]
    from: DateTime<Utc>,
    /// To: an RFC 3339 time (default now).
    #[arg(long, value_parser = parse_time)]
    to: Option<DateTime<Utc>>,
    /// Only this schedule's shifts, and the pages sent while on call for it.
    #[arg(long)]
    schedule: Option<String>,
    /// table (default), csv, or json (also --json).
    #[arg(long, value_enum, ignore_case = true, default_value = "table")]
    format: ReportFormat,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ReportFormat {
    Table,
    Csv,
    Json,
}

#[derive(Subcommand)]
enum MaintenanceCommand {
    /// Start a window: alerts of SERVICE are recorded but page nobody until it ends.
    Add {
        service: String,
        /// When it ends: an RFC 3339 time or a duration from now (2h, 90m).
        #[arg(long, value_parser = parse_future_time)]
        until: DateTime<Utc>,
        /// When it starts: an RFC 3339 time or a duration from now (default now).
        #[arg(long, value_parser = parse_future_time)]
        from: Option<DateTime<Utc>>,
        #[arg(long, default_value = "")]
        reason: String,
        /// Incidents raised in the window stay quiet when it ends (default: they start paging).
        #[arg(long)]
        quiet_after: bool,
        #[arg(long, default_value_t = default_actor())]
        by: String,
    },
    /// Windows not over yet (files and API).
    List {
        #[arg(long)]
        service: Option<String>,
        /// Include removed windows.
        #[arg(long)]
        all: bool,
    },
    /// End a window made with `add` now; its held incidents page if still open.
    Remove {
        #[arg(value_name = "ID", value_parser = clap::value_parser!(i64).range(1..))]
        id: i64,
        #[arg(long, default_value_t = default_actor())]
        by: String,
    },
}

#[derive(Subcommand)]
enum HeartbeatCommand {
    /// Record a ping (what a cron job or backup script does when it finishes).
    Ping { name: String },
    /// Every heartbeat: its service, interval, last ping and expiry.
    List,
}

#[derive(Args)]
struct TestPageArgs {
    /// A person from the policy files.
    person: String,
    /// Only this channel (email, sms, slack, webhook, log).
    #[arg(long)]
    channel: Option<String>,
    /// Who asks (recorded in the message); defaults to $USER.
    #[arg(long, default_value_t = default_actor())]
    by: String,
}

#[derive(Subcommand)]
enum OverrideCommand {
    /// Put PERSON on call for SCHEDULE from --from to --to, over every layer.
    ///
    /// A later override wins over an earlier one where both cover a time.
    #[command(after_help = "Example: pagerctl override add support-evenings dana \\
  --from 2026-03-03T18:00-08:00 --to 4h --reason \"sam is out\"")]
    Add(OverrideAddArgs),
    /// Take an override back (it stays stored, marked removed: see `override list --all`).
    Remove(OverrideRemoveArgs),
    /// List overrides made with `override add` that have not ended yet, newest first.
    ///
    /// Overrides written in the policy files are not listed (see `shifts`).
    List(OverrideListArgs),
}

#[derive(Args)]
struct OverrideAddArgs {
    /// A schedule from the policy files.
    schedule: String,
    /// Who is on call instead, as named in the policy files.
    person: String,
    /// Start: an RFC 3339 time (seconds may be left out: 2026-03-03T18:00-08:00), `now`, or a
    /// duration ago (30m).
    #[arg(long, value_parser = parse_time)]
    from: DateTime<Utc>,
    /// End: an RFC 3339 time, or a duration after --from (4h, 2d, 1w).
    #[arg(long, value_parser = parse_end)]
    to: End,
    /// Why; shown with the shift in `oncall` and `shifts`.
    #[arg(long)]
    reason: Option<String>,
    /// Who makes the override (recorded).
    #[arg(long, default_value_t = default_actor())]
    by: String,
}

#[derive(Args)]
struct OverrideRemoveArgs {
    /// Override id, as `override add` and `override list` show it.
    #[arg(value_name = "ID", value_parser = override_id())]
    id: i64,
    /// Who takes it back (recorded).
    #[arg(long, default_value_t = default_actor())]
    by: String,
}

#[derive(Args)]
struct OverrideListArgs {
    /// Only this schedule's overrides.
    schedule: Option<String>,
    /// Include removed overrides.
    #[arg(long)]
    all: bool,
    /// Only overrides ending after: an RFC 3339 time, `now` or a duration ago (default now).
    #[arg(long, value_parser = parse_time)]
    since: Option<DateTime<Utc>>,
}

/// The end of an override: a time, or a length counted from its start.
#[derive(Clone, Copy, Debug, PartialEq)]
enum End {
    At(DateTime<Utc>),
    After(chrono::TimeDelta),
}

impl End {
    fn resolve(self, start: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            End::At(t) => Some(t),
            End::After(d) => start.checked_add_signed(d),
        }
    }
}

#[derive(Args)]
struct OncallArgs {
    /// A schedule from the policy files; all schedules when left out.
    schedule: Option<String>,
    /// When to ask about: an RFC 3339 time (default now).
    #[arg(long, value_parser = parse_time)]
    at: Option<DateTime<Utc>>,
}

#[derive(Args)]
struct ShiftsArgs {
    schedule: String,
    /// From: an RFC 3339 time or a duration ago (default now).
    #[arg(long, value_parser = parse_time)]
    from: Option<DateTime<Utc>>,
    /// To: an RFC 3339 time (default a week after --from).
    #[arg(long, value_parser = parse_time)]
    to: Option<DateTime<Utc>>,
}

#[derive(Args)]
struct TriggerArgs {
    /// Service the alert is for, as named in the policy files.
    #[arg(long, required_unless_present = "integration_key")]
    service: Option<String>,
    /// The service's integration key instead of its name (what monitoring tools hold).
    #[arg(long, conflicts_with = "service")]
    integration_key: Option<String>,
    /// One-line description (at most 1024 characters).
    #[arg(long)]
    summary: String,
    /// critical, high, medium or low; also p0-p3 and sev1-sev4.
    #[arg(long, value_enum, ignore_case = true, default_value = "critical")]
    severity: SeverityArg,
    /// Alerts with the same key add to one open incident; generated when not given.
    #[arg(long)]
    dedup_key: Option<String>,
    /// Where the alert comes from (a monitoring system, a host).
    #[arg(long)]
    source: Option<String>,
    /// Extra detail as KEY=VALUE (repeatable).
    #[arg(long = "detail", value_name = "KEY=VALUE", value_parser = parse_detail)]
    details: Vec<(String, String)>,
    /// A link as URL or URL=TEXT (repeatable). For a URL with a query string, TEXT is only
    /// recognised when it contains a space.
    #[arg(long = "link", value_name = "URL[=TEXT]", value_parser = parse_link)]
    links: Vec<pb::Link>,
}

/// An incident id, or (for monitoring scripts) the service and dedup key of an open incident.
#[derive(Args)]
struct TargetArgs {
    /// Incident id.
    #[arg(
        value_name = "ID",
        value_parser = incident_id(),
        required_unless_present = "service",
        conflicts_with = "service"
    )]
    id: Option<i64>,
    /// With --dedup-key: act on the open incident with this service and key.
    #[arg(long, requires = "dedup_key")]
    service: Option<String>,
    /// With --service: the dedup key the alert was triggered with.
    #[arg(long, requires = "service")]
    dedup_key: Option<String>,
}

enum Target {
    Id(i64),
    Key { service: String, dedup_key: String },
}

impl TargetArgs {
    fn target(self) -> anyhow::Result<Target> {
        match (self.id, self.service, self.dedup_key) {
            (Some(id), None, None) => Ok(Target::Id(id)),
            (None, Some(service), Some(dedup_key)) => Ok(Target::Key { service, dedup_key }),
            _ => Err(Usage("give an incident id, or --service and --dedup-key".into()).into()),
        }
    }
}

#[derive(Args)]
struct AckArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Who acknowledges.
    #[arg(long, default_value_t = default_actor())]
    by: String,
}

#[derive(Args)]
struct ResolveArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Who resolves.
    #[arg(long, default_value_t = default_actor())]
    by: String,
    /// What was done, kept with the incident.
    #[arg(long)]
    note: Option<String>,
}

#[derive(Args)]
struct EscalateArgs {
    #[arg(value_name = "ID", value_parser = incident_id())]
    id: i64,
    /// Who escalates.
    #[arg(long, default_value_t = default_actor())]
    by: String,
}

#[derive(Args)]
struct ListArgs {
    /// Only incidents in this state (repeatable).
    #[arg(long = "state", value_enum, ignore_case = true)]
    states: Vec<StateArg>,
    /// Only incidents of this service.
    #[arg(long)]
    service: Option<String>,
    /// Created at or after: an RFC 3339 time or a duration ago (2h, 3d).
    #[arg(long, value_parser = parse_time)]
    since: Option<DateTime<Utc>>,
    /// Created before: an RFC 3339 time or a duration ago.
    #[arg(long, value_parser = parse_time)]
    until: Option<DateTime<Utc>>,
    /// Incidents per request, 1-500; without --all, the most that are shown.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=MAX_PAGE_SIZE as i64))]
    limit: u32,
    /// Fetch every page, not just the first.
    #[arg(long)]
    all: bool,
}

#[derive(Args)]
struct WatchArgs {
    /// Only events of this incident.
    #[arg(long, value_parser = incident_id())]
    incident: Option<i64>,
    /// Only events of this service.
    #[arg(long)]
    service: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum SeverityArg {
    #[value(aliases = ["p0", "sev1", "sev-1"])]
    Critical,
    #[value(aliases = ["p1", "sev2", "sev-2"])]
    High,
    #[value(aliases = ["p2", "sev3", "sev-3"])]
    Medium,
    #[value(aliases = ["p3", "sev4", "sev-4"])]
    Low,
}

impl From<SeverityArg> for Severity {
    fn from(s: SeverityArg) -> Self {
        match s {
            SeverityArg::Critical => Severity::Critical,
            SeverityArg::High => Severity::High,
            SeverityArg::Medium => Severity::Medium,
            SeverityArg::Low => Severity::Low,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum StateArg {
    Triggered,
    #[value(alias = "acked")]
    Acknowledged,
    Resolved,
}

impl From<StateArg> for IncidentState {
    fn from(s: StateArg) -> Self {
        match s {
            StateArg::Triggered => IncidentState::Triggered,
            StateArg::Acknowledged => IncidentState::Acknowledged,
            StateArg::Resolved => IncidentState::Resolved,
        }
    }
}

fn incident_id() -> clap::builder::RangedI64ValueParser<i64> {
    clap::value_parser!(i64).range(1..)
}

fn override_id() -> clap::builder::RangedI64ValueParser<i64> {
    clap::value_parser!(i64).range(1..)
}

fn default_actor() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "pagerctl".to_owned())
}

/// `host:port` gets `http://`; the daemon serves plaintext gRPC, so only http is accepted.
fn parse_addr(s: &str) -> Result<String, String> {
    let s = s.trim().trim_end_matches('/');
    let addr = if s.contains("://") {
        s.to_owned()
    } else {
        format!("http://{s}")
    };
    if !addr.starts_with("http://") {
        return Err(format!(
            "`{s}`: only http:// addresses are supported (pagerd serves plaintext gRPC)"
        ));
    }
    Endpoint::from_shared(addr.clone()).map_err(|e| format!("`{s}` is not an address: {e}"))?;
    Ok(addr)
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = match s.trim().parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            humantime::parse_duration(s).map_err(|e| format!("`{s}`: {e} (try 10s, 500ms, 1m)"))?
        }
    };
    if d.is_zero() {
        return Err("must be more than zero".into());
    }
    Ok(d)
}

fn parse_detail(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("`{s}`: expected KEY=VALUE")),
    }
}

/// `URL` or `URL=TEXT`. A URL holds no whitespace but its query string may hold `=`: with
/// whitespace, TEXT starts after the last `=` before it; without, after the first `=` that
/// comes before any `?` or `#`.
fn parse_link(s: &str) -> Result<pb::Link, String> {
    let split = match s.find(char::is_whitespace) {
        Some(ws) => s[..ws].rfind('='),
        None => s[..s.find(['?', '#']).unwrap_or(s.len())].find('='),
    };
    let (href, text) = match split {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    };
    let href = href.trim();
    if href.is_empty() {
        return Err(format!("`{s}`: expected URL or URL=TEXT"));
    }
    Ok(pb::Link {
        href: href.to_owned(),
        text: text.trim().to_owned(),
    })
}

/// An RFC 3339 time (seconds optional) or a duration from now.
fn parse_future_time(s: &str) -> Result<DateTime<Utc>, String> {
    if let Some(t) = parse_instant(s) {
        return Ok(t);
    }
    let ahead = humantime::parse_duration(s).map_err(|_| {
        format!(
            "`{s}`: expected an RFC 3339 time (2024-05-01T14:00:00Z) or a duration from now (2h)"
        )
    })?;
    chrono::Duration::from_std(ahead)
        .ok()
        .and_then(|d| Utc::now().checked_add_signed(d))
        .ok_or_else(|| format!("`{s}`: too far ahead"))
}

/// An RFC 3339 time (seconds optional), `now`, or a duration ago (2h, 3d).
fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    if let Some(t) = parse_instant(s) {
        return Ok(t);
    }
    if s.trim().eq_ignore_ascii_case("now") {
        return Ok(Utc::now());
    }
    let ago = humantime::parse_duration(s).map_err(|_| {
        format!(
            "`{s}`: expected an RFC 3339 time (2024-05-01T14:00:00Z), `now` or a duration ago (2h, 3d)"
        )
    })?;
    chrono::Duration::from_std(ago)
        .ok()
        .and_then(|d| Utc::now().checked_sub_signed(d))
        .ok_or_else(|| format!("`{s}`: too far in the past"))
}

/// An override's end: an RFC 3339 time (seconds optional) or a duration after its start.
fn parse_end(s: &str) -> Result<End, String> {
    if let Some(t) = parse_instant(s) {
        return Ok(End::At(t));
    }
    let after = humantime::parse_duration(s).map_err(|_| {
        format!(
            "`{s}`: expected an RFC 3339 time (2024-05-01T18:00:00Z) or a duration after --from (4h, 2d)"
        )
    })?;
    if after.is_zero() {
        return Err("a duration after --from must be more than zero".into());
    }
    chrono::Duration::from_std(after)
        .map(End::After)
        .map_err(|_| format!("`{s}`: too long"))
}

/// RFC 3339, also without seconds as people type it (`2026-03-03T18:00-08:00`).
fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    let parsed = DateTime::parse_from_rfc3339(s).or_else(|e| match (s.get(..16), s.get(16..)) {
        (Some(minutes), Some(offset)) if offset.starts_with(['Z', 'z', '+', '-']) => {
            DateTime::parse_from_rfc3339(&format!("{minutes}:00{offset}"))
        }
        _ => Err(e),
    });
    parsed.ok().map(|t| t.with_timezone(&Utc))
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// pagerd did not answer at the transport level (exit 2).
#[derive(Debug)]
struct Unreachable {
    addr: String,
    reason: String,
}

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot reach pagerd at {} ({}). Is it running? Set --addr or PAGERD_ADDR.",
            self.addr, self.reason
        )
    }
}

impl std::error::Error for Unreachable {}

/// Arguments clap accepts but that make no sense together (exit 2).
#[derive(Debug)]
struct Usage(String);

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// The most useful cause of a connection failure: an I/O error's kind ("connection refused")
/// when there is one, otherwise the innermost message.
fn connect_reason(e: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = e;
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            return match io.kind() {
                io::ErrorKind::ConnectionRefused => "connection refused".into(),
                io::ErrorKind::TimedOut => "timed out".into(),
                _ => io.to_string(),
            };
        }
        innermost = err;
        cur = err.source();
    }
    innermost.to_string()
}

fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "ok",
        Code::Cancelled => "cancelled",
        Code::Unknown => "unknown error",
        Code::InvalidArgument => "invalid argument",
        Code::DeadlineExceeded => "deadline exceeded",
        Code::NotFound => "not found",
        Code::AlreadyExists => "already exists",
        Code::PermissionDenied => "permission denied",
        Code::ResourceExhausted => "resource exhausted",
        Code::FailedPrecondition => "failed precondition",
        Code::Aborted => "aborted",
        Code::OutOfRange => "out of range",
        Code::Unimplemented => "unimplemented",
        Code::Internal => "internal error",
        Code::Unavailable => "unavailable",
        Code::DataLoss => "data loss",
        Code::Unauthenticated => "unauthenticated",
    }
}

fn format_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

// ---------------------------------------------------------------------------------------------
// Connection
// ---------------------------------------------------------------------------------------------

struct Pagerd {
    addr: String,
    timeout: Duration,
    channel: Channel,
}

impl Pagerd {
    async fn connect(addr: &str, timeout: Duration) -> anyhow::Result<Self> {
        let unreachable = |reason: String| Unreachable {
            addr: addr.to_owned(),
            reason,
        };
        let endpoint = Endpoint::from_shared(addr.to_owned())
            .map_err(|e| unreachable(connect_reason(&e)))?
            .connect_timeout(timeout);
        let channel = tokio::time::timeout(timeout, endpoint.connect())
            .await
            .map_err(|_| unreachable(format!("no connection within {}", format_duration(timeout))))?
            .map_err(|e| unreachable(connect_reason(&e)))?;
        Ok(Self {
            addr: addr.to_owned(),
            timeout,
            channel,
        })
    }

    fn alerts(&self) -> AlertServiceClient<Channel> {
        AlertServiceClient::new(self.channel.clone())
    }

    fn incidents(&self) -> IncidentServiceClient<Channel> {
        IncidentServiceClient::new(self.channel.clone())
    }

    fn intake(&self) -> IntakeServiceClient<Channel> {
        IntakeServiceClient::new(self.channel.clone())
    }

    fn schedules(&self) -> ScheduleServiceClient<Channel> {
        ScheduleServiceClient::new(self.channel.clone())
    }

    fn daemon(&self) -> DaemonServiceClient<Channel> {
        DaemonServiceClient::new(self.channel.clone())
    }

    /// Awaits one call within `--timeout`, mapping a gRPC status to a one-line error.
    async fn call<T>(
        &self,
        call: impl Future<Output = Result<tonic::Response<T>, Status>>,
    ) -> anyhow::Result<T> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(reply)) => Ok(reply.into_inner()),
            Ok(Err(status)) => Err(self.status_error(status)),
            Err(_) => Err(anyhow!(
                "no reply from pagerd at {} within {} (--timeout); a change may or may not have been applied",
                self.addr,
                format_duration(self.timeout)
            )),
        }
    }

    fn status_error(&self, status: Status) -> anyhow::Error {
        let message = status.message();
        match status.code() {
            Code::Unavailable => Unreachable {
                addr: self.addr.clone(),
                reason: if message.is_empty() {
                    "unavailable".into()
                } else {
                    message.to_owned()
                },
            }
            .into(),
            Code::Unimplemented => anyhow!(
                "unimplemented: {message} (is {} the gRPC address of pagerd?)",
                self.addr
            ),
            code => anyhow!("{}: {message}", code_name(code)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pagerctl: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        // `pagerctl list | head` closes stdout early; that is not an error.
        Err(e)
            if e.downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pagerctl: {e:#}");
            if e.downcast_ref::<Unreachable>().is_some() || e.downcast_ref::<Usage>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// The options every command takes.
struct Global {
    addr: String,
    timeout: Duration,
    json: bool,
}

impl Global {
    /// Commands connect after checking their arguments, so a usage error is reported as one
    /// even when pagerd is down.
    async fn connect(&self) -> anyhow::Result<Pagerd> {
        Pagerd::connect(&self.addr, self.timeout).await
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let g = Global {
        addr: cli.addr,
        timeout: cli.timeout,
        json: cli.json,
    };
    match cli.command {
        Command::Trigger(args) => trigger(&g, args).await,
        Command::Ack(args) => ack(&g, args).await,
        Command::Resolve(args) => resolve(&g, args).await,
        Command::Escalate(args) => escalate(&g, args).await,
        Command::List(args) => list(&g, args).await,
        Command::Show { id } => show(&g, id).await,
        Command::Watch(args) => watch(&g, args).await,
        Command::Oncall(args) => oncall(&g, args).await,
        Command::Shifts(args) => shifts(&g, args).await,
        Command::Report(args) => report(&g, args).await,
        Command::Maintenance(cmd) => maintenance(&g, cmd).await,
        Command::Heartbeat(cmd) => heartbeat(&g, cmd).await,
        Command::Override(OverrideCommand::Add(args)) => override_add(&g, args).await,
        Command::Override(OverrideCommand::Remove(args)) => override_remove(&g, args).await,
        Command::Override(OverrideCommand::List(args)) => override_list(&g, args).await,
        Command::Status => status(&g).await,
        Command::Reload => reload(&g).await,
        Command::TestPage(args) => test_page(&g, args).await,
    }
}

async fn trigger(g: &Global, args: TriggerArgs) -> anyhow::Result<()> {
    let mut details = HashMap::new();
    for (k, v) in args.details {
        if details.contains_key(&k) {
            return Err(Usage(format!("--detail `{k}` is given more than once")).into());
        }
        details.insert(k, v);
    }
    let request = pb::TriggerRequest {
        service: args.service.unwrap_or_default(),
        dedup_key: args.dedup_key.unwrap_or_default(),
        severity: Severity::from(args.severity) as i32,
        summary: args.summary,
        source: args.source.unwrap_or_default(),
        details,
        links: args.links,
        integration_key: args.integration_key.unwrap_or_default(),
    };
    let pagerd = g.connect().await?;
    let r = pagerd.call(pagerd.alerts().trigger(request)).await?;
    if g.json {
        return emit_json(&json!({
            "incident_id": r.incident_id,
            "dedup_key": r.dedup_key,
            "deduplicated": r.deduplicated,
            "alert_count": r.alert_count,
        }));
    }
    if r.deduplicated {
        emit(&format!(
            "incident {}: deduplicated ({} alerts)",
            r.incident_id, r.alert_count
        ))
    } else {
        emit(&format!(
            "incident {} triggered (dedup key {})",
            r.incident_id,
            clean(&r.dedup_key)
        ))
    }
}

async fn ack(g: &Global, args: AckArgs) -> anyhow::Result<()> {
    let target = args.target.target()?;
    let pagerd = g.connect().await?;
    match target {
        Target::Id(id) => {
            let request = pb::AcknowledgeRequest { id, by: args.by };
            let r = pagerd.call(pagerd.incidents().acknowledge(request)).await?;
            emit_action(&r, g.json, |desc| already_unless(r.changed, desc))
        }
        Target::Key { service, dedup_key } => {
            let request = pb::AlertAcknowledgeRequest {
                service: service.clone(),
                dedup_key: dedup_key.clone(),
                by: args.by,
            };
            let r = pagerd.call(pagerd.alerts().acknowledge(request)).await?;
            emit_key_action(&r, &service, &dedup_key, g.json)
        }
    }
}

async fn resolve(g: &Global, args: ResolveArgs) -> anyhow::Result<()> {
    let note = args.note.unwrap_or_default();
    let target = args.target.target()?;
    let pagerd = g.connect().await?;
    match target {
        Target::Id(id) => {
            let request = pb::ResolveRequest {
                id,
                by: args.by,
                note,
            };
            let r = pagerd.call(pagerd.incidents().resolve(request)).await?;
            emit_action(&r, g.json, |desc| already_unless(r.changed, desc))
        }
        Target::Key { service, dedup_key } => {
            let request = pb::AlertResolveRequest {
                service: service.clone(),
                dedup_key: dedup_key.clone(),
                by: args.by,
                note,
            };
            let r = pagerd.call(pagerd.alerts().resolve(request)).await?;
            emit_key_action(&r, &service, &dedup_key, g.json)
        }
    }
}

async fn escalate(g: &Global, args: EscalateArgs) -> anyhow::Result<()> {
    let request = pb::EscalateRequest {
        id: args.id,
        by: args.by,
    };
    let pagerd = g.connect().await?;
    let r = pagerd.call(pagerd.incidents().escalate(request)).await?;
    emit_action(&r, g.json, |desc| {
        if r.changed {
            format!("escalated, now {desc}")
        } else {
            format!("not escalated, still {desc}")
        }
    })
}

async fn list(g: &Global, args: ListArgs) -> anyhow::Result<()> {
    let mut request = pb::ListIncidentsRequest {
        states: args
            .states
            .into_iter()
            .map(|s| IncidentState::from(s) as i32)
            .collect(),
        service: args.service.unwrap_or_default(),
        since: args.since.map(to_timestamp),
        until: args.until.map(to_timestamp),
        page_size: args.limit,
        page_token: String::new(),
    };
    let pagerd = g.connect().await?;
    let mut incidents = Vec::new();
    let next_page_token = loop {
        let page = pagerd
            .call(pagerd.incidents().list(request.clone()))
            .await?;
        incidents.extend(page.incidents);
        if !args.all || page.next_page_token.is_empty() {
            break page.next_page_token;
        }
        request.page_token = page.next_page_token;
    };
    if g.json {
        let incidents: Vec<Value> = incidents.iter().map(incident_json).collect();
        return emit_json(&json!({ "incidents": incidents, "next_page_token": next_page_token }));
    }
    if incidents.is_empty() {
        eprintln!("no incidents match");
        return Ok(());
    }
    emit(&incident_table(&incidents, Utc::now()))?;
    if !next_page_token.is_empty() {
        eprintln!(
            "(showing the newest {}; more match: use --all or a larger --limit)",
            incidents.len()
        );
    }
    Ok(())
}

fn window_json(w: &pb::MaintenanceWindow) -> Value {
    json!({
        "id": w.id,
        "service": w.service,
        "start": to_datetime(w.start.as_ref()).map(|t| t.to_rfc3339()),
        "end": to_datetime(w.end.as_ref()).map(|t| t.to_rfc3339()),
        "reason": w.reason,
        "page_after": w.page_after,
        "created_by": w.created_by,
        "removed_by": w.removed_by,
    })
}

async fn maintenance(g: &Global, cmd: MaintenanceCommand) -> anyhow::Result<()> {
    let pagerd = g.connect().await?;
    let mut intake = pagerd.intake();
    match cmd {
        MaintenanceCommand::Add {
            service,
            until,
            from,
            reason,
            quiet_after,
            by,
        } => {
            let request = pb::AddMaintenanceRequest {
                service,
                start: from.map(to_timestamp),
                end: Some(to_timestamp(until)),
                reason,
                quiet_after,
                by,
            };
            let w = pagerd
                .call(intake.add_maintenance(request))
                .await?
                .window
                .unwrap_or_default();
            if g.json {
                return emit_json(&window_json(&w));
            }
            emit(&format!(
                "maintenance window {} for {}: until {}{}",
                w.id,
                clean(&w.service),
                to_datetime(w.end.as_ref())
                    .map(local_time)
                    .unwrap_or_default(),
                if w.page_after {
                    "; open incidents from it page when it ends"
                } else {
                    "; its incidents stay quiet"
                }
            ))
        }
        MaintenanceCommand::Remove { id, by } => {
            let w = pagerd
                .call(intake.remove_maintenance(pb::RemoveMaintenanceRequest { id, by }))
                .await?
                .window
                .unwrap_or_default();
            if g.json {
                return emit_json(&window_json(&w));
            }
            emit(&format!(
                "maintenance window {} for {} ended by {}",
                w.id,
                clean(&w.service),
                clean(&w.removed_by)
            ))
        }
        MaintenanceCommand::List { service, all } => {
            let request = pb::ListMaintenanceRequest {
                service: service.unwrap_or_default(),
                include_removed: all,
            };
            let list = pagerd.call(intake.list_maintenance(request)).await?;
            if g.json {
                let items: Vec<Value> = list.windows.iter().map(window_json).collect();
                return emit_json(&json!({ "windows": items }));
            }
            if list.windows.is_empty() {
                return emit("no maintenance windows");
            }
            let mut table = plain_table();
            table.set_header(["ID", "SERVICE", "FROM", "UNTIL", "AFTER", "BY", "REASON"]);
            for w in &list.windows {
                let time = |t: Option<&prost_types::Timestamp>| {
                    to_datetime(t).map(local_time).unwrap_or_default()
                };
                table.add_row([
                    if w.id == 0 {
                        "file".to_string()
                    } else {
                        w.id.to_string()
                    },
                    clean(&w.service),
                    time(w.start.as_ref()),
                    time(w.end.as_ref()),
                    if w.page_after { "page" } else { "quiet" }.to_string(),
                    if w.removed_by.is_empty() {
                        clean(&w.created_by)
                    } else {
                        format!(
                            "{} (removed by {})",
                            clean(&w.created_by),
                            clean(&w.removed_by)
                        )
                    },
                    clean(&w.reason),
                ]);
            }
            emit(&table.to_string())
        }
    }
}

async fn heartbeat(g: &Global, cmd: HeartbeatCommand) -> anyhow::Result<()> {
    let pagerd = g.connect().await?;
    let mut intake = pagerd.intake();
    match cmd {
        HeartbeatCommand::Ping { name } => {
            let r = pagerd
                .call(intake.heartbeat(pb::HeartbeatRequest { name: name.clone() }))
                .await?;
            let expires = to_datetime(r.expires_at.as_ref());
            if g.json {
                return emit_json(&json!({
                    "name": name,
                    "expires_at": expires.map(|t| t.to_rfc3339()),
                    "resolved_incident_id": (r.resolved_incident_id != 0).then_some(r.resolved_incident_id),
                }));
            }
            let mut line = format!(
                "heartbeat {}: next ping due by {}",
                clean(&name),
                expires.map(local_time).unwrap_or_default()
            );
            if r.resolved_incident_id != 0 {
                line.push_str(&format!("; resolved incident {}", r.resolved_incident_id));
            }
            emit(&line)
        }
        HeartbeatCommand::List => {
            let list = pagerd
                .call(intake.list_heartbeats(pb::ListHeartbeatsRequest {}))
                .await?;
            if g.json {
                let items: Vec<Value> = list
                    .heartbeats
                    .iter()
                    .map(|h| {
                        json!({
                            "name": h.name,
                            "service": h.service,
                            "interval_seconds": h.interval_seconds,
                            "last_ping_at": to_datetime(h.last_ping_at.as_ref()).map(|t| t.to_rfc3339()),
                            "expires_at": to_datetime(h.expires_at.as_ref()).map(|t| t.to_rfc3339()),
                        })
                    })
                    .collect();
                return emit_json(&json!({ "heartbeats": items }));
            }
            if list.heartbeats.is_empty() {
                return emit("no heartbeats in the policy files");
            }
            let mut table = plain_table();
            table.set_header(["NAME", "SERVICE", "EVERY", "LAST PING", "EXPIRES"]);
            for h in &list.heartbeats {
                table.add_row([
                    clean(&h.name),
                    clean(&h.service),
                    format_duration(Duration::from_secs(h.interval_seconds)),
                    to_datetime(h.last_ping_at.as_ref())
                        .map(local_time)
                        .unwrap_or_else(|| "never".into()),
                    to_datetime(h.expires_at.as_ref())
                        .map(local_time)
                        .unwrap_or_else(|| "EXPIRED".into()),
                ]);
            }
            emit(&table.to_string())
        }
    }
}

async fn oncall(g: &Global, args: OncallArgs) -> anyhow::Result<()> {
    let pagerd = g.connect().await?;
    let names = match args.schedule {
        Some(name) => vec![name],
        None => {
            let list = pagerd
                .call(
                    pagerd
                        .schedules()
                        .list_schedules(pb::ListSchedulesRequest {}),
                )
                .await?;
            list.schedules.into_iter().map(|s| s.name).collect()
        }
    };
    let mut rows = Vec::new();
    for name in names {
        let request = pb::OnCallRequest {
            schedule: name.clone(),
            at: args.at.map(to_timestamp),
        };
        rows.push((
            name,
            pagerd.call(pagerd.schedules().on_call(request)).await?,
        ));
    }
    if g.json {
        let items: Vec<Value> = rows
            .iter()
            .map(|(name, r)| {
                let shift = r.shift.as_ref().map(shift_json);
                json!({ "schedule": name, "shift": shift, "owner": r.owner })
            })
            .collect();
        return emit_json(&json!({ "on_call": items }));
    }
    let mut table = plain_table();
    table.set_header(["SCHEDULE", "ON CALL", "SINCE", "UNTIL", "VIA"]);
    for (name, r) in &rows {
        match &r.shift {
            Some(s) => table.add_row([
                clean(name),
                clean(&s.person),
                to_datetime(s.start.as_ref())
                    .map(local_time)
                    .unwrap_or_default(),
                to_datetime(s.end.as_ref())
                    .map(local_time)
                    .unwrap_or_default(),
                clean(&s.source),
            ]),
            None => table.add_row([
                clean(name),
                format!("nobody (owner {} is paged)", clean(&r.owner)),
                String::new(),
                String::new(),
                "gap".to_string(),
            ]),
        };
    }
    emit(&finish_table(table))
}

async fn shifts(g: &Global, args: ShiftsArgs) -> anyhow::Result<()> {
    let from = args.from.unwrap_or_else(Utc::now);
    let to = args.to.unwrap_or(from + chrono::Duration::days(7));
    let pagerd = g.connect().await?;
    let request = pb::ShiftsRequest {
        schedule: args.schedule,
        from: Some(to_timestamp(from)),
        to: Some(to_timestamp(to)),
    };
    let r = pagerd.call(pagerd.schedules().shifts(request)).await?;
    if g.json {
        let shifts: Vec<Value> = r.shifts.iter().map(shift_json).collect();
        return emit_json(&json!({ "shifts": shifts }));
    }
    let mut table = plain_table();
    table.set_header(["PERSON", "START", "END", "VIA", "REASON"]);
    for s in &r.shifts {
        // Projected turns and flagged overrides say so in front of their reason.
        let mut reason = clean(&s.reason);
        if s.flagged {
            reason = format!("FLAGGED {reason}");
        }
        if s.projected {
            reason = format!("(projected) {reason}");
        }
        table.add_row([
            clean(&s.person),
            to_datetime(s.start.as_ref())
                .map(local_time)
                .unwrap_or_default(),
            to_datetime(s.end.as_ref())
                .map(local_time)
                .unwrap_or_default(),
            clean(&s.source),
            reason,
        ]);
    }
    emit(&finish_table(table))
}

async fn report(g: &Global, args: ReportArgs) -> anyhow::Result<()> {
    let to = args.to.unwrap_or_else(Utc::now);
    let pagerd = g.connect().await?;
    let request = pb::OnCallLoadRequest {
        from: Some(to_timestamp(args.from)),
        to: Some(to_timestamp(to)),
        schedule: args.schedule.unwrap_or_default(),
    };
    let r = pagerd
        .call(ReportServiceClient::new(pagerd.channel.clone()).on_call_load(request))
        .await?;
    const HEADER: [&str; 11] = [
        "PERSON",
        "QUARTER WEEKS",
        "WEEKS",
        "SHIFTS",
        "INCIDENTS",
        "PAGES",
        "OFF-HOURS PAGES",
        "HOURS CALLED IN",
        "TOIL HOURS",
        "LIMIT SKIPS",
        "FLAGGED OVERRIDES",
    ];
    let weeks = |w: f64| format!("{w:.1}");
    let row = |p: &pb::PersonLoad| {
        [
            p.person.clone(),
            weeks(p.quarter_weeks),
            weeks(p.weeks),
            p.shifts.to_string(),
            p.incidents.to_string(),
            p.pages.to_string(),
            p.off_hours_pages.to_string(),
            p.hours_called_in.to_string(),
            p.toil_hours.to_string(),
            p.limit_skips.to_string(),
            p.flagged_overrides.to_string(),
        ]
    };
    if g.json || args.format == ReportFormat::Json {
        let people: Vec<Value> = r
            .people
            .iter()
            .map(|p| {
                json!({
                    "person": p.person,
                    "quarter_weeks": p.quarter_weeks,
                    "weeks": p.weeks,
                    "shifts": p.shifts,
                    "incidents": p.incidents,
                    "pages": p.pages,
                    "off_hours_pages": p.off_hours_pages,
                    "hours_called_in": p.hours_called_in,
                    "toil_hours": p.toil_hours,
                    "limit_skips": p.limit_skips,
                    "flagged_overrides": p.flagged_overrides,
                })
            })
            .collect();
        return emit_json(&json!({
            "from": timestamp_json(Some(&to_timestamp(args.from))),
            "to": timestamp_json(Some(&to_timestamp(to))),
            "people": people,
        }));
    }
    if args.format == ReportFormat::Csv {
        let header = HEADER
            .iter()
            .map(|h| h.to_ascii_lowercase().replace([' ', '-'], "_"))
            .collect::<Vec<_>>()
            .join(",");
        let mut out = header;
        for p in &r.people {
            out.push('\n');
            // Names are plain words (the policy files' rule): no quoting needed.
            out.push_str(&row(p).join(","));
        }
        return emit(&out);
    }
    let mut table = plain_table();
    table.set_header(HEADER);
    for p in &r.people {
        table.add_row(row(p).map(|c| clean(&c)));
    }
    emit(&finish_table(table))
}

async fn override_add(g: &Global, args: OverrideAddArgs) -> anyhow::Result<()> {
    let end = args
        .to
        .resolve(args.from)
        .ok_or_else(|| Usage("--to: too far after --from".into()))?;
    if end <= args.from {
        return Err(Usage(format!(
            "--to ({}) must be after --from ({})",
            local_time(end),
            local_time(args.from)
        ))
        .into());
    }
    let request = pb::AddOverrideRequest {
        schedule: args.schedule,
        person: args.person,
        start: Some(to_timestamp(args.from)),
        end: Some(to_timestamp(end)),
        reason: args.reason.unwrap_or_default(),
        by: args.by,
    };
    let pagerd = g.connect().await?;
    let r = pagerd
        .call(pagerd.schedules().add_override(request))
        .await?;
    let entry = r.entry.context("pagerd replied without the override")?;
    if g.json {
        return emit_json(&override_json(&entry));
    }
    emit(&override_line(&entry, "added"))
}

async fn override_remove(g: &Global, args: OverrideRemoveArgs) -> anyhow::Result<()> {
    let request = pb::RemoveOverrideRequest {
        id: args.id,
        by: args.by,
    };
    let pagerd = g.connect().await?;
    let r = pagerd
        .call(pagerd.schedules().remove_override(request))
        .await?;
    let entry = r.entry.context("pagerd replied without the override")?;
    if g.json {
        return emit_json(&override_json(&entry));
    }
    emit(&override_line(&entry, "removed"))
}

async fn override_list(g: &Global, args: OverrideListArgs) -> anyhow::Result<()> {
    let request = pb::ListOverridesRequest {
        schedule: args.schedule.unwrap_or_default(),
        since: args.since.map(to_timestamp),
        include_removed: args.all,
    };
    let pagerd = g.connect().await?;
    let r = pagerd
        .call(pagerd.schedules().list_overrides(request))
        .await?;
    if g.json {
        let overrides: Vec<Value> = r.overrides.iter().map(override_json).collect();
        return emit_json(&json!({ "overrides": overrides }));
    }
    if r.overrides.is_empty() {
        eprintln!("no overrides match");
        return Ok(());
    }
    emit(&override_table(&r.overrides))
}

async fn test_page(g: &Global, args: TestPageArgs) -> anyhow::Result<()> {
    let pagerd = g.connect().await?;
    // The daemon waits up to 30 s for the providers' answers.
    let pagerd = Pagerd {
        timeout: pagerd.timeout.max(Duration::from_secs(35)),
        ..pagerd
    };
    let r = pagerd
        .call(pagerd.daemon().test_page(pb::TestPageRequest {
            person: args.person.clone(),
            channel: args.channel.unwrap_or_default(),
            by: args.by,
        }))
        .await?;
    let all_sent = r.results.iter().all(|x| x.status == "sent");
    if g.json {
        let results: Vec<Value> = r
            .results
            .iter()
            .map(|x| {
                json!({"channel": x.channel, "address": x.address, "status": x.status,
                       "response": x.response, "error": x.error})
            })
            .collect();
        emit_json(&json!({ "person": args.person, "results": results }))?;
    } else {
        let mut table = plain_table();
        table.set_header(vec!["CHANNEL", "ADDRESS", "STATUS", "ANSWER"]);
        for x in &r.results {
            let answer = if x.error.is_empty() {
                &x.response
            } else {
                &x.error
            };
            table.add_row(vec![
                x.channel.as_str(),
                x.address.as_str(),
                x.status.as_str(),
                answer.as_str(),
            ]);
        }
        emit(&finish_table(table))?;
    }
    if all_sent {
        Ok(())
    } else {
        Err(anyhow!("not every test page was sent"))
    }
}

async fn status(g: &Global) -> anyhow::Result<()> {
    let pagerd = g.connect().await?;
    let s = pagerd
        .call(pagerd.daemon().status(pb::StatusRequest {}))
        .await?;
    if g.json {
        return emit_json(&status_json(&s));
    }
    emit(&status_text(&s, &pagerd.addr, Utc::now()))
}

async fn reload(g: &Global) -> anyhow::Result<()> {
    let pagerd = g.connect().await?;
    let r = pagerd
        .call(pagerd.schedules().reload(pb::ReloadRequest {}))
        .await?;
    let result = r
        .result
        .context("pagerd replied without the reload result")?;
    if g.json {
        emit_json(&reload_json(&result))?;
    } else if result.applied {
        // What is serving now, for the line; the reload itself has succeeded either way.
        let status = pagerd
            .call(pagerd.daemon().status(pb::StatusRequest {}))
            .await
            .ok();
        emit(&reloaded_text(&result, status.as_ref()))?;
    } else {
        emit(&refused_text(&result))?;
    }
    if result.applied {
        Ok(())
    } else {
        Err(anyhow!(
            "reload refused; pagerd keeps serving the policy set it had"
        ))
    }
}

fn shift_json(s: &pb::Shift) -> Value {
    json!({
        "person": s.person,
        "start": timestamp_json(s.start.as_ref()),
        "end": timestamp_json(s.end.as_ref()),
        "source": s.source,
        "reason": s.reason,
        "projected": s.projected,
        "flagged": s.flagged,
    })
}

async fn show(g: &Global, id: i64) -> anyhow::Result<()> {
    let pagerd = g.connect().await?;
    let r = pagerd
        .call(pagerd.incidents().get(pb::GetIncidentRequest { id }))
        .await?;
    let incident = r.incident.context("pagerd replied without the incident")?;
    if g.json {
        let timeline: Vec<Value> = r.timeline.iter().map(event_json).collect();
        let mut value = incident_json(&incident);
        value["timeline"] = Value::Array(timeline);
        return emit_json(&value);
    }
    let now = Utc::now();
    let mut text = incident_header(&incident, now);
    text.push_str("\nTIMELINE\n");
    text.push_str(&timeline_table(&r.timeline));
    emit(&text)
}

async fn watch(g: &Global, args: WatchArgs) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    // Installed before the stream opens, so an early Ctrl-C still ends the watch cleanly.
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the Ctrl-C handler")?;
    let mut terminate =
        signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let request = pb::WatchRequest {
        incident_id: args.incident.unwrap_or(0),
        service: args.service.unwrap_or_default(),
    };
    let pagerd = g.connect().await?;
    let mut stream = pagerd.call(pagerd.incidents().watch(request)).await?;
    eprintln!("watching pagerd at {} (Ctrl-C to stop)", pagerd.addr);
    loop {
        tokio::select! {
            _ = interrupt.recv() => return Ok(()),
            _ = terminate.recv() => return Ok(()),
            message = stream.message() => match message {
                Ok(Some(event)) if g.json => emit_json(&event_json(&event))?,
                Ok(Some(event)) => emit(&watch_line(&event))?,
                Ok(None) => {
                    eprintln!("pagerd closed the stream");
                    return Ok(());
                }
                Err(status) => {
                    return Err(pagerd.status_error(status)).context("watch stream ended");
                }
            },
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

/// Writes `text` and a newline to stdout, returning (not panicking on) a closed pipe.
fn emit(text: &str) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.trim_end_matches('\n').as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

fn emit_json(value: &Value) -> anyhow::Result<()> {
    emit(&value.to_string())
}

/// One line about an incident after an id-based action; `phrase` words the state description.
/// "acknowledged by alice" or, when nothing changed, "already acknowledged by alice".
fn already_unless(changed: bool, desc: String) -> String {
    if changed {
        desc
    } else {
        format!("already {desc}")
    }
}

fn emit_action(
    r: &pb::IncidentActionResponse,
    json: bool,
    phrase: impl FnOnce(String) -> String,
) -> anyhow::Result<()> {
    let incident = r
        .incident
        .as_ref()
        .context("pagerd replied without the incident")?;
    if json {
        return emit_json(&json!({ "changed": r.changed, "incident": incident_json(incident) }));
    }
    emit(&format!(
        "incident {}: {} ({}, {})",
        incident.id,
        phrase(state_description(incident, Utc::now())),
        clean(&incident.service),
        severity_name(incident.severity),
    ))
}

fn emit_key_action(
    r: &pb::AlertActionResponse,
    service: &str,
    dedup_key: &str,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        let incident_id = if r.matched {
            json!(r.incident_id)
        } else {
            Value::Null
        };
        let state = if r.matched {
            json!(state_name(r.state))
        } else {
            Value::Null
        };
        return emit_json(&json!({
            "matched": r.matched,
            "changed": r.changed,
            "incident_id": incident_id,
            "state": state,
        }));
    }
    let line = if !r.matched {
        format!(
            "no open incident for {}/{} (nothing to do)",
            clean(service),
            clean(dedup_key)
        )
    } else if r.changed {
        format!("incident {}: {}", r.incident_id, state_name(r.state))
    } else {
        format!(
            "incident {}: already {}",
            r.incident_id,
            state_name(r.state)
        )
    };
    emit(&line)
}

/// "triggered at level 2, next escalation in 14m", "acknowledged by alice".
fn state_description(i: &pb::Incident, now: DateTime<Utc>) -> String {
    let next = to_datetime(i.next_action_at.as_ref()).map(|t| relative(t, now));
    match (IncidentState::try_from(i.state), next) {
        (Ok(IncidentState::Triggered), Some(next)) => {
            format!(
                "triggered at level {}, next escalation {next}",
                level_label(i)
            )
        }
        (Ok(IncidentState::Triggered), None) => format!("triggered at level {}", level_label(i)),
        (Ok(IncidentState::Acknowledged), Some(next)) => format!(
            "acknowledged by {}, re-triggers {next} unless resolved",
            clean(&i.acknowledged_by)
        ),
        (Ok(IncidentState::Acknowledged), None) => {
            format!("acknowledged by {}", clean(&i.acknowledged_by))
        }
        (Ok(IncidentState::Resolved), _) => format!("resolved by {}", clean(&i.resolved_by)),
        _ => state_name(i.state).to_owned(),
    }
}

fn incident_table(incidents: &[pb::Incident], now: DateTime<Utc>) -> String {
    let mut table = plain_table();
    table.set_header([
        "ID", "STATE", "SEV", "SERVICE", "LEVEL", "ALERTS", "AGE", "SUMMARY",
    ]);
    for i in incidents {
        let age = to_datetime(i.created_at.as_ref())
            .map(|t| compact_duration(now - t))
            .unwrap_or_default();
        table.add_row([
            i.id.to_string(),
            state_name(i.state).to_owned(),
            severity_name(i.severity).to_owned(),
            clean(&i.service),
            level_label(i),
            i.alert_count.to_string(),
            age,
            truncate(&clean(&i.summary), LIST_SUMMARY_CHARS),
        ]);
    }
    finish_table(table)
}

fn incident_header(i: &pb::Incident, now: DateTime<Utc>) -> String {
    let at = |t: Option<&prost_types::Timestamp>| match to_datetime(t) {
        Some(t) => format!("{}, {}", local_and_utc(t), relative(t, now)),
        None => "-".to_owned(),
    };
    let mut fields: Vec<(&str, String)> = vec![
        ("summary", clean(&i.summary)),
        ("service", clean(&i.service)),
        ("policy", clean(&i.escalation_policy)),
        ("level", level_label(i)),
        ("dedup key", clean(&i.dedup_key)),
        ("source", non_empty(clean(&i.source))),
        ("alerts", i.alert_count.to_string()),
        ("created", at(i.created_at.as_ref())),
        ("last seen", at(i.last_seen_at.as_ref())),
        ("next action", at(i.next_action_at.as_ref())),
    ];
    if i.acknowledged_at.is_some() || !i.acknowledged_by.is_empty() {
        let by = clean(&i.acknowledged_by);
        fields.push((
            "acknowledged",
            format!("by {by}, {}", at(i.acknowledged_at.as_ref())),
        ));
    }
    if i.resolved_at.is_some() || !i.resolved_by.is_empty() {
        let by = clean(&i.resolved_by);
        fields.push((
            "resolved",
            format!("by {by}, {}", at(i.resolved_at.as_ref())),
        ));
        fields.push(("note", non_empty(clean(&i.resolve_note))));
    }
    let details: BTreeMap<&String, &String> = i.details.iter().collect();
    for (n, (k, v)) in details.into_iter().enumerate() {
        fields.push((
            if n == 0 { "details" } else { "" },
            format!("{} = {}", clean(k), clean(v)),
        ));
    }
    for (n, l) in i.links.iter().enumerate() {
        let link = if l.text.is_empty() {
            clean(&l.href)
        } else {
            format!("{} <{}>", clean(&l.text), clean(&l.href))
        };
        fields.push((if n == 0 { "links" } else { "" }, link));
    }

    let mut text = format!(
        "incident {}: {}, {}\n",
        i.id,
        state_name(i.state),
        severity_name(i.severity)
    );
    let width = fields
        .iter()
        .map(|(label, _)| label.len() + 1)
        .max()
        .unwrap_or(0);
    for (label, value) in fields {
        let label = if label.is_empty() {
            String::new()
        } else {
            format!("{label}:")
        };
        text.push_str(&format!("  {label:<width$}  {value}\n"));
    }
    text
}

fn timeline_table(events: &[pb::IncidentEvent]) -> String {
    let mut table = plain_table();
    // Wrap long messages to the terminal's width rather than the whole row.
    table.set_content_arrangement(ContentArrangement::Dynamic);
    table.set_header([
        "TIME", "EVENT", "LEVEL", "PERSON", "CHANNEL", "ACTOR", "MESSAGE",
    ]);
    for e in events {
        table.add_row([
            to_datetime(e.at.as_ref())
                .map(local_time)
                .unwrap_or_default(),
            kind_name(e.kind).replace('_', " "),
            event_level(e).map(|l| l.to_string()).unwrap_or_default(),
            clean(&e.person),
            clean(&e.channel),
            clean(&e.actor),
            clean(&e.message),
        ]);
    }
    finish_table(table)
}

/// `2024-05-01 16:03:04 #12 checkout-api paged level 1, alice via log: paging alice`.
fn watch_line(e: &pb::IncidentEvent) -> String {
    let mut line = format!(
        "{} #{} {} {}",
        to_datetime(e.at.as_ref())
            .map(local_time)
            .unwrap_or_default(),
        e.incident_id,
        clean(&e.service),
        kind_name(e.kind).replace('_', " "),
    );
    if let Some(level) = event_level(e) {
        line.push_str(&format!(" level {level}"));
    }
    match (e.person.is_empty(), e.channel.is_empty()) {
        (false, false) => {
            line.push_str(&format!(", {} via {}", clean(&e.person), clean(&e.channel)))
        }
        (false, true) => line.push_str(&format!(", {}", clean(&e.person))),
        _ => {}
    }
    if !e.actor.is_empty() {
        line.push_str(&format!(" by {}", clean(&e.actor)));
    }
    line.push_str(&format!(": {}", clean(&e.message)));
    line
}

/// `override 3 added: dana on call for evenings from … to … (by victor: swap)`.
fn override_line(o: &pb::Override, verb: &str) -> String {
    let at = |t: Option<&prost_types::Timestamp>| {
        to_datetime(t).map(local_time).unwrap_or_else(|| "?".into())
    };
    let who = if o.removed_at.is_some() || !o.removed_by.is_empty() {
        format!("removed by {}", clean(&o.removed_by))
    } else if o.reason.is_empty() {
        format!("by {}", clean(&o.created_by))
    } else {
        format!("by {}: {}", clean(&o.created_by), clean(&o.reason))
    };
    format!(
        "override {} {verb}: {} on call for {} from {} to {} ({who})",
        o.id,
        clean(&o.person),
        clean(&o.schedule),
        at(o.start.as_ref()),
        at(o.end.as_ref()),
    )
}

fn override_table(overrides: &[pb::Override]) -> String {
    let mut table = plain_table();
    table.set_header([
        "ID", "SCHEDULE", "PERSON", "FROM", "TO", "REASON", "BY", "CREATED", "REMOVED",
    ]);
    let at = |t: Option<&prost_types::Timestamp>| to_datetime(t).map(local_time);
    for o in overrides {
        let removed = match (o.removed_by.is_empty(), at(o.removed_at.as_ref())) {
            (true, None) => "-".to_owned(),
            (_, None) => clean(&o.removed_by),
            (_, Some(t)) => format!("{} at {t}", non_empty(clean(&o.removed_by))),
        };
        table.add_row([
            o.id.to_string(),
            clean(&o.schedule),
            clean(&o.person),
            at(o.start.as_ref()).unwrap_or_default(),
            at(o.end.as_ref()).unwrap_or_default(),
            non_empty(truncate(&clean(&o.reason), OVERRIDE_REASON_CHARS)),
            clean(&o.created_by),
            at(o.created_at.as_ref()).unwrap_or_default(),
            removed,
        ]);
    }
    finish_table(table)
}

/// `pagerctl status`: one labelled line per fact; a refused last reload reads `REFUSED` and
/// lists its errors below.
fn status_text(s: &pb::StatusResponse, addr: &str, now: DateTime<Utc>) -> String {
    let ago = |t: DateTime<Utc>| format!("{} ({})", local_time(t), relative(t, now));
    let mut fields: Vec<(&str, String)> = Vec::new();
    if let Some(started) = to_datetime(s.started_at.as_ref()) {
        fields.push((
            "started",
            format!(
                "{} (up {})",
                local_time(started),
                compact_duration(now - started)
            ),
        ));
    }
    fields.push(("policy set", policy_set_summary(s)));
    let mut loaded = match to_datetime(s.policies_loaded_at.as_ref()) {
        Some(t) => format!("loaded {}", ago(t)),
        None => "loaded at an unknown time".to_owned(),
    };
    if !s.schedules_dir.is_empty() {
        loaded.push_str(&format!(" from {}", clean(&s.schedules_dir)));
    }
    fields.push(("", loaded));
    fields.push(("incidents", format!("{} open", s.open_incidents)));
    fields.push((
        "channels",
        if s.channels.is_empty() {
            "none (pages are recorded but not sent)".to_owned()
        } else {
            s.channels
                .iter()
                .map(|c| clean(c))
                .collect::<Vec<_>>()
                .join(", ")
        },
    ));
    let mut below = Vec::new();
    let last = match &s.last_reload {
        None => "none since start".to_owned(),
        Some(r) => {
            let when = to_datetime(r.at.as_ref())
                .map(local_time)
                .unwrap_or_else(|| "an unknown time".into());
            let trigger = non_empty(clean(&r.trigger));
            if r.applied {
                below.extend(r.notes.iter().map(|n| clean(n)));
                format!("applied at {when} ({trigger})")
            } else {
                below.extend(r.errors.iter().map(|e| clean(e)));
                format!(
                    "REFUSED at {when} ({trigger}): {}; the policy set above keeps serving",
                    plural(r.errors.len(), "error")
                )
            }
        }
    };
    fields.push(("last reload", last));

    let mut text = format!("pagerd {} at {addr}\n", clean(&s.version));
    let width = fields
        .iter()
        .map(|(label, _)| label.len() + 1)
        .max()
        .unwrap_or(0);
    for (label, value) in fields {
        let label = if label.is_empty() {
            String::new()
        } else {
            format!("{label}:")
        };
        text.push_str(&format!("  {label:<width$} {value}\n"));
    }
    for line in below {
        text.push_str(&format!("    {line}\n"));
    }
    text
}

/// "4 schedules, 3 escalation policies, 4 services, 12 people".
fn policy_set_summary(s: &pb::StatusResponse) -> String {
    [
        plural(s.schedules as usize, "schedule"),
        plural(s.escalation_policies as usize, "escalation policy"),
        plural(s.services as usize, "service"),
        if s.people == 1 {
            "1 person".to_owned()
        } else {
            format!("{} people", s.people)
        },
    ]
    .join(", ")
}

fn plural(n: usize, noun: &str) -> String {
    match (n, noun.strip_suffix('y')) {
        (1, _) => format!("1 {noun}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        (_, None) => format!("{n} {noun}s"),
    }
}

/// `reloaded: 4 schedules, … from DIR`, then what the new set changed.
fn reloaded_text(r: &pb::ReloadResult, status: Option<&pb::StatusResponse>) -> String {
    let mut text = match status {
        Some(s) if s.schedules_dir.is_empty() => format!("reloaded: {}", policy_set_summary(s)),
        Some(s) => format!(
            "reloaded: {} from {}",
            policy_set_summary(s),
            clean(&s.schedules_dir)
        ),
        None => format!(
            "reloaded at {}",
            to_datetime(r.at.as_ref())
                .map(local_time)
                .unwrap_or_else(|| "an unknown time".into())
        ),
    };
    for note in &r.notes {
        text.push_str(&format!("\n  {}", clean(note)));
    }
    text
}

/// `refused: 2 errors`, then each FILE:LINE: message.
fn refused_text(r: &pb::ReloadResult) -> String {
    let mut text = format!("refused: {}", plural(r.errors.len(), "error"));
    for e in &r.errors {
        text.push_str(&format!("\n  {}", clean(e)));
    }
    text
}

/// Borderless columns separated by two spaces, like `ps` or `kubectl get`.
fn plain_table() -> Table {
    let mut table = Table::new();
    table.load_preset(presets::NOTHING);
    table
}

fn finish_table(mut table: Table) -> String {
    let last = table.column_count().saturating_sub(1);
    for (n, column) in table.column_iter_mut().enumerate() {
        column.set_padding((0, if n == last { 0 } else { 2 }));
    }
    table.trim_fmt()
}

fn incident_json(i: &pb::Incident) -> Value {
    let details: serde_json::Map<String, Value> = i
        .details
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let links: Vec<Value> = i
        .links
        .iter()
        .map(|l| json!({ "href": l.href, "text": l.text }))
        .collect();
    json!({
        "id": i.id,
        "service": i.service,
        "dedup_key": i.dedup_key,
        "severity": severity_name(i.severity),
        "summary": i.summary,
        "source": i.source,
        "details": details,
        "links": links,
        "state": state_name(i.state),
        "escalation_policy": i.escalation_policy,
        "level": i.level + 1,
        "pass": i.r#loop + 1,
        "alert_count": i.alert_count,
        "created_at": timestamp_json(i.created_at.as_ref()),
        "last_seen_at": timestamp_json(i.last_seen_at.as_ref()),
        "acknowledged_at": timestamp_json(i.acknowledged_at.as_ref()),
        "acknowledged_by": i.acknowledged_by,
        "resolved_at": timestamp_json(i.resolved_at.as_ref()),
        "resolved_by": i.resolved_by,
        "resolve_note": i.resolve_note,
        "next_action_at": timestamp_json(i.next_action_at.as_ref()),
    })
}

fn event_json(e: &pb::IncidentEvent) -> Value {
    json!({
        "id": e.id,
        "incident_id": e.incident_id,
        "kind": kind_name(e.kind),
        "at": timestamp_json(e.at.as_ref()),
        "service": e.service,
        "level": event_level(e),
        "person": e.person,
        "channel": e.channel,
        "actor": e.actor,
        "message": e.message,
    })
}

fn override_json(o: &pb::Override) -> Value {
    json!({
        "id": o.id,
        "schedule": o.schedule,
        "person": o.person,
        "start": timestamp_json(o.start.as_ref()),
        "end": timestamp_json(o.end.as_ref()),
        "reason": o.reason,
        "created_by": o.created_by,
        "created_at": timestamp_json(o.created_at.as_ref()),
        "removed_by": o.removed_by,
        "removed_at": timestamp_json(o.removed_at.as_ref()),
    })
}

fn reload_json(r: &pb::ReloadResult) -> Value {
    json!({
        "at": timestamp_json(r.at.as_ref()),
        "trigger": r.trigger,
        "applied": r.applied,
        "errors": r.errors,
        "notes": r.notes,
    })
}

fn status_json(s: &pb::StatusResponse) -> Value {
    json!({
        "version": s.version,
        "started_at": timestamp_json(s.started_at.as_ref()),
        "schedules_dir": s.schedules_dir,
        "policies_loaded_at": timestamp_json(s.policies_loaded_at.as_ref()),
        "people": s.people,
        "services": s.services,
        "escalation_policies": s.escalation_policies,
        "schedules": s.schedules,
        "open_incidents": s.open_incidents,
        "channels": s.channels,
        "last_reload": s.last_reload.as_ref().map(reload_json),
    })
}

fn timestamp_json(t: Option<&prost_types::Timestamp>) -> Value {
    match to_datetime(t) {
        Some(t) => json!(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
        None => Value::Null,
    }
}

fn severity_name(v: i32) -> &'static str {
    match Severity::try_from(v) {
        Ok(Severity::Critical) => "critical",
        Ok(Severity::High) => "high",
        Ok(Severity::Medium) => "medium",
        Ok(Severity::Low) => "low",
        Ok(Severity::Unspecified) | Err(_) => "unknown",
    }
}

fn state_name(v: i32) -> &'static str {
    match IncidentState::try_from(v) {
        Ok(IncidentState::Triggered) => "triggered",
        Ok(IncidentState::Acknowledged) => "acknowledged",
        Ok(IncidentState::Resolved) => "resolved",
        Ok(IncidentState::Unspecified) | Err(_) => "unknown",
    }
}

fn kind_name(v: i32) -> &'static str {
    match EventKind::try_from(v) {
        Ok(EventKind::Triggered) => "triggered",
        Ok(EventKind::Deduplicated) => "deduplicated",
        Ok(EventKind::Paged) => "paged",
        Ok(EventKind::Escalated) => "escalated",
        Ok(EventKind::Acknowledged) => "acknowledged",
        Ok(EventKind::Resolved) => "resolved",
        Ok(EventKind::Retriggered) => "retriggered",
        Ok(EventKind::Unanswered) => "unanswered",
        Ok(EventKind::Delivered) => "delivered",
        Ok(EventKind::Held) => "held",
        Ok(EventKind::SeverityRaised) => "severity_raised",
        Ok(EventKind::DeliveryFailed) => "delivery_failed",
        Ok(EventKind::DeliveryHeld) => "delivery_held",
        Ok(EventKind::Unspecified) | Err(_) => "unknown",
    }
}

/// An incident's level is zero-based on the wire; people count from 1.
fn level_label(i: &pb::Incident) -> String {
    if i.r#loop == 0 {
        (i.level + 1).to_string()
    } else {
        format!("{} (pass {})", i.level + 1, i.r#loop + 1)
    }
}

/// An event's level is already 1-based on the wire, with 0 meaning "no level".
fn event_level(e: &pb::IncidentEvent) -> Option<u32> {
    (e.level > 0).then_some(e.level)
}

fn to_datetime(t: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
}

fn to_timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        // Below one billion, so it fits.
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

fn local_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// `2024-05-01 16:03:04 +02:00 (2024-05-01 14:03:04 UTC)`, or once when local time is UTC.
fn local_and_utc(t: DateTime<Utc>) -> String {
    let local = t.with_timezone(&Local);
    let utc = t.format("%Y-%m-%d %H:%M:%S UTC");
    if local.offset().fix().local_minus_utc() == 0 {
        utc.to_string()
    } else {
        format!("{} ({utc})", local.format("%Y-%m-%d %H:%M:%S %:z"))
    }
}

/// "5m ago", "in 14m", "now".
fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let d = t - now;
    if d.num_seconds() == 0 {
        "now".to_owned()
    } else if d > chrono::TimeDelta::zero() {
        format!("in {}", compact_duration(d))
    } else {
        format!("{} ago", compact_duration(-d))
    }
}

/// "45s", "12m", "3h05m", "2d04h"; negative durations (clock skew) count as zero.
fn compact_duration(d: chrono::TimeDelta) -> String {
    let s = d.num_seconds().max(0);
    let (days, hours, minutes) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    if days > 0 {
        format!("{days}d{hours:02}h")
    } else if hours > 0 {
        format!("{hours}h{minutes:02}m")
    } else if minutes > 0 {
        format!("{minutes}m")
    } else {
        format!("{s}s")
    }
}

/// At most `max` characters, cut on a character boundary and marked with `…`.
fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some(_) => {
            let keep: String = s.chars().take(max.saturating_sub(1)).collect();
            format!("{}…", keep.trim_end())
        }
    }
}

/// Text from alert senders goes to a terminal: control characters (newlines, escape
/// sequences) would break the layout or restyle the screen, so they become spaces or `�`.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            c if c.is_control() => '\u{FFFD}',
            c => c,
        })
        .collect()
}

fn non_empty(s: String) -> String {
    if s.is_empty() { "-".to_owned() } else { s }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn addresses_without_a_scheme_get_http() {
        assert_eq!(
            parse_addr("127.0.0.1:50051").unwrap(),
            "http://127.0.0.1:50051"
        );
        assert_eq!(
            parse_addr("http://pagerd:50051/").unwrap(),
            "http://pagerd:50051"
        );
        assert!(parse_addr("https://pagerd:50051").is_err());
    }

    #[test]
    fn severities_accept_p_and_sev_spellings_in_any_case() {
        for (arg, want) in [
            ("critical", Severity::Critical),
            ("P0", Severity::Critical),
            ("sev-1", Severity::Critical),
            ("p1", Severity::High),
            ("SEV3", Severity::Medium),
            ("low", Severity::Low),
        ] {
            let cli = Cli::try_parse_from([
                "pagerctl",
                "trigger",
                "--service",
                "s",
                "--summary",
                "x",
                "--severity",
                arg,
            ])
            .unwrap_or_else(|e| panic!("{arg}: {e}"));
            let Command::Trigger(t) = cli.command else {
                panic!("not a trigger")
            };
            assert_eq!(Severity::from(t.severity), want, "{arg}");
        }
    }

    #[test]
    fn ack_takes_an_id_or_a_service_and_key_but_not_both() {
        let parse = |args: &[&str]| Cli::try_parse_from([&["pagerctl", "ack"], args].concat());
        assert!(parse(&["12"]).is_ok());
        assert!(parse(&["--service", "s", "--dedup-key", "k"]).is_ok());
        assert!(parse(&[]).is_err());
        assert!(parse(&["0"]).is_err());
        assert!(parse(&["--service", "s"]).is_err());
        assert!(parse(&["12", "--service", "s", "--dedup-key", "k"]).is_err());
    }

    #[test]
    fn links_split_text_from_urls_with_queries() {
        let link = |s| parse_link(s).map(|l| (l.href, l.text));
        let pair = |h: &str, t: &str| Ok((h.to_owned(), t.to_owned()));
        assert_eq!(link("https://x/runbook"), pair("https://x/runbook", ""));
        assert_eq!(
            link("https://x/runbook=Runbook"),
            pair("https://x/runbook", "Runbook")
        );
        assert_eq!(
            link("https://x/d?org=1&v=a"),
            pair("https://x/d?org=1&v=a", "")
        );
        assert_eq!(
            link("https://x/d?org=1=Checkout dashboard"),
            pair("https://x/d?org=1", "Checkout dashboard")
        );
        assert_eq!(
            link("https://x/r=Text with a=b"),
            pair("https://x/r", "Text with a=b")
        );
        assert!(parse_link("=text").is_err());
    }

    #[test]
    fn details_need_a_key() {
        assert_eq!(
            parse_detail("region=eu=west").unwrap(),
            ("region".into(), "eu=west".into())
        );
        assert_eq!(
            parse_detail("empty=").unwrap(),
            ("empty".into(), String::new())
        );
        assert!(parse_detail("=v").is_err());
        assert!(parse_detail("novalue").is_err());
    }

    #[test]
    fn timeouts_take_durations_or_seconds() {
        assert_eq!(parse_timeout("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_timeout("3").unwrap(), Duration::from_secs(3));
        assert_eq!(parse_timeout("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_timeout("0").is_err());
        assert!(parse_timeout("soon").is_err());
    }

    #[test]
    fn times_are_rfc3339_or_a_duration_ago() {
        assert_eq!(
            parse_time("2024-05-01T16:00:00+02:00")
                .unwrap()
                .to_rfc3339(),
            "2024-05-01T14:00:00+00:00"
        );
        let two_hours_ago = parse_time("2h").unwrap();
        assert!(
            (Utc::now() - two_hours_ago - chrono::TimeDelta::hours(2))
                .num_seconds()
                .abs()
                < 5
        );
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn times_may_leave_out_seconds_or_say_now() {
        let utc = |s: &str| parse_time(s).map(|t| t.to_rfc3339());
        assert_eq!(
            utc("2026-03-03T18:00-08:00"),
            Ok("2026-03-04T02:00:00+00:00".into())
        );
        assert_eq!(
            utc("2026-03-03T18:30Z"),
            Ok("2026-03-03T18:30:00+00:00".into())
        );
        assert_eq!(
            utc(" 2026-03-03 18:30:15+01:00 "),
            Ok("2026-03-03T17:30:15+00:00".into())
        );
        assert!(
            (Utc::now() - parse_time("now").unwrap())
                .num_seconds()
                .abs()
                < 5
        );
        for bad in [
            "2026-03-03T18:00",
            "2026-03-03T18-08:00",
            "2026-03-03",
            "18:00Z",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_override_ends_at_a_time_or_a_duration_after_its_start() {
        let t = |s: &str| parse_instant(s).unwrap();
        let from = t("2026-03-03T18:00-08:00");
        assert_eq!(
            parse_end("4h").unwrap(),
            End::After(chrono::TimeDelta::hours(4))
        );
        assert_eq!(
            parse_end("4h").unwrap().resolve(from),
            Some(t("2026-03-04T06:00:00Z"))
        );
        assert_eq!(
            parse_end("2026-03-04T08:00Z").unwrap().resolve(from),
            Some(t("2026-03-04T08:00:00Z"))
        );
        assert_eq!(
            parse_end("1w").unwrap().resolve(from),
            Some(t("2026-03-11T02:00:00Z"))
        );
        assert!(parse_end("0s").is_err());
        assert!(parse_end("soon").is_err());
        assert!(
            parse_end("now").is_err(),
            "an end of `now` is never after --from"
        );
    }

    #[test]
    fn override_add_reads_from_and_to_on_the_command_line() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(
                [&["pagerctl", "override", "add", "evenings", "dana"], args].concat(),
            )
        };
        let cli = parse(&[
            "--from",
            "2026-03-03T18:00-08:00",
            "--to",
            "4h",
            "--by",
            "victor",
        ])
        .unwrap();
        let Command::Override(OverrideCommand::Add(a)) = cli.command else {
            panic!("not override add")
        };
        assert_eq!(
            (a.schedule.as_str(), a.person.as_str()),
            ("evenings", "dana")
        );
        assert_eq!(a.from, parse_instant("2026-03-04T02:00:00Z").unwrap());
        assert_eq!(a.to, End::After(chrono::TimeDelta::hours(4)));
        assert_eq!(a.by, "victor");
        assert!(parse(&["--to", "4h"]).is_err(), "--from is required");
        assert!(parse(&["--from", "now"]).is_err(), "--to is required");
        assert!(parse(&["--from", "now", "--to", "later"]).is_err());
    }

    #[test]
    fn nouns_are_counted_in_words() {
        assert_eq!(plural(1, "error"), "1 error");
        assert_eq!(plural(2, "error"), "2 errors");
        assert_eq!(plural(0, "escalation policy"), "0 escalation policies");
    }

    fn at(s: &str) -> Option<prost_types::Timestamp> {
        parse_instant(s).map(to_timestamp)
    }

    fn an_override() -> pb::Override {
        pb::Override {
            id: 3,
            schedule: "evenings".into(),
            person: "dana".into(),
            start: at("2026-03-03T18:00Z"),
            end: at("2026-03-03T22:00Z"),
            reason: "sam\nis out".into(),
            created_by: "victor".into(),
            created_at: at("2026-03-03T09:15Z"),
            ..Default::default()
        }
    }

    #[test]
    fn overrides_read_as_one_line_and_a_table_row() {
        // Local time is whatever the machine has; compare against the same rendering.
        let lt = |s: &str| local_time(parse_instant(s).unwrap());
        let o = an_override();
        assert_eq!(
            override_line(&o, "added"),
            format!(
                "override 3 added: dana on call for evenings from {} to {} (by victor: sam is out)",
                lt("2026-03-03T18:00Z"),
                lt("2026-03-03T22:00Z")
            )
        );
        let removed = pb::Override {
            removed_by: "bob".into(),
            removed_at: at("2026-03-03T10:00Z"),
            ..o.clone()
        };
        assert!(
            override_line(&removed, "removed").ends_with("(removed by bob)"),
            "{}",
            override_line(&removed, "removed")
        );

        let text = override_table(&[
            removed,
            pb::Override {
                id: 4,
                reason: String::new(),
                ..o
            },
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            [
                "ID", "SCHEDULE", "PERSON", "FROM", "TO", "REASON", "BY", "CREATED", "REMOVED"
            ]
        );
        assert!(lines[1].starts_with("3 "), "{text}");
        assert!(lines[1].contains("sam is out"), "{text}");
        assert!(
            lines[1].ends_with(&format!("bob at {}", lt("2026-03-03T10:00Z"))),
            "{text}"
        );
        assert!(lines[2].ends_with(" -"), "not removed: {text}");

        let json = override_json(&an_override());
        assert_eq!(json["start"], "2026-03-03T18:00:00Z");
        assert_eq!(json["created_by"], "victor");
        assert_eq!(json["removed_at"], Value::Null);
    }

    fn a_status(last_reload: Option<pb::ReloadResult>) -> pb::StatusResponse {
        pb::StatusResponse {
            version: "0.1.0".into(),
            started_at: at("2026-03-03T09:00Z"),
            schedules_dir: "/etc/pagerd/schedules".into(),
            policies_loaded_at: at("2026-03-03T09:00Z"),
            people: 12,
            services: 4,
            escalation_policies: 3,
            schedules: 1,
            last_reload,
            open_incidents: 2,
            channels: vec!["log".into(), "webhook".into()],
        }
    }

    #[test]
    fn status_makes_a_refused_reload_obvious_and_lists_its_errors() {
        let now = parse_instant("2026-03-03T12:05Z").unwrap();
        let refused = pb::ReloadResult {
            at: at("2026-03-03T12:00Z"),
            trigger: "file change".into(),
            applied: false,
            errors: vec![
                "/etc/pagerd/schedules/rotations.toml:12: unknown person \"nobody\"".into(),
                "/etc/pagerd/schedules/services.toml:3: unknown policy \"x\"".into(),
            ],
            notes: vec![],
        };
        let text = status_text(&a_status(Some(refused)), "http://127.0.0.1:50051", now);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "pagerd 0.1.0 at http://127.0.0.1:50051", "{text}");
        for expected in [
            "up 3h05m",
            "policy set:  1 schedule, 3 escalation policies, 4 services, 12 people",
            "from /etc/pagerd/schedules",
            "incidents:   2 open",
            "channels:    log, webhook",
        ] {
            assert!(text.contains(expected), "{expected} missing from:\n{text}");
        }
        let last = lines
            .iter()
            .position(|l| l.starts_with("  last reload: REFUSED at "))
            .unwrap_or_else(|| panic!("no REFUSED line in:\n{text}"));
        assert!(
            lines[last].contains("(file change): 2 errors"),
            "{}",
            lines[last]
        );
        assert_eq!(
            lines[last + 1..],
            [
                "    /etc/pagerd/schedules/rotations.toml:12: unknown person \"nobody\"",
                "    /etc/pagerd/schedules/services.toml:3: unknown policy \"x\"",
            ]
        );

        let applied = pb::ReloadResult {
            at: at("2026-03-03T12:00Z"),
            trigger: "SIGHUP".into(),
            applied: true,
            errors: vec![],
            notes: vec!["evenings: sam keeps the shift".into()],
        };
        let text = status_text(&a_status(Some(applied)), "http://x:1", now);
        assert!(text.contains("last reload: applied at "), "{text}");
        assert!(!text.contains("REFUSED"), "{text}");
        assert!(
            text.ends_with("(SIGHUP)\n    evenings: sam keeps the shift\n"),
            "{text}"
        );
        let text = status_text(&a_status(None), "http://x:1", now);
        assert!(text.contains("last reload: none since start"), "{text}");
    }

    #[test]
    fn a_refused_reload_lists_every_error() {
        let r = pb::ReloadResult {
            applied: false,
            errors: vec!["a.toml:1: bad".into()],
            ..Default::default()
        };
        assert_eq!(refused_text(&r), "refused: 1 error\n  a.toml:1: bad");
        let ok = pb::ReloadResult {
            applied: true,
            notes: vec!["kept sam".into()],
            ..Default::default()
        };
        assert_eq!(
            reloaded_text(&ok, Some(&a_status(None))),
            "reloaded: 1 schedule, 3 escalation policies, 4 services, 12 people from \
             /etc/pagerd/schedules\n  kept sam"
        );
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("exactly10!", 10), "exactly10!");
        assert_eq!(truncate("ééééééééééé", 5), "éééé…");
        assert_eq!(truncate("🔥🔥🔥", 2), "🔥…");
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        assert_eq!(clean("a\nb\tc\x1b[31m"), "a b c\u{FFFD}[31m");
    }

    #[test]
    fn durations_are_compact() {
        let d = chrono::TimeDelta::seconds;
        assert_eq!(compact_duration(d(45)), "45s");
        assert_eq!(compact_duration(d(12 * 60 + 5)), "12m");
        assert_eq!(compact_duration(d(3 * 3600 + 5 * 60)), "3h05m");
        assert_eq!(compact_duration(d(2 * 86_400 + 4 * 3600)), "2d04h");
        assert_eq!(compact_duration(d(-5)), "0s");
    }

    fn incident(id: i64, summary: &str) -> pb::Incident {
        pb::Incident {
            id,
            service: "checkout-api".into(),
            severity: Severity::High as i32,
            summary: summary.into(),
            state: IncidentState::Triggered as i32,
            level: 1,
            alert_count: 3,
            created_at: Some(to_timestamp(
                DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            )),
            ..Default::default()
        }
    }

    #[test]
    fn the_list_table_shows_one_based_levels_and_ages() {
        let now = DateTime::from_timestamp(1_700_000_000 + 3 * 3600 + 60, 0).unwrap();
        let text = incident_table(
            &[
                incident(12, "Checkout 500s\non EU"),
                incident(7, &"x".repeat(100)),
            ],
            now,
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        let cols: Vec<&str> = lines[0].split_whitespace().collect();
        assert_eq!(
            cols,
            [
                "ID", "STATE", "SEV", "SERVICE", "LEVEL", "ALERTS", "AGE", "SUMMARY"
            ]
        );
        let row: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            row,
            [
                "12",
                "triggered",
                "high",
                "checkout-api",
                "2",
                "3",
                "3h01m",
                "Checkout",
                "500s",
                "on",
                "EU"
            ]
        );
        assert!(
            lines[2].ends_with(&format!("{}…", "x".repeat(LIST_SUMMARY_CHARS - 1))),
            "{text}"
        );
        assert!(
            !text.starts_with(' ') && text.lines().all(|l| l == l.trim_end()),
            "{text:?}"
        );
    }

    #[test]
    fn event_levels_of_zero_are_left_blank() {
        let e = pb::IncidentEvent {
            incident_id: 3,
            service: "search".into(),
            kind: EventKind::DeliveryFailed as i32,
            level: 2,
            person: "alice".into(),
            channel: "webhook".into(),
            message: "timed out".into(),
            ..Default::default()
        };
        assert!(
            watch_line(&e)
                .ends_with("#3 search delivery failed level 2, alice via webhook: timed out")
        );
        assert_eq!(event_json(&e)["level"], 2);
        let ack = pb::IncidentEvent {
            level: 0,
            actor: "bob".into(),
            ..e
        };
        assert!(!watch_line(&ack).contains("level"));
        assert_eq!(event_json(&ack)["level"], Value::Null);
    }
}
