//! The pagerd daemon: parse arguments, load settings and policy files, bind, run until
//! SIGTERM/SIGINT. `pagerd check DIR` validates policy files offline and lists upcoming
//! schedule gaps; `pagerd check DIR --simulate --from … --to …` replays recorded incidents
//! against DIR's rotations (what-if). `pagerd token create|list|revoke` manages API tokens in its database.
//! `pagerd migrate --from sqlite://… --to postgres://…` copies an installation to PostgreSQL.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use pagerd::app::{self, Listeners, Options, tokens};
use pagerd::config::{self, Settings};
use pagerd::domain::access::Role;
use pagerd::domain::simulate;
use pagerd::store::Store;

// mimalloc, and (feature `override`) for SQLite's C allocations too: glibc's malloc/free was
// about an eighth of the daemon's CPU at saturation (BENCHMARKS.md, "allocator"); see
// `pagerd::alloc` for why not the `mimalloc` crate's own `GlobalAlloc`.
#[global_allocator]
static GLOBAL: pagerd::alloc::Mimalloc = pagerd::alloc::Mimalloc;

#[derive(Parser)]
#[command(name = "pagerd", version, about = "On-call paging daemon")]
struct Cli {
    /// Settings file (TOML). Without it, the embedded defaults apply; `PAGERD_*` environment
    /// variables override either (e.g. PAGERD_GRPC__LISTEN=0.0.0.0:50051).
    #[arg(long, short, env = "PAGERD_CONFIG", global = true)]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a directory of policy files and exit (non-zero on errors); also lists each
    /// schedule's gaps in the next 28 days and the coming quarters its members cannot cover
    /// within max_weeks_per_quarter (warnings only).
    Check {
        /// Defaults to the configured `schedules_dir`.
        dir: Option<PathBuf>,
        #[command(flatten)]
        simulate: SimulateArgs,
    },
    /// Print the default settings file.
    DefaultConfig,
    /// Manage API tokens in the daemon's database (safe while pagerd runs).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Copy an installation from its SQLite file into an empty PostgreSQL database (stop
    /// pagerd first), in one transaction, verifying every table's count.
    Migrate {
        /// The SQLite database: sqlite://PATH (e.g. sqlite://DATA_DIR/pagerd.db); only read.
        #[arg(long)]
        from: String,
        /// The empty PostgreSQL database: postgres://USER[:PASSWORD]@HOST[:PORT]/DB. Default:
        /// the configured `store.url` (settings file or PAGERD_STORE__URL, which keeps a
        /// password out of the process list).
        #[arg(long)]
        to: Option<String>,
    },
}

/// `pagerd check DIR --simulate`: replay recorded incidents against the files in DIR.
#[derive(clap::Args)]
struct SimulateArgs {
    /// Replay the incidents recorded in [--from, --to) against DIR's rotations and print
    /// each person's figures beside what actually happened (the database is only read).
    #[arg(long, requires_all = ["from", "to"])]
    simulate: bool,
    /// First day of the range (YYYY-MM-DD, from 00:00 UTC).
    #[arg(long, value_parser = parse_day, requires = "simulate")]
    from: Option<chrono::DateTime<chrono::Utc>>,
    /// Day after the range (YYYY-MM-DD, until 00:00 UTC).
    #[arg(long, value_parser = parse_day, requires = "simulate")]
    to: Option<chrono::DateTime<chrono::Utc>>,
    /// The database to read; default: the configured data directory's (the daemon's).
    #[arg(long, requires = "simulate")]
    db: Option<PathBuf>,
    /// text (an aligned table) or json.
    #[arg(long, default_value = "text", value_parser = ["text", "json"], requires = "simulate")]
    format: String,
}

fn parse_day(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
        .map_err(|e| format!("`{s}` is not a date YYYY-MM-DD ({e})"))
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token and print it once (only its hash is kept).
    Create {
        /// Unique name, e.g. the person or the tool using it.
        name: String,
        /// viewer, responder or admin.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// The person the token belongs to (a name from the policy files).
        #[arg(long)]
        person: Option<String>,
        /// Lifetime, e.g. 90d or 12h; without it the token does not expire.
        #[arg(long, value_parser = parse_lifetime)]
        expires: Option<std::time::Duration>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token; it is refused from the next request on.
    Revoke { name: String },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s)
}

