//! pagerctl: the command-line client of pagerd, for responders and monitoring scripts.
//!
//! Every command is one function that calls the gRPC API and hands the reply to a small
//! render helper (a line, a table, or JSON with `--json`).
//!
//! Exit codes: 0 success (including "nothing to do", and a `status` that reports a refused
//! reload); 1 the request failed (a gRPC error, a timeout, a watch stream that ended in an
//! error, a `reload` that was refused); 2 a usage error or pagerd not reachable.
//!
//! # Layout
//! - `cli`: the clap definitions; `parse`: the value parsers they use (links, …); `when`:
//!   times as typed, resolved after parsing in `zone` (--tz, the local zone, DST rules).
//! - `client`: the connection to pagerd and its error kinds (which set the exit code);
//!   `tls`: `https://` addresses, `--ca-file` and client certificates.
//! - `incidents`, `schedules`, `intake` (maintenance, heartbeats), `reports`, `response`
//!   (`report response`), `daemon` (status, reload, test page), `postmortem` (notes,
//!   drafts): one file per command group.
//! - `render`: text, tables, JSON and times; enum names come from
//!   `pagerd::api::convert`, shared with the daemon.

mod audit;
mod cli;
mod client;
mod daemon;
mod incidents;
mod intake;
mod parse;
mod postmortem;
mod render;
mod reports;
mod response;
mod schedules;
mod tls;
mod tokens;
mod when;
mod zone;

use std::io;
use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::Parser;

use crate::cli::{Cli, Command, OverrideCommand};
use crate::client::{Pagerd, Unreachable, Usage};
use crate::parse::When;
use crate::zone::Zone;

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
    tls: tls::TlsFiles,
    token: Option<String>,
    /// Where dates and times without an offset are read: --tz, UTC with --utc, else local.
    zone: Zone,
    /// One now for every relative time on the line (`now`, `2h`).
    now: DateTime<Utc>,
}

impl Global {
    /// Commands connect after checking their arguments, so a usage error is reported as one
    /// even when pagerd is down.
    async fn connect(&self) -> anyhow::Result<Pagerd> {
        let tls = self.tls.client_config(&self.addr)?;
        let token = client::BearerToken::new(find_token(self.token.clone())?.as_deref())?;
        let mut pagerd = Pagerd::connect(&self.addr, self.timeout, tls, token).await?;
        if self.addr.starts_with("https://") && self.tls.cert_file.is_none() {
            pagerd.hint = Some(
                "if pagerd requires client certificates (tls.client_ca_file), pass --cert-file and --key-file",
            );
        }
        Ok(pagerd)
    }
}

impl Global {
    /// A time from the command line in the instant it names; `flag` names it in the error
    /// (a wall-clock time the clocks skip is a usage error).
    fn time(&self, flag: &str, when: &When) -> Result<DateTime<Utc>, Usage> {
        when.resolve(&self.zone, self.now)
            .map_err(|e| Usage(format!("{flag} {e}")))
    }

    fn time_opt(&self, flag: &str, when: Option<&When>) -> Result<Option<DateTime<Utc>>, Usage> {
        when.map(|w| self.time(flag, w)).transpose()
    }
}

/// The token to send: `--token` / PAGERD_TOKEN (clap), else the file PAGERD_TOKEN_FILE names
/// (an error if unreadable: it was asked for), else ./pagerd-data/admin.token if readable,
/// else none.
fn find_token(given: Option<String>) -> anyhow::Result<Option<String>> {
    if let Some(t) = given.filter(|t| !t.trim().is_empty()) {
        return Ok(Some(t.trim().to_string()));
    }
    if let Some(path) = std::env::var_os("PAGERD_TOKEN_FILE").filter(|p| !p.is_empty()) {
        let path = std::path::PathBuf::from(path);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            client::Usage(format!(
                "PAGERD_TOKEN_FILE: cannot read {}: {e}",
                path.display()
            ))
        })?;
        return Ok(Some(text.trim().to_string()));
    }
    Ok(std::fs::read_to_string("pagerd-data/admin.token")
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty()))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let zone = match (cli.utc, cli.tz) {
        (true, _) => zone::UTC,
        (false, Some(zone)) => zone,
        (false, None) => Zone::local(),
    };
    render::time::show_times_in(zone, cli.utc);
    let g = Global {
        addr: cli.addr,
        timeout: cli.timeout,
        json: cli.json,
        tls: tls::TlsFiles {
            ca_file: cli.ca_file,
            cert_file: cli.cert_file,
            key_file: cli.key_file,
        },
        token: cli.token,
        zone,
        now: Utc::now(),
    };
    match cli.command {
        Command::Trigger(args) => incidents::trigger(&g, args).await,
        Command::Ack(args) => incidents::ack(&g, args).await,
        Command::Resolve(args) => incidents::resolve(&g, args).await,
        Command::Escalate(args) => incidents::escalate(&g, args).await,
        Command::List(args) => incidents::list(&g, args).await,
        Command::Show { id } => incidents::show(&g, id).await,
        Command::Watch(args) => incidents::watch(&g, args).await,
        Command::Oncall(args) => schedules::oncall(&g, args).await,
        Command::Shifts(args) => schedules::shifts(&g, args).await,
        Command::Report(args) if args.kind == Some(cli::ReportKind::Response) => {
            response::report(&g, args).await
        }
        Command::Report(args) => reports::report(&g, args).await,
        Command::Maintenance(cmd) => intake::maintenance(&g, cmd).await,
        Command::Heartbeat(cmd) => intake::heartbeat(&g, cmd).await,
        Command::FeedUrl(args) => schedules::feed_url(&g, args).await,
        Command::Audit(args) => audit::audit(&g, args).await,
        Command::Token(cmd) => tokens::token(&g, cmd).await,
        Command::Override(OverrideCommand::Add(args)) => schedules::override_add(&g, args).await,
        Command::Override(OverrideCommand::Remove(args)) => {
            schedules::override_remove(&g, args).await
        }
        Command::Override(OverrideCommand::List(args)) => schedules::override_list(&g, args).await,
        Command::Status => daemon::status(&g).await,
        Command::Reload => daemon::reload(&g).await,
        Command::TestPage(args) => daemon::test_page(&g, args).await,
        Command::Note(args) => postmortem::note(&g, args).await,
        Command::Postmortem(args) => postmortem::postmortem(&g, args).await,
    }
}
