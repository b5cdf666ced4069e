//! The command line: clap definitions of every command and its arguments.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use pagerd::api::convert;
use pagerd::api::limits::MAX_PAGE_SIZE;
use pagerd::proto::{self as pb, IncidentState, Severity};

use crate::client::Usage;
use crate::parse::{
    End, When, parse_addr, parse_detail, parse_end, parse_future_time, parse_link, parse_time,
    parse_timeout,
};
use crate::zone::Zone;

const DEFAULT_ADDR: &str = "http://127.0.0.1:50051";
const GLOBAL: &str = "Global options";

#[derive(Parser)]
#[command(
    name = "pagerctl",
    version,
    about = "Trigger, acknowledge, resolve and follow pagerd incidents",
    after_help = "Exit status: 0 success, 1 the request failed (or `reload` was refused), 2 usage error or pagerd not reachable."
)]
pub(crate) struct Cli {
    /// pagerd gRPC address: http://host:port, host:port, or https://host:port for a daemon
    /// with TLS (see --ca-file).
    #[arg(
        long,
        global = true,
        env = "PAGERD_ADDR",
        default_value = DEFAULT_ADDR,
        help_heading = GLOBAL,
        value_parser = parse_addr
    )]
    pub(crate) addr: String,

    /// CA certificate (PEM) to trust for an https:// --addr, e.g. your private CA. Without
    /// it, the public web PKI roots are trusted.
    #[arg(long, global = true, env = "PAGERD_CA_FILE", value_name = "PATH", help_heading = GLOBAL)]
    pub(crate) ca_file: Option<PathBuf>,

    /// Client certificate (PEM) for a daemon that requires one (tls.client_ca_file); with
    /// --key-file.
    #[arg(long, global = true, env = "PAGERD_CERT_FILE", value_name = "PATH", help_heading = GLOBAL)]
    pub(crate) cert_file: Option<PathBuf>,

    /// The private key (PEM) of --cert-file.
    #[arg(long, global = true, env = "PAGERD_KEY_FILE", value_name = "PATH", help_heading = GLOBAL)]
    pub(crate) key_file: Option<PathBuf>,

    /// Machine-readable output: one JSON object (JSON lines for `watch`). Times are RFC 3339
    /// UTC, enums lowercase words, levels and passes 1-based.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub(crate) json: bool,

    /// API token, sent as `authorization: Bearer`. Without it: PAGERD_TOKEN, then the file
    /// named by PAGERD_TOKEN_FILE, then ./pagerd-data/admin.token (written by pagerd on first
    /// start) if readable.
    #[arg(long, global = true, env = "PAGERD_TOKEN", hide_env_values = true, help_heading = GLOBAL)]
    pub(crate) token: Option<String>,

    /// How long to wait for pagerd to answer a request (10s, 500ms, 1m; a bare number is
    /// seconds). `watch` uses it only to connect.
    #[arg(long, global = true, help_heading = GLOBAL, default_value = "10s", value_parser = parse_timeout)]
    pub(crate) timeout: Duration,

    /// The zone (an IANA name: America/Los_Angeles, Europe/Berlin, UTC) dates and times
    /// without an offset are read in, and times are shown in (schedules' times in the
    /// schedule's zone). Default: the local zone (TZ, else the system's).
    #[arg(long, global = true, value_name = "ZONE", help_heading = GLOBAL, value_parser = Zone::parse)]
    pub(crate) tz: Option<Zone>,

    /// Read and show every time in UTC, schedules' too (--tz UTC, and more).
    #[arg(long, global = true, help_heading = GLOBAL, conflicts_with = "tz")]
    pub(crate) utc: bool,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
    /// Heartbeats (dead-man's switches): ping one, list them with their ping URLs, or rotate
    /// one's token.
    #[command(subcommand)]
    Heartbeat(HeartbeatCommand),
    /// The secret URL of a calendar (.ics) feed of a schedule or of a person, made on first
    /// ask; --rotate revokes the old URL and prints a new one.
    FeedUrl(FeedUrlArgs),
    /// The audit trail (admin): who did what, as authenticated, and through which channel
    /// (gRPC token, integration key, email link, Slack user, SMS number).
    Audit(AuditArgs),
    /// API tokens (admin): create one (its secret is printed once), list them, revoke one
    /// (refused from the next request on; its open watches end within a second).
    #[command(subcommand)]
    Token(TokenCommand),
    /// On-call load per person: weeks on call, shifts, incidents and pages, off-hours pages,
    /// hours called in and time off in lieu owed, limit skips and flagged overrides.
    ///
    /// `report response`: response times of the incidents opened in the range, per service
    /// (or --by severity, person, policy): MTTA and MTTR (median, p90), escalation and
    /// re-trigger rates, off-hours share, SLA compliance against the response targets, and
    /// the breaches.
    Report(ReportArgs),
    /// Add a note to an incident's timeline (open or resolved); notes appear in the
    /// post-mortem draft.
    Note(crate::postmortem::NoteArgs),
    /// Print a post-mortem draft of an incident (Markdown, or --format json), or record
    /// where the written one went with --done URL (clears "post-mortem pending").
    Postmortem(crate::postmortem::PostmortemArgs),
}