fn parse_lifetime(s: &str) -> Result<std::time::Duration, String> {
    let d =
        humantime::parse_duration(s.trim()).map_err(|e| format!("`{s}`: {e} (e.g. 90d, 12h)"))?;
    if d.is_zero() {
        return Err("must be longer than 0".into());
    }
    Ok(d)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("pagerd: {e:#}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Some(Command::Check { dir, simulate }) if simulate.simulate => {
            let db = (simulate.db.clone()).unwrap_or_else(|| settings.database_path());
            what_if(&dir.unwrap_or(settings.schedules_dir), &db, &simulate)
        }
        Some(Command::Check { dir, .. }) => check(&dir.unwrap_or(settings.schedules_dir)),
        Some(Command::DefaultConfig) => {
            print!("{}", config::settings::DEFAULT_TOML);
            ExitCode::SUCCESS
        }
        Some(Command::Token(cmd)) => token(&settings, cmd),
        Some(Command::Migrate { from, to }) => match to.or(settings.store.url.clone()) {
            Some(to) => migrate(&from, &to),
            None => {
                eprintln!("pagerd migrate: --to: give the PostgreSQL URL (or set store.url)");
                ExitCode::from(2)
            }
        },
        None => serve(settings),
    }
}

/// `pagerd migrate --from sqlite://… --to postgres://…` (see `store::migrate`).
fn migrate(from: &str, to: &str) -> ExitCode {
    if let Err(e) = pagerd::store::migrate::parse_endpoints(from, to) {
        eprintln!("pagerd migrate: {e}");
        return ExitCode::from(2);
    }
    let started = std::time::Instant::now();
    match pagerd::store::migrate::run(from, to) {
        Ok(summary) => {
            print!("{}", summary.to_text());
            println!(
                "copied {} into {} in {:.1} s",
                from.trim(),
                pagerd::store::migrate::redact(to.trim()),
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pagerd migrate: {e:#}");
            eprintln!("pagerd migrate: nothing was copied");
            ExitCode::FAILURE
        }
    }
}

/// `pagerd token …` on the database of `settings` (WAL: the running daemon is not disturbed).
fn token(settings: &Settings, cmd: TokenCommand) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pagerd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let (store, writer) = Store::open_settings(settings).await?;
        let result = token_command(&store, &settings.data_dir, cmd).await;
        drop(store);
        writer.wait().await;
        result
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pagerd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn token_command(
    store: &Store,
    data_dir: &std::path::Path,
    cmd: TokenCommand,
) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    match cmd {
        TokenCommand::Create {
            name,
            role,
            person,
            expires,
        } => {
            let expires_at = expires
                .map(|d| chrono::Duration::from_std(d).map(|d| now + d))
                .transpose()
                .map_err(|_| anyhow::anyhow!("--expires: too long"))?;
            let by = tokens::cli_actor();
            let secret = tokens::create(store, &name, role, person, expires_at, &by, now).await?;
            eprintln!(
                "created token `{}` (role {role}); it is shown only now — store it safely:",
                name.trim()
            );
            println!("{secret}");
        }
        TokenCommand::List => {
            println!("NAME\tROLE\tPERSON\tCREATED\tEXPIRES\tSTATE");
            let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%MZ").to_string();
            for t in tokens::list(store).await? {
                let state = if t.revoked_at.is_some() {
                    "revoked"
                } else if !t.is_live(now) {
                    "expired"
                } else {
                    "active"
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{state}",
                    t.name,
                    t.role,
                    t.person.as_deref().unwrap_or("-"),
                    fmt(t.created_at),
                    t.expires_at.map_or("never".to_string(), fmt),
                );
            }
        }
        TokenCommand::Revoke { name } => {
            tokens::revoke(store, data_dir, name.trim(), &tokens::cli_actor(), now).await?;
            eprintln!("revoked token `{}`", name.trim());
        }
    }
    Ok(())
}

/// Validates `dir`; on success also lists each schedule's upcoming gaps (warnings only).
fn check(dir: &std::path::Path) -> ExitCode {
    match config::load_dir(dir) {
        Ok(set) => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let mut text = format!("{}\n", config::CheckSummary::of(dir, &set));
            let now = chrono::Utc::now();
            for line in config::policy::gap_report(&set, now) {
                text.push_str(&line);
                text.push('\n');
            }
            // Limits the members cannot keep in a coming quarter: warnings, not errors.
            for line in config::policy::limit_warnings(&set, now) {
                text.push_str(&line);
                text.push('\n');
            }
            // A closed pipe (`pagerd check | head -1`) is the reader's choice, not a failure.
            let _ = out.write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("{}: {} error(s)", dir.display(), errors.0.len());
            ExitCode::FAILURE
        }
    }
}

/// The longest range `--simulate` replays.
const SIMULATE_MAX_DAYS: i64 = 400;

/// `pagerd check DIR --simulate`: loads DIR like `check`, reads the database read-only,
/// replays (`domain::simulate`) and prints.
fn what_if(dir: &std::path::Path, db: &std::path::Path, args: &SimulateArgs) -> ExitCode {
    let (Some(from), Some(to)) = (args.from, args.to) else {
        eprintln!("pagerd: --simulate needs --from and --to");
        return ExitCode::from(2);
    };
    if from >= to {
        eprintln!(
            "pagerd: --from ({}) must be before --to ({})",
            from.date_naive(),
            to.date_naive()
        );
        return ExitCode::from(2);
    }
    if to - from > chrono::Duration::days(SIMULATE_MAX_DAYS) {
        eprintln!("pagerd: --from … --to spans more than {SIMULATE_MAX_DAYS} days");
        return ExitCode::from(2);
    }
    let set = match config::load_dir(dir) {
        Ok(set) => set,
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("{}: {} error(s)", dir.display(), errors.0.len());
            return ExitCode::FAILURE;
        }
    };
    let recorded = match pagerd::store::sqlite::read_recorded(db, from, to) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pagerd: {:#}", anyhow::Error::from(e));
            return ExitCode::FAILURE;
        }
    };
    let report = simulate::simulate(&set, &recorded, from, to, chrono::Utc::now());
    let text = if args.format == "json" {
        format!("{:#}\n", simulate::to_json(&report))
    } else {
        simulate::to_text(&report)
    };
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    ExitCode::SUCCESS
}

fn serve(settings: Settings) -> ExitCode {
    let filter =
        EnvFilter::try_from_env("RUST_LOG").or_else(|_| EnvFilter::try_new(&settings.log.filter));
    let filter = match filter {
        Ok(f) => f,
        Err(e) => {
            eprintln!("pagerd: log.filter: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(filter, settings.log.format);

    let policies = match config::load_dir(&settings.schedules_dir) {
        Ok(p) => p,
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!(
                "pagerd: refusing to start: {} error(s) in {}",
                errors.0.len(),
                settings.schedules_dir.display()
            );
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pagerd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let listeners = Listeners::bind(&settings).await?;
        tracing::info!(
            schedules = %settings.schedules_dir.display(),
            people = policies.people.len(),
            services = policies.services.len(),
            policies = policies.policies.len(),
            "starting pagerd"
        );
        // What `pagerd check` warns about burnout limits, in the log too.
        for warning in config::policy::limit_warnings(&policies, chrono::Utc::now()) {
            tracing::warn!("{warning}");
        }
        let shutdown = CancellationToken::new();
        tokio::spawn(signal_shutdown(shutdown.clone()));
        app::run(settings, policies, listeners, Options::default(), shutdown).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // systemd restarts a unit that exits non-zero.
            tracing::error!(error = format!("{e:#}"), "pagerd stopped on an error");
            eprintln!("pagerd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Log lines go to stdout. Colours only when it is a terminal (and `NO_COLOR` is unset): a
/// file, journald or a pipe gets plain text, or JSON with `log.format = "json"`.
fn init_logging(filter: EnvFilter, format: config::settings::LogFormat) {
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        config::settings::LogFormat::Text => {
            let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
            let ansi = std::io::stdout().is_terminal() && !no_color;
            builder.with_ansi(ansi).init();
        }
        config::settings::LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_ansi(false)
            .init(),
    }
}

/// SIGTERM or SIGINT → one cancellation that every task observes.
async fn signal_shutdown(token: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(t), Ok(i)) => (t, i),
        _ => {
            tracing::error!("cannot install signal handlers; stop with SIGKILL only");
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
    token.cancel();
}