#[derive(Args)]
pub(crate) struct ReportArgs {
    /// Which report: `load` (default) or `response` (response times and SLA).
    #[arg(value_enum, ignore_case = true, value_name = "REPORT")]
    pub(crate) kind: Option<ReportKind>,
    /// From: a date (2026-01-01), a date and time, an RFC 3339 time, or a duration ago (30d).
    #[arg(long, value_parser = parse_time)]
    pub(crate) from: When,
    /// To: a date, a date and time, an RFC 3339 time, or a duration ago (default now).
    #[arg(long, value_parser = parse_time)]
    pub(crate) to: Option<When>,
    /// Only this schedule's shifts, and the pages sent while on call for it.
    #[arg(long)]
    pub(crate) schedule: Option<String>,
    /// table (default), csv, or json (also --json).
    #[arg(long, value_enum, ignore_case = true, default_value = "table")]
    pub(crate) format: ReportFormat,
    /// `report response` only: incidents of this service only.
    #[arg(long)]
    pub(crate) service: Option<String>,
    /// `report response` only: one row per service (default), severity, person (first
    /// paged) or policy.
    #[arg(long, value_enum, ignore_case = true)]
    pub(crate) by: Option<ReportBy>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ReportKind {
    Load,
    Response,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ReportBy {
    Service,
    Severity,
    Person,
    Policy,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ReportFormat {
    Table,
    Csv,
    Json,
}

#[derive(Subcommand)]
pub(crate) enum MaintenanceCommand {
    /// Start a window: alerts of SERVICE are recorded but page nobody until it ends.
    Add {
        service: String,
        /// When it ends: a date, a date and time, an RFC 3339 time or a duration from now
        /// (2h, 90m).
        #[arg(long, value_parser = parse_future_time)]
        until: When,
        /// When it starts: a date, a date and time, an RFC 3339 time or a duration from now
        /// (default now).
        #[arg(long, value_parser = parse_future_time)]
        from: Option<When>,
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
pub(crate) enum HeartbeatCommand {
    /// Record a ping (what a cron job or backup script does when it finishes).
    Ping { name: String },
    /// Every heartbeat: its service, interval, last ping, expiry and ping URL (with its
    /// secret token).
    List,
    /// Replace a heartbeat's ping token: the old URL stops working at once.
    Rotate { name: String },
}

#[derive(Args)]
pub(crate) struct FeedUrlArgs {
    /// Whose feed: a schedule's shifts or one person's shifts across schedules.
    #[arg(value_enum, ignore_case = true)]
    pub(crate) kind: FeedKind,
    /// The schedule's or the person's name.
    pub(crate) name: String,
    /// Revoke the current URL and make a new one.
    #[arg(long)]
    pub(crate) rotate: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FeedKind {
    Schedule,
    Person,
}

#[derive(Subcommand)]
pub(crate) enum TokenCommand {
    /// Create a token and print its secret once (the daemon keeps only its hash).
    Create {
        /// 1-64 letters, digits, `-`, `_`, `.`, `@`; never reused.
        name: String,
        /// viewer, responder or admin.
        #[arg(long)]
        role: String,
        /// The person the token belongs to (a name from the policy files).
        #[arg(long)]
        person: Option<String>,
        /// When it expires: a duration from now (90d, 12h), a date, a date and time or an
        /// RFC 3339 time; without it the token does not expire.
        #[arg(long, value_parser = parse_future_time)]
        expires: Option<When>,
    },
    /// Every token: role, person, created, expires, state (never secrets).
    List,
    /// Revoke a token.
    Revoke { name: String },
}

#[derive(Args)]
pub(crate) struct AuditArgs {
    /// Only entries at or after this time: a date, a date and time, RFC 3339, or a duration
    /// ago (2h, 3d).
    #[arg(long, value_parser = parse_time)]
    pub(crate) since: Option<When>,
    /// At most this many entries (0: the daemon's default, 1000).
    #[arg(long, default_value_t = 0)]
    pub(crate) limit: u32,
}

#[derive(Args)]
pub(crate) struct TestPageArgs {
    /// A person from the policy files.
    pub(crate) person: String,
    /// Only this channel (email, sms, slack, webhook, log).
    #[arg(long)]
    pub(crate) channel: Option<String>,
    /// Who asks (recorded in the message); defaults to $USER.
    #[arg(long, default_value_t = default_actor())]
    pub(crate) by: String,
}

#[derive(Subcommand)]
pub(crate) enum OverrideCommand {
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
pub(crate) struct OverrideAddArgs {
    /// A schedule from the policy files.
    pub(crate) schedule: String,
    /// Who is on call instead, as named in the policy files.
    pub(crate) person: String,
    /// Start: a date and time (2026-03-03T18:00, in --tz), an RFC 3339 time (seconds may be
    /// left out: 2026-03-03T18:00-08:00), a date, `now`, or a duration ago (30m).
    #[arg(long, value_parser = parse_time)]
    pub(crate) from: When,
    /// End: a date and time, an RFC 3339 time, a date, or a duration after --from (4h, 2d,
    /// 1w).
    #[arg(long, value_parser = parse_end)]
    pub(crate) to: End,
    /// Why; shown with the shift in `oncall` and `shifts`.
    #[arg(long)]
    pub(crate) reason: Option<String>,
    /// Who makes the override (recorded).
    #[arg(long, default_value_t = default_actor())]
    pub(crate) by: String,
}

#[derive(Args)]
pub(crate) struct OverrideRemoveArgs {
    /// Override id, as `override add` and `override list` show it.
    #[arg(value_name = "ID", value_parser = override_id())]
    pub(crate) id: i64,
    /// Who takes it back (recorded).
    #[arg(long, default_value_t = default_actor())]
    pub(crate) by: String,
}

#[derive(Args)]
pub(crate) struct OverrideListArgs {
    /// Only this schedule's overrides.
    pub(crate) schedule: Option<String>,
    /// Include removed overrides.
    #[arg(long)]
    pub(crate) all: bool,
    /// Only overrides ending after: a date, a date and time, an RFC 3339 time, `now` or a
    /// duration ago (default now).
    #[arg(long, value_parser = parse_time)]
    pub(crate) since: Option<When>,
}

#[derive(Args)]
pub(crate) struct OncallArgs {
    /// A schedule from the policy files; all schedules when left out.
    pub(crate) schedule: Option<String>,
    /// When to ask about: a date, a date and time, an RFC 3339 time or a duration ago
    /// (default now).
    #[arg(long, value_parser = parse_time)]
    pub(crate) at: Option<When>,
}

#[derive(Args)]
pub(crate) struct ShiftsArgs {
    pub(crate) schedule: String,
    /// From: a date, a date and time, an RFC 3339 time or a duration ago (default now).
    #[arg(long, value_parser = parse_time)]
    pub(crate) from: Option<When>,
    /// To: a date, a date and time, an RFC 3339 time or a duration ago (default a week
    /// after --from).
    #[arg(long, value_parser = parse_time)]
    pub(crate) to: Option<When>,
}

#[derive(Args)]
pub(crate) struct TriggerArgs {
    /// Service the alert is for, as named in the policy files.
    #[arg(long, required_unless_present = "integration_key")]
    pub(crate) service: Option<String>,
    /// The service's integration key instead of its name (what monitoring tools hold).
    #[arg(long, conflicts_with = "service")]
    pub(crate) integration_key: Option<String>,
    /// One-line description (at most 1024 characters).
    #[arg(long)]
    pub(crate) summary: String,
    /// critical, high, medium or low; also p0-p3 and sev1-sev4.
    #[arg(long, value_parser = convert::parse_severity, default_value = "critical")]
    pub(crate) severity: Severity,
    /// Alerts with the same key add to one open incident; generated when not given.
    #[arg(long)]
    pub(crate) dedup_key: Option<String>,
    /// Where the alert comes from (a monitoring system, a host).
    #[arg(long)]
    pub(crate) source: Option<String>,
    /// Extra detail as KEY=VALUE (repeatable).
    #[arg(long = "detail", value_name = "KEY=VALUE", value_parser = parse_detail)]
    pub(crate) details: Vec<(String, String)>,
    /// A link as URL or URL=TEXT (repeatable). For a URL with a query string, TEXT is only
    /// recognised when it contains a space.
    #[arg(long = "link", value_name = "URL[=TEXT]", value_parser = parse_link)]
    pub(crate) links: Vec<pb::Link>,
}

/// An incident id, or (for monitoring scripts) the service and dedup key of an open incident.
#[derive(Args)]
pub(crate) struct TargetArgs {
    /// Incident id.
    #[arg(
        value_name = "ID",
        value_parser = incident_id(),
        required_unless_present = "service",
        conflicts_with = "service"
    )]
    pub(crate) id: Option<i64>,
    /// With --dedup-key: act on the open incident with this service and key.
    #[arg(long, requires = "dedup_key")]
    pub(crate) service: Option<String>,
    /// With --service: the dedup key the alert was triggered with.
    #[arg(long, requires = "service")]
    pub(crate) dedup_key: Option<String>,
}

pub(crate) enum Target {
    Id(i64),
    Key { service: String, dedup_key: String },
}

impl TargetArgs {
    pub(crate) fn target(self) -> anyhow::Result<Target> {
        match (self.id, self.service, self.dedup_key) {
            (Some(id), None, None) => Ok(Target::Id(id)),
            (None, Some(service), Some(dedup_key)) => Ok(Target::Key { service, dedup_key }),
            _ => Err(Usage("give an incident id, or --service and --dedup-key".into()).into()),
        }
    }
}

#[derive(Args)]
pub(crate) struct AckArgs {
    #[command(flatten)]
    pub(crate) target: TargetArgs,
    /// Who acknowledges.
    #[arg(long, default_value_t = default_actor())]
    pub(crate) by: String,
}

#[derive(Args)]
pub(crate) struct ResolveArgs {
    #[command(flatten)]
    pub(crate) target: TargetArgs,
    /// Who resolves.
    #[arg(long, default_value_t = default_actor())]
    pub(crate) by: String,
    /// What was done, kept with the incident.
    #[arg(long)]
    pub(crate) note: Option<String>,
}

#[derive(Args)]
pub(crate) struct EscalateArgs {
    #[arg(value_name = "ID", value_parser = incident_id())]
    pub(crate) id: i64,
    /// Who escalates.
    #[arg(long, default_value_t = default_actor())]
    pub(crate) by: String,
}

#[derive(Args)]
pub(crate) struct ListArgs {
    /// Only incidents in this state (repeatable).
    /// triggered, acknowledged (or acked) or resolved.
    #[arg(long = "state", value_parser = convert::parse_state)]
    pub(crate) states: Vec<IncidentState>,
    /// Only incidents of this service.
    #[arg(long)]
    pub(crate) service: Option<String>,
    /// Created at or after: a date, a date and time, an RFC 3339 time or a duration ago
    /// (2h, 3d).
    #[arg(long, value_parser = parse_time)]
    pub(crate) since: Option<When>,
    /// Created before: a date, a date and time, an RFC 3339 time or a duration ago.
    #[arg(long, value_parser = parse_time)]
    pub(crate) until: Option<When>,
    /// Incidents per request, 1-500; without --all, the most that are shown.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=MAX_PAGE_SIZE as i64))]
    pub(crate) limit: u32,
    /// Fetch every page, not just the first.
    #[arg(long)]
    pub(crate) all: bool,
}

#[derive(Args)]
pub(crate) struct WatchArgs {
    /// Only events of this incident.
    #[arg(long, value_parser = incident_id())]
    pub(crate) incident: Option<i64>,
    /// Only events of this service.
    #[arg(long)]
    pub(crate) service: Option<String>,
    /// Replay the events committed after this sequence first (the `seq` of an event seen
    /// before), then follow live. Reconnects resume by themselves either way.
    #[arg(long, value_parser = clap::value_parser!(i64).range(0..))]
    pub(crate) after: Option<i64>,
}

pub(crate) fn incident_id() -> clap::builder::RangedI64ValueParser<i64> {
    clap::value_parser!(i64).range(1..)
}

fn override_id() -> clap::builder::RangedI64ValueParser<i64> {
    clap::value_parser!(i64).range(1..)
}

pub(crate) fn default_actor() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "pagerctl".to_owned())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use pagerd::proto::Severity;

    use super::*;
    use crate::parse::parse_instant;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
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
            assert_eq!(t.severity, want, "{arg}");
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
    fn report_takes_an_optional_kind_before_its_options() {
        let parse = |args: &[&str]| Cli::try_parse_from([&["pagerctl", "report"], args].concat());
        let kind = |args: &[&str]| match parse(args).map(|c| c.command) {
            Ok(Command::Report(r)) => Ok((r.kind, r.by)),
            Ok(_) => panic!("not report"),
            Err(e) => Err(e.kind()),
        };
        assert!(matches!(kind(&["--from", "30d"]), Ok((None, None))));
        assert!(matches!(
            kind(&["response", "--from", "30d", "--by", "severity"]),
            Ok((Some(ReportKind::Response), Some(ReportBy::Severity)))
        ));
        assert!(matches!(
            kind(&["Response", "--from", "30d", "--by", "PERSON"]),
            Ok((Some(ReportKind::Response), Some(ReportBy::Person)))
        ));
        assert!(kind(&["response"]).is_err(), "--from is required");
        assert!(kind(&["latency", "--from", "30d"]).is_err());
        assert!(kind(&["response", "--from", "30d", "--by", "team"]).is_err());
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
        let now = chrono::Utc::now();
        assert_eq!(
            a.from.resolve(&crate::zone::UTC, now),
            Ok(parse_instant("2026-03-04T02:00:00Z").unwrap())
        );
        assert_eq!(a.to, End::After(chrono::TimeDelta::hours(4)));
        assert_eq!(a.by, "victor");
        assert!(parse(&["--to", "4h"]).is_err(), "--from is required");
        assert!(parse(&["--from", "now"]).is_err(), "--to is required");
        assert!(parse(&["--from", "now", "--to", "later"]).is_err());
    }

    #[test]
    fn tz_and_utc_are_global_and_exclusive() {
        let parse = |args: &[&str]| Cli::try_parse_from([&["pagerctl"], args].concat());
        let cli = parse(&["report", "--from", "2026-01-01", "--tz", "Europe/Berlin"]).unwrap();
        assert_eq!(cli.tz, Some(Zone::parse("Europe/Berlin").unwrap()));
        assert!(!cli.utc);
        let cli = parse(&["--utc", "shifts", "vp"]).unwrap();
        assert!(cli.utc);
        assert!(parse(&["--tz", "Mars/Olympus", "oncall"]).is_err());
        assert!(parse(&["--utc", "--tz", "UTC", "oncall"]).is_err());
    }
}
